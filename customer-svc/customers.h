/* customers: the customer API of API.md (customers.list / .get / .create)
 * as worker-runtime handlers over one PostgreSQL pool.
 *
 * PostgreSQL builds every response body (json_build_object), so a handler
 * passes text through and the wire format lives in one place: the
 * statement table below. */
#ifndef SHOPMQ_CUSTOMERS_H
#define SHOPMQ_CUSTOMERS_H

#include <jansson.h>

#include "config.h"
#include "pgpool.h"
#include "worker.h"

typedef struct customers customers_t;

/* Prepared on every pool connection; pass to pgpool_new(). */
extern const pgpool_stmt_t customers_statements[];

/* customers.list, customers.get, customers.create; {NULL, NULL}-terminated.
 * Handlers expect a customers_t as their app pointer. */
extern const svc_route_t customers_routes[];

/* Borrows pool and cfg; both must outlive the instance. */
customers_t *customers_new(pgpool_t *pool, const config_t *cfg);
void customers_destroy(customers_t **self_p);

/* Heartbeat status: {"database": bool, "metrics": {requests, errors,
 * pool_size, pool_open, pool_in_use, pool_waiting, pool_timeouts}}.
 * Thread-safe. */
void customers_status(void *app, json_t *out);

#endif
