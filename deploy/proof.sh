#!/usr/bin/env bash
# The proof suite: real workers under load and faults, and a checker that counts lost, split,
# conflicting and wrong decisions (tools/proof/proof.py), then malformed input at scale
# (tools/proof/fuzz_amqp.py). Every count must be 0. docs/reliability.md says what is promised
# and how each fault tests it.
#
#   deploy/proof.sh            the full suite: every fault for 60 s of load at 150 calls/s, the
#                              three-node cluster (deploy/cluster.sh) included, 3,000 fuzzed
#                              messages and 120 s of libFuzzer on each parser (JSON, tool
#                              call, vote, policy: tools/fuzz/run.sh); writes docs/proof/proof.md
#                              and proof.json
#   deploy/proof.sh --short    what CI runs (deploy/test.sh): every fault but the cluster, the
#                              whole-server stop for 12 s at 100 calls/s, and 400
#                              fuzzed messages; report under var/proof
#   deploy/proof.sh [--short] -- ARGS   ARGS go to tools/proof/proof.py (e.g. --fault sigkill)
#
# Sets up what it needs: the packages and the broker (deploy/install-deps.sh, deploy/broker.sh,
# deploy/broker-users.sh), a virtual environment with pika (.build/proof-venv), and the debug
# build of tollgate (deploy/build.sh) unless TOLLGATE_BINARY names one. The broker-restart fault
# stops and starts the local RabbitMQ (broker-server, in the full suite, the whole server, with
# deploy/broker.sh stop and start): run nothing else against it meanwhile. The disk faults
# (disk-full, read-only) mount a small tmpfs or a loop-mounted ext4 image for the database: root.
# Environment: TOLLGATE_BINARY, TOLLGATE_PROOF_REPORT (the report folder).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "proof: $*"; }

short=0
if [ "${1:-}" = "--short" ]; then short=1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi

deploy/install-deps.sh
deploy/broker.sh start
deploy/broker-users.sh >/dev/null

binary=${TOLLGATE_BINARY:-.build/debug/tollgate}
if [ -z "${TOLLGATE_BINARY:-}" ]; then deploy/build.sh --product tollgate; fi
[ -x "$binary" ] || { echo "proof: $binary is not built" >&2; exit 1; }

venv=.build/proof-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; /usr/bin/python3 -m venv "$venv"; }
fi
if ! "$venv/bin/python" -c 'import pika' 2>/dev/null; then
    say "installing pika into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'pika>=1.3' >"$venv/pip.log" 2>&1 ||
        { tail -n 20 "$venv/pip.log" >&2; exit 1; }
fi
python=$venv/bin/python

if [ $short -eq 1 ]; then
    report=${TOLLGATE_PROOF_REPORT:-var/proof}
    # The disk faults add about 30 s each (they mount a file system: root only, as DiskFaultTests).
    disk=disk-full,read-only,
    if [ "$(id -u)" -ne 0 ]; then disk=; say "not root: the disk faults are left out"; fi
    faults=none,sigkill,sigterm,sigstop,close-connection,duplicate-id,drain-add,${disk}broker-restart
    args=(--fault "$faults" --seconds 12 --rate 100 --settle 60)
    fuzz=(--short)
else
    report=${TOLLGATE_PROOF_REPORT:-docs/proof}
    args=(--fault all --seconds 60 --rate 150 --settle 120)
    fuzz=(--messages 3000)
    say "starting the three-node cluster for the cluster-node fault (deploy/cluster.sh start)"
    deploy/cluster.sh start
fi
if [ $# -gt 0 ]; then args=("$@"); fi

mkdir -p "$report"
status=0
say "the checker catches what it counts (tools/proof/test_checker.py, no broker)"
"$python" -m unittest -q tools/proof/test_checker.py || exit 1
say "faults under load: tools/proof/proof.py ${args[*]} --report $report"
"$python" tools/proof/proof.py --binary "$binary" "${args[@]}" --report "$report" || status=1
if [ -f tools/proof/fuzz_amqp.py ] && [ $# -eq 0 ]; then
    say "malformed input at scale: tools/proof/fuzz_amqp.py ${fuzz[*]}"
    "$python" tools/proof/fuzz_amqp.py --binary "$binary" "${fuzz[@]}" --json "$report/fuzz.json" || status=1
fi
if [ $short -eq 0 ] && [ $# -eq 0 ]; then
    deploy/cluster.sh stop >/dev/null || true
    say "coverage-guided fuzzing of the JSON, tool-call, vote and policy parsers: tools/fuzz/run.sh 120"
    tools/fuzz/run.sh 120 || status=1
fi
if [ $status -eq 0 ]; then say "passed: report in $report/proof.md"; else say "FAILED: see $report/proof.md"; fi
exit $status
