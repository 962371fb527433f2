#!/usr/bin/env bash
# make bench: measures the stack with wrk and Locust and writes
# bench/results/<date>.md (+ Locust's HTML report). Every figure, including
# the reference ones (a bare libmicrohttpd server, pgbench), is measured in
# this run on this machine.
#
#   BENCH_DURATION=10s BENCH_CONNS=100 BENCH_SEED=large|small
#   BENCH_LOCUST_USERS=1000 BENCH_LOCUST_TIME=60s BENCH_SKIP_LOCUST=1
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-100}
SEED=${BENCH_SEED:-small}
USERS=${BENCH_LOCUST_USERS:-1000}
LTIME=${BENCH_LOCUST_TIME:-60s}
BUILD=${BUILD:-build}
PORT=${BENCH_PORT:-8100}
BARE_PORT=${BENCH_BARE_PORT:-8199}
PG_PORT=${BENCH_PG_PORT:-54339}
REDIS_PORT=${BENCH_REDIS_PORT:-63799}
VAR=${BENCH_VAR:-$ROOT/var/bench}
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT=bench/results/$STAMP.md
BASE=http://127.0.0.1:$PORT
DB="postgresql://shopmq@127.0.0.1:$PG_PORT/shopmq"

say() { printf 'bench: %s\n' "$*" >&2; }
command -v wrk >/dev/null || { say "installing wrk"; scripts/deps.sh; }
mkdir -p bench/results "$VAR"
work=$(mktemp -d /tmp/shopmq-bench.XXXXXX)
STACK_PID= BARE_PID=
cleanup() {
    [ -n "$BARE_PID" ] && kill "$BARE_PID" 2>/dev/null || true
    stop_stack
    rm -rf "$work"
}
trap cleanup EXIT

start_stack() { # extra env assignments...
    say "starting the stack ($*)"
    env VAR_DIR="$VAR" ECOM_PORT=$PORT ECOM_PG_PORT=$PG_PORT ECOM_REDIS_PORT=$REDIS_PORT \
        ECOM_BROKER_BIND=tcp://127.0.0.1:5655 ECOM_BROKER_ENDPOINTS=tcp://127.0.0.1:5655 \
        ECOM_EVENTS_XSUB_BIND=tcp://127.0.0.1:5656 ECOM_EVENTS_PUB_ENDPOINTS=tcp://127.0.0.1:5656 \
        ECOM_EVENTS_XPUB_BIND=tcp://127.0.0.1:5657 ECOM_EVENTS_SUB_ENDPOINTS=tcp://127.0.0.1:5657 \
        ECOM_REDIS_RATE_LIMIT_MAX=${BENCH_RATE_LIMIT_MAX:-0} ECOM_LOG_LEVEL=warn \
        SEED=$([ "$SEED" = large ] && echo large || echo "") "$@" \
        scripts/run.sh >"$work/stack.log" 2>&1 &
    STACK_PID=$!
    for _ in $(seq 1 600); do
        if curl -fsS "$BASE/health" 2>/dev/null | grep -q '"status": *"healthy"'; then
            if grep -q "seed" "$work/stack.log" || [ "$(psql "$DB" -Atc 'select count(*) from products' 2>/dev/null || echo 0)" -gt 0 ]; then
                return 0
            fi
        fi
        kill -0 $STACK_PID 2>/dev/null || { cat "$work/stack.log" >&2; exit 1; }
        sleep 0.5
    done
    say "stack did not become healthy"; cat "$work/stack.log" >&2; exit 1
}
stop_stack() {
    if [ -n "$STACK_PID" ]; then
        kill -TERM "$STACK_PID" 2>/dev/null || true
        wait "$STACK_PID" 2>/dev/null || true
        STACK_PID=
    fi
}

