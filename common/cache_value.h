/* The catalog cache's product values, "{pgen}:{version}:{json}" (an empty
 * json is a cached 404), read the same way by catalog-svc and the gateway:
 * a value counts only when it was stored under the current product
 * generation. See cache_keys.h for the keys. */
#ifndef SHOPMQ_CACHE_VALUE_H
#define SHOPMQ_CACHE_VALUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CACHE_VALUE_STALE = 0, /* malformed, or from another generation */
    CACHE_VALUE_FOUND,     /* *json, *json_len: the product */
    CACHE_VALUE_NOT_FOUND, /* a cached 404 */
} cache_value_t;

/* The leading decimal digits of s[0..len) (0 when none). */
uint64_t cache_parse_u64(const char *s, size_t len);

/* Reads value v (len bytes) against the current generation gen. */
cache_value_t cache_product_value(const char *v, size_t len, uint64_t gen, const char **json,
                                  size_t *json_len);

#endif
