#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (the Swift toolchain's), for a bounded time, of every
# parser an input reaches: the JSON parser, the tool-call parser (and the policy deciding what it
# parsed), the vote parser, the policy loader. What crashes or breaks a target's checks is a
# defect to fix; the inputs that reach new code are kept as regression tests in
# tools/fuzz/corpus/<target>/, which `swift test` replays (the "fuzz corpus" tests).
#
#   tools/fuzz/run.sh [SECONDS] [TARGET...]   SECONDS per target (default 60); targets default
#                                             to json tool-call vote policy
#
# The targets are tools/fuzz/Sources (tollgate-fuzz), built by SwiftPM with TOLLGATE_FUZZ=1 in
# .build/fuzz-spm: every Swift module with AddressSanitizer and libFuzzer's coverage, linked
# with libFuzzer without its main (tollgate-fuzz hands its arguments to LLVMFuzzerRunDriver).
# The first build takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json tool-call vote policy)

out=.build/fuzz
mkdir -p "$out"
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")
fuzzer=$(find "$toolchain/lib/clang" -name "libclang_rt.fuzzer_no_main-$(uname -m).a" | head -n 1)
[ -n "$fuzzer" ] || { echo "fuzz: libclang_rt.fuzzer_no_main not found under $toolchain/lib/clang" >&2; exit 1; }

echo "fuzz: building tollgate-fuzz (AddressSanitizer, libFuzzer coverage) in .build/fuzz-spm"
TOLLGATE_FUZZ=1 swift build --scratch-path .build/fuzz-spm --product tollgate-fuzz \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
    -Xswiftc -DFUZZING -Xlinker "$fuzzer" -Xlinker -lstdc++ >"$out/build.log" 2>&1 ||
    { tail -n 30 "$out/build.log" >&2; echo "fuzz: build failed ($out/build.log)" >&2; exit 1; }
binary=$(TOLLGATE_FUZZ=1 swift build --scratch-path .build/fuzz-spm --show-bin-path)/tollgate-fuzz

export ASAN_OPTIONS=symbolize=0:detect_leaks=0
export SWIFT_BACKTRACE=enable=no
status=0
for target in "${targets[@]}"; do
    corpus=tools/fuzz/corpus/$target
    scratch=$out/new-$target
    mkdir -p "$corpus" "$scratch"
    # Words the mutations splice in: policy keys and operators, or the protocol's JSON fields.
    dict=tools/fuzz/json.dict
    [ "$target" = policy ] && dict=tools/fuzz/policy.dict
    echo "fuzz: $target: $seconds s, corpus $corpus ($(ls "$corpus" | wc -l) inputs)"
    # New inputs go to a scratch folder first and are merged into the kept corpus (only those
    # that add coverage) at the end, so the corpus stays small.
    result=0
    timeout $((seconds + 120)) "$binary" "$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$out/$target-" -print_final_stats=1 -dict="$dict" \
        "$scratch" "$corpus" >"$out/$target.log" 2>&1 || result=$?
    grep -E "^Done|^stat::number_of_executed_units|^stat::peak_rss|ERROR|Fatal error|fuzz: " "$out/$target.log" |
        sed "s/^/fuzz: $target: /" | head -n 10 || true
    if [ $result -ne 0 ]; then
        tail -n 30 "$out/$target.log" >&2
        echo "fuzz: $target FAILED: the input is in $out/ ($target-crash-*, -timeout-*, -oom-*)" >&2
        status=1
    fi
    timeout 300 "$binary" "$target" -merge=1 "$corpus" "$scratch" >"$out/$target-merge.log" 2>&1 || true
    rm -rf "$scratch"
    echo "fuzz: $target: corpus now $(ls "$corpus" | wc -l) inputs"
done
[ $status -eq 0 ] && echo "fuzz: passed" || echo "fuzz: FAILED" >&2
exit $status
