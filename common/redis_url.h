/* ECOM_REDIS_URL: redis://[[user]:password@]host[:port][/db]. One parser for
 * every program that talks to Redis. */
#ifndef SHOPMQ_REDIS_URL_H
#define SHOPMQ_REDIS_URL_H

#include <stddef.h>

typedef struct {
    char host[256];
    int port;           /* 6379 when absent */
    int db;             /* 0 when absent */
    char username[128]; /* "" when absent (Redis 6 ACL user) */
    char password[256]; /* "" when absent */
} redis_url_t;

/* "[v6]" hosts allowed. Returns 0, or -1 with a message in err. Pure. */
int redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errlen);

#endif
