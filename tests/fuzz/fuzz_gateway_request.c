/* Fuzz target: the gateway's whole handling of one request, with no
 * network: a raw HTTP/1.1 request (request line, headers, body) goes
 * through what gwhttp.c does with it (X-Request-Id check, client IP from
 * X-Forwarded-For, gwreq_parse, meta JSON, the client-request encoding),
 * then through the broker's decode and the worker's view of it, and for
 * write routes through the service's body validator; local routes build
 * their answer (GET /health and /metrics from the body taken as the
 * broker's status JSON). Checks that every step's output is what the next
 * one expects, and that each answer is a JSON body with a sane status. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <strings.h>

#include "catalog_input.h"
#include "catalog_query.h"
#include "clientip.h"
#include "customer_input.h"
#include "fuzz_util.h"
#include "gwmetrics.h"
#include "gwreq.h"
#include "health.h"
#include "order_request.h"
#include "shopmq_proto.h"
#include "validate.h"

#define GWFUZZ_MAX_HEADERS 64

typedef struct {
    char *method, *target;
    char *names[GWFUZZ_MAX_HEADERS], *values[GWFUZZ_MAX_HEADERS];
    int nheaders;
    const char *body;
    size_t body_len;
} gwfuzz_http_t;

static char *gwfuzz_dup(const char *p, size_t n)
{
    return fuzz_strndup((const uint8_t *)p, n);
}

/* End of the line starting at p (before "\r\n" or "\n"), *next after it. */
static const char *gwfuzz_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
        *next = end;
        return end;
    }
    *next = nl + 1;
    return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
}

/* A forgiving HTTP/1.1 request reader: what it refuses MHD would too. */
static int gwfuzz_parse(const char *data, size_t size, gwfuzz_http_t *h)
{
    memset(h, 0, sizeof *h);
    const char *end = data + size, *next;
    const char *eol = gwfuzz_line(data, end, &next);
    const char *sp1 = memchr(data, ' ', (size_t)(eol - data));
    if (!sp1 || sp1 == data)
        return -1;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1)
        return -1;
    h->method = gwfuzz_dup(data, (size_t)(sp1 - data));
    h->target = gwfuzz_dup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    const char *p = next;
    while (p < end) {
        eol = gwfuzz_line(p, end, &next);
        if (eol == p) { /* blank line: the body follows */
            p = next;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p && h->nheaders < GWFUZZ_MAX_HEADERS) {
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            h->names[h->nheaders] = gwfuzz_dup(p, (size_t)(colon - p));
            h->values[h->nheaders] = gwfuzz_dup(v, (size_t)(eol - v));
            h->nheaders++;
        }
        p = next;
    }
    h->body = p;
    h->body_len = (size_t)(end - p);
    return 0;
}

static void gwfuzz_free(gwfuzz_http_t *h)
{
    for (int i = 0; i < h->nheaders; i++) {
        free(h->names[i]);
        free(h->values[i]);
    }
    free(h->method);
    free(h->target);
}

