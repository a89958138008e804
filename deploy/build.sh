#!/usr/bin/env bash
# Runs `swift build` with the arguments given and shows its progress: the step it is at
# ([N/M], on one line on a terminal, every 50 steps otherwise) and the time so far. A first build
# compiles every dependency (SwiftNIO, swift-crypto's BoringSSL, ...) and takes several minutes on
# two cores; later builds take seconds. On failure it prints the errors (or the log's end).
#
#   deploy/build.sh -c release --product tollgate
#   deploy/build.sh --build-tests
#
# Environment: BUILD_LOG (keep the full log there; default a temporary file, removed on success).
set -uo pipefail
cd "$(dirname "$0")/.."

log=${BUILD_LOG:-$(mktemp)}
start=$SECONDS
if [ -d .build ]; then
    echo "build: swift build $* (incremental)"
else
    echo "build: swift build $* (first build: compiles every dependency, several minutes on 2 cores)"
fi
steps=0
swift build "$@" 2>&1 | tee "$log" | while IFS= read -r line; do
    case "$line" in
    \[*/*\]*)
        step=${line%%]*}
        step=${step#[}
        steps=$((steps + 1))
        if [ -t 1 ]; then
            printf '\r  step %s, %d s ' "$step" $((SECONDS - start))
        elif [ $((steps % 50)) -eq 0 ]; then
            echo "  step $step, $((SECONDS - start)) s"
        fi
        ;;
    *"Build complete"*) [ -t 1 ] && printf '\n' ;;
    esac
done
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    [ -t 1 ] && printf '\n'
    grep -E "error:" "$log" | sort -u | head -n 40 || true
    grep -qE "error:" "$log" || tail -n 40 "$log"
    echo "build: failed after $((SECONDS - start)) s (full log: $log)" >&2
    exit "$status"
fi
echo "build: done in $((SECONDS - start)) s"
[ -n "${BUILD_LOG:-}" ] || rm -f "$log"
