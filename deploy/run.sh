#!/usr/bin/env bash
# Sets up and runs Tollgate's main job on a fresh Debian 12 machine with Swift: a local RabbitMQ
# with the consistent-hash plugin, a release build, and one worker with the seed policy
# (policies/approval-workflow.yaml). Extra arguments go to `tollgate worker`, e.g.
#
#   deploy/run.sh --worker-id w2 --db var/w2.db
#   TOLLGATE_POLICY=policies/examples/payments.yaml deploy/run.sh
#   deploy/run.sh --demo     the chapter 5 story (tollgate demo) against a worker of its own, then exit
#
# Stop it with Ctrl-C (graceful: in-flight calls are finished and acked first).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v swift >/dev/null 2>&1 || {
    echo "run: swift is not on PATH: install Swift 6 (https://swift.org/install) and try again" >&2
    exit 1
}

deploy/install-deps.sh
deploy/broker.sh start
echo "run: building tollgate (release)"
deploy/build.sh -c release --product tollgate || { echo "run: build failed" >&2; exit 1; }
mkdir -p var

if [ "${1:-}" = "--demo" ]; then
    # A worker of its own (prefix tollgate-demo, so no other local worker takes its calls) with
    # 8-second deadlines, the approvers' users, the story, the audit check, then a graceful stop.
    deploy/broker-users.sh
    rm -f var/demo.db var/demo.db-wal var/demo.db-shm
    .build/release/tollgate worker --policy policies/approval-workflow.yaml --worker-id demo \
        --db var/demo.db --prefix tollgate-demo --escalation-timeout 8 >var/demo-worker.log 2>&1 &
    worker=$!
    trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT
    for _ in $(seq 1 100); do
        grep -q "] consuming" var/demo-worker.log 2>/dev/null && break
        kill -0 "$worker" 2>/dev/null || { cat var/demo-worker.log; echo "run: the demo worker did not start" >&2; exit 1; }
        sleep 0.1
    done
    echo "run: demo worker started (log: var/demo-worker.log)"
    echo
    status=0
    .build/release/tollgate demo --prefix tollgate-demo --db var/demo.db || status=$?
    exit "$status"
fi
# Later flags win, so "$@" can override --worker-id and --db. Other policies: set
# TOLLGATE_POLICY (paths separated by ':'), which the worker reads itself.
policy=()
[ -n "${TOLLGATE_POLICY:-}" ] || policy=(--policy policies/approval-workflow.yaml)
exec .build/release/tollgate worker "${policy[@]}" \
    --worker-id "${TOLLGATE_WORKER_ID:-w1}" \
    --db "${TOLLGATE_DB:-var/tollgate.db}" \
    "$@"
