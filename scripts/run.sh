#!/usr/bin/env bash
# The dev stack behind `make run`: a private PostgreSQL cluster and Redis
# under ./var/ on loopback, then broker, services and gateway, all in the
# foreground of this script. Ctrl-C stops everything it started, by pid.
# A second run reuses ./var (data survives); `rm -rf var` starts afresh.
#
# Settings (environment, or ./.env for the ECOM_* ones):
#   ECOM_PORT        gateway HTTP port (8000)
#   ECOM_PG_PORT     private PostgreSQL port (54329; not 5432, so a system
#                    PostgreSQL can keep running)
#   ECOM_REDIS_PORT  private Redis port (63790)
#   BUILD            build directory (build)
#   SEED=large       also load scripts/seed_large.sql (big catalog for benchmarks)
#   VAR_DIR          state directory (./var)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'run: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

# ---- settings ------------------------------------------------------------
# .env is read by every program (common/config.h); read it here too so the
# ports this script checks and prints are the ones the programs use. The
# real environment wins, as in config_load().
if [[ -f .env ]]; then
    while IFS= read -r line || [[ -n "$line" ]]; do
        line=${line%$'\r'}
        [[ "$line" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        key=${BASH_REMATCH[2]} val=${BASH_REMATCH[3]}
        [[ "$val" =~ ^\"(.*)\"$ || "$val" =~ ^\'(.*)\'$ ]] && val=${BASH_REMATCH[1]}
        [[ -n "${!key+x}" ]] || export "$key=$val"
    done <.env
fi

BUILD=${BUILD:-build}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
VAR=${VAR_DIR:-$ROOT/var}
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd)
HTTP_PORT=${ECOM_PORT:-8000}
PG_PORT=${ECOM_PG_PORT:-54329}
REDIS_PORT=${ECOM_REDIS_PORT:-63790}
PGBIN=$(pg_config --bindir 2>/dev/null || true)
[[ -x "$PGBIN/initdb" ]] || PGBIN=/usr/lib/postgresql/15/bin
[[ -x "$PGBIN/initdb" ]] || die "PostgreSQL 15 server binaries not found: run 'make deps'"
command -v redis-server >/dev/null || die "redis-server not found: run 'make deps'"
command -v curl >/dev/null || die "curl not found: run 'make deps'"

PGDATA="$VAR/pg"
SOCKDIR="$VAR/run"
LOGDIR="$VAR/log"
REDISDIR="$VAR/redis"
mkdir -p "$SOCKDIR" "$LOGDIR" "$REDISDIR"
# A unix socket path is limited to 107 bytes.
((${#SOCKDIR} < 90)) || die "checkout path too long for a unix socket; set VAR_DIR to a shorter path"

export ECOM_PORT=$HTTP_PORT
export ECOM_DATABASE_URL="postgresql://shopmq@127.0.0.1:$PG_PORT/shopmq"
export ECOM_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
# Catalog writes and order status changes need an admin token: without one
# set, make one once (var/admin-token, 0600) and keep using it.
ADMIN_TOKEN_FROM="ECOM_ADMIN_TOKEN"
if [[ -z "${ECOM_ADMIN_TOKEN:-}" ]]; then
    [[ -s "$VAR/admin-token" ]] ||
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/admin-token")
    chmod 600 "$VAR/admin-token"
    ECOM_ADMIN_TOKEN=$(<"$VAR/admin-token")
    export ECOM_ADMIN_TOKEN
    ADMIN_TOKEN_FROM="var/admin-token"
fi

# ---- process bookkeeping -------------------------------------------------
PIDS=()  # children started here, in start order
NAMES=()
PG_STARTED=0
STOPPING=0

as_pg() { # run a PostgreSQL server tool; initdb/postgres refuse root
    if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_all() {
    ((STOPPING)) && return
    STOPPING=1
    trap '' INT TERM
    local started=$((${#PIDS[@]} + PG_STARTED))
    ((started == 0)) || say "stopping..."
    # Reverse start order: the gateway stops taking requests first.
    local i pid
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || true
        local n=0
        while kill -0 "$pid" 2>/dev/null && ((n < 100)); do
            sleep 0.1
            n=$((n + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "${NAMES[i]} (pid $pid) did not stop in 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        rm -f "$SOCKDIR/${NAMES[i]}.pid"
    done
    if ((PG_STARTED)); then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 ||
            say "PostgreSQL did not stop cleanly; see $LOGDIR/postgres.log"
    fi
    if [[ "$(cat "$SOCKDIR/make-run.owner" 2>/dev/null)" == "$$" ]]; then rm -f "$SOCKDIR/make-run.owner"; fi
    ((started == 0)) || say "stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

start() { # start NAME CMD...: background child, output to var/log/NAME.log
    local name=$1
    shift
    "$@" >>"$LOGDIR/$name.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
    # Remembered so a run after a `kill -9` of this script can stop them.
    echo "$! $(readlink -f "$(command -v "$1")")" >"$SOCKDIR/$name.pid"
    say "started $name (pid $!), log: var/log/$name.log"
}

# Children of an earlier run that was killed without its cleanup: stop them
# by pid, but only a pid that still runs the program it was started as.
stop_leftovers() {
    local f pid exe
    for f in "$SOCKDIR"/*.pid; do
        [[ -f "$f" ]] || continue
        read -r pid exe <"$f" || true
        if [[ "$pid" =~ ^[0-9]+$ && -n "$exe" && "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$exe" ]]; then
            say "stopping $(basename "$f" .pid) (pid $pid) left over from an earlier run"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
}

# Reports each child that exited (once) and forgets it. Fails when one the
# stack cannot work without died (redis, broker, gateway); a dead service
# only takes its own routes down (503), so the rest keeps running.
DEAD_SERVICES=0
check_children() {
    local i fatal=0
    for i in "${!PIDS[@]}"; do
        kill -0 "${PIDS[i]}" 2>/dev/null && continue
        say "${NAMES[i]} exited; last lines of var/log/${NAMES[i]}.log:"
        tail -n 15 "$LOGDIR/${NAMES[i]}.log" >&2 || true
        case ${NAMES[i]} in
        *-svc) DEAD_SERVICES=$((DEAD_SERVICES + 1)) ;;
        *) fatal=1 ;;
        esac
        wait "${PIDS[i]}" 2>/dev/null || true
        rm -f "$SOCKDIR/${NAMES[i]}.pid"
        unset 'PIDS[i]' 'NAMES[i]'
    done
    PIDS=("${PIDS[@]}")
    NAMES=("${NAMES[@]}")
    return $fatal
}

# ---- ports ---------------------------------------------------------------
port_in_use() {
    if command -v ss >/dev/null; then
        [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}
endpoint_port() { # tcp://host:port -> port
    local p=${1##*:}
    [[ "$p" =~ ^[0-9]+$ ]] && echo "$p"
}

# One `make run` per checkout: a live one owns var/ and everything in it.
if [[ -f "$SOCKDIR/make-run.owner" ]]; then
    read -r other <"$SOCKDIR/make-run.owner" || true
    if [[ "$other" =~ ^[0-9]+$ && "$other" != $$ ]] && kill -0 "$other" 2>/dev/null &&
        grep -q run.sh "/proc/$other/cmdline" 2>/dev/null; then
        die "another 'make run' (pid $other) is already using $VAR; stop it first (Ctrl-C)"
    fi
fi
echo $$ >"$SOCKDIR/make-run.owner"
stop_leftovers
if port_in_use "$HTTP_PORT"; then
    die "port $HTTP_PORT is already in use (another 'make run'?). Stop that process or choose another port: ECOM_PORT=8080 make run"
fi
for spec in "ECOM_BROKER_BIND:${ECOM_BROKER_BIND:-tcp://127.0.0.1:5555}" \
    "ECOM_EVENTS_XSUB_BIND:${ECOM_EVENTS_XSUB_BIND:-tcp://127.0.0.1:5556}" \
    "ECOM_EVENTS_XPUB_BIND:${ECOM_EVENTS_XPUB_BIND:-tcp://127.0.0.1:5557}"; do
    name=${spec%%:*} ep=${spec#*:}
    p=$(endpoint_port "$ep") || continue
    port_in_use "$p" && die "port $p ($name=$ep) is already in use; set $name (and the matching ECOM_*_ENDPOINTS) to a free port"
done

# ---- PostgreSQL ----------------------------------------------------------
if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "user 'postgres' missing (is postgresql-15 installed? run 'make deps')"
    runuser -u postgres -- test -x "$VAR" ||
        die "user postgres cannot reach $VAR; make its parent directories traversable (chmod o+x)"
fi
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    say "creating PostgreSQL cluster in var/pg"
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    ((EUID == 0)) && chown postgres:postgres "$PGDATA"
    # trust on loopback only: a private dev cluster, never reachable from outside.
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$LOGDIR/initdb.log" 2>&1 ||
        die "initdb failed; see $LOGDIR/initdb.log"
    echo "include_if_exists = 'shopmq.conf'" >>"$PGDATA/postgresql.conf"
fi
# Rewritten every run so a changed ECOM_PG_PORT takes effect on existing data.
cat >"$SOCKDIR/shopmq.conf.tmp" <<EOF
# written by scripts/run.sh on every start
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCKDIR'
max_connections = 300
shared_preload_libraries = 'pg_stat_statements'
EOF
if ((EUID == 0)); then
    chown postgres:postgres "$SOCKDIR" "$SOCKDIR/shopmq.conf.tmp"
    touch "$LOGDIR/postgres.log"
    chown postgres:postgres "$LOGDIR/postgres.log"
fi
as_pg mv "$SOCKDIR/shopmq.conf.tmp" "$PGDATA/shopmq.conf"

# A cluster left running by a killed earlier run is ours: restart it cleanly.
if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    say "PostgreSQL from an earlier run is still up; restarting it"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
port_in_use "$PG_PORT" && die "port $PG_PORT is in use by another program; set ECOM_PG_PORT"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOGDIR/postgres.log" -w -t 60 start >/dev/null ||
    die "PostgreSQL did not start; see $LOGDIR/postgres.log"
PG_STARTED=1
say "PostgreSQL on 127.0.0.1:$PG_PORT (data: var/pg)"

export PGOPTIONS="-c client_min_messages=warning" # no "already exists" notices
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
psql_app() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U shopmq -d shopmq "$@"; }

if [[ -z "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'shopmq'")" ]]; then
    psql_admin -d postgres -c "CREATE ROLE shopmq LOGIN"
fi
if [[ -z "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'shopmq'")" ]]; then
    psql_admin -d postgres -c "CREATE DATABASE shopmq OWNER shopmq"
fi
# Extensions the services (pg_trgm) and benchmarks (pg_stat_statements) use;
# made here by the superuser so the migrations need no special rights.
psql_admin -d shopmq -c "CREATE EXTENSION IF NOT EXISTS pg_trgm" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

# ---- Redis ---------------------------------------------------------------
port_in_use "$REDIS_PORT" && die "port $REDIS_PORT is in use; set ECOM_REDIS_PORT"
# No snapshots, as in compose: Redis holds the cache and the rate-limit
# windows, both rebuilt from nothing by design; a snapshot's fork under load
# stalls every request behind the limiter (every admitted batch is a write).
start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDISDIR" \
    --daemonize no --save "" --appendonly no --protected-mode yes
for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    check_children || exit 1
    sleep 0.1
done
say "Redis on 127.0.0.1:$REDIS_PORT"

# ---- shopmq programs -----------------------------------------------------
[[ -x "$BUILD/gateway" && -x "$BUILD/broker" ]] ||
    die "no gateway/broker in $BUILD: build first ('make run' does)"
start broker "$BUILD/broker"
for svc in customer-svc catalog-svc order-svc; do
    if [[ -x "$BUILD/$svc" ]]; then
        start "$svc" "$BUILD/$svc"
    else
        say "$svc not built; its routes will answer 503"
    fi
done
start gateway "$BUILD/gateway"

BASE="http://127.0.0.1:$HTTP_PORT"
say "waiting for $BASE/health"
code=000
for _ in $(seq 600); do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$BASE/health" || true)
    [[ "$code" == 200 ]] && break
    # With a service dead /health stays 503 ("unhealthy"): serve the rest.
    [[ "$code" == 503 ]] && ((DEAD_SERVICES > 0)) && break
    check_children || exit 1
    sleep 0.1
done
if [[ "$code" == 503 ]] && ((DEAD_SERVICES > 0)); then
    say "WARNING: running without the service(s) that exited above; their routes answer 503"
fi
[[ "$code" == 200 || ("$code" == 503 && DEAD_SERVICES -gt 0) ]] || {
    say "gateway not healthy after 60 s (last status $code):"
    curl -s -m 2 "$BASE/health" >&2 || true
    exit 1
}

# ---- sample data ---------------------------------------------------------
# Tables come from the services' migrations, done before they report ready.
has_table() { [[ "$(psql_app -tAc "SELECT to_regclass('$1') IS NOT NULL")" == t ]]; }
seeded=0
if [[ ! -f scripts/seed.sql ]]; then
    say "scripts/seed.sql not present: not seeding"
elif ! has_table products || ! has_table customers; then
    say "products/customers tables not there (catalog-svc or customer-svc missing?): not seeding"
elif [[ "$(psql_app -tAc 'SELECT count(*) FROM products')" == 0 ]]; then
    say "empty database: loading scripts/seed.sql"
    psql_app -f scripts/seed.sql >>"$LOGDIR/seed.log" 2>&1 || die "seeding failed; see $LOGDIR/seed.log"
    seeded=1
fi
if [[ "${SEED:-}" == large ]]; then
    if [[ ! -f scripts/seed_large.sql ]]; then
        say "SEED=large but scripts/seed_large.sql is not present: skipped"
    elif has_table products && (($(psql_app -tAc 'SELECT count(*) FROM products') < 10000)); then
        say "SEED=large: loading scripts/seed_large.sql (may take a minute)"
        psql_app -f scripts/seed_large.sql >>"$LOGDIR/seed.log" 2>&1 ||
            die "large seeding failed; see $LOGDIR/seed.log"
        seeded=1
    else
        say "SEED=large: catalog already large, not reloading"
    fi
fi
# Seeding wrote behind the services' backs: drop whatever they cached.
((seeded)) && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" flushdb >/dev/null

cat >&2 <<EOF

shopmq is running:
  API       $BASE/api/v1/products   $BASE/api/v1/customers
  health    $BASE/health
  docs      $BASE/docs   ($BASE/openapi.json)
  metrics   $BASE/metrics
  database  psql postgresql://shopmq@127.0.0.1:$PG_PORT/shopmq
  redis     redis-cli -p $REDIS_PORT
  logs      var/log/*.log
  admin     Authorization: Bearer $ECOM_ADMIN_TOKEN   (from $ADMIN_TOKEN_FROM)
Press Ctrl-C to stop.

EOF

# Sleep in the background so a signal runs the trap at once.
while :; do
    sleep 1 &
    wait $! || true
    check_children || die "stopping everything: the stack cannot work without it"
done
