#!/usr/bin/env bash
# make bench: measures the stack with wrk and Locust and writes
# bench/results/<date>.md (+ Locust's HTML report). Every figure, including
# the reference ones (a bare libmicrohttpd server, pgbench), is measured in
# this run on this machine; ratios are of figures measured back to back.
#
#   BENCH_DURATION=5s (per sample) BENCH_ROUNDS=3 BENCH_CONNS=100 BENCH_SEED=large|small
#   BENCH_PACE_MS=100 (the *-paced rows at BENCH_CONNS: ~1,000 req/s)
#   BENCH_PACE_C1000_MS=1000 (the -c1000 paced rows: ~1,000 req/s, like the
#   Locust users' 0.5-2 s waits)
#   BENCH_LOCUST_USERS=1000 BENCH_LOCUST_TIME=60s BENCH_SKIP_LOCUST=1
#   BENCH_PORT=8100 (gateway, rate limit on, high limit) BENCH_PORT+1 (a
#   second gateway with rate limiting off) BENCH_BARE_PORT=8199
#   BENCH_PG_PORT=54339 BENCH_REDIS_PORT=63799 BENCH_BROKER_PORT=5655 (+1, +2
#   for the event proxy) BUILD=build
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DUR=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-100}
PACE=${BENCH_PACE_MS:-100}
PACE_C1000=${BENCH_PACE_C1000_MS:-1000}
SEED=${BENCH_SEED:-small}
USERS=${BENCH_LOCUST_USERS:-1000}
LTIME=${BENCH_LOCUST_TIME:-60s}
BUILD=${BUILD:-build}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
PORT=${BENCH_PORT:-8100}
PORT2=$((PORT + 1))
BARE_PORT=${BENCH_BARE_PORT:-8199}
PG_PORT=${BENCH_PG_PORT:-54339}
REDIS_PORT=${BENCH_REDIS_PORT:-63799}
BROKER_PORT=${BENCH_BROKER_PORT:-5655}
VAR=${BENCH_VAR:-$ROOT/var/bench}
# High enough never to trigger (config caps it at 1e8), so the limiter's
# cost is measured, not its 429s.
RL_HIGH=100000000
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT=bench/results/$STAMP.md
BASE=http://127.0.0.1:$PORT
BASE2=http://127.0.0.1:$PORT2
DB="postgresql://shopmq@127.0.0.1:$PG_PORT/shopmq"
PGSU=(-X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres)

say() { printf 'bench: %s\n' "$*" >&2; }
for tool in wrk pgbench psql curl python3; do
    command -v $tool >/dev/null || {
        say "installing missing tools ($tool)"
        scripts/deps.sh
        break
    }
