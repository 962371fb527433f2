#!/usr/bin/env bash
# make test-e2e: boots the dev stack on free ports in a temporary directory,
# then checks what users see from outside: /docs in a real browser
# (Chromium driven by playwright-core), real responses against the OpenAPI
# schemas, and /metrics with promtool.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
say() { printf 'e2e: %s\n' "$*" >&2; }

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v promtool >/dev/null || need+=(prometheus)
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || need+=(python3-jsonschema)
command -v node >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    if [ "$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
fi
[ -d docs/node_modules/playwright-core ] || (cd docs && npm ci --no-audit --no-fund --loglevel=error)
BUILD=${BUILD:-build}
scripts/docs-assets.sh "$BUILD/docs"

# Six distinct free ports at once (all bound together, then released), for
# the gateway, PostgreSQL, Redis, the broker and its two event sockets.
read -r PORT PG_PORT REDIS_PORT B_PORT XSUB_PORT XPUB_PORT < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
work=$(mktemp -d /tmp/shopmq-e2e.XXXXXX)
[ "$(id -u)" = 0 ] && chmod 755 "$work"
TOKEN=e2e-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
env VAR_DIR="$work/var" ECOM_PORT=$PORT ECOM_PG_PORT=$PG_PORT ECOM_REDIS_PORT=$REDIS_PORT \
    ECOM_BROKER_BIND=tcp://127.0.0.1:$B_PORT ECOM_BROKER_ENDPOINTS=tcp://127.0.0.1:$B_PORT \
    ECOM_EVENTS_XSUB_BIND=tcp://127.0.0.1:$XSUB_PORT ECOM_EVENTS_PUB_ENDPOINTS=tcp://127.0.0.1:$XSUB_PORT \
    ECOM_EVENTS_XPUB_BIND=tcp://127.0.0.1:$XPUB_PORT ECOM_EVENTS_SUB_ENDPOINTS=tcp://127.0.0.1:$XPUB_PORT \
    ECOM_REDIS_RATE_LIMIT_MAX=0 ECOM_ADMIN_TOKEN=$TOKEN \
    scripts/run.sh >"$work/stack.log" 2>&1 &
STACK=$!
cleanup() {
    local rc=$?
    kill -TERM $STACK 2>/dev/null || true
    wait $STACK 2>/dev/null || true
    [ $rc -ne 0 ] && tail -n 40 "$work/stack.log" >&2
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 240); do
    curl -fsS "$BASE/health" 2>/dev/null | grep -q '"healthy"' && break
    kill -0 $STACK 2>/dev/null || { say "stack exited"; exit 1; }
    sleep 0.5
done
curl -fsS "$BASE/health" | grep -q '"healthy"' || { say "stack not healthy"; exit 1; }

say "OpenAPI: real responses against the documented schemas"
/usr/bin/python3 tests/e2e/validate_responses.py "$BASE" proto/openapi.json "$TOKEN"

say "metrics: promtool check metrics"
curl -fsS "$BASE/metrics" > "$work/metrics.txt"
promtool check metrics < "$work/metrics.txt"
# What issue 9 asks /metrics to show, by the names gwmetrics.c renders.
for m in 'shopmq_http_requests_total{method="GET",route="/api/v1/products",status="200"}' \
    'shopmq_http_request_duration_seconds_bucket{method="GET",route="/api/v1/products",le="+Inf"}' \
    shopmq_http_requests_in_flight shopmq_ratelimit_rejected_total \
    'shopmq_broker_workers{service="catalog"}' 'shopmq_broker_queued{service="order"}' \
    'shopmq_service_instances{service="customer"}' shopmq_broker_dispatched_total \
    'shopmq_service_cache_hits{service="catalog"' 'shopmq_service_cache_misses{service="catalog"' \
    'shopmq_service_requests{service="catalog"' 'shopmq_service_requests{service="order"' \
    'shopmq_service_db_pool_in_use{service="catalog"' 'shopmq_service_db_pool_in_use{service="order"' \
    'shopmq_service_db_pool_in_use{service="customer"' 'shopmq_service_db_pool_open{service="customer"' \
    'shopmq_service_db_pool_timeouts{service="order"'; do
    grep -qF "$m" "$work/metrics.txt" || { say "metric $m missing"; exit 1; }
done

say "browser: /docs and Try it out"
mkdir -p "$BUILD/e2e"
node tests/e2e/docs_browser.mjs "$BASE" "$BUILD/e2e/docs.png"
say "PASS"
