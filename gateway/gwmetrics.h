/* Gateway counters for GET /metrics (Prometheus text format).
 *
 * One gwmetrics_t per event loop, written only by its loop; any loop may
 * render all of them (relaxed atomic loads: a scrape may be a request
 * behind, never torn). */
#ifndef SHOPMQ_GWMETRICS_H
#define SHOPMQ_GWMETRICS_H

#include <stdint.h>

#include "ratelimit.h"

typedef struct gwmetrics gwmetrics_t;

gwmetrics_t *gwmetrics_new(void);
void gwmetrics_destroy(gwmetrics_t **self_p);

/* One answered request: route index from routes_at() or -1 when no route
 * matched; latency from the first byte of the request to the answer. */
void gwmetrics_observe(gwmetrics_t *self, int route, int status, int64_t latency_us);
void gwmetrics_inflight(gwmetrics_t *self, int delta);
/* Snapshot of the loop's rate limiter counters. */
void gwmetrics_ratelimit(gwmetrics_t *self, const ratelimit_stats_t *st);

/* Renders every loop's counters, then the broker's view (broker_status: the
 * "broker.status" reply body, or NULL when it did not answer): live workers
 * and queue depth per service, and every numeric field of each instance's
 * "metrics" object as shopmq_service_<name>{service,instance}. Returns malloc'd
 * text. */
char *gwmetrics_render(gwmetrics_t *const *all, int n, const char *broker_status, long uptime_s);

#endif
