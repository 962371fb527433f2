/* Request parsing and meta JSON; see gwreq.h. */
#include "gwreq.h"

#include <string.h>

#include "jbuf.h"

int gwreq_parse(const char *method, const char *uri, size_t uri_len, gwreq_t *req, char *scratch,
                size_t cap)
{
    req->status = 0;
    req->detail = NULL;
    req->nquery = 0;
    req->path = uri;
    req->path_len = uri_len;
    memset(&req->match, 0, sizeof req->match);
    if (uri_len > GWREQ_MAX_URI || cap < GWREQ_SCRATCH(uri_len)) {
        req->status = 414;
        req->detail = "URI Too Long";
        return req->status;
    }
    const char *q = memchr(uri, '?', uri_len);
    if (q)
        req->path_len = (size_t)(q - uri);
    /* Path segments use the first half of scratch, the query the rest. */
    size_t half = 2 * req->path_len + 16;
    route_match(method, uri, req->path_len, &req->match, scratch, half);
    if (req->match.status != 200) {
        req->status = req->match.status;
        req->detail = req->status == 405 ? "Method Not Allowed" : "Not Found";
        return req->status;
    }
    if (q) {
        size_t qlen = uri_len - req->path_len - 1;
        int n = query_parse(q + 1, qlen, req->query, GWREQ_MAX_QUERY, scratch + half, cap - half);
        if (n < 0) {
            req->status = 400;
            req->detail = "Too many query parameters";
            return req->status;
        }
        req->nquery = n;
    }
    return req->status;
}

bool gwreq_trace_ok(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        unsigned char c = (unsigned char)id[n];
        if (n >= GWREQ_MAX_TRACE || c <= 0x20 || c >= 0x7F || c == '"' || c == '\\')
            return false;
    }
    return n > 0;
}

void gwreq_trace_new(char out[GWREQ_TRACE_LEN + 1], uint64_t *state)
{
    static const char hex[] = "0123456789abcdef";
    for (int half = 0; half < 2; half++) {
        /* splitmix64: cheap, and distinct seeds give distinct streams */
        uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (int i = 0; i < 16; i++)
            out[half * 16 + i] = hex[(z >> (i * 4)) & 0xF];
    }
    out[GWREQ_TRACE_LEN] = '\0';
}

long gwreq_meta(const gwreq_t *req, const char *op, const char *method, const char *ip,
                const char *trace, const char *idem_key, char *out, size_t cap)
{
    jbuf_t jb;
    jbuf_init(&jb, out, cap);
    jbuf_raw(&jb, "{\"op\":");
    jbuf_str(&jb, op ? op : req->match.route->op);
    jbuf_raw(&jb, ",\"method\":");
    jbuf_str(&jb, method);
    jbuf_raw(&jb, ",\"path\":");
    jbuf_strn(&jb, req->path, req->path_len);
    jbuf_raw(&jb, ",\"params\":{");
    for (int i = 0; i < req->match.nparams; i++) {
        if (i)
            jbuf_raw(&jb, ",");
        jbuf_strn(&jb, req->match.params[i].name, req->match.params[i].name_len);
        jbuf_raw(&jb, ":");
        jbuf_str(&jb, req->match.params[i].value);
    }
    jbuf_raw(&jb, "},\"query\":{");
    bool first = true;
    for (int i = 0; i < req->nquery; i++) {
        /* Last value wins: skip a key that appears again later. */
        bool later = false;
        for (int j = i + 1; j < req->nquery && !later; j++)
            later = strcmp(req->query[i].key, req->query[j].key) == 0;
        if (later)
            continue;
        if (!first)
            jbuf_raw(&jb, ",");
        first = false;
        jbuf_str(&jb, req->query[i].key);
        jbuf_raw(&jb, ":");
        jbuf_str(&jb, req->query[i].val);
    }
    jbuf_raw(&jb, "},\"ip\":");
    jbuf_str(&jb, ip ? ip : "");
    jbuf_raw(&jb, ",\"trace\":");
    jbuf_str(&jb, trace ? trace : "");
    if (idem_key) {
        jbuf_raw(&jb, ",\"idem_key\":");
        jbuf_str(&jb, idem_key);
    }
    jbuf_raw(&jb, "}");
    return jbuf_ok(&jb) ? (long)jb.len : -1;
}
