/* Shared by the catalog cache and order-svc's invalidation; see cache_keys.h. */
#include "cache_keys.h"

#include <stdlib.h>
#include <string.h>

int cache_redis_url_parse(const char *url, char *host, size_t hostcap, int *port, char *password,
                          size_t pwcap, int *db)
{
    const char *s = url;
    *port = 6379;
    *db = 0;
    if (pwcap)
        password[0] = '\0';
    if (strncmp(s, "redis://", 8) != 0)
        return -1;
    s += 8;
    const char *at = strchr(s, '@');
    const char *slash = strchr(s, '/');
    if (at && (!slash || at < slash)) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        const char *pw = colon ? colon + 1 : s;
        size_t n = (size_t)(at - pw);
        if (n >= pwcap)
            return -1;
        memcpy(password, pw, n);
        password[n] = '\0';
        s = at + 1;
    }
    size_t hostlen = strcspn(s, ":/");
    if (hostlen == 0 || hostlen >= hostcap)
        return -1;
    memcpy(host, s, hostlen);
    host[hostlen] = '\0';
    s += hostlen;
    if (*s == ':') {
        char *end;
        long p = strtol(s + 1, &end, 10);
        if (end == s + 1 || p < 1 || p > 65535)
            return -1;
        *port = (int)p;
        s = end;
    }
    if (*s == '/' && s[1]) {
        char *end;
        long d = strtol(s + 1, &end, 10);
        if (end == s + 1 || *end || d < 0 || d > 1000)
            return -1;
        *db = (int)d;
    } else if (*s && strcmp(s, "/") != 0) {
        return -1;
    }
    return 0;
}
