#!/usr/bin/env bash
# Runs the integration suite once with every program of the stack (broker,
# gateway, services) under valgrind memcheck, then reads the valgrind logs:
# any byte "definitely lost", any invalid read/write/free, or a program
# valgrind saw crash fails the run. The tests' own results count too.
#
#   scripts/check-valgrind.sh [test_name...]
#   VALGRIND_TESTS="..."     the tests to run (default: every
#                            tests/integration/test_*.c, so a new test is in)
#   VG_BUILD=build-vg        build dir (gcc, RelWithDebInfo)
#   VG_TIME_SCALE=15         harness timeouts x this (SHOPMQ_TEST_TIME_SCALE)
#
# Timing: the harness stretches its own waits and the stack's clocks
# (heartbeat, queue grace, request deadline, Redis timeout) by the scale,
# and the tests that measure recovery, deadlines or a rate window stretch
# theirs with harness_time_scale(), so the whole suite passes under
# memcheck. The full run takes ~13 minutes on 2 cores, most of it the
# kill/failover tests waiting out their scaled deadlines.
#
# Tests that need only PostgreSQL (fixture_database: test_pgpool,
# test_migrate) exercise common/ code inside the test process itself, so
# that process runs under memcheck too (its forked children, which exec
# PostgreSQL or a wrapped program, are left alone).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD=${VG_BUILD:-build-vg}
SCALE=${VG_TIME_SCALE:-15}
JOBS=${JOBS:-$(nproc)}
tests=("$@")
if ((${#tests[@]} == 0)) && [[ -n "${VALGRIND_TESTS:-}" ]]; then
    read -r -a tests <<<"$VALGRIND_TESTS"
elif ((${#tests[@]} == 0)); then
    for src in tests/integration/test_*.c; do
        t=${src##*/}
        tests+=("${t%.c}")
    done
fi

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
MEMCHECK="$VALGRIND --tool=memcheck --leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=definite --error-exitcode=97 --num-callers=30"
export SHOPMQ_TEST_WRAPPER="$MEMCHECK --log-file=$LOGS/vg.%p.log"
export SHOPMQ_TEST_TIME_SCALE=$SCALE

failed=()
run_start=$(date +%s)
for t in "${tests[@]}"; do
    start=$(date +%s)
    rc=0
    self=()
    if grep -q 'fixture_database(' "tests/integration/$t.c" 2>/dev/null; then
        # shellcheck disable=SC2206 # words, as the harness splits the wrapper
        self=($MEMCHECK --child-silent-after-fork=yes "--log-file=$LOGS/vg.%p.log")
    fi
    # ctest's TIMEOUT would not scale: run the binaries directly.
    timeout $((300 * SCALE / 3)) "${self[@]}" "$BUILD/$t" >"$LOGS/$t.out" 2>&1 || rc=$?
    echo "valgrind: $t rc=$rc in $(($(date +%s) - start))s${self:+ (the test process too)}"
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
echo "valgrind: ${#tests[@]} tests in $(($(date +%s) - run_start))s; $nlogs process logs read" \
    "($unchecked without a leak summary: SIGKILLed), $bad with errors;" \
    "tests failed: ${failed[*]:-none}"
if ((nlogs == 0)); then
    echo "valgrind: no logs: the wrapper did not run (harness without SHOPMQ_TEST_WRAPPER?)" >&2
    exit 1
fi
((bad == 0 && ${#failed[@]} == 0))
