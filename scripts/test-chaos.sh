#!/usr/bin/env bash
# make test-chaos: the real stack (private PostgreSQL + Redis, broker,
# services, gateway, all on free loopback ports) under a mixed load while
# catalog-svc, order-svc, customer-svc, the broker and the gateway are
# killed -9 and restarted, Redis is stopped and restarted and PostgreSQL is
# killed -9 and restarted; then the order/stock ledger is checked through
# SQL and HTTP. Prints the chaos table; exits non-zero on any violation.
# About 40 s; bounded by a hard timeout. See tests/chaos/chaos.c.
#   BUILD=<dir>         build directory (default: build)
#   CHAOS_VERBOSE=1     print every failed attempt
#   SHOPMQ_TEST_KEEP_LOGS=1  keep and print the processes' logs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD=${BUILD:-build}
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD" -j "$(nproc)" --target test_chaos broker gateway catalog-svc order-svc \
    customer-svc
# SIGTERM lets the harness stop the stack and print the logs; a hang past
# that is killed.
exec timeout --kill-after=15 240 "$BUILD/test_chaos" "$@"
