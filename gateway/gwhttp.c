/* What happens to one HTTP request in the gateway: read it, route it,
 * rate-limit it, forward it or answer it locally, then answer it from the
 * reply, its deadline or an error. All of it runs on the loop that owns the
 * connection; see gwloop.h for the slot states. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "docs.h"
#include "gwloop.h"
#include "health.h"
#include "jbuf.h"
#include "log.h"

#ifndef SHOPMQ_VERSION
#define SHOPMQ_VERSION "0.0.0"
#endif

#define JSON_CTYPE "application/json; charset=utf-8"
#define HEALTH_TIMEOUT_MS 2000
#define METRICS_TIMEOUT_MS 1000
#define SLOW_REQUEST_US 1000000 /* logged at info */
#define KEEP_UBUF 16384
#define KEEP_BODY 65536
#define DISCARD_LIMIT (64u * 1024 * 1024)

static const char s_root_body[] = "{\"service\":\"shopmq\",\"version\":\"" SHOPMQ_VERSION
                                  "\",\"docs\":\"/docs\",\"health\":\"/health\"}";

/* ---- slots ---- */

static slot_t *slot_alloc(gw_loop_t *L)
{
    slot_t *s;
    if (L->free_head < L->nslots) {
        s = &L->slots[L->free_head];
        L->free_head = s->next_free;
    } else if (L->used_slots < L->nslots) {
        s = &L->slots[L->used_slots];
        s->index = L->used_slots++;
        s->loop = L;
    } else {
        return NULL;
    }
    /* Reset the request part, keep the buffers. */
    char *ubuf = s->ubuf, *body = s->body;
    size_t ucap = s->ubuf_cap, bcap = s->body_cap;
    uint32_t index = s->index, gen = s->gen;
    memset(s, 0, offsetof(slot_t, small));
    s->loop = L;
    s->index = index;
    s->gen = gen;
    s->ubuf = ubuf;
    s->ubuf_cap = ucap;
    s->body = body;
    s->body_cap = bcap;
    s->state = SLOT_HEADERS;
    s->start_us = clock_mono_us();
    return s;
}

static void deadline_remove(slot_t *s)
{
    gw_loop_t *L = s->loop;
    if (!s->in_deadlines)
        return;
    if (s->dl_prev)
        s->dl_prev->dl_next = s->dl_next;
    else
        L->dl_head = s->dl_next;
    if (s->dl_next)
        s->dl_next->dl_prev = s->dl_prev;
    else
        L->dl_tail = s->dl_prev;
    s->dl_prev = s->dl_next = NULL;
    s->in_deadlines = false;
}

/* Deadlines are mostly "now + the same timeout", so inserting from the tail
 * is O(1) in practice. */
static void deadline_add(slot_t *s, int64_t deadline_ms)
{
    gw_loop_t *L = s->loop;
    s->deadline_ms = deadline_ms;
    slot_t *after = L->dl_tail;
    while (after && after->deadline_ms > deadline_ms)
        after = after->dl_prev;
    s->dl_prev = after;
    s->dl_next = after ? after->dl_next : L->dl_head;
    if (s->dl_next)
        s->dl_next->dl_prev = s;
    else
        L->dl_tail = s;
    if (after)
        after->dl_next = s;
    else
        L->dl_head = s;
    s->in_deadlines = true;
}

static void slot_free(slot_t *s)
{
    gw_loop_t *L = s->loop;
    deadline_remove(s);
    if (s->resp_mode == BODY_FREE)
        free((char *)s->resp);
    s->resp = NULL;
    if (s->ubuf_cap > KEEP_UBUF) {
        free(s->ubuf);
        s->ubuf = NULL;
        s->ubuf_cap = 0;
    }
    if (s->body_cap > KEEP_BODY) {
        free(s->body);
        s->body = NULL;
        s->body_cap = 0;
    }
    s->gen++;
    s->state = SLOT_FREE;
    s->next_free = L->free_head;
    L->free_head = s->index;
}

