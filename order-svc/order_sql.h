/* Every SQL statement order-svc runs, in one place. The handlers' statements
 * are prepared on each pool connection by name; the heavy lifting lives in
 * the plpgsql functions of sql/002_order_functions.sql so that each request
 * is a single round trip. */
#ifndef ORDER_SQL_H
#define ORDER_SQL_H

#include "pgpool.h"

/* Statement names of the pool's table. The writes return
 * (code, body, outbox id, event payload); the last two are NULL when no
 * outbox row was written. */
#define ORDER_SQL_PLACE "order_place"           /* $1 customer, $2 uuid[], $3 int[] */
#define ORDER_SQL_PLACE_IDEM "order_place_idem" /* $1 key, $2 request, $3..$5 as above */
#define ORDER_SQL_GET "order_get"               /* $1 id -> order JSON or NULL */
#define ORDER_SQL_SET_STATUS "order_set_status" /* $1 id, $2 status -> code, body */
/* Lists: $1 limit, $2 offset, $3 page, then the filters in name order. */
#define ORDER_SQL_LIST "order_list"
#define ORDER_SQL_LIST_CUSTOMER "order_list_customer"               /* $4 customer */
#define ORDER_SQL_LIST_STATUS "order_list_status"                   /* $4 status */
#define ORDER_SQL_LIST_CUSTOMER_STATUS "order_list_customer_status" /* $4 customer, $5 status */

extern const pgpool_stmt_t order_statements[];

/* Outbox relay (its own connection, plain PQexec/PQexecParams). */
/* Claims up to 500 unsent rows and marks them sent, inside the caller's
 * transaction: a crash before COMMIT leaves them unsent (at-least-once). */
extern const char order_sql_outbox_claim[];
extern const char order_sql_outbox_pending[];
/* Periodic sweep: sent outbox rows after an hour, idempotency keys after 24 h. */
extern const char order_sql_sweep[];

#endif
