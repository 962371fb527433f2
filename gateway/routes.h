/* The gateway's route table (data, not code) and the URL helpers it needs.
 *
 * Every HTTP route of API.md is one row: method, path pattern with {name}
 * parameters, the service that answers it and the op name it is sent as
 * (proto/shopmq_proto.h). Matching works on the raw (still %-encoded)
 * path: it is split on '/' first and each segment decoded after, so an
 * encoded slash inside an id stays part of the id. One trailing slash is
 * ignored ("/api/v1/products/" is "/api/v1/products"). */
#ifndef SHOPMQ_ROUTES_H
#define SHOPMQ_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

/* What answers a route. Everything but ROUTE_PROXY is handled in the gateway
 * (health and metrics still ask the broker for its status). */
typedef enum {
    ROUTE_PROXY = 0, /* forwarded to route->service as route->op */
    ROUTE_ROOT,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_DOCS,      /* /docs: docs/index.html */
    ROUTE_DOCS_FILE, /* /docs/{file}: static assets next to it */
    ROUTE_OPENAPI,
    ROUTE_CACHE_STATS, /* summed from every catalog instance in broker.status */
} route_kind_t;

typedef struct {
    const char *method;  /* "GET", "POST", ... (HEAD matches GET rows) */
    const char *pattern; /* "/api/v1/products/{id}" */
    route_kind_t kind;
    const char *service; /* SMQ_SVC_*; NULL for local routes */
    const char *op;      /* meta "op"; for local routes a label */
    bool exempt;         /* not rate limited */
    bool admin;          /* needs the admin token when one is set (adminauth.h) */
} route_t;

#define ROUTE_MAX_PARAMS 4
#define ROUTE_MAX_SEGMENTS 16

typedef struct {
    const char *name; /* parameter name, e.g. "id" (points into a static string) */
    size_t name_len;
    const char *value; /* decoded, NUL-terminated, in the caller's scratch */
} route_param_t;

typedef struct {
    int status;           /* 200 matched, 404 no such path, 405 path known but not the method */
    const route_t *route; /* when 200 */
    int index;            /* routes_at(index) == route */
    route_param_t params[ROUTE_MAX_PARAMS];
    int nparams;
    char allow[96]; /* when 405: "GET, POST" */
} route_match_t;

/* The table, for /metrics labels and for tests that compare it with the docs. */
int routes_count(void);
const route_t *routes_at(int i);

/* Matches method + raw path (no query string; path_len bytes). Decoded
 * parameter values are written into scratch (needs path_len + 1 + nparams
 * bytes at most; 2 * path_len + 16 is always enough). Returns m->status. */
int route_match(const char *method, const char *path, size_t path_len, route_match_t *m,
                char *scratch, size_t scratch_cap);

/* Percent-decodes len bytes of in into out (out may be in; cap >= len + 1
 * is always enough). Invalid escapes ("%zz", a trailing "%4") are kept
 * literally, as Python's unquote does; "%00" becomes U+FFFD so values stay C
 * strings. plus_space turns '+' into ' ' (query strings). Returns the decoded
 * length, or -1 if out is too small. Invalid UTF-8 is left for the JSON
 * writer to replace. */
long url_decode(const char *in, size_t len, bool plus_space, char *out, size_t cap);

/* One decoded query parameter. */
typedef struct {
    const char *key;
    const char *val;
} query_kv_t;

/* Splits a raw query string ("a=1&b=x%20y", without '?') into decoded
 * pairs in order of appearance (so the last of a repeated key wins when
 * read with query_get). "a" and "a=" both give an empty value; empty pieces
 * ("&&") and empty keys are skipped. Decoded text goes into scratch
 * (len * 2 + 2 bytes are always enough). Returns the number of pairs, or -1
 * when there are more than max or scratch is too small. */
int query_parse(const char *raw, size_t len, query_kv_t *out, int max, char *scratch, size_t cap);

/* The last value of key among n pairs, or NULL. */
const char *query_get(const query_kv_t *kv, int n, const char *key);

#endif
