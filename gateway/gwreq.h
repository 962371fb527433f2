/* One HTTP request, reduced to what the gateway does with it, with no
 * network involved: route it, parse its query, check its X-Request-Id, and
 * write the meta JSON frame (proto/shopmq_proto.h) that travels with it.
 * The event loop (gateway.c) calls these; a fuzz target or a unit test can
 * call them with bytes alone. */
#ifndef SHOPMQ_GWREQ_H
#define SHOPMQ_GWREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routes.h"

#define GWREQ_MAX_URI 8192   /* longer request targets -> 414 */
#define GWREQ_MAX_QUERY 64   /* more parameters -> 400 */
#define GWREQ_MAX_TRACE 128  /* a longer X-Request-Id is replaced */
#define GWREQ_TRACE_LEN 32   /* generated ids: 32 hex digits */

typedef struct {
    int status;         /* 0: routed (match.status 200); else 400/404/405/414 */
    const char *detail; /* error text for a non-zero status */
    route_match_t match;
    const char *path; /* raw path within the uri, path_len bytes */
    size_t path_len;
    query_kv_t query[GWREQ_MAX_QUERY];
    int nquery;
} gwreq_t;

/* Scratch needed by gwreq_parse for a uri of uri_len bytes. */
#define GWREQ_SCRATCH(uri_len) (4 * (size_t)(uri_len) + 64)

/* Routes and parses one request target (path + optional "?query"). Decoded
 * strings go into scratch (at least GWREQ_SCRATCH(uri_len) bytes), which must
 * outlive req. Returns req->status. */
int gwreq_parse(const char *method, const char *uri, size_t uri_len, gwreq_t *req, char *scratch,
                size_t cap);

/* true when a client's X-Request-Id can be echoed: 1..128 printable ASCII
 * characters, no spaces or quotes. */
bool gwreq_trace_ok(const char *id);

/* A fresh 32-hex-digit id from *state (any per-thread seed; updated). */
void gwreq_trace_new(char out[GWREQ_TRACE_LEN + 1], uint64_t *state);

/* Writes the meta JSON of a routed request into out. op overrides the
 * route's op when non-NULL (health and metrics ask "broker.status").
 * idem_key may be NULL. Returns the length, or -1 if it does not fit. */
long gwreq_meta(const gwreq_t *req, const char *op, const char *method, const char *ip,
                const char *trace, const char *idem_key, char *out, size_t cap);

#endif
