#!/usr/bin/env bash
# make test-compose: builds the images, runs the stack with 3 catalog and 2
# order replicas, and checks scaling, spreading and failover through the
# gateway. Tears down everything it made (by project name) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${COMPOSE_PROJECT:-shopmqtest}
PORT=${COMPOSE_TEST_PORT:-18089}
BASE="http://127.0.0.1:$PORT"
say() { printf '[test-compose] %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

if ! compose/docker-env.sh; then
    if [ "${SKIP_COMPOSE:-0}" = 1 ]; then
        say "SKIPPED: no Docker engine on this machine (SKIP_COMPOSE=1)"
        exit 0
    fi
    say "ERROR: the Docker engine cannot start here; set SKIP_COMPOSE=1 to skip explicitly"
    exit 1
fi
command -v jq >/dev/null || { say "installing jq"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }

work=$(mktemp -d /tmp/shopmq-compose.XXXXXX)
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$work/env" <<ENV
POSTGRES_USER=shopmq
POSTGRES_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
POSTGRES_DB=shopmq
ECOM_ADMIN_TOKEN=$TOKEN
ECOM_PORT=$PORT
ECOM_REDIS_RATE_LIMIT_MAX=0
ECOM_WORKERS=2
ENV
dc() { docker-compose -p "$PROJECT" -f compose/docker-compose.yml --env-file "$work/env" "$@"; }
cleanup() {
    local rc=$?
    if [ $rc -ne 0 ]; then dc logs --no-color --tail=40 >&2 2>/dev/null || true; fi
    dc down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

t0=$(date +%s)
say "building images"
scripts/docs-assets.sh build/docs >/dev/null # Swagger UI for the gateway image's /docs
dc build -q
say "images built in $(( $(date +%s) - t0 )) s; starting 3 catalog + 2 order replicas"
dc up -d --scale catalog-svc=3 --scale order-svc=2 >/dev/null 2>&1 || { dc ps; fail "compose up"; }

# Live catalog replicas as the gateway sees them (distinct instances).
replicas() { curl -fsS "$BASE/health" 2>/dev/null | jq -r ".replicas.$1 // 0" 2>/dev/null || echo 0; }
wait_replicas() { # service count timeout_s
    local end=$(( $(date +%s%N) / 1000000 + $3 * 1000 ))
    while [ $(( $(date +%s%N) / 1000000 )) -lt $end ]; do
        [ "$(replicas "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
wait_replicas catalog 3 120 || fail "health never showed 3 catalog replicas: $(curl -sS "$BASE/health")"
wait_replicas order 2 30 || fail "health never showed 2 order replicas"
wait_replicas customer 1 30 || fail "health never showed the customer replica"
say "health: $(curl -fsS "$BASE/health")"

auth=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
post() { curl -sS -o "$work/out" -w '%{http_code}' -X POST "${auth[@]}" "$BASE$1" -d "$2"; }

# Basic flow: customer, category, product, order, stock drops, cancel restores.
[ "$(post /api/v1/customers '{"email":"compose@example.com","name":"Compose Test"}')" = 201 ] || fail "create customer: $(cat "$work/out")"
cid=$(jq -r .id "$work/out")
[ "$(post /api/v1/products '{"name":"Compose Widget","price":25.00,"stock":50,"sku":"COMPOSE-1"}')" = 201 ] || fail "create product: $(cat "$work/out")"
pid=$(jq -r .id "$work/out")
[ "$(post /api/v1/orders "{\"customer_id\":\"$cid\",\"items\":[{\"product_id\":\"$pid\",\"quantity\":2}]}")" = 201 ] || fail "create order: $(cat "$work/out")"
oid=$(jq -r .id "$work/out")
[ "$(jq -r .total "$work/out")" = 50 ] || [ "$(jq -r .total "$work/out")" = 50.00 ] || fail "order total: $(cat "$work/out")"
stock() { curl -fsS "$BASE/api/v1/products/$pid" | jq -r .stock; }
[ "$(stock)" = 48 ] || fail "stock after order is $(stock), want 48"
code=$(curl -sS -o "$work/out" -w '%{http_code}' -X PATCH "${auth[@]}" "$BASE/api/v1/orders/$oid/status?status=cancelled")
[ "$code" = 200 ] || fail "cancel: $code $(cat "$work/out")"
for _ in $(seq 1 50); do [ "$(stock)" = 50 ] && break; sleep 0.1; done
[ "$(stock)" = 50 ] || fail "stock after cancel is $(stock), want 50"
say "flow ok: order 2 x 25.00 = 50.00, stock 50 -> 48 -> 50"

# Requests served per catalog instance, from the services' own counters.
per_instance() {
    curl -fsS "$BASE/metrics" | awk '/^shopmq_service_requests\{/ && /service="catalog"/ {
        match($0, /instance="[^"]*"/); print substr($0, RSTART + 10, RLENGTH - 11), $NF }' | sort
}
# Product and list reads that hit the cache are answered by the gateway, so
# the reads that must reach a catalog replica here are category lists.
catalog_read="$BASE/api/v1/categories"
before=$(per_instance)
for _ in $(seq 1 300); do curl -fsS -o /dev/null "$catalog_read" || true; done
after=$(per_instance)
busy=$(join <(echo "$before") <(echo "$after") | awk '$3 > $2' | wc -l)
say "catalog instances that served reads: $busy"
[ "$busy" -ge 3 ] || fail "reads were not spread over 3 replicas: before=[$before] after=[$after]"

# Kill one catalog replica under a bounded read load.
load() { # n requests, writes failures count
    local fails=0
    for _ in $(seq 1 "$1"); do
        c=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$catalog_read" || echo 000)
        if [ "$c" != 200 ]; then fails=$((fails + 1)); echo "$c" >> "$work/fail-codes"; fi
    done
    echo "$fails" > "$work/fails"
}
load 600 & lp=$!
sleep 1
victim=$(dc ps -q catalog-svc | sed -n 1p)  # not head: SIGPIPE + pipefail
docker kill "$victim" >/dev/null
killed_at=$(date +%s%N)
wait_replicas catalog 2 3 || fail "health did not show 2 catalog replicas within 3 s"
say "health showed 2 catalog replicas $(( ($(date +%s%N) - killed_at) / 1000000 )) ms after the kill"
wait $lp
fails=$(cat "$work/fails")
say "requests failed during the kill: $fails of 600 (statuses: $(sort "$work/fail-codes" 2>/dev/null | uniq -c | tr -s ' \n' ' '))"
[ "$fails" -le 2 ] || fail "$fails failures, more than the requests the replica held"

# A replica added with --scale gets work.
# (The killed container is started again and one more is created: 4.)
dc up -d --no-recreate --scale catalog-svc=4 --scale order-svc=2 >/dev/null 2>&1
wait_replicas catalog 4 60 || fail "the new catalog replica never registered"
before=$(per_instance)
for _ in $(seq 1 300); do curl -fsS -o /dev/null "$catalog_read" || true; done
after=$(per_instance)
# Every live replica, the new one included, served some of the reads.
grew=$(join -a2 -e0 -o 0,1.2,2.2 <(echo "$before") <(echo "$after") | awk '$3 > $2' | wc -l)
[ "$grew" -ge 4 ] || fail "the added replica got no work: before=[$before] after=[$after]"
say "PASS in $(( $(date +%s) - t0 )) s"
