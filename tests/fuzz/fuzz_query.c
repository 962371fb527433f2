/* Fuzz target: the gateway's path routing and query-string parsing
 * (gateway/gwreq.h, gateway/routes.h) on (method, request target) pairs.
 *
 * Input pieces (fuzz_util.h framing): method, target. Checks: the status
 * is one the gateway can answer; a routed request's parameters and query
 * pairs are within bounds; the meta JSON it sends parses as a JSON object
 * with the documented members; a small output buffer is refused, never
 * overrun; the URL helpers stay within their documented scratch. */
#include <jansson.h>

#include "fuzz_util.h"
#include "gwreq.h"
#include "routes.h"
#include "shopmq_proto.h"
#include "validate.h"

static void query_check_meta(const gwreq_t *req, const char *method, const char *meta, long n)
{
    json_error_t jerr;
    json_t *root = json_loadb(meta, (size_t)n, 0, &jerr);
    if (!root)
        fprintf(stderr, "meta JSON does not parse: %s\n%.*s\n", jerr.text, (int)n, meta);
    FUZZ_CHECK(root && json_is_object(root));
    FUZZ_CHECK(json_is_string(json_object_get(root, "op")));
    FUZZ_CHECK(json_is_string(json_object_get(root, "method")));
    FUZZ_CHECK(json_is_string(json_object_get(root, "path")));
    json_t *params = json_object_get(root, "params");
    json_t *query = json_object_get(root, "query");
    FUZZ_CHECK(json_is_object(params) && json_is_object(query));
    FUZZ_CHECK((int)json_object_size(params) <= req->match.nparams);
    FUZZ_CHECK((int)json_object_size(query) <= req->nquery);
    /* The route's parameter names are all there. */
    for (int i = 0; i < req->match.nparams; i++) {
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)req->match.params[i].name_len,
                 req->match.params[i].name);
        FUZZ_CHECK(json_is_string(json_object_get(params, name)));
    }
    /* Without invalid UTF-8 the method goes through unchanged. */
    if (v_utf8_len(method, strlen(method)) >= 0)
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(root, "method")), method) == 0);
    json_decref(root);
}

int fuzz_query_one(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_reader_init(&r, data, size);
    char *method = fuzz_next_str(&r, NULL);
    size_t ulen = 0;
    char *uri = fuzz_next_str(&r, &ulen);
    /* A target has no NUL (MHD hands over a C string). */
    ulen = strlen(uri);

    size_t cap = GWREQ_SCRATCH(ulen);
    char *scratch = malloc(cap); /* exact size: ASan sees any overrun */
    gwreq_t req;
    int status = gwreq_parse(method, uri, ulen, &req, scratch, cap);
    FUZZ_CHECK(status == req.status);
    FUZZ_CHECK(status == 0 || status == 400 || status == 404 || status == 405 || status == 414);
    FUZZ_CHECK(status == 0 || req.detail != NULL);
    if (status == 405)
        FUZZ_CHECK(req.match.allow[0] != '\0');
    if (status == 0) {
        FUZZ_CHECK(req.match.route && req.match.status == 200);
        FUZZ_CHECK(routes_at(req.match.index) == req.match.route);
        FUZZ_CHECK(req.match.nparams <= ROUTE_MAX_PARAMS && req.nquery <= GWREQ_MAX_QUERY);
        for (int i = 0; i < req.match.nparams; i++)
            FUZZ_CHECK(req.match.params[i].value[0] != '\0');
        for (int i = 0; i < req.nquery; i++) {
            FUZZ_CHECK(req.query[i].key[0] != '\0');
            FUZZ_CHECK(query_get(req.query, req.nquery, req.query[i].key) != NULL);
        }
        char *meta = malloc(SMQ_MAX_META);
        long n = gwreq_meta(&req, NULL, method, "203.0.113.7", "trace-1", uri, meta, SMQ_MAX_META);
        if (n >= 0) {
            FUZZ_CHECK((size_t)n < SMQ_MAX_META && meta[n] == '\0');
            query_check_meta(&req, method, meta, n);
            /* Any smaller buffer: refused or complete, never overrun. */
            size_t small = (size_t)n * (size % 7) / 7;
            char *buf = malloc(small ? small : 1);
            long m = gwreq_meta(&req, "broker.status", method, NULL, NULL, NULL, buf, small);
            FUZZ_CHECK(m < 0 || (size_t)m < small);
            free(buf);
        }
        free(meta);
    }
    /* The helpers alone, on the whole target. */
    (void)gwreq_trace_ok(uri);
    char *dec = malloc(ulen + 1);
    long dn = url_decode(uri, ulen, size % 2 == 0, dec, ulen + 1);
    FUZZ_CHECK(dn >= 0 && (size_t)dn <= ulen && dec[dn] == '\0');
    free(dec);
    size_t qcap = ulen * 2 + 2;
    char *qscratch = malloc(qcap);
    query_kv_t kv[GWREQ_MAX_QUERY];
    int nq = query_parse(uri, ulen, kv, GWREQ_MAX_QUERY, qscratch, qcap);
    FUZZ_CHECK(nq <= GWREQ_MAX_QUERY);
    free(qscratch);
    route_match_t m;
    char *rscratch = malloc(2 * ulen + 16);
    int rs = route_match(method, uri, ulen, &m, rscratch, 2 * ulen + 16);
    FUZZ_CHECK(rs == 200 || rs == 404 || rs == 405);
    free(rscratch);

    free(scratch);
    free(uri);
    free(method);
    return 0;
}

#ifdef SHOPMQ_FUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_query_one(data, size);
}
#endif
