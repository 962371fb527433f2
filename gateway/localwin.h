/* In-process sliding window per client IP: the rate limiter's fallback
 * while Redis is down or slow (DESIGN §8).
 *
 * A sliding-window counter, not a sliding log: each IP keeps the counts of
 * the current and the previous fixed window, and the estimate is
 *   prev * (1 - elapsed_in_current / window) + cur.
 * That is O(1) memory per IP whatever the limit (a log of 10,000 limits x
 * 100,000 IPs would not fit), at the cost of assuming the previous window's
 * requests were spread evenly. A request is allowed when estimate + 1 <= max.
 *
 * Memory is bounded: at most `cap` IPs are tracked (the least recently seen
 * is evicted), and an IP idle for two windows (estimate 0) is dropped.
 * Pure: no clock, no I/O; callers pass a monotonic time in ms. Not
 * thread-safe (one per event loop). */
#ifndef SHOPMQ_LOCALWIN_H
#define SHOPMQ_LOCALWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct localwin localwin_t;

typedef struct {
    bool allowed;
    int remaining;   /* requests still allowed now (after this one) */
    int64_t wait_ms; /* denied: until one request fits; allowed: until one slot frees */
} localwin_result_t;

/* max >= 1, window_ms >= 1, cap >= 1. NULL on bad arguments or no memory. */
localwin_t *localwin_new(int max, int64_t window_ms, size_t cap);
void localwin_destroy(localwin_t **self_p);

/* Decides for one request from ip at now_ms and counts it if allowed. */
void localwin_check(localwin_t *self, const char *ip, int64_t now_ms, localwin_result_t *out);
/* Counts a request another authority (Redis) already allowed, so the
 * fallback continues from where Redis left off. */
void localwin_record(localwin_t *self, const char *ip, int64_t now_ms);

/* Number of IPs tracked (for tests and metrics). */
size_t localwin_size(localwin_t *self);

#endif
