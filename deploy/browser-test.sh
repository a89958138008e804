#!/usr/bin/env bash
# The inbox in a real browser, the gateway against its OpenAPI document, and receipts checked by
# the Python verifier (tools/verify_receipt.py): installs Debian's chromium and chromium-driver,
# a virtualenv with Selenium, schemathesis, cryptography and rfc8785 (from PyPI), then runs
# Tests/browser against the local broker (deploy/broker.sh start, deploy/broker-users.sh) and the
# built binary (.build/debug/tollgate; deploy/test.sh builds it first).
#
#   deploy/browser-test.sh                  the browser tests and the OpenAPI check
#   deploy/browser-test.sh --screenshots    also writes docs/images/inbox-*.png
#
# Environment: TOLLGATE_BINARY, TOLLGATE_SCHEMATHESIS_EXAMPLES (per operation, default 40).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "browser-test: $*"; }

deploy/install-deps.sh --browser
binary=${TOLLGATE_BINARY:-.build/debug/tollgate}
[ -x "$binary" ] || { echo "browser-test: $binary is not built: run deploy/build.sh first" >&2; exit 1; }

venv=.build/browser-venv
# Debian's python3 (with python3-venv) when the one on PATH cannot make a virtualenv.
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; /usr/bin/python3 -m venv "$venv"; }
fi
if ! "$venv/bin/python" -c 'import selenium, schemathesis, rfc8785, cryptography' 2>/dev/null; then
    say "installing selenium, schemathesis, cryptography and rfc8785 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'selenium>=4.20' 'schemathesis>=4.0' 'cryptography>=42' \
        'rfc8785>=0.1.4' >"$venv/pip.log" 2>&1 ||
        { tail -n 20 "$venv/pip.log" >&2; exit 1; }
fi

if [ "${1:-}" = "--screenshots" ]; then export TOLLGATE_SCREENSHOTS=docs/images; fi
export TOLLGATE_BINARY=$binary PATH="$PWD/$venv/bin:$PATH"
say "$(chromium --version 2>/dev/null || echo chromium), $("$venv/bin/python" -c 'import selenium; print("selenium", selenium.__version__)'), $("$venv/bin/schemathesis" --version)"
"$venv/bin/python" -m unittest -v Tests/browser/test_inbox.py Tests/browser/test_openapi.py Tests/browser/test_receipts.py \
    Tests/browser/test_webhook_receiver.py
