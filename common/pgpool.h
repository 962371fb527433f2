/* PostgreSQL connection pool shared by the worker threads of one process.
 *
 * size connections are kept; up to max_overflow more are opened under load
 * and closed when released. Acquire waits at most timeout_ms and returns
 * NULL (caller answers 503). Idle connections older than the pre-ping age
 * are checked before use; broken or recycled ones are replaced. Every
 * connection prepares the service's statement table when it is opened, so
 * handlers only ever call PQexecPrepared with a statement name. */
#ifndef SHOPMQ_PGPOOL_H
#define SHOPMQ_PGPOOL_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "config.h"

typedef struct pgpool pgpool_t;

typedef struct {
    const char *name; /* prepared statement name */
    const char *sql;  /* $1.. parameters, all passed as text */
} pgpool_stmt_t;

/* stmts: array terminated by {NULL, NULL}; may be NULL. Does not connect. */
pgpool_t *pgpool_new(const config_t *cfg, const pgpool_stmt_t *stmts);
void pgpool_destroy(pgpool_t **self_p);

/* A connection ready for use (idle transaction state), or NULL after
 * timeout_ms (< 0: the pool's configured timeout) or when the server is
 * unreachable. */
PGconn *pgpool_acquire(pgpool_t *self, int timeout_ms);

/* Returns a connection. A connection that is broken, or left inside a
 * transaction, is rolled back or closed here; callers need not care. */
void pgpool_release(pgpool_t *self, PGconn *conn);

/* Runs a prepared statement with text parameters (NULL = SQL NULL). */
PGresult *pgpool_exec(PGconn *conn, const char *stmt, int nparams, const char *const *values);

/* true when the last connect/ping succeeded. */
bool pgpool_healthy(pgpool_t *self);

typedef struct {
    int size;    /* configured size */
    int open;    /* open connections (idle + in use) */
    int in_use;  /* lent out */
    int waiting; /* threads waiting in acquire */
    long timeouts; /* acquires that gave up */
} pgpool_stats_t;
void pgpool_stats(pgpool_t *self, pgpool_stats_t *out);

/* SQLSTATE classes callers retry or map to 503. */
bool pgpool_is_retryable(const PGresult *res);  /* 40001, 40P01 */
/* class 08, 57P01-3, a bad connection, or 57014 (statement_timeout): answer 503 */
bool pgpool_is_conn_error(PGconn *conn, const PGresult *res);
/* SQLSTATE of a failed result ("" if none). */
const char *pgpool_sqlstate(const PGresult *res);

#endif