done
mkdir -p bench/results "$VAR"
VAR=$(cd "$VAR" && pwd)
work=$(mktemp -d /tmp/shopmq-bench.XXXXXX)
STACK_PID= BARE_PID= GW2_PID=
cleanup() {
    [ -n "$BARE_PID" ] && kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null || true
    stop_stack
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STACK_ENV=(VAR_DIR="$VAR" BUILD="$BUILD" ECOM_PORT=$PORT ECOM_PG_PORT=$PG_PORT ECOM_REDIS_PORT=$REDIS_PORT
    ECOM_BROKER_BIND=tcp://127.0.0.1:$BROKER_PORT ECOM_BROKER_ENDPOINTS=tcp://127.0.0.1:$BROKER_PORT
    ECOM_EVENTS_XSUB_BIND=tcp://127.0.0.1:$((BROKER_PORT + 1)) ECOM_EVENTS_PUB_ENDPOINTS=tcp://127.0.0.1:$((BROKER_PORT + 1))
    ECOM_EVENTS_XPUB_BIND=tcp://127.0.0.1:$((BROKER_PORT + 2)) ECOM_EVENTS_SUB_ENDPOINTS=tcp://127.0.0.1:$((BROKER_PORT + 2))
    ECOM_LOG_LEVEL=warn ECOM_MAX_CONNECTIONS=5000)

start_stack() { # extra env assignments...
    say "starting the stack ($*)"
    env "${STACK_ENV[@]}" ECOM_REDIS_RATE_LIMIT_MAX=$RL_HIGH \
        SEED=$([ "$SEED" = large ] && echo large || echo "") "$@" \
        scripts/run.sh >"$work/stack.log" 2>&1 &
    STACK_PID=$!
    for _ in $(seq 1 1200); do
        # run.sh prints its banner after seeding: then the data is there.
        if grep -q "shopmq is running" "$work/stack.log" &&
            curl -fsS "$BASE/health" 2>/dev/null | grep -q '"database":"connected"'; then
            # A second gateway on the same broker, rate limiting off.
            env "${STACK_ENV[@]}" "$@" ECOM_PORT=$PORT2 ECOM_REDIS_RATE_LIMIT_MAX=0 \
                ECOM_DATABASE_URL="$DB" ECOM_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
                "$BUILD/gateway" >"$work/gateway2.log" 2>&1 &
            GW2_PID=$!
            for _ in $(seq 1 100); do
                curl -fsS "$BASE2/health" >/dev/null 2>&1 && return 0
                sleep 0.1
            done
            say "second gateway did not start"; cat "$work/gateway2.log" >&2; exit 1
        fi
        kill -0 $STACK_PID 2>/dev/null || { cat "$work/stack.log" >&2; exit 1; }
        sleep 0.5
    done
    say "stack did not become healthy"; cat "$work/stack.log" >&2; exit 1
}
stop_stack() {
    if [ -n "$GW2_PID" ]; then
        kill -TERM "$GW2_PID" 2>/dev/null || true
        wait "$GW2_PID" 2>/dev/null || true
        GW2_PID=
    fi
    if [ -n "$STACK_PID" ]; then
        kill -TERM "$STACK_PID" 2>/dev/null || true
        wait "$STACK_PID" 2>/dev/null || true
        STACK_PID=
    fi
}

# pid of a program run.sh started (it records them in var/run/NAME.pid)
pid_of() {
    case $1 in
    gateway2) echo "$GW2_PID" ;;
    *) [ -r "$VAR/run/$1.pid" ] && cut -d' ' -f1 "$VAR/run/$1.pid" || true ;;
    esac
}
procstat() { # name -> "cpu_ticks rss_peak_kb"
    local p; p=$(pid_of "$1")
    if [ -n "$p" ] && [ -r "/proc/$p/stat" ]; then
        echo "$(awk '{print $14 + $15}' "/proc/$p/stat") $(awk '/VmHWM/ {print $2}' "/proc/$p/status")"
    else
        echo "0 0"
    fi
}
PROGS="gateway gateway2 broker catalog-svc order-svc customer-svc redis"
HZ=$(getconf CLK_TCK)

# Statements the services ran in the shopmq database (BEGIN/COMMIT included).
pg_reset() { psql "${PGSU[@]}" -d shopmq -Atc "select pg_stat_statements_reset()" >/dev/null 2>&1 || true; }
pg_calls() {
    psql "${PGSU[@]}" -d shopmq -Atc "select coalesce(sum(s.calls),0) from pg_stat_statements s
        join pg_database d on d.oid = s.dbid join pg_roles r on r.oid = s.userid
        where d.datname = 'shopmq' and r.rolname = 'shopmq'" 2>/dev/null || echo 0
}
# Product-read hit/miss counters; they reach the gateway with the services'
# heartbeats (ECOM_HEARTBEAT_MS, 500 ms): wait for a fresh one.
cache_stats() {
    sleep 1.2
    curl -fsS "$BASE/api/v1/cache/stats" 2>/dev/null | tr -d ' ' |
        sed -E 's/.*"hits":([0-9]+).*"misses":([0-9]+).*/\1 \2/' | grep -E '^[0-9]+ [0-9]+$' || echo "0 0"
}

