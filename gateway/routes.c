/* Route table and URL helpers; see routes.h. */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "shopmq_proto.h"

/* Order only matters for the Allow header (listed in table order).
 * Columns: method, pattern, kind, service, op, exempt from rate limiting,
 * admin (writes to the catalog and order status moves need the token). */
static const route_t s_routes[] = {
    {"GET", "/api/v1/products", ROUTE_PROXY, SMQ_SVC_CATALOG, "products.list", false, false},
    {"POST", "/api/v1/products", ROUTE_PROXY, SMQ_SVC_CATALOG, "products.create", false, true},
    {"GET", "/api/v1/products/{id}", ROUTE_PROXY, SMQ_SVC_CATALOG, "products.get", false, false},
    {"PUT", "/api/v1/products/{id}", ROUTE_PROXY, SMQ_SVC_CATALOG, "products.update", false, true},
    {"DELETE", "/api/v1/products/{id}", ROUTE_PROXY, SMQ_SVC_CATALOG, "products.delete", false, true},
    {"GET", "/api/v1/categories", ROUTE_PROXY, SMQ_SVC_CATALOG, "categories.list", false, false},
    {"POST", "/api/v1/categories", ROUTE_PROXY, SMQ_SVC_CATALOG, "categories.create", false, true},
    {"GET", "/api/v1/categories/{id}", ROUTE_PROXY, SMQ_SVC_CATALOG, "categories.get", false, false},
    {"GET", "/api/v1/cache/stats", ROUTE_CACHE_STATS, SMQ_SVC_CATALOG, "cache.stats", false, false},
    {"GET", "/api/v1/customers", ROUTE_PROXY, SMQ_SVC_CUSTOMER, "customers.list", false, false},
    {"POST", "/api/v1/customers", ROUTE_PROXY, SMQ_SVC_CUSTOMER, "customers.create", false, false},
    {"GET", "/api/v1/customers/{id}", ROUTE_PROXY, SMQ_SVC_CUSTOMER, "customers.get", false, false},
    {"GET", "/api/v1/orders", ROUTE_PROXY, SMQ_SVC_ORDER, "orders.list", false, false},
    {"POST", "/api/v1/orders", ROUTE_PROXY, SMQ_SVC_ORDER, "orders.create", false, false},
    {"GET", "/api/v1/orders/{id}", ROUTE_PROXY, SMQ_SVC_ORDER, "orders.get", false, false},
    {"PATCH", "/api/v1/orders/{id}/status", ROUTE_PROXY, SMQ_SVC_ORDER, "orders.status", false, true},
    {"GET", "/", ROUTE_ROOT, NULL, "root", true, false},
    {"GET", "/health", ROUTE_HEALTH, NULL, "health", true, false},
    {"GET", "/metrics", ROUTE_METRICS, NULL, "metrics", true, false},
    {"GET", "/docs", ROUTE_DOCS, NULL, "docs", true, false},
    {"GET", "/docs/{file}", ROUTE_DOCS_FILE, NULL, "docs.file", true, false},
    {"GET", "/openapi.json", ROUTE_OPENAPI, NULL, "openapi", true, false},
};
#define NROUTES ((int)(sizeof s_routes / sizeof s_routes[0]))

int routes_count(void)
{
    return NROUTES;
}

