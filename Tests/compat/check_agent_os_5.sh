#!/usr/bin/env bash
# Re-checks the stored agent-os 5 corpus (Tests/TollgatePolicyTests/Fixtures/compat/
# corpus-agent-os-5.jsonl) against its reference: makes .build/aos5-venv with
# agent-governance-toolkit-core 5.0.0 and PyYAML (from PyPI) if it is missing, regenerates the
# corpus with the command in gen_compat.py's docstring into a temporary file and diffs it with
# the stored one. Exit 0 when identical, 1 when they differ (the first differing lines are shown).
#
#   Tests/compat/check_agent_os_5.sh            check
#   Tests/compat/check_agent_os_5.sh --update   rewrite the stored corpus instead
#
# Environment: AOS5_VENV (default .build/aos5-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "check_agent_os_5: $*"; }

venv=${AOS5_VENV:-.build/aos5-venv}
stored=Tests/TollgatePolicyTests/Fixtures/compat/corpus-agent-os-5.jsonl
seed=20265000
pins=(agent-governance-toolkit-core==5.0.0 'pyyaml>=6')

if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$(dirname "$venv")"
    # Debian's python3 (with python3-venv) when the one on PATH cannot make a virtualenv.
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; /usr/bin/python3 -m venv "$venv"; }
fi
if [ "$("$venv/bin/python" -c 'from importlib import metadata as m; print(m.version("agent-governance-toolkit-core"))' \
        2>/dev/null)" != 5.0.0 ] || ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
    say "installing ${pins[*]} into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}" >"$venv/pip.log" 2>&1 ||
        { tail -n 20 "$venv/pip.log" >&2; exit 1; }
fi

if [ "${1:-}" = "--update" ]; then
    "$venv/bin/python" Tests/compat/gen_compat.py --seed "$seed" --without-defaults-action --out "$stored"
    exit 0
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$venv/bin/python" Tests/compat/gen_compat.py --seed "$seed" --without-defaults-action --out "$tmp"
if cmp -s "$tmp" "$stored"; then
    say "OK: $stored is what agent-governance-toolkit-core 5.0.0 decides ($(wc -l <"$stored") policy sets)"
else
    say "DIFFERS: $stored is not what the reference decides now (first differing lines below)" >&2
    diff <(tr -d '\r' <"$stored") "$tmp" | cut -c1-400 | head -n 20 >&2 || true
    exit 1
fi