# pids of the programs run.sh started, by name
pids_of() { pgrep -f "$ROOT/$BUILD/$1\$" || pgrep -f "/$1\$" || true; }
procstat() { # name -> "cpu_ticks rss_peak_kb" summed over its processes
    local t=0 r=0 p
    for p in $(pids_of "$1"); do
        [ -r /proc/$p/stat ] || continue
        t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
        r=$((r + $(awk '/VmHWM/ {print $2}' /proc/$p/status)))
    done
    echo "$t $r"
}
PROGS="gateway broker catalog-svc order-svc customer-svc"
HZ=$(getconf CLK_TCK)

pg_reset() { psql "$DB" -qAtc "select pg_stat_statements_reset()" >/dev/null 2>&1 || true; }
pg_calls() { psql "$DB" -qAtc "select coalesce(sum(calls),0) from pg_stat_statements where query !~* 'pg_stat_statements'" 2>/dev/null || echo 0; }
cache_stats() { curl -fsS "$BASE/api/v1/cache/stats" 2>/dev/null | tr -d ' ' | sed -E 's/.*"hits":([0-9]+).*"misses":([0-9]+).*/\1 \2/' || echo "0 0"; }

ROWS=()
run_wrk() { # name url-or-path conns [env...]
    local name=$1 url=$2 conns=$3
    shift 3
    local before_cpu=() p
    for p in $PROGS; do before_cpu+=("$(procstat $p | cut -d' ' -f1)"); done
    pg_reset
    read -r h0 m0 < <(cache_stats)
    local line
    line=$(env "$@" wrk -t2 -c"$conns" -d"$DUR" --timeout 10s -s tests/load/wrk_report.lua "$url" 2>&1 | grep '^RESULT' || true)
    local calls; calls=$(pg_calls)
    read -r h1 m1 < <(cache_stats)
    local req; req=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
    local per1k="n/a"
    [ -n "$req" ] && [ "$req" -gt 0 ] && per1k=$(awk -v c="$calls" -v r="$req" 'BEGIN{printf "%.1f", c*1000/r}')
    local hit="n/a"
    [ $((h1 - h0 + m1 - m0)) -gt 0 ] && hit=$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN{printf "%.1f%%", 100*h/(h+m)}')
    local cpu="" i=0
    for p in $PROGS; do
        local now; now=$(procstat $p | cut -d' ' -f1)
        cpu+="$p $(awk -v d=$((now - ${before_cpu[i]})) -v hz="$HZ" 'BEGIN{printf "%.1f", d/hz}')s "
        i=$((i + 1))
    done
    say "$name: $line"
    ROWS+=("| $name | $conns | $(sed -E 's/RESULT rps=([0-9.]+) p50=([0-9.]+) p90=([0-9.]+) p99=([0-9.]+) requests=([0-9]+) errors=([0-9]+)/\1 | \2 | \3 | \4 | \6/' <<<"$line") | $per1k | $hit | $cpu|")
}

say "building (Release)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

"$BUILD/bare-hello" "$BARE_PORT" >/dev/null 2>&1 &
BARE_PID=$!
sleep 0.3

# ---- cached stack ----
start_stack
PID1=$(psql "$DB" -Atc "select id from products where is_active order by name limit 1")
CID=$(psql "$DB" -Atc "select id from customers order by name limit 1")
psql "$DB" -Atc "select '/api/v1/products/' || id from products where is_active order by random() limit 200" > "$work/paths"
curl -fsS "$BASE/api/v1/products/$PID1" >/dev/null; curl -fsS "$BASE/api/v1/products?page=1&page_size=20" >/dev/null

run_wrk bare "http://127.0.0.1:$BARE_PORT/" "$CONNS"
run_wrk health "$BASE/health" "$CONNS"
run_wrk product "$BASE/api/v1/products/$PID1" "$CONNS"
run_wrk product-200ids "$BASE/" "$CONNS" WRK_PATHS_FILE="$work/paths"
run_wrk list "$BASE/api/v1/products?page=1&page_size=20" "$CONNS"
run_wrk search "$BASE/api/v1/products?search=pro" "$CONNS"
run_wrk bare-c1000 "http://127.0.0.1:$BARE_PORT/" 1000
run_wrk product-c1000 "$BASE/api/v1/products/$PID1" 1000

