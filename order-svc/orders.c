/* The four order operations. Validation happens here; everything that
 * touches stock runs as one plpgsql call (see sql/002_order_functions.sql),
 * so a request is one round trip and one transaction. */
#include "orders.h"

#include "shopmq_proto.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "service.h"
#include "order_cache.h"
#include "order_request.h"
#include "order_sql.h"
#include "pgpool.h"
#include "validate.h"

#define DB_ATTEMPTS 4    /* first try + 3 retries of serialization/deadlock */
#define EVENT_WAIT_MS 50 /* longest a reply waits for its event to go out */

struct orders {
    const config_t *cfg;
    pgpool_t *pool; /* borrowed */
    outbox_relay_t *relay;
    order_cache_t *cache; /* direct invalidation after commit (read-your-writes) */
    atomic_long requests; /* every request, whatever its outcome */
    atomic_long created;
    atomic_long rejected;
    atomic_long cancelled;
    atomic_long db_retries;
    atomic_long unavailable;
};

static const char *const STATUSES[] = {"pending",   "confirmed", "shipped",
                                       "delivered", "cancelled", NULL};

orders_t *orders_new(pgpool_t *pool, const config_t *cfg, outbox_relay_t *relay)
{
    orders_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->relay = relay;
    self->pool = pool;
    self->cache = order_cache_new(cfg);
    if (!self->cache) {
        free(self);
        return NULL;
    }
    return self;
}

void orders_destroy(orders_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    order_cache_destroy(&(*self_p)->cache);
    free(*self_p);
    *self_p = NULL;
}

static bool status_known(const char *s)
{
    for (int i = 0; s && STATUSES[i]; i++)
        if (strcmp(s, STATUSES[i]) == 0)
            return true;
    return false;
}

static void reply_unavailable(orders_t *self, svc_reply_t *rep)
{
    atomic_fetch_add(&self->unavailable, 1);
    svc_reply_detail(rep, 503, "Service unavailable");
}

/* Runs a prepared statement, retrying serialization failures and deadlocks.
 * Returns a PGRES_TUPLES_OK result, or a failed result carrying one of our
 * business SQLSTATEs for the caller to map; otherwise NULL with rep filled
 * (503 when the database is unreachable or busy, 500 for anything else,
 * never with SQL text). may_resend: the statement is safe to send again
 * after a lost connection (reads, idempotent writes). */
static PGresult *db_run(orders_t *self, const svc_request_t *req, const char *stmt, int n,
                        const char *const *vals, bool may_resend, svc_reply_t *rep)
{
    for (int attempt = 0; attempt < DB_ATTEMPTS; attempt++) {
        int timeout = self->cfg->db_pool_timeout_s * 1000;
        if (req->deadline_ms > 0) {
            int64_t left = req->deadline_ms - clock_mono_ms();
            if (left <= 0)
                break; /* the gateway has answered 504 already: start nothing */
            if (left < timeout)
                timeout = (int)left;
        }
        PGconn *conn = pgpool_acquire(self->pool, timeout);
        if (!conn) {
            log_warn(req->rid, "%s: no database connection within %d ms", req->op, timeout);
            break;
        }
        PGresult *res = pgpool_exec(conn, stmt, n, vals);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_TUPLES_OK) {
            pgpool_release(self->pool, conn);
            return res;
        }
        if (!res || pgpool_is_conn_error(conn, res)) {
            log_warn(req->rid, "%s: database connection lost (%s)", req->op,
                     res ? pgpool_sqlstate(res) : "no result");
            PQclear(res);
            pgpool_release(self->pool, conn);
            if (may_resend && attempt == 0)
                continue;
            break;
        }
        if (pgpool_is_retryable(res)) {
            PQclear(res);
            pgpool_release(self->pool, conn);
            atomic_fetch_add(&self->db_retries, 1);
            usleep((useconds_t)(1000 * (attempt + 1) + rand() % 1000));
            continue;
        }
        const char *state = pgpool_sqlstate(res);
        if (strncmp(state, "SM", 2) == 0 || strcmp(state, "22003") == 0 ||
            strcmp(state, "23503") == 0) {
            pgpool_release(self->pool, conn);
            return res;
        }
        /* Logged with the server's message; the client sees no SQL. */
        log_error(req->rid, "%s: %s failed: %s %s", req->op, stmt, state,
                  PQresultErrorMessage(res));
        PQclear(res);
        pgpool_release(self->pool, conn);
        svc_reply_detail(rep, 500, "Internal server error");
        return NULL;
    }
    reply_unavailable(self, rep);
    return NULL;
}

/* A (code, body, outbox id, event) row from one of the order functions.
 * When the transaction wrote an outbox row, its event goes out before the
 * reply, so the client's next product read finds the cache invalidated. */
