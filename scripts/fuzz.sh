#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for FUZZ_SECONDS seconds each,
# starting from its checked-in seed corpus (tests/fuzz/corpus/<target>).
# Any crash, leak, timeout or failed property fails the run; the input is
# copied to tests/fuzz/regressions/<target>/, where the unit test
# test_fuzz_regressions replays it from then on (commit it with the fix).
#
#   scripts/fuzz.sh [target...]      (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_SECONDS=60   seconds per target
#   FUZZ_BUILD=build-fuzz   build dir (configured with CC=clang -DFUZZ=ON)
#   FUZZ_KEEP_CORPUS=1      keep the grown corpus in $FUZZ_BUILD/fuzz-work
#                           between runs (default: start from the seeds)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECS=${FUZZ_SECONDS:-60}
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=${JOBS:-$(nproc)}

CLANG=${FUZZ_CC:-clang}  # not $CC: a gcc there must not win
if ! command -v "$CLANG" >/dev/null; then
    echo "fuzz: clang not found (apt-get install clang; scripts/deps.sh lists it)" >&2
    exit 2
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
    for f in tests/fuzz/fuzz_*.c; do
        t=$(basename "$f" .c)
        targets+=("${t#fuzz_}")
    done
fi

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    CC="$CLANG" cmake -S . -B "$BUILD" -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]/#/fuzz_}"

# Leaks are failures; a report names the failing property's file:line.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for t in "${targets[@]}"; do
    work="$BUILD/fuzz-work/$t"
    [[ "${FUZZ_KEEP_CORPUS:-0}" == 1 ]] || rm -rf "$work/corpus"
    rm -rf "$work/artifacts"
    mkdir -p "$work/corpus" "$work/artifacts"
    echo "== fuzz_$t: ${SECS}s from tests/fuzz/corpus/$t"
    rc=0
    "$BUILD/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" "tests/fuzz/corpus/$t" >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
    crashes=("$work"/artifacts/*)
    if ((rc != 0)) || [[ -e "${crashes[0]}" ]]; then
        failed+=("$t")
        mkdir -p "tests/fuzz/regressions/$t"
        for c in "${crashes[@]}"; do
            [[ -e "$c" ]] || continue
            cp "$c" "tests/fuzz/regressions/$t/"
            echo "fuzz_$t: saved tests/fuzz/regressions/$t/$(basename "$c")"
        done
        grep -E -A25 'ERROR: |fuzz check failed|runtime error' "$work/log" | head -60 || tail -40 "$work/log"
        summary+=("$(printf '%-16s %12s execs %8s/s  FAILED (rc %d)' "$t" "${execs:-?}" "${speed:-?}" "$rc")")
    else
        summary+=("$(printf '%-16s %12s execs %8s/s  ok' "$t" "${execs:-?}" "${speed:-?}")")
    fi
done

echo
echo "== fuzz summary (${SECS}s per target; logs in $BUILD/fuzz-work/<target>/log)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]} (inputs saved under tests/fuzz/regressions/; replay them" \
        "with $BUILD/fuzz_<target> <file> or the unit test test_fuzz_regressions)" >&2
    exit 1
fi
