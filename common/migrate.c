/* Schema migrations, one transaction per file, serialised across every
 * service and replica by one advisory lock. */
#include "migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOCK_SQL "SELECT pg_advisory_lock(hashtext('shopmq-migrations'))"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(hashtext('shopmq-migrations'))"

/* PostgreSQL messages end with a newline (and may span lines). */
static void set_err(char *err, size_t errlen, const char *what, const char *pgmsg)
{
    if (!err || errlen == 0)
        return;
    snprintf(err, errlen, "%s: %s", what, pgmsg ? pgmsg : "");
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == ' ')
        err[--n] = '\0';
}

static int migrate_run_quiet(PGconn *conn, const char *service, const migration_t *list,
                             char *err, size_t errlen);

/* Runs sql; true when it succeeded. */
static bool exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    if (!ok)
        set_err(err, errlen, what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    return ok;
}

/* 1 applied, 0 not, -1 error. */
static int is_applied(PGconn *conn, const char *service, const char *name, char *err,
                      size_t errlen)
{
    const char *params[] = {service, name};
    PGresult *res = PQexecParams(conn,
                                 "SELECT 1 FROM schema_migrations WHERE service = $1 AND name = $2",
                                 2, NULL, params, NULL, NULL, 0);
    int rc;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        set_err(err, errlen, "reading schema_migrations", PQresultErrorMessage(res));
        rc = -1;
    } else {
        rc = PQntuples(res) > 0;
    }
    PQclear(res);
    return rc;
}

static int apply_one(PGconn *conn, const char *service, const migration_t *m, char *err,
                     size_t errlen)
{
    char what[256];
    snprintf(what, sizeof(what), "migration %s", m->name);
    if (!exec_ok(conn, "BEGIN", err, errlen, what))
        return -1;
    /* PQexec runs every statement of the file inside our transaction. */
    if (!exec_ok(conn, m->sql, err, errlen, what)) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    const char *params[] = {service, m->name};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO schema_migrations(service, name) VALUES ($1, $2)",
                                 2, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        set_err(err, errlen, what, PQresultErrorMessage(res));
    PQclear(res);
    if (!ok || !exec_ok(conn, "COMMIT", err, errlen, what)) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    /* A file that opens a transaction of its own would leave one open. */
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        set_err(err, errlen, what, "left the connection inside a transaction");
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    return 0;
}

/* Server notices ("already exists, skipping") would otherwise be printed
 * by libpq as plain text in the middle of the JSON log. */
static void notice_to_log(void *arg, const char *message)
{
    char line[512];
    set_err(line, sizeof(line), "postgres notice", message);
    log_debug(NULL, "%s", line);
}

int migrate_run(PGconn *conn, const char *service, const migration_t *list, char *err,
                size_t errlen)
{
    if (conn) {
        PQnoticeProcessor prev = PQsetNoticeProcessor(conn, notice_to_log, NULL);
        int rc = migrate_run_quiet(conn, service, list, err, errlen);
        PQsetNoticeProcessor(conn, prev, NULL);
        return rc;
    }
    return migrate_run_quiet(conn, service, list, err, errlen);
}

static int migrate_run_quiet(PGconn *conn, const char *service, const migration_t *list,
                             char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        set_err(err, errlen, "migrations", "no database connection");
        return -1;
    }
    if (!exec_ok(conn, LOCK_SQL, err, errlen, "taking the migration lock"))
        return -1;
    int rc = 0;
    if (!exec_ok(conn,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " service text NOT NULL,"
                 " name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now(),"
                 " PRIMARY KEY (service, name))",
                 err, errlen, "creating schema_migrations"))
        rc = -1;
    int applied = 0;
    for (const migration_t *m = list; rc == 0 && m && m->name; m++) {
        int done = is_applied(conn, service, m->name, err, errlen);
        if (done < 0) {
            rc = -1;
        } else if (!done) {
            if (apply_one(conn, service, m, err, errlen) != 0) {
                rc = -1;
            } else {
                log_info(NULL, "applied migration %s for %s", m->name, service);
                applied++;
            }
        }
    }
    /* Unlock even after a failure; a dead connection releases it anyway. */
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, UNLOCK_SQL));
    if (rc == 0 && applied == 0)
        log_debug(NULL, "migrations for %s are up to date", service);
    return rc;
}

/* Sleeps ms, returning early (true) when stop is set. */
static bool sleep_or_stop(int ms, volatile int *stop)
{
    for (int slept = 0; slept < ms; slept += 50) {
        if (stop && *stop)
            return true;
        usleep(50 * 1000);
    }
    return stop && *stop;
}

static PGconn *connect_db(const char *url, const char *service)
{
    char appname[64];
    snprintf(appname, sizeof(appname), "shopmq-%s-migrate", service);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, "3", appname, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* 1 exists, 0 not yet, -1 query failed. */
static int table_exists(PGconn *conn, const char *table)
{
    const char *params[] = {table};
    PGresult *res = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params,
                                 NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

int migrate_startup(const char *database_url, const char *service, const migration_t *list,
                    const char *const *requires, volatile int *stop)
{
    bool said_db = false;
    const char *said_table = NULL;
    for (;;) {
        if (stop && *stop)
            return -1;
        PGconn *conn = connect_db(database_url, service);
        if (PQstatus(conn) != CONNECTION_OK) {
            if (!said_db) {
                char msg[512];
                set_err(msg, sizeof(msg), "waiting for database", PQerrorMessage(conn));
                log_warn(NULL, "%s", msg);
                said_db = true;
            }
            PQfinish(conn);
            if (sleep_or_stop(1000, stop))
                return -1;
            continue;
        }
        if (said_db)
            log_info(NULL, "database is up");
        said_db = false;

        /* Another service owns the tables we reference; wait for them. */
        bool lost = false;
        for (const char *const *t = requires; t && *t && !lost;) {
            int ok = table_exists(conn, *t);
            if (ok == 1) {
                t++;
                continue;
            }
            if (ok < 0 || PQstatus(conn) != CONNECTION_OK) {
                lost = true;
                break;
            }
            if (said_table != *t) {
                log_info(NULL, "waiting for table %s", *t);
                said_table = *t;
            }
            if (sleep_or_stop(1000, stop)) {
                PQfinish(conn);
                return -1;
            }
        }
        if (lost) {
            PQfinish(conn);
            if (sleep_or_stop(1000, stop))
                return -1;
            continue;
        }

        char err[1024];
        int rc = migrate_run(conn, service, list, err, sizeof(err));
        bool conn_lost = rc != 0 && PQstatus(conn) != CONNECTION_OK;
        PQfinish(conn);
        if (rc == 0)
            return 0;
        if (!conn_lost) {
            log_error(NULL, "%s", err);
            return -1;
        }
        /* The server went away mid-way (restart): start over. */
        log_warn(NULL, "%s; retrying", err);
        if (sleep_or_stop(1000, stop))
            return -1;
    }
}
