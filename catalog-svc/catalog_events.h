/* catalog_events: the event consumer (DESIGN §6). A thread with a SUB
 * socket connected to every cfg->events_sub_endpoints, subscribed to
 * stock.changed, product.changed, category.changed and heartbeat.
 *
 * In-order stock/product events delete the named product keys and bump
 * the list generation; after a stock event (an order) the products, at most
 * 16, are then read again on the thread's own pool connection and stored,
 * so best sellers stay cache hits. Category events bump the list
 * generation. A
 * sequence gap, a publisher restart (seq going backwards), a publisher
 * seen for the first time, or one silent for three heartbeat intervals
 * means events may have been missed: everything is invalidated. */
#ifndef CATALOG_EVENTS_H
#define CATALOG_EVENTS_H

#include "catalog_cache.h"
#include "config.h"

typedef struct catalog_events catalog_events_t;

/* Starts the thread; it runs until catalog_events_destroy (or worker_stop). */
catalog_events_t *catalog_events_new(const config_t *cfg, catalog_cache_t *cache);
void catalog_events_destroy(catalog_events_t **self_p);

/* Applies one decoded event's payload (exposed for tests): collects the
 * product ids of {"product_ids": [..]} / {"product_id": ".."} / {"id": ".."}.
 * Returns the number of ids written to ids (at most max), -1 if the payload
 * is not a JSON object. Each ids[i] is malloc'd. */
int catalog_events_product_ids(const char *payload, char **ids, int max);

#endif
