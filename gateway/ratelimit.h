/* Per-client-IP sliding-window rate limiting (DESIGN §8, API.md).
 *
 * One ratelimit_t per gateway event loop (not thread-safe). Redis is used
 * asynchronously through the loop's own zmq_poll: the loop asks for poll
 * items and a timeout, and hands back what fired. While Redis is down or
 * slower than ECOM_REDIS_TIMEOUT_MS, an in-process sliding window decides
 * (never fail closed). */
#ifndef SHOPMQ_RATELIMIT_H
#define SHOPMQ_RATELIMIT_H

#include <stdbool.h>
#include <zmq.h>

#include "config.h"

typedef struct ratelimit ratelimit_t;

typedef struct {
    bool allowed;
    int limit;         /* X-RateLimit-Limit */
    int remaining;     /* X-RateLimit-Remaining */
    long reset_s;      /* X-RateLimit-Reset: unix time (s) when the window frees a slot */
    int retry_after_s; /* Retry-After when !allowed (>= 1) */
} ratelimit_result_t;

typedef void(ratelimit_cb)(void *arg, const ratelimit_result_t *res);

enum { RATELIMIT_DONE = 0, RATELIMIT_PENDING = 1 };

/* NULL with a logged message on bad configuration. */
ratelimit_t *ratelimit_new(const config_t *cfg);
/* Checks still pending are dropped: their callbacks are not called. */
void ratelimit_destroy(ratelimit_t **self_p);

/* false when ECOM_REDIS_RATE_LIMIT_MAX=0: callers skip the check and the headers. */
bool ratelimit_enabled(ratelimit_t *self);

/* Decides for one request from ip. Returns RATELIMIT_DONE with *res filled
 * (cb never called), or RATELIMIT_PENDING: cb(arg, res) is called exactly
 * once later from ratelimit_process() or ratelimit_timeout() on this loop. */
int ratelimit_check(ratelimit_t *self, const char *ip, ratelimit_result_t *res, ratelimit_cb *cb,
                    void *arg);

/* Event-loop integration, once per pass before zmq_poll: sends the checks
 * that may go to Redis now, then fills up to max poll items (fd-based) and
 * returns how many; after zmq_poll, pass the same items back. */
int ratelimit_pollitems(ratelimit_t *self, zmq_pollitem_t *items, int max);
void ratelimit_process(ratelimit_t *self, zmq_pollitem_t *items, int n);
/* Milliseconds until ratelimit_timeout() must run (-1: no timer). */
long ratelimit_next_timeout_ms(ratelimit_t *self);
/* Fires expired Redis deadlines (answering from the local window) and reconnects. */
void ratelimit_timeout(ratelimit_t *self);

/* Counters for /metrics. */
typedef struct {
    unsigned long allowed, rejected, local_decisions, redis_errors;
    bool redis_up;
} ratelimit_stats_t;
void ratelimit_stats(ratelimit_t *self, ratelimit_stats_t *out);

#endif
