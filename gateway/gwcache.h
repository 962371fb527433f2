/* Product reads answered by the gateway from catalog-svc's cache (DESIGN
 * §7), without the hops to the broker and catalog-svc.
 *
 * catalog-svc owns the cache: it fills, versions and invalidates every key
 * (common/cache_keys.h). The gateway only reads, with catalog-svc's own
 * rules:
 *   - product detail: product:{id} and catalog:pgen in one MGET; a value
 *     is a hit when it was stored under the current product generation;
 *   - list pages: the page under the current list generation, keyed by the
 *     normalized query (common/catalog_query.h), in one EVALSHA.
 * A hit is answered here (200 with the cached JSON, or 404 for a cached
 * "not found" product); anything else (a miss, an error, no reply within
 * ECOM_REDIS_TIMEOUT_MS, Redis down) is forwarded as before, so catalog-svc
 * still decides every miss. The cache is an accelerator: losing it costs
 * speed, never an answer.
 *
 * Hits served here are added up per loop and sent to Redis a few times a
 * second (HINCRBY on CACHE_GW_STATS_KEY_FMT, fields "hits" and
 * "list_hits"); catalog-svc reports those counters beside its own, so
 * /api/v1/cache/stats counts every product read once, whichever process
 * answered it.
 *
 * One gwcache_t per gateway event loop (not thread-safe), driven by the
 * loop's zmq_poll like the rate limiter. */
#ifndef SHOPMQ_GWCACHE_H
#define SHOPMQ_GWCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "config.h"
#include "routes.h"

typedef struct gwcache gwcache_t;

typedef enum {
    GWCACHE_MISS = 0,  /* forward the request */
    GWCACHE_HIT,       /* json, len: the product (valid during the call) */
    GWCACHE_NOT_FOUND, /* a cached 404 */
} gwcache_rc_t;

/* Called exactly once for every lookup that gwcache_product accepted. */
typedef void(gwcache_cb)(void *arg, uint64_t token, gwcache_rc_t rc, const char *json, size_t len);

/* Reads the cache at ECOM_CACHE_REDIS_URL, or ECOM_REDIS_URL when that is
 * empty. NULL when the cache is off (ECOM_REDIS_ENABLED=false), or on a bad
 * URL (logged) or no memory. */
gwcache_t *gwcache_new(const config_t *cfg, gwcache_cb *cb, void *arg);
/* Lookups still pending are dropped: their callbacks are not called. */
void gwcache_destroy(gwcache_t **self_p);

/* Looks up product id (path segment as sent). Returns 0 when the lookup
 * went out (cb(arg, token, ...) follows), -1 when it cannot be answered
 * here (not a UUID, Redis not connected): forward at once. */
int gwcache_product(gwcache_t *self, const char *id, uint64_t token);

/* Looks up the list page the query asks for, as gwcache_product. A query
 * catalog-svc would reject (422) is not looked up. */
int gwcache_list(gwcache_t *self, const query_kv_t *kv, int n, uint64_t token);

/* Event-loop integration, as for the rate limiter (ratelimit.h). */
int gwcache_pollitems(gwcache_t *self, zmq_pollitem_t *items, int max);
void gwcache_process(gwcache_t *self, zmq_pollitem_t *items, int n);
long gwcache_next_timeout_ms(gwcache_t *self);
void gwcache_timeout(gwcache_t *self);

#endif
