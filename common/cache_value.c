/* Product values of the catalog cache (see cache_value.h). */
#include "cache_value.h"

#include <string.h>

uint64_t cache_parse_u64(const char *s, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

cache_value_t cache_product_value(const char *v, size_t len, uint64_t gen, const char **json,
                                  size_t *json_len)
{
    const char *c1 = memchr(v, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - v)) : NULL;
    if (!c2 || cache_parse_u64(v, (size_t)(c1 - v)) != gen)
        return CACHE_VALUE_STALE;
    *json = c2 + 1;
    *json_len = len - (size_t)(c2 + 1 - v);
    return *json_len ? CACHE_VALUE_FOUND : CACHE_VALUE_NOT_FOUND;
}