static void slot_suspend(slot_t *s)
{
    if (!s->suspended) {
        gwconn_request_read(s->loop, s->conn);
        MHD_suspend_connection(s->conn);
        s->suspended = true;
        gwmetrics_inflight(s->loop->metrics, 1);
    }
}

/* ---- responses ---- */

static void set_resp(slot_t *s, int status, const char *body, size_t len, body_mode_t mode)
{
    if (s->resp_mode == BODY_FREE && s->resp != body)
        free((char *)s->resp);
    s->status = status;
    s->resp = body;
    s->resp_len = len;
    s->resp_mode = mode;
}

static void set_detail(slot_t *s, int status, const char *detail)
{
    jbuf_t jb;
    jbuf_init(&jb, s->small, sizeof s->small);
    jbuf_raw(&jb, "{\"detail\":");
    jbuf_str(&jb, detail);
    jbuf_raw(&jb, "}");
    set_resp(s, status, s->small, jb.len, BODY_COPY);
}

static void set_unavailable(slot_t *s)
{
    set_detail(s, 503, "Service unavailable");
    s->retry_after = 1;
}

static void add_cors(slot_t *s, struct MHD_Response *r)
{
    gateway_t *gw = s->loop->gw;
    if (gw->cors_any) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    } else if (s->origin) {
        for (int i = 0; i < gw->norigins; i++) {
            if (strcmp(gw->origins[i], s->origin) == 0) {
                MHD_add_response_header(r, "Access-Control-Allow-Origin", s->origin);
                break;
            }
        }
        MHD_add_response_header(r, "Vary", "Origin");
    }
    MHD_add_response_header(r, "Access-Control-Expose-Headers",
                            "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, "
                            "X-RateLimit-Reset, Retry-After");
    if (s->preflight) {
        MHD_add_response_header(r, "Access-Control-Allow-Methods",
                                "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        /* Echo the requested headers when they look like a header list. */
        const char *h = "Content-Type, Authorization, Idempotency-Key, X-Request-Id";
        if (s->acr_headers && strlen(s->acr_headers) < 1024 &&
            strspn(s->acr_headers, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-_, ") == strlen(s->acr_headers))
            h = s->acr_headers;
        MHD_add_response_header(r, "Access-Control-Allow-Headers", h);
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    }
}

/* Builds and queues the response held in the slot. */
static enum MHD_Result queue_response(slot_t *s)
{
    enum MHD_ResponseMemoryMode mode = s->resp_mode == BODY_FREE   ? MHD_RESPMEM_MUST_FREE
                                       : s->resp_mode == BODY_COPY ? MHD_RESPMEM_MUST_COPY
                                                                   : MHD_RESPMEM_PERSISTENT;
    size_t len = s->status == 204 ? 0 : s->resp_len;
    if (len == 0) {
        set_resp(s, s->status, "", 0, BODY_STATIC); /* frees an owned empty body */
        mode = MHD_RESPMEM_PERSISTENT;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)s->resp, mode);
    if (!r)
        return MHD_NO;
    if (s->resp_mode == BODY_FREE) {
        s->resp = NULL; /* MHD owns it now */
        s->resp_mode = BODY_STATIC;
    }
    if (s->status != 204)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, s->ctype ? s->ctype : JSON_CTYPE);
    MHD_add_response_header(r, "X-Request-Id", s->trace);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (s->status >= 400)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (s->www_auth)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    add_cors(s, r);
    if (s->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, s->allow);
    char num[32];
    if (s->retry_after > 0) {
        snprintf(num, sizeof num, "%d", s->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (s->limited) {
        snprintf(num, sizeof num, "%d", s->rl.limit);
        MHD_add_response_header(r, "X-RateLimit-Limit", num);
        snprintf(num, sizeof num, "%d", s->rl.allowed ? s->rl.remaining : 0);
        MHD_add_response_header(r, "X-RateLimit-Remaining", num);
        snprintf(num, sizeof num, "%ld", s->rl.reset_s);
        MHD_add_response_header(r, "X-RateLimit-Reset", num);
    }
    s->answered_us = clock_mono_us();
    gwconn_request_read(s->loop, s->conn);
    enum MHD_Result ret = MHD_queue_response(s->conn, (unsigned)s->status, r);
    MHD_destroy_response(r);
    s->state = SLOT_DONE;
    return ret;
}

/* Answers now (inside the handler) or resumes the suspended connection so
 * MHD calls the handler again, which then queues it. */
static enum MHD_Result deliver(slot_t *s)
{
    if (!s->suspended)
        return queue_response(s);
    s->state = SLOT_READY;
    s->suspended = false;
    deadline_remove(s);
    gwmetrics_inflight(s->loop->metrics, -1);
    MHD_resume_connection(s->conn);
    s->loop->resumed = true;
    return MHD_YES;
}

/* ---- forwarding ---- */

static enum MHD_Result forward(slot_t *s, wait_kind_t kind)
{
    gw_loop_t *L = s->loop;
    const config_t *cfg = L->gw->cfg;
    if (L->stopping) {
        set_unavailable(s);
        return deliver(s);
    }
    const char *service = kind == WAIT_PROXY ? s->req.match.route->service : SMQ_SVC_BROKER;
    const char *op = kind == WAIT_PROXY ? NULL : "broker.status";
    long mlen = gwreq_meta(&s->req, op, s->method, s->ip, s->trace, s->idem_key, L->meta,
                           SMQ_MAX_META);
    if (mlen < 0) {
        set_detail(s, 431, "Request header fields too large");
        return deliver(s);
    }
    int timeout = kind == WAIT_PROXY     ? cfg->request_timeout_ms
                  : kind == WAIT_HEALTH ? HEALTH_TIMEOUT_MS
                                        : METRICS_TIMEOUT_MS;
    if (timeout > cfg->request_timeout_ms)
        timeout = cfg->request_timeout_ms;
    smq_ctl_t ctl = {(uint32_t)timeout, 0};
    if (strcmp(s->method, "GET") == 0 || strcmp(s->method, "HEAD") == 0 || s->idem_key)
        ctl.flags |= SMQ_FLAG_IDEMPOTENT;
    snprintf(s->rid, sizeof s->rid, "%x.%x.%x", (unsigned)L->index, s->index, s->gen);
    zmsg_t *msg = smq_client_request_new(service, s->rid, &ctl, L->meta, (size_t)mlen,
                                         s->body_len ? s->body : "", s->body_len);
    /* The DEALER has ZMQ_IMMEDIATE and no send timeout: with no broker
     * connected this fails at once instead of queueing for nobody. */
    if (!msg || zmsg_send(&msg, L->dealer) != 0) {
        zmsg_destroy(&msg);
        if (kind == WAIT_PROXY) {
            set_unavailable(s);
        } else {
            s->wait = kind;
            s->state = SLOT_WAIT;
            deadline_add(s, 0); /* answer "broker unreachable" on the next pass */
            slot_suspend(s);
            return MHD_YES;
        }
        return deliver(s);
    }
    s->wait = kind;
    s->state = SLOT_WAIT;
    deadline_add(s, clock_mono_ms() + timeout);
    slot_suspend(s);
    return MHD_YES;
}

static long uptime_s(gw_loop_t *L)
{
    return (long)((clock_mono_ms() - L->gw->start_ms) / 1000);
}

/* Health, metrics and cache stats from the broker's status (NULL: none). */
static void answer_status(slot_t *s, const char *broker_status)
{
    gw_loop_t *L = s->loop;
    if (s->wait == WAIT_CACHE_STATS) {
        int status = 503;
        char *body = health_cache_stats(broker_status, &status);
        if (body)
            set_resp(s, status, body, strlen(body), BODY_FREE);
        else
            set_detail(s, 500, "Internal server error");
        if (status == 503)
            s->retry_after = 1;
    } else if (s->wait == WAIT_HEALTH) {
        int status = 503;
        char *body = health_build(broker_status, uptime_s(L), &status);
        if (body)
            set_resp(s, status, body, strlen(body), BODY_FREE);
        else
            set_detail(s, 500, "Internal server error");
    } else {
        char *text = gwmetrics_render(L->gw->metrics, L->gw->nloops, broker_status, uptime_s(L));
        if (text) {
            set_resp(s, 200, text, strlen(text), BODY_FREE);
            s->ctype = "text/plain; version=0.0.4; charset=utf-8";
        } else {
            set_detail(s, 500, "Internal server error");
        }
    }
}

void gwhttp_on_reply(gw_loop_t *L, smq_reply_t *rep)
{
    unsigned li, idx, gen;
    char tail;
    if (sscanf(rep->rid, "%x.%x.%x%c", &li, &idx, &gen, &tail) != 3 || li != (unsigned)L->index ||
        idx >= L->used_slots)
        return;
    slot_t *s = &L->slots[idx];
    if (s->gen != gen || s->state != SLOT_WAIT)
        return; /* late reply for an answered request */
    if (s->wait == WAIT_PROXY) {
        set_resp(s, rep->status, rep->body ? rep->body : "", rep->body ? rep->body_len : 0,
                 rep->body ? BODY_FREE : BODY_STATIC);
        rep->body = NULL; /* stolen */
        if (rep->status == 503)
            s->retry_after = 1;
    } else {
        answer_status(s, rep->status == 200 ? rep->body : NULL);
    }
    deliver(s);
}

long gwhttp_deadlines(gw_loop_t *L, int64_t now_ms)
{
    while (L->dl_head && L->dl_head->deadline_ms <= now_ms) {
        slot_t *s = L->dl_head;
        deadline_remove(s);
        if (s->wait == WAIT_PROXY) {
            set_detail(s, 504, "Gateway timeout");
        } else {
            answer_status(s, NULL);
        }
        deliver(s);
    }
    return L->dl_head ? (long)(L->dl_head->deadline_ms - now_ms) : -1;
}

void gwhttp_shutdown(gw_loop_t *L)
{
    L->stopping = true;
    for (uint32_t i = 0; i < L->used_slots; i++) {
        slot_t *s = &L->slots[i];
        if (s->suspended &&
            (s->state == SLOT_WAIT || s->state == SLOT_RATE || s->state == SLOT_CACHE)) {
            set_unavailable(s);
            deliver(s);
        }
    }
}

/* ---- the request itself ---- */

static enum MHD_Result answer_local(slot_t *s)
{
    const route_t *rt = s->req.match.route;
    switch (rt->kind) {
    case ROUTE_ROOT:
        set_resp(s, 200, s_root_body, sizeof s_root_body - 1, BODY_STATIC);
        return deliver(s);
    case ROUTE_HEALTH:
        return forward(s, WAIT_HEALTH);
    case ROUTE_METRICS:
        return forward(s, WAIT_METRICS);
    case ROUTE_CACHE_STATS:
        return forward(s, WAIT_CACHE_STATS);
    case ROUTE_DOCS:
    case ROUTE_DOCS_FILE:
    case ROUTE_OPENAPI: {
        const char *name = rt->kind == ROUTE_OPENAPI ? NULL
                           : rt->kind == ROUTE_DOCS  ? ""
                                                     : s->req.match.params[0].value;
        const char *doc, *ctype;
        size_t len;
        if (docs_get(name, &doc, &len, &ctype) != 0) {
            set_detail(s, 404, "Not Found");
            return deliver(s);
        }
        set_resp(s, 200, doc, len, BODY_STATIC); /* owned by docs, not copied */
        s->ctype = ctype;
        return deliver(s);
    }
    default:
        set_detail(s, 404, "Not Found");
        return deliver(s);
    }
}

/* Whether a request body is to be read as JSON: as FastAPI decides it, no
 * Content-Type or application/json or application/<anything>+json, in any
 * case and with any parameters. Anything else is not JSON, so a plain HTML
 * form or a text/plain "simple request" from another origin cannot create
 * a customer or an order. */
static bool json_content_type(const char *ct)
{
    if (!ct)
        return true;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n < 12 || strncasecmp(ct, "application/", 12) != 0)
        return false;
    const char *sub = ct + 12;
    size_t sl = n - 12;
    if (sl == 4 && strncasecmp(sub, "json", 4) == 0)
        return true;
    return sl > 5 && strncasecmp(sub + sl - 5, "+json", 5) == 0 && !memchr(sub, '/', sl);
}

/* A product or list read goes to the read cache first (gwcache.h): true when the
 * lookup went out and the slot waits for it. */
static bool cache_lookup(slot_t *s)
{
    gw_loop_t *L = s->loop;
    const route_match_t *m = &s->req.match;
    if (!L->cache || L->stopping || strcmp(s->method, "GET") != 0)
        return false;
    uint64_t token = (uint64_t)s->gen << 32 | s->index;
    int rc = -1;
    if (strcmp(m->route->op, "products.get") == 0 && m->nparams == 1)
        rc = gwcache_product(L->cache, m->params[0].value, token);
    else if (strcmp(m->route->op, "products.list") == 0)
        rc = gwcache_list(L->cache, s->req.query, s->req.nquery, token);
    if (rc != 0)
        return false;
    s->state = SLOT_CACHE;
    slot_suspend(s);
    return true;
}

void gwhttp_on_cache(void *loop, uint64_t token, gwcache_rc_t rc, const char *json, size_t len)
{
    gw_loop_t *L = loop;
    uint32_t idx = (uint32_t)token;
    if (idx >= L->used_slots)
        return;
    slot_t *s = &L->slots[idx];
    if (s->gen != (uint32_t)(token >> 32) || s->state != SLOT_CACHE)
        return; /* answered meanwhile (shutdown) */
    char *body = rc == GWCACHE_HIT ? malloc(len) : NULL;
    if (body) {
        memcpy(body, json, len);
        set_resp(s, 200, body, len, BODY_FREE);
        deliver(s);
    } else if (rc == GWCACHE_NOT_FOUND) {
        set_detail(s, 404, "Product not found");
        deliver(s);
    } else {
        forward(s, WAIT_PROXY); /* a miss, or no memory for the copy */
    }
}

/* After the rate limiter said yes (or was not asked). */
static enum MHD_Result proceed(slot_t *s)
{
    if (s->limited && !s->rl.allowed) {
        int ra = s->rl.retry_after_s > 0 ? s->rl.retry_after_s : 1;
        int n = snprintf(s->small, sizeof s->small,
                         "{\"error\": \"Rate limit exceeded\", \"retry_after\": %d, "
                         "\"detail\": \"Rate limit exceeded\"}",
                         ra);
        set_resp(s, 429, s->small, (size_t)n, BODY_COPY);
        s->retry_after = ra;
        return deliver(s);
    }
    if (s->req.status != 0) {
        set_detail(s, s->req.status, s->req.detail);
        if (s->req.status == 405)
            s->allow = s->req.match.allow;
        return deliver(s);
    }
    if (s->req.match.route->admin) {
        /* After the rate limiter, so guesses at the token count against it. */
        int st = adminauth_check_n(&s->loop->gw->admin, s->authz, s->authz_len);
        if (st != 0) {
            set_detail(s, st, st == 401 ? "Not authenticated" : "Invalid token");
            s->www_auth = st == 401;
            return deliver(s);
        }
    }
    if (s->req.match.route->kind != ROUTE_PROXY)
        return answer_local(s);
    /* POST and PUT are the routes with a JSON body (PATCH status has none). */
    if (s->body_len > 0 && !json_content_type(s->ctype_in) &&
        (strcmp(s->method, "POST") == 0 || strcmp(s->method, "PUT") == 0)) {
        static const char body_not_json[] =
            "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary or "
            "object to extract fields from\",\"type\":\"model_attributes_type\"}]}";
        set_resp(s, 422, body_not_json, sizeof body_not_json - 1, BODY_STATIC);
        return deliver(s);
    }
    if (cache_lookup(s))
        return MHD_YES;
    return forward(s, WAIT_PROXY);
}

static void on_ratelimit(void *arg, const ratelimit_result_t *res)
{
    slot_t *s = arg;
    if (s->state != SLOT_RATE)
        return;
    s->rl = *res;
    s->limited = true;
    proceed(s);
}

static enum MHD_Result dispatch(slot_t *s)
{
    gw_loop_t *L = s->loop;
    if (strcmp(s->method, "OPTIONS") == 0) {
        /* CORS preflight: answered here, never forwarded nor counted. */
        s->preflight = true;
        set_resp(s, 204, "", 0, BODY_STATIC);
        return deliver(s);
    }
    bool exempt = s->req.status == 0 && s->req.match.route->exempt;
    if (exempt || !L->rl_on || L->stopping)
        return proceed(s);
    int rc = ratelimit_check(L->rl, s->ip, &s->rl, on_ratelimit, s);
    if (rc == RATELIMIT_PENDING) {
        s->state = SLOT_RATE;
        slot_suspend(s);
        return MHD_YES;
    }
    s->limited = true;
    return proceed(s);
}

/* Every X-Forwarded-For line, in the order received, as one list: a proxy
 * may add a line of its own below the client's (HAProxy does) instead of
 * appending to it, and RFC 9110 5.3 makes the lines one comma list. Reading
 * only the first line would let the client's own line pick its address. */
typedef struct {
    const char *first; /* MHD's, when there is one line */
    char *joined;      /* malloc'd, when there are more */
    bool failed;       /* out of memory: trust no line */
} xff_lines_t;

static enum MHD_Result xff_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    xff_lines_t *x = cls;
    if (!key || !value || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    if (!x->first) {
        x->first = value;
        return MHD_YES;
    }
    const char *prev = x->joined ? x->joined : x->first;
    size_t a = strlen(prev), b = strlen(value);
    char *j = malloc(a + 2 + b + 1);
    if (!j) {
        x->failed = true;
        return MHD_NO;
    }
    memcpy(j, prev, a);
    memcpy(j + a, ", ", 2);
    memcpy(j + a + 2, value, b + 1);
    free(x->joined);
    x->joined = j;
    return MHD_YES;
}

/* First call: headers are in. Decide what can be decided before the body. */
static enum MHD_Result on_headers(slot_t *s, struct MHD_Connection *conn, const char *method)
{
    gw_loop_t *L = s->loop;
    gateway_t *gw = L->gw;
    s->method = method;
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && gwreq_trace_ok(rid))
        snprintf(s->trace, sizeof s->trace, "%s", rid);
    else
        gwreq_trace_new(s->trace, &L->trace_state);
    s->idem_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    s->origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    s->acr_headers =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                      sizeof MHD_HTTP_HEADER_AUTHORIZATION - 1, &s->authz,
                                      &s->authz_len) != MHD_YES) {
        s->authz = NULL;
        s->authz_len = 0;
    }
    s->ctype_in = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    xff_lines_t xff = {NULL, NULL, false};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, xff_collect, &xff);
    const char *xff_list = xff.failed ? NULL : xff.joined ? xff.joined : xff.first;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || clientip_resolve(gw->trusted, ci->client_addr, xff_list, s->ip, sizeof s->ip) != 0)
        snprintf(s->ip, sizeof s->ip, "0.0.0.0");
    free(xff.joined);

    if (s->uri_too_long) {
        s->req.status = 414;
        set_detail(s, 414, "URI Too Long");
        return deliver(s);
    }
    gwreq_parse(method, s->ubuf, s->uri_len, &s->req, s->ubuf + s->uri_len + 1,
                s->ubuf_cap - s->uri_len - 1);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)gw->cfg->max_body_bytes) {
        /* Answered before reading: MHD discards the body and closes. */
        set_detail(s, 413, "Request body too large");
        return deliver(s);
    }
    s->state = SLOT_BODY;
    return MHD_YES;
}