static int reply_code_body(orders_t *self, svc_reply_t *rep, PGresult *res)
{
    int code = atoi(PQgetvalue(res, 0, 0));
    if (!PQgetisnull(res, 0, 2) && !PQgetisnull(res, 0, 3)) {
        order_cache_invalidate(self->cache, PQgetvalue(res, 0, 3));
        if (self->relay)
            outbox_relay_publish_now(self->relay, atoll(PQgetvalue(res, 0, 2)),
                                     SMQ_TOPIC_STOCK, PQgetvalue(res, 0, 3), EVENT_WAIT_MS);
    }
    svc_reply_copy(rep, code, PQgetvalue(res, 0, 1));
    return code;
}

static void reply_422(svc_reply_t *rep, json_t *errs)
{
    svc_reply_raw(rep, 422, v_errors_body(errs));
}

/* ---- POST /api/v1/orders ---- */
static void orders_create(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    orders_t *self = app;
    atomic_fetch_add(&self->requests, 1);
    json_t *errs = json_array();
    order_request_t order;
    if (req->idem_key)
        order_idem_key_valid(req->idem_key, errs);
    if (order_request_parse(req->body, req->body_len, &order, errs) != 0 ||
        json_array_size(errs) > 0) {
        order_request_clear(&order);
        reply_422(rep, errs);
        json_decref(errs);
        return;
    }
    json_decref(errs);

    char *products = order_request_products_text(&order);
    char *quantities = order_request_quantities_text(&order);
    char *canonical = req->idem_key ? order_request_canonical(&order) : NULL;
    PGresult *res;
    if (!products || !quantities || (req->idem_key && !canonical)) {
        /* Out of memory: a NULL would reach the database as an SQL NULL
         * (and a NULL request hash would replay another body's outcome). */
        res = NULL;
        svc_reply_detail(rep, 500, "Internal server error");
    } else if (req->idem_key) {
        const char *vals[] = {req->idem_key, canonical, order.customer_id, products, quantities};
        /* Safe to resend: a committed first attempt is replayed, not repeated. */
        res = db_run(self, req, ORDER_SQL_PLACE_IDEM, 5, vals, true, rep);
    } else {
        const char *vals[] = {order.customer_id, products, quantities};
        res = db_run(self, req, ORDER_SQL_PLACE, 3, vals, false, rep);
    }
    free(canonical);
    free(products);
    free(quantities);
    order_request_clear(&order);
    if (!res)
        return;

    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        int code = reply_code_body(self, rep, res);
        if (code == 201)
            atomic_fetch_add(&self->created, 1);
        else if (code == 400 || code == 404) {
            atomic_fetch_add(&self->rejected, 1);
        }
    } else {
        const char *state = pgpool_sqlstate(res);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        atomic_fetch_add(&self->rejected, 1);
        if (strcmp(state, "SM404") == 0)
            svc_reply_detail(rep, 404, msg ? msg : "Not found");
        else if (strcmp(state, "SM400") == 0)
            svc_reply_detail(rep, 400, msg ? msg : "Insufficient stock");
        else if (strcmp(state, "23503") == 0) /* customer vanished mid-transaction */
            svc_reply_detail(rep, 404, "Customer not found");
        else /* 22003: quantity x price beyond NUMERIC(12,2) */
            svc_reply_detail(rep, 400, "Order total exceeds the maximum amount");
    }
    PQclear(res);
}

/* ---- GET /api/v1/orders ---- */
static void orders_list(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    orders_t *self = app;
    atomic_fetch_add(&self->requests, 1);
    json_t *errs = json_array();
    int64_t page = 1, page_size = 20;
    const char *customer = NULL;
    q_int(req->query, "page", 1, 1, INT32_MAX, &page, errs);
    q_int(req->query, "page_size", 20, 1, 100, &page_size, errs);
    q_uuid(req->query, "customer_id", &customer, errs);
    json_t *js = json_object_get(req->query, "status");
    const char *status = js ? json_string_value(js) : NULL;
    if (js && !status_known(status))
        v_error(errs, "query", "status",
                "Input should be 'pending', 'confirmed', 'shipped', 'delivered' or 'cancelled'",
                "enum");
    if (json_array_size(errs) > 0) {
        reply_422(rep, errs);
        json_decref(errs);
        return;
    }
    json_decref(errs);

    char limit_s[24], offset_s[24], page_s[24];
    snprintf(limit_s, sizeof limit_s, "%lld", (long long)page_size);
    snprintf(offset_s, sizeof offset_s, "%lld", (long long)((page - 1) * page_size));
    snprintf(page_s, sizeof page_s, "%lld", (long long)page);
    const char *vals[5] = {limit_s, offset_s, page_s, NULL, NULL};
    const char *stmt = ORDER_SQL_LIST;
    int n = 3;
    if (customer && status) {
        stmt = ORDER_SQL_LIST_CUSTOMER_STATUS;
        vals[3] = customer;
        vals[4] = status;
        n = 5;
    } else if (customer) {
        stmt = ORDER_SQL_LIST_CUSTOMER;
        vals[3] = customer;
        n = 4;
    } else if (status) {
        stmt = ORDER_SQL_LIST_STATUS;
        vals[3] = status;
        n = 4;
    }
    PGresult *res = db_run(self, req, stmt, n, vals, true, rep);
    if (!res)
        return;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        svc_reply_copy(rep, 200, PQgetvalue(res, 0, 0));
    else
        svc_reply_detail(rep, 500, "Internal server error");
    PQclear(res);
}

