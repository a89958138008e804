#!/usr/bin/env bash
# Sets up and runs Tollgate's main job on a fresh Debian 12 machine with Swift: a local RabbitMQ
# with the consistent-hash plugin, a release build, and one worker with the seed policy
# (policies/approval-workflow.yaml). Extra arguments go to `tollgate worker`, e.g.
#
#   deploy/run.sh --worker-id w2 --db var/w2.db
#   TOLLGATE_POLICY=policies/examples/payments.yaml deploy/run.sh
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
# Later flags win, so "$@" can override --worker-id and --db. Other policies: set
# TOLLGATE_POLICY (paths separated by ':'), which the worker reads itself.
policy=()
[ -n "${TOLLGATE_POLICY:-}" ] || policy=(--policy policies/approval-workflow.yaml)
exec .build/release/tollgate worker "${policy[@]}" \
    --worker-id "${TOLLGATE_WORKER_ID:-w1}" \
    --db "${TOLLGATE_DB:-var/tollgate.db}" \
    "$@"