const route_t *routes_at(int i)
{
    return i >= 0 && i < NROUTES ? &s_routes[i] : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long url_decode(const char *in, size_t len, bool plus_space, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%' && i + 2 < len && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
            unsigned char b = (unsigned char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
            i += 2;
            if (b == 0) { /* U+FFFD: keeps the value a C string */
                if (o + 3 >= cap)
                    return -1;
                out[o++] = (char)0xEF;
                out[o++] = (char)0xBF;
                out[o++] = (char)0xBD;
                continue;
            }
            c = (char)b;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '\0') {
            c = '?'; /* raw NUL cannot come from MHD, but keep C strings sane */
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return (long)o;
}

/* Compares a pattern segment literal with a decoded path segment. */
static bool seg_equal(const char *pat, size_t plen, const char *seg, size_t slen)
{
    return plen == slen && memcmp(pat, seg, plen) == 0;
}

int route_match(const char *method, const char *path, size_t path_len, route_match_t *m,
                char *scratch, size_t scratch_cap)
{
    memset(m, 0, sizeof *m);
    m->status = 404;
    m->index = -1;
    if (path_len == 0 || path[0] != '/')
        return m->status;
    if (path_len > 1 && path[path_len - 1] == '/')
        path_len--; /* one trailing slash is ignored */

    /* Split and decode every segment once. */
    const char *segv[ROUTE_MAX_SEGMENTS];
    size_t segl[ROUTE_MAX_SEGMENTS];
    int nseg = 0;
    size_t used = 0;
    if (path_len > 1) {
        size_t start = 1;
        while (start <= path_len) {
            const char *slash = memchr(path + start, '/', path_len - start);
            size_t end = slash ? (size_t)(slash - path) : path_len;
            if (nseg == ROUTE_MAX_SEGMENTS)
                return m->status;
            long n = url_decode(path + start, end - start, false, scratch + used,
                                scratch_cap - used);
            if (n < 0)
                return m->status;
            segv[nseg] = scratch + used;
            segl[nseg] = (size_t)n;
            nseg++;
            used += (size_t)n + 1;
            start = end + 1;
        }
    }

    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    bool path_known = false;
    for (int r = 0; r < NROUTES; r++) {
        const route_t *rt = &s_routes[r];
        const char *p = rt->pattern + 1;
        int s = 0;
        int np = 0;
        route_param_t params[ROUTE_MAX_PARAMS];
        bool ok = true;
        while (*p && ok) {
            const char *e = strchr(p, '/');
            size_t plen = e ? (size_t)(e - p) : strlen(p);
            if (s >= nseg) {
                ok = false;
                break;
            }
            if (p[0] == '{') {
                /* A parameter matches any non-empty segment. */
                if (segl[s] == 0 || np == ROUTE_MAX_PARAMS)
                    ok = false;
                else
                    params[np++] = (route_param_t){p + 1, plen - 2, segv[s]};
            } else if (!seg_equal(p, plen, segv[s], segl[s])) {
                ok = false;
            }
            s++;
            p += plen;
            if (*p == '/')
                p++;
        }
        if (!ok || s != nseg)
            continue;
        path_known = true;
        if (strcmp(rt->method, want) == 0) {
            m->status = 200;
            m->route = rt;
            m->index = r;
            memcpy(m->params, params, sizeof(route_param_t) * (size_t)np);
            m->nparams = np;
            return m->status;
        }
        /* Collect the Allow list for a possible 405. */
        if (!strstr(m->allow, rt->method)) {
            size_t al = strlen(m->allow);
            snprintf(m->allow + al, sizeof m->allow - al, "%s%s", al ? ", " : "", rt->method);
        }
    }
    if (path_known) {
        m->status = 405;
        if (strstr(m->allow, "GET") && !strstr(m->allow, "HEAD")) {
            size_t al = strlen(m->allow);
            snprintf(m->allow + al, sizeof m->allow - al, ", HEAD");
        }
    }
    return m->status;
}

int query_parse(const char *raw, size_t len, query_kv_t *out, int max, char *scratch, size_t cap)
{
    int n = 0;
    size_t used = 0;
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(raw + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - raw) : len;
        const char *piece = raw + i;
        size_t plen = end - i;
        i = end + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(piece, '=', plen);
        size_t klen = eq ? (size_t)(eq - piece) : plen;
        if (klen == 0)
            continue;
        if (n == max)
            return -1;
        long kn = url_decode(piece, klen, true, scratch + used, cap - used);
        if (kn < 0)
            return -1;
        out[n].key = scratch + used;
        used += (size_t)kn + 1;
        const char *v = eq ? eq + 1 : piece + plen;
        size_t vlen = eq ? plen - klen - 1 : 0;
        long vn = url_decode(v, vlen, true, scratch + used, cap - used);
        if (vn < 0)
            return -1;
        out[n].val = scratch + used;
        used += (size_t)vn + 1;
        n++;
    }
    return n;
}

const char *query_get(const query_kv_t *kv, int n, const char *key)
{
    for (int i = n - 1; i >= 0; i--)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].val;
    return NULL;
}
