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

#endif
