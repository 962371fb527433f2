/* redis_sync: a synchronous hiredis connection opened the way the per-thread
 * cache users (catalog_cache, order_cache) need it: connect and command
 * timeouts of timeout_ms, AUTH with the URL's user and password, SELECT of
 * its db. */
#ifndef SHOPMQ_REDIS_SYNC_H
#define SHOPMQ_REDIS_SYNC_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "redis_url.h"

typedef enum {
    REDIS_SYNC_OK = 0,
    REDIS_SYNC_UNREACHABLE = -1, /* no usable socket: Redis down, timeout, out of memory */
    REDIS_SYNC_REJECTED = -2     /* connected, but AUTH or SELECT failed */
} redis_sync_rc_t;

/* On REDIS_SYNC_OK *cp is the connection (the caller redisFree's it);
 * otherwise *cp is NULL and err (may be NULL) says why, e.g. "connect
 * 127.0.0.1:6379 failed: Connection refused" or "AUTH failed: WRONGPASS ...".
 * Logs nothing: how loudly a dead Redis is reported is the caller's call.
 * With a user in the URL, AUTH sends both (Redis 6 ACL), as the gateway's
 * rate limiter does. */
redis_sync_rc_t redis_sync_connect(const redis_url_t *url, int timeout_ms, redisContext **cp,
                                   char *err, size_t errlen);

#endif