/* MHD_lookup_connection_value: the first header of that name. */
static const char *gwfuzz_header(const gwfuzz_http_t *h, const char *name)
{
    for (int i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

/* An answer body must be JSON (an object) with a status the gateway uses. */
static void gwfuzz_answer(int status, const char *body)
{
    FUZZ_CHECK(status >= 200 && status <= 599);
    FUZZ_CHECK(body);
    json_t *j = json_loads(body, 0, NULL);
    FUZZ_CHECK(j && json_is_object(j));
    json_decref(j);
}

/* A 422 from a validator, the way svc_reply_errors sends it. */
static void gwfuzz_errors(json_t *errs, int rc)
{
    if (rc == 0)
        return;
    char *body = v_errors_body(errs);
    gwfuzz_answer(422, body);
    free(body);
}

/* The worker's side: meta parsed as the runtime does, then the service's
 * own input validation for the ops that take input. */
static void gwfuzz_worker(const smq_request_t *req, const route_t *rt, const char *trace,
                          const char *idem_key)
{
    json_t *meta = json_loads(req->meta, 0, NULL);
    FUZZ_CHECK(meta && json_is_object(meta));
    const char *op = json_string_value(json_object_get(meta, "op"));
    FUZZ_CHECK(op && strcmp(op, rt->op) == 0);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(meta, "trace")), trace) == 0);
    json_t *ik = json_object_get(meta, "idem_key");
    FUZZ_CHECK((ik != NULL) == (idem_key != NULL));
    if (idem_key && v_utf8_len(idem_key, strlen(idem_key)) >= 0)
        FUZZ_CHECK(strcmp(json_string_value(ik), idem_key) == 0);
    json_t *query = json_object_get(meta, "query");
    FUZZ_CHECK(json_is_object(query));
    json_t *errs = json_array();
    int rc = 0;
    if (strcmp(op, "products.list") == 0) {
        catalog_list_query_t q;
        rc = catalog_list_query_parse(query, &q, errs) ? 0 : -1;
    } else if (strcmp(op, "products.create") == 0 || strcmp(op, "products.update") == 0) {
        catalog_product_input_t in;
        rc = catalog_product_input_parse(req->body, req->body_len,
                                         strcmp(op, "products.update") == 0, &in, errs);
        if (rc == 0)
            catalog_product_input_clear(&in);
    } else if (strcmp(op, "categories.create") == 0) {
        catalog_category_input_t in;
        rc = catalog_category_input_parse(req->body, req->body_len, &in, errs);
        if (rc == 0)
            catalog_category_input_clear(&in);
    } else if (strcmp(op, "customers.create") == 0) {
        customer_input_t in;
        rc = customer_input_parse(req->body, req->body_len, &in, errs);
        if (rc == 0)
            customer_input_clear(&in);
    } else if (strcmp(op, "orders.create") == 0) {
        order_request_t o;
        if (idem_key && !order_idem_key_valid(idem_key, errs))
            rc = -1;
        else if ((rc = order_request_parse(req->body, req->body_len, &o, errs)) == 0)
            order_request_clear(&o);
    }
    FUZZ_CHECK((rc == 0) == (json_array_size(errs) == 0));
    gwfuzz_errors(errs, rc);
    json_decref(errs);
    json_decref(meta);
}

/* gwhttp.c forward(): meta, ctl, client request; then the broker decodes
 * it, forwards it to a worker, and the reply comes back the same way. */
static void gwfuzz_forward(const gwreq_t *req, const gwfuzz_http_t *h, const char *ip,
                           const char *trace, const char *idem_key)
{
    const route_t *rt = req->match.route;
    char *meta = malloc(SMQ_MAX_META);
    long mlen = gwreq_meta(req, NULL, h->method, ip, trace, idem_key, meta, SMQ_MAX_META);
    if (mlen < 0) { /* the gateway answers 431 */
        free(meta);
        return;
    }
    smq_ctl_t ctl = {30000, 0};
    if (strcmp(h->method, "GET") == 0 || strcmp(h->method, "HEAD") == 0 || idem_key)
        ctl.flags |= SMQ_FLAG_IDEMPOTENT;
    zmsg_t *msg = smq_client_request_new(rt->service, "0.1.2", &ctl, meta, (size_t)mlen,
                                         h->body_len ? h->body : "", h->body_len);
    FUZZ_CHECK(msg);
    smq_request_t got;
    int rc = smq_client_request_decode(msg, &got);
    if (rc != 0)
        fprintf(stderr, "broker refused the gateway's request: meta=%s\n", meta);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(strcmp(got.service, rt->service) == 0 && strcmp(got.rid, "0.1.2") == 0);
    FUZZ_CHECK(got.ctl.budget_ms == ctl.budget_ms && got.ctl.flags == ctl.flags);
    FUZZ_CHECK(strlen(got.meta) == (size_t)mlen && memcmp(got.meta, meta, (size_t)mlen) == 0);
    FUZZ_CHECK(got.body_len == h->body_len && memcmp(got.body, h->body, h->body_len) == 0);

    zframe_t *client = zframe_new("\x00gw", 3);
    zmsg_t *wmsg = smq_worker_request_new(client, &got);
    smq_worker_msg_t wm;
    FUZZ_CHECK(wmsg && smq_worker_msg_decode(wmsg, &wm) == 0 && wm.command == SMQ_REQUEST);
    FUZZ_CHECK(strcmp(wm.req.meta, got.meta) == 0 && wm.req.body_len == got.body_len);
    gwfuzz_worker(&wm.req, rt, trace, idem_key);

    /* The body comes back as the reply (an echo service). */
    zmsg_t *rmsg = smq_worker_reply_new(wm.client, wm.req.rid, 200, wm.req.body, wm.req.body_len);
    smq_worker_msg_t wr;
    FUZZ_CHECK(rmsg && smq_worker_msg_decode(rmsg, &wr) == 0 && wr.command == SMQ_REPLY);
    zmsg_t *cmsg = smq_client_reply_new(wr.rep.rid, wr.rep.status, wr.rep.body, wr.rep.body_len);
    smq_reply_t rep;
    FUZZ_CHECK(cmsg && smq_client_reply_decode(cmsg, &rep) == 0);
    FUZZ_CHECK(rep.status == 200 && rep.body_len == h->body_len &&
               memcmp(rep.body, h->body, h->body_len) == 0);
    smq_reply_clear(&rep);
    zmsg_destroy(&cmsg);
    smq_worker_msg_clear(&wr);
    zmsg_destroy(&rmsg);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&wmsg);
    zframe_destroy(&client);
    smq_request_clear(&got);
    zmsg_destroy(&msg);
    free(meta);
}

