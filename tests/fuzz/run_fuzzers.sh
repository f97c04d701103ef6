#!/bin/sh
# Builds bpr's libFuzzer targets with clang and runs each from its seed corpus.
#   tests/fuzz/run_fuzzers.sh [seconds per target, default 10] [build folder]
# Exit status 0: no target found a crash, leak, timeout, non-bpr exception or an
# allocation above the limits. A finding leaves its input as crash-*/leak-*/oom-*/
# timeout-* in <build>/fuzz-findings/<target>/ and makes the script fail.
# Environment: BPR_FUZZ_TARGETS="idx json" runs a subset; BPR_FUZZ_JOBS (default 2)
# is the make parallelism and how many targets run at once; BPR_FUZZ_SEED (default 1)
# seeds libFuzzer's mutations, so a run explores the same inputs each time (give another
# seed, or 0 for a random one, to explore further); CXX defaults to clang++-14 (or
# clang++).
set -eu

seconds=${1:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build-fuzz}
targets=${BPR_FUZZ_TARGETS:-"idx cifar10 image safetensors json sparse_model checkpoint"}
jobs=${BPR_FUZZ_JOBS:-2}
seed=${BPR_FUZZ_SEED:-1}
if [ -z "${CXX:-}" ]; then
    if command -v clang++-14 >/dev/null 2>&1; then CXX=clang++-14; else CXX=clang++; fi
fi

# A build folder already configured with the fuzzers (scripts/test's clang sanitizer
# build) is used as it is; otherwise a fuzz-only build is configured there.
if ! grep -q '^BPR_BUILD_FUZZERS:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    CXX=$CXX cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DBPR_BUILD_FUZZERS=ON -DBPR_BUILD_TESTS=OFF -DBPR_BUILD_EXAMPLES=OFF \
        -DBPR_BUILD_BENCHMARKS=OFF >/dev/null
fi
names=bpr_fuzz_seeds
for t in $targets; do names="$names bpr_fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $names

# Committed seeds plus freshly generated ones (the generator follows format changes).
work=$build/fuzz-work
rm -rf "$work"
mkdir -p "$work/generated"
"$build/tests/fuzz/bpr_fuzz_seeds" "$work/generated"

# One target from its corpus; its exit status goes to $work/<target>.status.
run_target() {
    t=$1
    findings=$build/fuzz-findings/$t
    # -rss_limit_mb / -malloc_limit_mb: no input may drive a large allocation.
    if "$build/tests/fuzz/bpr_fuzz_$t" "$work/$t" -max_total_time="$seconds" -seed="$seed" \
        -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
        -artifact_prefix="$findings/" -print_final_stats=1 2>"$work/$t.log"; then
        echo 0 >"$work/$t.status"
    else
        echo 1 >"$work/$t.status"
    fi
}

# $jobs targets at a time (each fuzzer is one process on one core).
running=0
for t in $targets; do
    mkdir -p "$build/fuzz-findings/$t" "$work/$t"
    cp "$root/tests/fuzz/corpus/$t/"* "$work/$t/" 2>/dev/null || true
    cp "$work/generated/$t/"* "$work/$t/" 2>/dev/null || true
    echo "== bpr_fuzz_$t: $seconds s"
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait

status=0
for t in $targets; do
    if [ ! -f "$work/$t.status" ]; then
        echo "!! bpr_fuzz_$t left no exit status (killed?); log: $work/$t.log"
        status=1
    elif [ "$(cat "$work/$t.status")" != 0 ]; then
        echo "!! bpr_fuzz_$t found a problem; log: $work/$t.log, input in $build/fuzz-findings/$t/"
        tail -n 40 "$work/$t.log"
        status=1
    else
        echo "bpr_fuzz_$t:"
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$t.log" || true
    fi
done
exit $status
