#!/bin/bash
# First start: create the cluster, the role and the database from
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB. Then run the server in
# the foreground so the container's life is the server's life.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
: "${POSTGRES_USER:=shopmq}" "${POSTGRES_DB:=shopmq}" "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
    "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" -E UTF8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pw"
    cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
max_connections = 300
shared_preload_libraries = 'pg_stat_statements'
CONF
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    "$BIN/psql" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -qc "CREATE DATABASE \"$POSTGRES_DB\""
    "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec "$BIN/postgres" -D "$PGDATA"