/* GET /health and /metrics from the broker's status (the body here). */
static void gwfuzz_local(const gwreq_t *req, const gwfuzz_http_t *h)
{
    char *status_json = fuzz_strndup((const uint8_t *)h->body, h->body_len);
    if (req->match.route->kind == ROUTE_HEALTH) {
        for (int pass = 0; pass < 2; pass++) {
            int status = 0;
            char *body = health_build(pass ? NULL : status_json, 42, &status);
            FUZZ_CHECK(status == 200 || status == 503);
            gwfuzz_answer(status, body);
            free(body);
        }
    } else if (req->match.route->kind == ROUTE_METRICS) {
        gwmetrics_t *m = gwmetrics_new();
        FUZZ_CHECK(m);
        gwmetrics_observe(m, req->match.index, 200, 1234);
        char *text = gwmetrics_render(&m, 1, status_json, 42);
        FUZZ_CHECK(text);
        /* Prometheus text: every line is a comment or "name[{labels}] value". */
        FUZZ_CHECK(strncmp(text, "#", 1) == 0 || strncmp(text, "shopmq_", 7) == 0);
        free(text);
        gwmetrics_destroy(&m);
    }
    free(status_json);
}

int fuzz_gateway_request_one(const uint8_t *data, size_t size)
{
    gwfuzz_http_t h;
    if (gwfuzz_parse((const char *)data, size, &h) != 0) {
        gwfuzz_free(&h);
        return 0;
    }
    /* gwhttp.c on_headers() */
    char trace[GWREQ_MAX_TRACE + 1];
    const char *rid = gwfuzz_header(&h, "X-Request-Id");
    if (rid && gwreq_trace_ok(rid)) {
        snprintf(trace, sizeof trace, "%s", rid);
        FUZZ_CHECK(strcmp(trace, rid) == 0); /* an accepted id is echoed whole */
    } else {
        uint64_t seed = size;
        gwreq_trace_new(trace, &seed);
    }
    FUZZ_CHECK(gwreq_trace_ok(trace));
    const char *idem_key = gwfuzz_header(&h, "Idempotency-Key");
    const char *xff = gwfuzz_header(&h, "X-Forwarded-For");
    char err[128];
    cidr_list_t *trusted = cidr_list_parse("127.0.0.0/8, ::1", err, sizeof err);
    FUZZ_CHECK(trusted);
    struct sockaddr_in peer = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    char ip[INET6_ADDRSTRLEN];
    FUZZ_CHECK(clientip_resolve(trusted, (struct sockaddr *)&peer, xff, ip, sizeof ip) == 0);
    cidr_list_destroy(&trusted);

    size_t ulen = strlen(h.target);
    if (ulen <= GWREQ_MAX_URI) {
        size_t cap = GWREQ_SCRATCH(ulen);
        char *scratch = malloc(cap);
        gwreq_t req;
        int status = gwreq_parse(h.method, h.target, ulen, &req, scratch, cap);
        if (status != 0) {
            char *body = v_detail_body(req.detail);
            gwfuzz_answer(status, body);
            free(body);
        } else if (req.match.route->kind == ROUTE_PROXY) {
            gwfuzz_forward(&req, &h, ip, trace, idem_key);
        } else {
            gwfuzz_local(&req, &h);
        }
        free(scratch);
    }
    gwfuzz_free(&h);
    return 0;
}

#ifdef SHOPMQ_FUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_gateway_request_one(data, size);
}
#endif
