/* Read-your-writes for the catalog cache: right after an order's
 * transaction commits (create or cancel), order-svc deletes the cached
 * products it touched and bumps the list generation itself, before it
 * replies. The outbox event still goes out and catalog-svc still
 * refreshes the keys from it; this only closes the window in which the
 * client's next read could beat the event through the broker.
 * Best effort: with Redis down or slow, the event does the work. */
#ifndef SHOPMQ_ORDER_CACHE_H
#define SHOPMQ_ORDER_CACHE_H

#include "config.h"

typedef struct order_cache order_cache_t;

/* Never NULL on valid input; a disabled or misconfigured cache is a no-op. */
order_cache_t *order_cache_new(const config_t *cfg);
void order_cache_destroy(order_cache_t **self_p);

/* payload: the stock event's JSON, {"product_ids": ["uuid", ...]}.
 * Thread-safe (one Redis connection per calling thread). */
void order_cache_invalidate(order_cache_t *self, const char *payload);

#endif