# Each run of a scenario adds a sample; the table shows the median of its
# samples (rounds interleave the scenarios a ratio compares, so a burst of
# load from elsewhere on the machine hits both sides alike).
ORDER=()
declare -A S_RPS S_P50 S_P90 S_P99 S_ERR S_REQ S_CALLS S_HITS S_MISSES S_CPU S_CONNS
declare -A RPS P50 P99 ERRS PER1K HIT
run_wrk() { # name url conns [env...]
    local name=$1 url=$2 conns=$3
    shift 3
    local before_cpu=() p h0 m0 h1 m1
    for p in $PROGS; do before_cpu+=("$(procstat $p | cut -d' ' -f1)"); done
    read -r h0 m0 < <(cache_stats)
    pg_reset
    local line
    line=$( (ulimit -n 20000; env "$@" wrk -t2 -c"$conns" -d"$DUR" --timeout 10s \
        -s tests/load/wrk_report.lua "$url") 2>&1 | grep '^RESULT' || true)
    local calls; calls=$(pg_calls)
    read -r h1 m1 < <(cache_stats)
    if [ -z "$line" ]; then
        say "$name: wrk produced no result"
        line="RESULT rps=0 p50=0 p90=0 p99=0 requests=0 errors=0"
    fi
    local rps p50 p90 p99 req err
    read -r rps p50 p90 p99 req err < <(sed -E 's/RESULT rps=([0-9.]+) p50=([0-9.]+) p90=([0-9.]+) p99=([0-9.]+) requests=([0-9]+) errors=([0-9]+)/\1 \2 \3 \4 \5 \6/' <<<"$line")
    [ -n "${S_CONNS[$name]:-}" ] || ORDER+=("$name")
    S_CONNS[$name]=$conns
    S_RPS[$name]+="$rps " S_P50[$name]+="$p50 " S_P90[$name]+="$p90 " S_P99[$name]+="$p99 "
    S_ERR[$name]=$(( ${S_ERR[$name]:-0} + err ))
    S_REQ[$name]=$(( ${S_REQ[$name]:-0} + req ))
    S_CALLS[$name]=$(( ${S_CALLS[$name]:-0} + calls ))
    S_HITS[$name]=$(( ${S_HITS[$name]:-0} + h1 - h0 ))
    S_MISSES[$name]=$(( ${S_MISSES[$name]:-0} + m1 - m0 ))
    local i=0 now
    for p in $PROGS; do
        now=$(procstat $p | cut -d' ' -f1)
        S_CPU[$name.$p]=$(( ${S_CPU[$name.$p]:-0} + now - ${before_cpu[i]} ))
        i=$((i + 1))
    done
    say "$name: $line pg-calls=$calls hits=$((h1 - h0)) misses=$((m1 - m0))"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{ if (NR == 0) print 0; else if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
# rounds N name url conns [name url conns]...: the scenarios in turn, N times
# (paced_rounds PACE_MS N ...: the same with each connection waiting about
# PACE_MS between requests; see tests/load/wrk_report.lua)
paced_rounds() {
    local pace=$1
    shift
    WRK_PACE_MS=$pace rounds "$@"
}
rounds() {
    local n=$1 r i
    shift
    local args=("$@")
    for ((r = 0; r < n; r++)); do
        for ((i = 0; i < ${#args[@]}; i += 3)); do
            run_wrk "${args[i]}" "${args[i+1]}" "${args[i+2]}"
        done
    done
}
summarise() { # fills RPS P50 P99 ERRS PER1K HIT and ROWS from the samples
    ROWS=()
    local name p cpu samples
    for name in "${ORDER[@]}"; do
        RPS[$name]=$(median <<<"${S_RPS[$name]}")
        P50[$name]=$(median <<<"${S_P50[$name]}")
        P99[$name]=$(median <<<"${S_P99[$name]}")
        ERRS[$name]=${S_ERR[$name]}
        samples=$(wc -w <<<"${S_RPS[$name]}")
        PER1K[$name]=n/a
        [ "${S_REQ[$name]}" -gt 0 ] && PER1K[$name]=$(awk -v c="${S_CALLS[$name]}" -v r="${S_REQ[$name]}" 'BEGIN{printf "%.1f", c*1000/r}')
        HIT[$name]="–"
        [ $((S_HITS[$name] + S_MISSES[$name])) -gt 0 ] && HIT[$name]=$(awk -v h="${S_HITS[$name]}" -v m="${S_MISSES[$name]}" 'BEGIN{printf "%.1f%%", 100*h/(h+m)}')
        cpu=""
        for p in $PROGS; do
            [ "${S_CPU[$name.$p]:-0}" -gt 0 ] &&
                cpu+="$p $(awk -v d="${S_CPU[$name.$p]}" -v r="${S_REQ[$name]}" -v hz="$HZ" 'BEGIN{ if (r > 0) printf "%.0f", 1e6*d/hz/r; else print "?"}'), "
        done
        ROWS+=("| $name | ${S_CONNS[$name]} | $samples | ${RPS[$name]} | ${P50[$name]} | $(median <<<"${S_P90[$name]}") | ${P99[$name]} | ${ERRS[$name]} | ${PER1K[$name]} | ${HIT[$name]} | ${cpu%, } |")
    done
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1f%%", 100*a/b; else print "n/a"}'; }
lower() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1f%%", 100*(b-a)/b; else print "n/a"}'; }

say "building (Release) in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target gateway broker catalog-svc order-svc customer-svc bare-hello >/dev/null

"$BUILD/bare-hello" "$BARE_PORT" >"$work/bare.log" 2>&1 &
BARE_PID=$!
sleep 0.3
kill -0 $BARE_PID || { cat "$work/bare.log" >&2; exit 1; }

# ---- cached stack ----
start_stack
psql_app() { psql -X -q "$DB" -Atc "$1"; }
PID1=$(psql_app "select id from products where is_active order by name limit 1")
CID=$(psql_app "select id from customers order by name limit 1")
psql_app "select '/api/v1/products/' || id from products where is_active order by random() limit 200" >"$work/paths"
curl -fsS "$BASE/api/v1/products/$PID1" >/dev/null
curl -fsS "$BASE/api/v1/products?page=1&page_size=20" >/dev/null
curl -fsS "$BASE/api/v1/products?search=pro" >/dev/null

BARE="http://127.0.0.1:$BARE_PORT/"
PROD="/api/v1/products/$PID1"
LIST="/api/v1/products?page=1&page_size=20"
# The ratios of the targets: interleaved rounds.
rounds "$ROUNDS" bare "$BARE" "$CONNS" product "$BASE$PROD" "$CONNS" \
    product-ratelimit-off "$BASE2$PROD" "$CONNS" list "$BASE$LIST" "$CONNS" \
    list-ratelimit-off "$BASE2$LIST" "$CONNS"
run_wrk health "$BASE/health" "$CONNS"
run_wrk product-200ids "$BASE/" "$CONNS" WRK_PATHS_FILE="$work/paths"
rounds 1 search "$BASE/api/v1/products?search=pro" "$CONNS" customer "$BASE/api/v1/customers/$CID" "$CONNS"
rounds "$ROUNDS" bare-c1000 "$BARE" 1000 product-c1000 "$BASE$PROD" 1000
# Latency at a given load, not at saturation (where a closed loop's latency
# is connections / throughput, whatever the server does).
paced_rounds "$PACE_C1000" "$ROUNDS" bare-c1000-paced "$BARE" 1000 product-c1000-paced "$BASE$PROD" 1000
paced_rounds "$PACE" "$ROUNDS" product-paced "$BASE2$PROD" "$CONNS" list-paced "$BASE2$LIST" "$CONNS"

# Orders: random 1-3 line orders over plenty of stock.
psql_app "update products set stock = 1000000 where is_active" >/dev/null
psql_app "select id from products where is_active order by random() limit 40" >"$work/pids"
psql_app "select id from customers limit 10" >"$work/cids"
python3 - "$work/pids" "$work/cids" >"$work/orders" <<'PY'
import json, random, sys
ids = open(sys.argv[1]).read().split()
cids = open(sys.argv[2]).read().split()
for _ in range(500):
    lines = [{"product_id": p, "quantity": random.randint(1, 3)} for p in random.sample(ids, random.randint(1, 3))]
    print(json.dumps({"customer_id": random.choice(cids), "items": lines}))
PY
run_wrk order "$BASE/api/v1/orders" 50 WRK_METHOD=POST WRK_BODY_FILE="$work/orders"

# Reference: pgbench's TPC-B-like script on the same server, same client
# count, right after the orders.
psql "${PGSU[@]}" -d postgres -c "drop database if exists pgbench" -c "create database pgbench" >/dev/null
pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s 10 -q pgbench >"$work/pgbench-init.log" 2>&1
PGB=$(pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 50 -j 2 -T "${DUR%s}" pgbench 2>/dev/null |
    awk '/^tps/ {printf "%.0f", $3; exit}')
PGB=${PGB:-0}
say "pgbench TPC-B-like: $PGB tps"
psql "${PGSU[@]}" -d postgres -c "drop database if exists pgbench" >/dev/null

MIX="skipped (BENCH_SKIP_LOCUST=1 or no /usr/bin/locust)"
MIX_FAIL= MIX_P95= MIX_HIT=
if [ "${BENCH_SKIP_LOCUST:-0}" != 1 ] && [ -x /usr/bin/locust ]; then
    say "Locust mix: $USERS users for $LTIME (gateway with rate limiting on, limit $RL_HIGH)"
    read -r h0 m0 < <(cache_stats)
    (ulimit -n 20000; cd "$work" && /usr/bin/locust -f "$ROOT/tests/load/locustfile.py" --headless \
        -u "$USERS" -r 100 -t "$LTIME" --host "$BASE" --html "$ROOT/bench/results/$STAMP-locust.html" \
        --csv "$work/locust" --only-summary >"$work/locust.log" 2>&1) || true
    read -r h1 m1 < <(cache_stats)
    # Aggregated row of locust_stats.csv: Type,Name,Request Count,Failure Count,
    # Median,Average,Min,Max,Avg size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,...
    read -r MIX_REQ MIX_FAIL MIX_P50 MIX_P95 MIX_P99 MIX_RPS < <(awk -F, '$2 == "Aggregated" {print $3, $4, $12, $17, $19, $10}' "$work/locust_stats.csv" 2>/dev/null || true)
    MIX_HIT=$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN{ if (h+m) printf "%.1f%%", 100*h/(h+m); else print "n/a"}')
    MIX="requests ${MIX_REQ:-?}, failures ${MIX_FAIL:-?}, p50 ${MIX_P50:-?} ms, p95 ${MIX_P95:-?} ms, p99 ${MIX_P99:-?} ms, ${MIX_RPS:-?} req/s, product-read cache hit rate $MIX_HIT"
    say "mix: $MIX"
    cp "$work/locust_stats.csv" "bench/results/$STAMP-locust.csv" 2>/dev/null || true
fi

RSS=""
declare -A RSSMB
for p in $PROGS; do
    RSSMB[$p]=$(awk -v k="$(procstat $p | cut -d' ' -f2)" 'BEGIN{printf "%.1f", k/1024}')
    RSS+="$p ${RSSMB[$p]} MB, "
done
stop_stack

# ---- uncached stack (same order, right after) ----
start_stack ECOM_REDIS_ENABLED=false
# Through the gateway without rate limiting, like the cached *-ratelimit-off
# rows they are compared with: with ECOM_REDIS_ENABLED=false the limiter is
# local and cheap, so comparing against the limited gateway would credit the
# cache with (or charge it for) the limiter's Redis round trip.
rounds "$ROUNDS" bare-again "$BARE" "$CONNS" nocache-product "$BASE2$PROD" "$CONNS" \
    nocache-list "$BASE2$LIST" "$CONNS"
paced_rounds "$PACE" "$ROUNDS" nocache-product-paced "$BASE2$PROD" "$CONNS" \
    nocache-list-paced "$BASE2$LIST" "$CONNS"
stop_stack

summarise
pass() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN{ ok = (op == ">=") ? (a+0 >= b+0) : (a+0 <= b+0); print ok ? "yes" : "**no**"}'; }
{
    echo "# shopmq benchmark $STAMP"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at the end $(cut -d' ' -f1-3 /proc/loadavg);"
    echo "wrk (-t2 -d$DUR) and the servers share the cores. Seed: $SEED. Commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- gateway common catalog-svc order-svc customer-svc proto 2>/dev/null || echo ' + uncommitted changes')."
    echo "Every figure below was measured in this run; ratios compare scenarios run back to back."
    echo "\`product\` and the mix go through a gateway with rate limiting on (limit $RL_HIGH, never reached);"
    echo "\`product-ratelimit-off\` through a second gateway on the same broker with it off."
    echo
    echo "Each row: the median of its samples (wrk -d$DUR each; the rounds interleave bare, product,"
    echo "product-ratelimit-off and list, then bare-c1000 and product-c1000, then bare-again and the"
    echo "nocache pair). *-paced rows: each connection waits a random 0 to 2x the pace between requests"
    echo "(${PACE_C1000} ms at -c1000, ${PACE} ms at -c$CONNS), so they measure latency at a given load,"
    echo "not at saturation where any closed loop's latency is connections / throughput. PG statements are pg_stat_statements calls of the shopmq role (BEGIN/COMMIT and the"
    echo "outbox relay's polling included); cache hit is the catalog's counted reads; CPU is µs of CPU per"
    echo "request in each process, summed over the samples."
    echo
    echo "| scenario | conns | samples | req/s | p50 ms | p90 ms | p99 ms | errors | PG statements / 1k req | cache hit | CPU µs / request |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "- pgbench TPC-B-like (-c50 -j2, scale 10, same server, right after \`order\`): $PGB tps"
    echo "- Locust mix ($USERS users, -r 100, $LTIME, FastHttpUser): $MIX"
    echo "- Peak RSS (VmHWM over the cached run, including -c1000 and the mix): ${RSS%, }"
    echo
    echo "## Targets (issue 6)"
    echo
    echo "| target | measured | met |"
    echo "|---|---|---|"
    r=$(pct "${RPS[product]}" "${RPS[bare]}")
    echo "| product req/s ≥ 25% of bare | ${RPS[product]} / ${RPS[bare]} = $r | $(pass "${r%\%}" '>=' 25) |"
    echo "| product p99 ≤ 10 ms at -c1000, paced (each connection ~1 request / ${PACE_C1000} ms) | ${P99[product-c1000-paced]} ms at ${RPS[product-c1000-paced]} req/s (bare ${P99[bare-c1000-paced]} ms) | $(pass "${P99[product-c1000-paced]}" '<=' 10) |"
    echo "| (the same, saturated: -c1000 as fast as it answers; latency = 1000 / throughput) | ${P99[product-c1000]} ms (bare ${P99[bare-c1000]} ms) | – |"
    r=$(pct "${RPS[list]}" "${RPS[bare]}")
    echo "| list req/s ≥ 15% of bare | ${RPS[list]} / ${RPS[bare]} = $r | $(pass "${r%\%}" '>=' 15) |"
    r=$(lower "${P50[product-paced]}" "${P50[nocache-product-paced]}")
    echo "| product p50 ≥ 50% lower than nocache, paced (~1 request / ${PACE} ms per connection, both without rate limiting) | ${P50[product-paced]} vs ${P50[nocache-product-paced]} ms: $r lower | $(pass "${r%\%}" '>=' 50) |"
    r=$(lower "${P50[list-paced]}" "${P50[nocache-list-paced]}")
    echo "| list p50 ≥ 50% lower than nocache, paced | ${P50[list-paced]} vs ${P50[nocache-list-paced]} ms: $r lower | $(pass "${r%\%}" '>=' 50) |"
    echo "| (saturated -c$CONNS, where p50 ≈ $CONNS / throughput: product, list) | ${P50[product-ratelimit-off]} vs ${P50[nocache-product]} ms: $(lower "${P50[product-ratelimit-off]}" "${P50[nocache-product]}") lower; ${P50[list-ratelimit-off]} vs ${P50[nocache-list]} ms: $(lower "${P50[list-ratelimit-off]}" "${P50[nocache-list]}") lower | – |"
    r=$(lower "${PER1K[product]}" "${PER1K[nocache-product]}")
    echo "| PG statements / 1k product reads ≥ 90% lower | ${PER1K[product]} vs ${PER1K[nocache-product]}: $r lower | $(pass "${r%\%}" '>=' 90) |"
    if [ -n "$MIX_FAIL" ]; then
        echo "| mix: 0 failures | $MIX_FAIL | $([ "$MIX_FAIL" = 0 ] && echo yes || echo '**no**') |"
        echo "| mix: p95 ≤ 50 ms | ${MIX_P95:-n/a} ms | $(pass "${MIX_P95:-999}" '<=' 50) |"
        echo "| mix: product cache hit rate ≥ 95% | ${MIX_HIT:-n/a} | $(pass "${MIX_HIT%\%}" '>=' 95) |"
    else
        echo "| mix (Locust) | $MIX | – |"
    fi
    r=$(pct "${RPS[order]}" "$PGB")
    echo "| orders/s ≥ 40% of pgbench TPC-B | ${RPS[order]} / $PGB = $r | $(pass "${r%\%}" '>=' 40) |"
    echo "| gateway peak RSS ≤ 50 MB (1,000 conns) | ${RSSMB[gateway]} MB | $(pass "${RSSMB[gateway]}" '<=' 50) |"
    m=0; for p in catalog-svc order-svc customer-svc broker; do m=$(awk -v a="$m" -v b="${RSSMB[$p]}" 'BEGIN{print (b > a) ? b : a}'); done
    echo "| each service ≤ 50 MB | largest $m MB | $(pass "$m" '<=' 50) |"
    echo
    echo "Not an issue-6 target: our own bound on what rate limiting costs one busy IP (issue 5)."
    echo
    echo "| check | measured | met |"
    echo "|---|---|---|"
    r=$(lower "${RPS[product]}" "${RPS[product-ratelimit-off]}")
    echo "| rate limiting costs ≤ 5% of cached product req/s | ${RPS[product]} on vs ${RPS[product-ratelimit-off]} off req/s: $r lower | $(pass "${r%\%}" '<=' 5) |"
} >"$OUT"
say "wrote $OUT"
cat "$OUT"
