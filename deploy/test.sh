#!/usr/bin/env bash
# Sets up what the tests need on a fresh Debian 12 machine with Swift, then builds and runs
# every test (unit tests and the tests against a real RabbitMQ).
#
#   deploy/test.sh                 everything
#   deploy/test.sh --filter Store  passes its arguments to `swift test`
#
# Steps: apt packages (deploy/install-deps.sh), a local RabbitMQ with the consistent-hash plugin
# (deploy/broker.sh start), the test users (deploy/broker-users.sh), `swift format lint`, a build
# in which a warning in Tollgate's own code is an error, then `swift test`, the browser tests
# (deploy/browser-test.sh), the tests that restart the broker and the short proof suite
# (deploy/proof.sh --short).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

command -v swift >/dev/null 2>&1 || {
    echo "test: swift is not on PATH: install Swift 6 (https://swift.org/install) and try again" >&2
    exit 1
}

step "system packages"
deploy/install-deps.sh
step "broker"
deploy/broker.sh start
deploy/broker-users.sh

step "deploy files (deploy/check.sh: unit, Dockerfile, compose, Kubernetes, RabbitMQ definitions)"
deploy/check.sh

step "format (swift format lint --strict, rules in .swift-format)"
if ! swift format lint --strict --recursive Sources Tests Package.swift; then
    echo "test: formatting differs from .swift-format: run 'swift format format -i -r Sources Tests Package.swift'" >&2
    exit 1
fi

step "build (warnings in Tollgate's code are errors)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
BUILD_LOG=$log deploy/build.sh --build-tests || { echo "test: build failed" >&2; exit 1; }
if grep -E "^$(pwd)/(Sources|Tests)/.*warning:" "$log" | sort -u; then
    echo "test: the build has warnings in Tollgate's code (listed above): fix them" >&2
    exit 1
fi

step "tests"
swift test --skip-build "$@"

# The inbox in Debian's chromium, and the gateway against its OpenAPI document (schemathesis).
if [ $# -eq 0 ]; then
    step "browser tests (deploy/browser-test.sh: chromium, Selenium, schemathesis)"
    deploy/browser-test.sh
fi

# The agent-os 5 corpus against its reference: agent-governance-toolkit-core 5.0.0 from PyPI, in
# a virtual environment of its own (it installs the same agent_os module as 3.7.0).
if [ $# -eq 0 ]; then
    step "agent-os 5 reference (Tests/compat/check_agent_os_5.sh)"
    Tests/compat/check_agent_os_5.sh
fi

# The broker-restart test stops and starts RabbitMQ, which would disturb every other test: it
# runs alone, after them (skipped when arguments select other tests).
if [ $# -eq 0 ]; then
    step "tests that restart the broker"
    TOLLGATE_DISRUPTIVE_TESTS=1 swift test --skip-build --filter BrokerRestartTests
fi

# The proof suite, short: every fault but the cluster under load with the checker, and the AMQP
# fuzzer (deploy/proof.sh; the full suite is `deploy/proof.sh` without --short). It restarts the
# broker too, so it runs last.
if [ $# -eq 0 ]; then
    step "proof suite, short (deploy/proof.sh --short: faults under load, checker, fuzzer)"
    TOLLGATE_BINARY=.build/debug/tollgate deploy/proof.sh --short
fi
