#!/usr/bin/env bash
# Builds everything with ASan+UBSan (build-asan, -DSANITIZE=ON) and runs the
# unit and integration suites. The integration harness starts the stack's
# programs from the same build dir, so the broker, gateway and services run
# sanitized too. Every sanitizer report (a test's or a service's, leaks
# included, from processes that exit normally) is written under
# $ASAN_BUILD/sanitizer-logs/ and any report there fails the run, even when
# the test itself passed (a service's report only reaches its log file).
#
#   scripts/check-sanitize.sh [ctest args...]   e.g. -L unit, -R test_customers
#   ASAN_BUILD=build-asan  CTEST_JOBS=2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD=${ASAN_BUILD:-build-asan}
JOBS=${JOBS:-$(nproc)}
CTEST_JOBS=${CTEST_JOBS:-2}

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS"

LOGS="$PWD/$BUILD/sanitizer-logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"
# log_path: one file per process (<path>.<pid>), whoever started it.
# halt_on_error: the first report ends the process (UBSan's
# -fno-sanitize-recover makes that so for UB too).
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:strict_string_checks=1:\
detect_stack_use_after_return=1:check_initialization_order=1:symbolize=1:log_path=$LOGS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:symbolize=1:log_path=$LOGS/ubsan"
export LSAN_OPTIONS="log_path=$LOGS/lsan"
# Slower programs: give the harness's waits some room.
export SHOPMQ_TEST_TIME_SCALE=${SHOPMQ_TEST_TIME_SCALE:-2}

rc=0
start=$(date +%s)
(cd "$BUILD" && ctest --output-on-failure -j "$CTEST_JOBS" -L 'unit|integration' "$@") || rc=$?
echo "sanitize: ctest rc=$rc in $(($(date +%s) - start))s"

reports=("$LOGS"/*)
if [[ -e "${reports[0]}" ]]; then
    echo "sanitize: ${#reports[@]} sanitizer report(s):" >&2
    for r in "${reports[@]}"; do
        echo "---- $r" >&2
        head -60 "$r" >&2
    done
    rc=1
else
    echo "sanitize: no sanitizer reports"
fi
exit "$rc"
