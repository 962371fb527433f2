/* What several integration tests set up the same way: the database of the
 * tests that need only PostgreSQL, data made through the public API, and
 * one-line SQL and JSON reads. Every helper asserts (cmocka) on failure. */
#ifndef SHOPMQ_FIXTURES_H
#define SHOPMQ_FIXTURES_H

#include <jansson.h>

#include "harness.h"

/* The PostgreSQL to test against: SHOPMQ_TEST_DATABASE_URL when set, else
 * one started by a harness running nothing else (*h_p: harness_stop it at
 * the end; stays NULL otherwise). Logs as `name` at TEST_LOG_LEVEL (default
 * "error"). NULL when the harness cannot start. */
const char *fixture_database(const char *name, harness_t **h_p);

/* harness_sql_long with a printf format: -1 when there is no value. */
long fixture_sql_long(harness_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* POSTs body to path with the admin token, asserts 201, returns the new
 * resource's "id" (malloc'd). */
char *fixture_post_id(harness_t *h, const char *path, const char *body);
/* A customer; its id (malloc'd). */
char *fixture_customer(harness_t *h, const char *email, const char *name);
/* A product with a SKU unique to this process; its id (malloc'd). price is
 * JSON number text ("10.00"). */
char *fixture_product(harness_t *h, const char *name, const char *price, int stock);

/* A product's stock as catalog-svc answers it (through its cache). */
long fixture_api_stock(harness_t *h, const char *product_id);

/* j[key] as a string; "" when j is NULL or the key is absent or not a string. */
const char *fixture_str(json_t *j, const char *key);

#endif
