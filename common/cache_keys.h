/* The catalog cache's Redis keys, in one place: catalog-svc owns the cache,
 * order-svc invalidates the products an order touched right after its
 * commit (so the client's next read is fresh), the gateway answers the
 * reads that hit (gateway/gwcache.h), and all must agree on these names.
 * The prefix is ECOM_CATALOG_CACHE_PREFIX ("" by default). */
#ifndef SHOPMQ_CACHE_KEYS_H
#define SHOPMQ_CACHE_KEYS_H


#define CACHE_PREFIX_ENV "ECOM_CATALOG_CACHE_PREFIX"
#define CACHE_PRODUCT_KEY_FMT "%sproduct:%s"  /* prefix, product id */
#define CACHE_LIST_GEN_KEY_FMT "%scatalog:gen" /* prefix: list pages' generation */
#define CACHE_PRODUCT_GEN_KEY_FMT "%scatalog:pgen"
/* Hash: fields "hits" and "list_hits", the product reads and list pages
 * the gateways answered from the cache (catalog-svc reports them beside its
 * own counters). */
#define CACHE_GW_STATS_KEY_FMT "%scache:gwstats"
/* Product list pages: {prefix}plist:{gen}:{catalog_list_query_key}. */
#define CACHE_LIST_NS "plist"

/* Reads a generation and the value under it in one round trip. KEYS[1] the
 * generation key; ARGV[1] key prefix + namespace + ':', ARGV[2] suffix.
 * Returns {gen, value or nil}. */
#define CACHE_GEN_GET_LUA                                                                          \
    "local g = redis.call('GET', KEYS[1]) or '0' "                                                 \
    "return {g, redis.call('GET', ARGV[1] .. g .. ':' .. ARGV[2])}"

#endif
