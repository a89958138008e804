#!/usr/bin/env bash
# The side-by-side benchmark report: Tollgate against agent-os's PolicyEvaluator, the relay
# ceiling and a Python gate written with pika, escalations against the backlog, 1-3 workers on one
# broker, and memory; every figure from one run on this machine (tools/bench/report.py says what
# each step measures). Writes report.md, report.json and PNG plots.
#
#   deploy/bench-report.sh            the full run (about 12 minutes on 2 cores, plus the build);
#                                     writes docs/bench/
#   deploy/bench-report.sh --short    small sizes (about 2.5 minutes plus the build), for trying it;
#                                     writes var/bench/
#   deploy/bench-report.sh [--short] -- ARGS   ARGS go to tools/bench/report.py (e.g. --steps policy,e2e)
#
# Sets up what it needs: the packages and the broker if it does not answer (deploy/install-deps.sh,
# deploy/broker.sh start; a running broker is left as it is), the test users (deploy/broker-users.sh),
# the release build of tollgate-bench and tollgate (deploy/build.sh), and the virtual environment
# .build/proof-venv with pika, matplotlib, agent-os-kernel 3.7.0 and PyYAML from PyPI. Run nothing
# else on the machine meanwhile: the figures follow the CPU left to the broker.
# Environment: TOLLGATE_BENCH_REPORT (the report folder).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "bench-report: $*"; }

short=0
if [ "${1:-}" = "--short" ]; then short=1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi

deploy/install-deps.sh
if ! deploy/broker.sh status >/dev/null 2>&1; then deploy/broker.sh start; fi
deploy/broker-users.sh >/dev/null

say "building the release binaries"
deploy/build.sh -c release --product tollgate-bench
deploy/build.sh -c release --product tollgate

venv=.build/proof-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; /usr/bin/python3 -m venv "$venv"; }
fi
if ! "$venv/bin/python" -W ignore -c 'import pika, matplotlib, yaml, agent_os.policies' 2>/dev/null ||
    [ "$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("agent-os-kernel"))' 2>/dev/null)" != 3.7.0 ]; then
    say "installing pika, matplotlib, agent-os-kernel 3.7.0 and PyYAML into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'pika>=1.3' matplotlib 'agent-os-kernel==3.7.0' \
        'pyyaml>=6' >"$venv/pip.log" 2>&1 || { tail -n 20 "$venv/pip.log" >&2; exit 1; }
fi
python=$venv/bin/python

if [ $short -eq 1 ]; then
    args=(--mode short --out "${TOLLGATE_BENCH_REPORT:-var/bench}")
else
    args=(--mode full --out "${TOLLGATE_BENCH_REPORT:-docs/bench}")
fi
start=$SECONDS
"$python" tools/bench/report.py "${args[@]}" "$@"
say "done in $((SECONDS - start)) s: ${args[-1]}/report.md"
