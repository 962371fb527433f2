/* order-svc's request handlers: orders.create, orders.list, orders.get,
 * orders.status. The app object holds the counters reported in the worker
 * heartbeat. */
#ifndef ORDERS_H
#define ORDERS_H

#include <jansson.h>

#include "config.h"
#include "outbox_relay.h"
#include "pgpool.h"
#include "worker.h"

typedef struct orders orders_t;

/* pool: built over order_statements (order_sql.h). relay may be NULL
 * (tests); every outbox row a request commits is handed to it before the
 * reply. Both borrowed: the caller destroys them after the app. */
orders_t *orders_new(pgpool_t *pool, const config_t *cfg, outbox_relay_t *relay);
void orders_destroy(orders_t **self_p);

/* Route table for worker_run; handlers take the orders_t as app. */
extern const svc_route_t orders_routes[];

/* Heartbeat status: {"database": bool, "metrics": {...}}. Thread-safe. */
void orders_status(void *app, json_t *out);

#endif
