/* catalog_cache: the Redis cache-aside of DESIGN §7, safe to use from any
 * thread. Each thread gets its own synchronous hiredis connection (connect
 * and command timeouts of cfg->redis_timeout_ms); after a failure that
 * thread does not touch Redis again for a second, so a dead Redis costs
 * each thread at most one timeout per second and reads go to PostgreSQL.
 *
 * Keys (all under an optional prefix, ECOM_CATALOG_CACHE_PREFIX):
 *   product:{id}          "{pgen}:{version}:{json}"   (json "" = cached 404)
 *   catalog:pgen          product generation: a value tagged with an older
 *                         pgen is a miss ("invalidate every product")
 *   catalog:gen           list generation; one INCR invalidates every list
 *   {ns}:{gen}:{suffix}   generation-scoped values (product list pages,
 *                         category list and detail)
 *
 * A product value is only ever replaced by one with the same pgen and a
 * version at least as new (a Lua check-and-set), so a slow reader filling
 * the cache cannot overwrite what a writer stored after its commit.
 *
 * When an invalidation cannot reach Redis, the next thread that reaches it
 * first bumps both generations: nothing cached before the outage is
 * trusted after it. */
#ifndef CATALOG_CACHE_H
#define CATALOG_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct catalog_cache catalog_cache_t;

typedef enum {
    CATALOG_CACHE_HIT,      /* *json set (malloc'd) */
    CATALOG_CACHE_NEGATIVE, /* a cached "not found" */
    CATALOG_CACHE_MISS,     /* *gen set: pass it to the matching put */
    CATALOG_CACHE_DOWN      /* disabled or unreachable: use the database */
} catalog_cache_rc_t;

/* NULL only on out-of-memory. A cache with cfg->redis_enabled false
 * answers DOWN to everything and never connects. */
catalog_cache_t *catalog_cache_new(const config_t *cfg);
void catalog_cache_destroy(catalog_cache_t **self_p);

bool catalog_cache_enabled(catalog_cache_t *self);

/* Product detail; every lookup feeds the hit/miss counters. */
catalog_cache_rc_t catalog_cache_product_get(catalog_cache_t *self, const char *id, char **json,
                                             uint64_t *gen);
/* Stores a product read at generation gen (json NULL: not found, short TTL). */
void catalog_cache_product_put(catalog_cache_t *self, const char *id, uint64_t gen, long version,
                               const char *json);

/* Generation-scoped values; counted says whether the lookup feeds the
 * hit/miss counters (product reads do). */
catalog_cache_rc_t catalog_cache_gen_get(catalog_cache_t *self, const char *ns, const char *suffix,
                                         bool counted, char **json, uint64_t *gen);
void catalog_cache_gen_put(catalog_cache_t *self, const char *ns, uint64_t gen, const char *suffix,
                           const char *json);

/* After a committed write of a product: store its new JSON (write-through,
 * version-guarded) and bump the list generation. */
void catalog_cache_product_written(catalog_cache_t *self, const char *id, long version,
                                   const char *json);
/* A product re-read after catalog_cache_products_changed (the event
 * consumer's refresh): stored version-guarded like a fill, without touching
 * the list generation, so the next detail read is a hit. */
void catalog_cache_product_refreshed(catalog_cache_t *self, const char *id, long version,
                                     const char *json);
/* Products changed elsewhere (events): drop their keys, bump the list
 * generation. */
void catalog_cache_products_changed(catalog_cache_t *self, const char *const *ids, int n);
/* Lists only (e.g. a new category). */
void catalog_cache_lists_changed(catalog_cache_t *self);
/* Trust nothing cached so far: bump both generations. */
void catalog_cache_invalidate_all(catalog_cache_t *self);

/* Process-local epoch, bumped by every invalidation this process makes:
 * part of single-flight keys so a read that starts after a write never
 * joins a query that started before it. */
uint64_t catalog_cache_epoch(catalog_cache_t *self);

/* One round trip (respecting the per-thread backoff): whether Redis is
 * reachable from this thread, and the product reads and list pages the
 * gateways answered from the cache (0 when unknown). */
bool catalog_cache_probe_gateway_hits(catalog_cache_t *self, long *hits, long *list_hits);
/* Last known reachability (any thread), without I/O. */
bool catalog_cache_available(catalog_cache_t *self);

/* Hits and misses of list pages and categories (not in cache.stats). */
void catalog_cache_list_counters(catalog_cache_t *self, long *hits, long *misses);
void catalog_cache_counters(catalog_cache_t *self, long *hits, long *misses);


#endif
