#!/usr/bin/env bash
# Coverage-guided fuzzing of the JSON parser with libFuzzer (the Swift toolchain's), for a
# bounded time; what it finds that crashes is a defect to fix, and the inputs it finds that reach
# new code are kept as regression tests: tools/fuzz/corpus/json/, which `swift test` replays
# (TollgateJSONTests, "fuzz corpus").
#
#   tools/fuzz/run.sh [SECONDS]      default 60; builds .build/fuzz/fuzz-json first
#
# The target (tools/fuzz/FuzzJSON.swift) is compiled with Sources/TollgateJSON into one module
# with -sanitize=fuzzer,address, so it needs nothing else of the package.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
out=.build/fuzz
corpus=tools/fuzz/corpus/json
mkdir -p "$out" "$corpus" "$out/new"
echo "fuzz: building $out/fuzz-json (swiftc -sanitize=fuzzer,address)"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name TollgateJSON \
    Sources/TollgateJSON/*.swift tools/fuzz/FuzzJSON.swift -o "$out/fuzz-json"
echo "fuzz: $seconds s of libFuzzer on the JSON parser, corpus $corpus"
# New inputs go to a scratch folder first; merged into the kept corpus (only those that add
# coverage) at the end, so the corpus stays small.
export ASAN_OPTIONS=symbolize=0
status=0
timeout $((seconds + 60)) "$out/fuzz-json" -max_total_time="$seconds" -max_len=4096 -timeout=5 \
    -rss_limit_mb=2048 -artifact_prefix="$out/" -print_final_stats=1 "$out/new" "$corpus" >"$out/fuzz.log" 2>&1 ||
    status=$?
grep -E "^Done|^stat::number_of_executed_units|ERROR|Fatal error|fatalError" "$out/fuzz.log" | head -n 10 || true
timeout 120 "$out/fuzz-json" -merge=1 "$corpus" "$out/new" >/dev/null 2>&1 || true
rm -rf "$out/new"
echo "fuzz: corpus now $(ls "$corpus" | wc -l) inputs"
if [ $status -ne 0 ]; then
    tail -n 30 "$out/fuzz.log" >&2
    echo "fuzz: FAILED: the crashing input is in $out/ (crash-*, timeout-*, oom-*)" >&2
    exit 1
fi
echo "fuzz: passed"