/* ---- GET /api/v1/orders/{id} ---- */
static void orders_get(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    orders_t *self = app;
    atomic_fetch_add(&self->requests, 1);
    const char *id = json_string_value(json_object_get(req->params, "id"));
    if (!id || !v_is_uuid(id)) {
        svc_reply_detail(rep, 404, "Order not found");
        return;
    }
    const char *vals[] = {id};
    PGresult *res = db_run(self, req, ORDER_SQL_GET, 1, vals, true, rep);
    if (!res)
        return;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        svc_reply_copy(rep, 200, PQgetvalue(res, 0, 0));
    else
        svc_reply_detail(rep, 404, "Order not found");
    PQclear(res);
}

/* ---- PATCH /api/v1/orders/{id}/status?status=S ---- */
static void orders_set_status(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    orders_t *self = app;
    atomic_fetch_add(&self->requests, 1);
    json_t *js = json_object_get(req->query, "status");
    if (!js) {
        json_t *errs = json_array();
        v_error(errs, "query", "status", "Field required", "missing");
        reply_422(rep, errs);
        json_decref(errs);
        return;
    }
    const char *status = json_string_value(js);
    if (!status_known(status)) {
        svc_reply_detail(rep, 400,
                         "Invalid status. Must be one of: pending, confirmed, "
                         "shipped, delivered, cancelled");
        return;
    }
    const char *id = json_string_value(json_object_get(req->params, "id"));
    if (!id || !v_is_uuid(id)) {
        svc_reply_detail(rep, 404, "Order not found");
        return;
    }
    const char *vals[] = {id, status};
    /* Resending is safe: the same status again is a no-op. */
    PGresult *res = db_run(self, req, ORDER_SQL_SET_STATUS, 2, vals, true, rep);
    if (!res)
        return;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        if (!PQgetisnull(res, 0, 2))
            atomic_fetch_add(&self->cancelled, 1);
        reply_code_body(self, rep, res);
    } else if (strcmp(pgpool_sqlstate(res), "22003") == 0) {
        /* A cancel whose restore would push a product's stock past the
         * integer column (restocked to near the maximum meanwhile): the
         * transaction rolled back, so the order keeps its status. */
        log_warn(req->rid, "%s: stock restore out of range for order %s", req->op, id);
        svc_reply_detail(rep, 409, "Cannot cancel: restoring the stock would exceed the maximum");
    } else {
        svc_reply_detail(rep, 500, "Internal server error");
    }
    PQclear(res);
}

const svc_route_t orders_routes[] = {
    {"orders.create", orders_create},
    {"orders.list", orders_list},
    {"orders.get", orders_get},
    {"orders.status", orders_set_status},
    {NULL, NULL},
};

void orders_status(void *app, json_t *out)
{
    orders_t *self = app;
    json_t *m = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
                          (json_int_t)atomic_load(&self->requests), "orders_created",
                          (json_int_t)atomic_load(&self->created), "orders_rejected",
                          (json_int_t)atomic_load(&self->rejected), "orders_cancelled",
                          (json_int_t)atomic_load(&self->cancelled), "db_retries",
                          (json_int_t)atomic_load(&self->db_retries), "db_unavailable",
                          (json_int_t)atomic_load(&self->unavailable));
    if (self->relay) {
        outbox_relay_stats_t rs;
        outbox_relay_stats(self->relay, &rs);
        json_object_set_new(m, "events_published", json_integer(rs.published));
        json_object_set_new(m, "event_seq", json_integer((json_int_t)rs.seq));
        if (rs.pending >= 0)
            json_object_set_new(m, "outbox_pending", json_integer(rs.pending));
    }
    json_object_set_new(out, "metrics", m);
    service_db_status(self->pool, out);
}