# Orders: random 1-3 line orders over plenty of stock.
psql "$DB" -qc "update products set stock = 1000000 where is_active" >/dev/null
psql "$DB" -Atc "select id from products where is_active order by random() limit 40" > "$work/pids"
python3 - "$work/pids" "$CID" > "$work/orders" <<'PY'
import json, random, sys
ids = open(sys.argv[1]).read().split()
for _ in range(500):
    lines = [{"product_id": p, "quantity": random.randint(1, 3)} for p in random.sample(ids, random.randint(1, 3))]
    print(json.dumps({"customer_id": sys.argv[2], "items": lines}))
PY
run_wrk order "$BASE/api/v1/orders" 50 WRK_METHOD=POST WRK_BODY_FILE="$work/orders"

# Reference: pgbench TPC-B-like on the same server, same session.
createdb -h 127.0.0.1 -p "$PG_PORT" -U shopmq pgbench 2>/dev/null || true
pgbench -h 127.0.0.1 -p "$PG_PORT" -U shopmq -i -s 10 -q pgbench >/dev/null 2>&1
PGB=$(pgbench -h 127.0.0.1 -p "$PG_PORT" -U shopmq -c 50 -j 2 -T "${DUR%s}" pgbench 2>/dev/null | awk '/^tps/ {printf "%.0f", $3; exit}')
say "pgbench TPC-B-like: $PGB tps"

MIX="skipped (BENCH_SKIP_LOCUST=1)"
if [ "${BENCH_SKIP_LOCUST:-0}" != 1 ] && [ -x /usr/bin/locust ]; then
    say "Locust mix: $USERS users for $LTIME"
    read -r h0 m0 < <(cache_stats)
    (ulimit -n 20000; /usr/bin/locust -f tests/load/locustfile.py --headless -u "$USERS" -r 100 -t "$LTIME" \
        --host "$BASE" --html "bench/results/$STAMP-locust.html" --csv "$work/locust" --only-summary \
        >"$work/locust.log" 2>&1) || true
    read -r h1 m1 < <(cache_stats)
    MIX=$(awk -F, '$2 == "Aggregated" {printf "requests %s, failures %s, median %s ms, p95 %s ms, p99 %s ms, %.0f req/s", $3, $4, $5, $17, $19, $10}' "$work/locust_stats.csv" 2>/dev/null || echo "no stats")
    MIX="$MIX, product-read cache hit rate $(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN{ if (h+m) printf "%.1f%%", 100*h/(h+m); else print "n/a"}')"
    say "mix: $MIX"
fi

RSS=""
for p in $PROGS; do RSS+="$p $(( $(procstat $p | cut -d' ' -f2) / 1024 )) MB, "; done
stop_stack

# ---- uncached stack ----
start_stack ECOM_REDIS_ENABLED=false
run_wrk nocache-product "$BASE/api/v1/products/$PID1" "$CONNS"
run_wrk nocache-list "$BASE/api/v1/products?page=1&page_size=20" "$CONNS"
stop_stack

{
    echo "# shopmq benchmark $STAMP"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load generator on the same cores."
    echo "wrk -t2 -d$DUR; seed: $SEED; everything below measured in this run."
    echo
    echo "| scenario | conns | req/s | p50 ms | p90 ms | p99 ms | errors | PG statements / 1k req | cache hit | CPU seconds |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "- pgbench TPC-B-like (-c50 -j2, scale 10, same server): $PGB tps"
    echo "- Locust mix ($USERS users, $LTIME): $MIX"
    echo "- Peak RSS: ${RSS%, }"
} > "$OUT"
say "wrote $OUT"
cat "$OUT"
