/* GET /health from the broker's "broker.status" answer (pure: unit-tested). */
#ifndef SHOPMQ_HEALTH_H
#define SHOPMQ_HEALTH_H

/* Builds the /health body: {status, database, cache, version,
 * uptime_seconds, services: {catalog, order, customer}}.
 * broker_status is the broker's reply body, or NULL when the broker did not
 * answer in time (or answered an error). Sets *http_status to 200, or 503 when
 * unhealthy. Returns malloc'd JSON text (NULL only when out of memory).
 *   database: "connected" when any live instance reports "database": true
 *   cache:    catalog instances' "cache" ("unknown" with no catalog instance)
 *   status:   unhealthy when the database is down or the broker unreachable;
 *             degraded when the cache is down or a service the broker knows
 *             has no live worker; else healthy. */
char *health_build(const char *broker_status, long uptime_s, int *http_status);

/* Builds GET /api/v1/cache/stats for the whole system: {available, hits,
 * misses, hit_rate} summed over every catalog instance's heartbeat metrics
 * (cache_hits, cache_misses), available when any instance reports "cache":
 * true. A process's counters reach the broker with its heartbeats, so the
 * figures trail by at most one heartbeat interval (ECOM_HEARTBEAT_MS).
 * Sets *http_status to 200, or 503 with {"detail": "Service unavailable"}
 * when the broker did not answer or no catalog instance is live. Returns
 * malloc'd JSON text (NULL only when out of memory). */
char *health_cache_stats(const char *broker_status, int *http_status);

#endif
