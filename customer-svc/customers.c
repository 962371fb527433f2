/* customers: handlers for the customer API. See customers.h. */
#include "customers.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer_input.h"
#include "log.h"
#include "service.h"
#include "validate.h"

struct customers {
    pgpool_t *pool;       /* borrowed */
    const config_t *cfg;  /* borrowed */
    atomic_long requests; /* handled requests */
    atomic_long errors;   /* of which answered 5xx */
};

/* One JSON shape for every customer; timestamps as API.md's RFC 3339 UTC. */
#define CUSTOMER_JSON                                                                              \
    "json_build_object('id', c.id, 'email', c.email, 'name', c.name, 'created_at', "               \
    "to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))"

const pgpool_stmt_t customers_statements[] = {
    /* The id tiebreak keeps the order stable between identical names. */
    {"customers_list",
     "SELECT coalesce(json_agg(" CUSTOMER_JSON " ORDER BY c.name, c.id), '[]')::text "
     "FROM (SELECT id, email, name, created_at FROM customers "
     "ORDER BY name, id LIMIT 100) c"},
    {"customers_get", "SELECT " CUSTOMER_JSON "::text FROM customers c WHERE c.id = $1::uuid"},
    /* ON CONFLICT covers the unique lower(email) index: a duplicate returns
     * no row instead of an error, even when two inserts race. */
    {"customers_create", "INSERT INTO customers AS c (email, name) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING RETURNING " CUSTOMER_JSON "::text"},
    {NULL, NULL},
};

customers_t *customers_new(pgpool_t *pool, const config_t *cfg)
{
    customers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pool = pool;
    self->cfg = cfg;
    atomic_init(&self->requests, 0);
    atomic_init(&self->errors, 0);
    return self;
}

void customers_destroy(customers_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

void customers_status(void *app, json_t *out)
{
    customers_t *self = app;
    json_t *m = json_object();
    json_object_set_new(m, "requests", json_integer(atomic_load(&self->requests)));
    json_object_set_new(m, "errors", json_integer(atomic_load(&self->errors)));
    json_object_set_new(out, "metrics", m);
    service_db_status(self->pool, out);
}

static void count(customers_t *self, const svc_reply_t *rep)
{
    atomic_fetch_add(&self->requests, 1);
    if (rep->status >= 500)
        atomic_fetch_add(&self->errors, 1);
}

/* Waiting for a connection longer than the gateway waits for us is
 * pointless: the pool timeout is capped by the request's deadline. -1 when
 * the deadline has already passed (nobody is waiting for the answer). */
static int acquire_timeout_ms(const customers_t *self, const svc_request_t *req)
{
    int64_t limit = (int64_t)self->cfg->db_pool_timeout_s * 1000;
    if (req->deadline_ms > 0) {
        int64_t left = req->deadline_ms - clock_mono_ms();
        if (left <= 0)
            return -1;
        if (left < limit)
            limit = left;
    }
    return (int)limit;
}

/* Runs a prepared statement on a pooled connection and returns its
 * successful result (caller clears it), or NULL with rep filled: 503 when
 * the database cannot be reached, 409 for a unique violation when
 * conflict_detail is given, 500 (logged, SQL text never sent) otherwise.
 * A read that meets a dead connection (server restart) is retried once on
 * a fresh one, so a restart fails no more than the writes in flight. */
static PGresult *query(customers_t *self, const svc_request_t *req, const char *stmt, int nparams,
                       const char *const *values, bool retry_ok, const char *conflict_detail,
                       svc_reply_t *rep)
{
    for (int attempt = 0;; attempt++) {
        int timeout = acquire_timeout_ms(self, req);
        PGconn *conn = timeout >= 0 ? pgpool_acquire(self->pool, timeout) : NULL;
        if (!conn) {
            log_warn(req->rid, "%s: no database connection (server down, or pool busy for %d ms)",
                     req->op, timeout);
            svc_reply_detail(rep, 503, "Service unavailable");
            return NULL;
        }
        PGresult *res = pgpool_exec(conn, stmt, nparams, values);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            pgpool_release(self->pool, conn);
            return res;
        }
        bool conn_error = pgpool_is_conn_error(conn, res);
        bool retryable = conn_error || (res && pgpool_is_retryable(res));
        const char *state = res ? pgpool_sqlstate(res) : "";
        bool conflict = conflict_detail && strcmp(state, "23505") == 0;
        if (!conflict)
            log_error(req->rid, "%s: %s failed (sqlstate %s): %s", req->op, stmt,
                      state[0] ? state : "none",
                      res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        pgpool_release(self->pool, conn);
        if (conflict) {
            svc_reply_detail(rep, 409, conflict_detail);
            return NULL;
        }
        if (retryable && retry_ok && attempt == 0)
            continue;
        if (conn_error)
            svc_reply_detail(rep, 503, "Service unavailable");
        else
            svc_reply_detail(rep, 500, "Internal server error");
        return NULL;
    }
}

static void customers_list(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    customers_t *self = app;
    PGresult *res = query(self, req, "customers_list", 0, NULL, true, NULL, rep);
    if (res) {
        svc_reply_copy(rep, 200, PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    count(self, rep);
}

static void customers_get(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    customers_t *self = app;
    const char *id = json_string_value(json_object_get(req->params, "id"));
    /* A malformed id cannot name a customer: no query, and never a cast error. */
    if (!id || !v_is_uuid(id)) {
        svc_reply_detail(rep, 404, "Customer not found");
        count(self, rep);
        return;
    }
    const char *values[] = {id};
    PGresult *res = query(self, req, "customers_get", 1, values, true, NULL, rep);
    if (res) {
        if (PQntuples(res) == 1)
            svc_reply_copy(rep, 200, PQgetvalue(res, 0, 0));
        else
            svc_reply_detail(rep, 404, "Customer not found");
        PQclear(res);
    }
    count(self, rep);
}

static void customers_create(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    customers_t *self = app;
    json_t *errs = json_array();
    customer_input_t in;
    if (customer_input_parse(req->body, req->body_len, &in, errs) != 0) {
        svc_reply_raw(rep, 422, v_errors_body(errs));
    } else {
        const char *values[] = {in.email, in.name};
        /* Not retried: after a lost connection we cannot know whether the
         * insert committed. 23505 cannot happen with ON CONFLICT, but if it
         * ever does it is still the client's duplicate, not our 500. */
        PGresult *res =
            query(self, req, "customers_create", 2, values, false, "Email already registered", rep);
        if (res) {
            if (PQntuples(res) == 1)
                svc_reply_copy(rep, 201, PQgetvalue(res, 0, 0));
            else
                svc_reply_detail(rep, 409, "Email already registered");
            PQclear(res);
        }
    }
    customer_input_clear(&in);
    json_decref(errs);
    count(self, rep);
}

const svc_route_t customers_routes[] = {
    {"customers.list", customers_list},
    {"customers.get", customers_get},
    {"customers.create", customers_create},
    {NULL, NULL},
};
