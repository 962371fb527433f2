#!/usr/bin/env bash
# Runs the integration suite once with every program of the stack (broker,
# gateway, services) under valgrind memcheck, then reads the valgrind logs:
# any byte "definitely lost", any invalid read/write/free, or a program
# valgrind saw crash fails the run. The tests' own results count too.
#
#   scripts/check-valgrind.sh [test_name...]   (default: VALGRIND_TESTS below)
#   VG_BUILD=build-vg        build dir (gcc, RelWithDebInfo)
#   VG_TIME_SCALE=15         harness timeouts x this (SHOPMQ_TEST_TIME_SCALE)
#
# The default set is every integration test whose assertions are about
# behaviour, not timing: the kill/heartbeat/rate-window tests measure
# recovery in wall-clock time that valgrind's ~20x slowdown makes
# meaningless (test_catalog_cache, test_broker, test_ratelimit, the kill
# tests, test_two_brokers) and test_bad_input holds 1,000 idle connections
# and slow-loris clients on a clock; all of them run under ASan in
# check-sanitize.sh. catalog-svc still runs under valgrind here: every test
# but test_customers starts it, and test_admin_token and test_order_stock
# create and change products through it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD=${VG_BUILD:-build-vg}
SCALE=${VG_TIME_SCALE:-15}
JOBS=${JOBS:-$(nproc)}
DEFAULT_TESTS="test_harness_smoke test_customers test_order_stock test_admin_token"
DEFAULT_TESTS+=" test_catalog_api test_order_read_your_writes test_tracing test_migrate"
tests=("$@")
((${#tests[@]})) || read -r -a tests <<<"${VALGRIND_TESTS:-$DEFAULT_TESTS}"

VALGRIND=$(command -v valgrind || true)
if [[ -z "$VALGRIND" ]]; then
    echo "valgrind: not installed (apt-get install valgrind; scripts/deps.sh lists it)" >&2
    exit 2
fi

# Always configure: new test files are only seen by a fresh glob.
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target broker gateway catalog-svc order-svc customer-svc \
    "${tests[@]}"

LOGS="$PWD/$BUILD/valgrind-logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"
# Leaks: only "definitely lost" is an error (czmq/libzmq keep reachable
# globals until exit by design). One log per process: %p is the pid.
export SHOPMQ_TEST_WRAPPER="$VALGRIND --tool=memcheck --leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=definite --error-exitcode=97 --num-callers=30 \
--log-file=$LOGS/vg.%p.log"
export SHOPMQ_TEST_TIME_SCALE=$SCALE

failed=()
for t in "${tests[@]}"; do
    start=$(date +%s)
    rc=0
    # ctest's TIMEOUT would not scale: run the binaries directly.
    timeout $((300 * SCALE / 3)) "$BUILD/$t" >"$LOGS/$t.out" 2>&1 || rc=$?
    echo "valgrind: $t rc=$rc in $(($(date +%s) - start))s"
    if ((rc != 0)); then
        failed+=("$t")
        tail -40 "$LOGS/$t.out"
    fi
done

# Every process's verdict from its log.
bad=0
nlogs=0
unchecked=0
for log in "$LOGS"/vg.*.log; do
    [[ -e "$log" ]] || continue
    nlogs=$((nlogs + 1))
    prog=$(sed -n 's/^==[0-9]*== Command: //p' "$log" | head -1)
    # No summary: killed with SIGKILL (a test's fault injection, or the
    # stop grace ran out), so there was no leak check to read.
    grep -q 'ERROR SUMMARY' "$log" || unchecked=$((unchecked + 1))
    lost=$(sed -n 's/^==[0-9]*== *definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -1)
    invalid=$(grep -cE '== (Invalid (read|write|free)|Mismatched free|Source and destination overlap)' "$log" || true)
    fatal=$(grep -cE '== Process terminating with default action of signal (11|6|7|4|8)' "$log" || true)
    if [[ "${lost:-0}" != 0 || "$invalid" != 0 || "$fatal" != 0 ]]; then
        bad=$((bad + 1))
        echo "valgrind: $prog: definitely lost ${lost:-0} bytes, $invalid invalid accesses, $fatal crashes ($log)"
        grep -E -A25 '== (Invalid|Mismatched|Process terminating|[0-9,]+ bytes in [0-9,]+ blocks are definitely lost)' "$log" | head -80
    fi
done
echo "valgrind: $nlogs process logs read ($unchecked without a leak summary: SIGKILLed)," \
    "$bad with errors; tests failed: ${failed[*]:-none}"
if ((nlogs == 0)); then
    echo "valgrind: no logs: the wrapper did not run (harness without SHOPMQ_TEST_WRAPPER?)" >&2
    exit 1
fi
((bad == 0 && ${#failed[@]} == 0))
