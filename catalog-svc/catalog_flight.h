/* catalog_flight: single-flight for cache misses. Concurrent requests for
 * the same key within one process share one database query: the first
 * becomes the leader and runs it, the others wait for its result.
 *
 *     catalog_flight_call_t *call;
 *     int status; char *body;
 *     switch (catalog_flight_join(fl, key, 2000, &call, &status, &body)) {
 *     case CATALOG_FLIGHT_LEADER:   ...query...; catalog_flight_finish(fl, call, st, json); break;
 *     case CATALOG_FLIGHT_SHARED:   reply with status/body (body is yours); break;
 *     case CATALOG_FLIGHT_TIMEOUT:  query yourself; break;
 *     }
 */
#ifndef CATALOG_FLIGHT_H
#define CATALOG_FLIGHT_H

typedef struct catalog_flight catalog_flight_t;
typedef struct catalog_flight_call catalog_flight_call_t;

enum { CATALOG_FLIGHT_LEADER = 1, CATALOG_FLIGHT_SHARED = 0, CATALOG_FLIGHT_TIMEOUT = -1 };

catalog_flight_t *catalog_flight_new(void);
/* All leaders must have finished. */
void catalog_flight_destroy(catalog_flight_t **self_p);

/* LEADER: *call set, the caller must call catalog_flight_finish exactly once.
 * SHARED: the leader's result, *body malloc'd (NULL if the leader's was).
 * TIMEOUT: the leader did not finish within timeout_ms. */
int catalog_flight_join(catalog_flight_t *self, const char *key, int timeout_ms,
                        catalog_flight_call_t **call, int *status, char **body);

/* Publishes the leader's result (body is copied) and wakes the followers.
 * Later joins on the same key start a new flight. */
void catalog_flight_finish(catalog_flight_t *self, catalog_flight_call_t *call, int status,
                           const char *body);

/* Number of flights in progress (for tests). */
int catalog_flight_active(catalog_flight_t *self);

#endif