static bool body_append(slot_t *s, const char *data, size_t n)
{
    size_t need = s->body_len + n;
    if (need > s->body_cap) {
        size_t cap = s->body_cap ? s->body_cap : 1024;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(s->body, cap);
        if (!nb)
            return false;
        s->body = nb;
        s->body_cap = cap;
    }
    memcpy(s->body + s->body_len, data, n);
    s->body_len = need;
    return true;
}

void *gwhttp_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    gw_loop_t *L = cls;
    slot_t *s = slot_alloc(L);
    if (!s)
        return NULL;
    s->conn = conn;
    size_t n = strlen(uri);
    if (n > GWREQ_MAX_URI) {
        s->uri_too_long = true;
        return s;
    }
    size_t need = n + 1 + GWREQ_SCRATCH(n);
    if (need > s->ubuf_cap) {
        size_t cap = need < 1024 ? 1024 : need;
        char *nb = realloc(s->ubuf, cap);
        if (!nb) {
            s->uri_too_long = true; /* nothing better to say without memory */
            return s;
        }
        s->ubuf = nb;
        s->ubuf_cap = cap;
    }
    memcpy(s->ubuf, uri, n + 1);
    s->uri_len = n;
    return s;
}

enum MHD_Result gwhttp_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    slot_t *s = *con_cls;
    if (!s)
        return MHD_NO; /* no slot was free: drop the connection */
    switch (s->state) {
    case SLOT_HEADERS:
        return on_headers(s, conn, method);
    case SLOT_BODY:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (s->too_large || s->body_len + n > (size_t)s->loop->gw->cfg->max_body_bytes) {
                /* Without a Content-Length (chunked) MHD cannot answer in the
                 * middle of a body: count and drop the rest, answer 413 at its
                 * end, and give up on clients that never stop. */
                s->too_large = true;
                s->body_len += n;
                return s->body_len > DISCARD_LIMIT ? MHD_NO : MHD_YES;
            }
            if (!body_append(s, upload_data, n)) {
                set_unavailable(s);
                return deliver(s);
            }
            return MHD_YES;
        }
        if (s->too_large) {
            set_detail(s, 413, "Request body too large");
            return deliver(s);
        }
        return dispatch(s);
    case SLOT_READY:
        return queue_response(s);
    default:
        /* Late body after an early answer: swallow it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
}

void gwhttp_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    slot_t *s = *con_cls;
    if (!s)
        return;
    *con_cls = NULL;
    gw_loop_t *L = s->loop;
    gwconn_request_done(L, conn);
    /* Time to answer, not to close: a slow reader is not a slow gateway. */
    int64_t lat = (s->answered_us ? s->answered_us : clock_mono_us()) - s->start_us;
    int route = s->req.status == 0 && s->req.match.route ? s->req.match.index : -1;
    gwmetrics_observe(L->metrics, route, s->status, lat);
    /* Tracing without an access log's cost: what went wrong (but not each
     * 429 of a flood, which /metrics counts) or was slow, at info. */
    if ((s->status >= 300 && s->status != 429) || lat >= SLOW_REQUEST_US)
        log_info(s->trace, "%s %.*s -> %d in %lld us", s->method ? s->method : "-",
                 (int)s->req.path_len, s->req.path ? s->req.path : "", s->status, (long long)lat);
    else
        log_debug(s->trace, "%s %.*s -> %d in %lld us", s->method ? s->method : "-",
                  (int)s->req.path_len, s->req.path ? s->req.path : "", s->status,
                  (long long)lat);
    if (s->suspended) {
        /* MHD is closing a suspended connection (daemon stop). */
        s->suspended = false;
        gwmetrics_inflight(L->metrics, -1);
    }
    slot_free(s);
}
