/* catalog_sql: every SQL statement catalog-svc runs, as a named statement
 * table for pgpool (prepared once per connection), plus the one helper that
 * runs a statement and classifies the outcome.
 *
 * Statements return the response JSON built by PostgreSQL (json_build_object,
 * json_agg) so numeric prices and timestamps are printed exactly once, by the
 * database, and passed through the cache and the service as text. */
#ifndef CATALOG_SQL_H
#define CATALOG_SQL_H

#include <stdbool.h>

#include "catalog_query.h"
#include "pgpool.h"

/* Product statements: columns (version int, product json). */
#define CATALOG_SQL_PRODUCT_GET "cat_product_get" /* $1 id */
#define CATALOG_SQL_PRODUCT_CREATE                                                                 \
    "cat_product_create" /* $1 name $2 descr $3 price $4 stock $5 sku $6 category */
#define CATALOG_SQL_PRODUCT_UPDATE "cat_product_update" /* see catalog_sql.c */
#define CATALOG_SQL_PRODUCT_DELETE "cat_product_delete" /* $1 id */
/* Category statements: one json column. */
#define CATALOG_SQL_CATEGORY_LIST "cat_category_list"
#define CATALOG_SQL_CATEGORY_GET "cat_category_get"       /* $1 id */
#define CATALOG_SQL_CATEGORY_CREATE "cat_category_create" /* $1 name $2 descr */

/* The product list has one statement per combination of filters: see the
 * CATALOG_LIST_* variant bits in catalog_query.h. */
/* Name of a list variant's statement: "cat_product_list_<n>". Parameters,
 * in order: $1 page_size, $2 offset, $3 page, then category (if the bit is
 * set), min price, max price (if PRICE), pattern (if SEARCH). One column:
 * {items, total, page, page_size, pages}. */
const char *catalog_sql_list_name(int variant);

/* The statement table (built once, lives for the process). */
const pgpool_stmt_t *catalog_sql_statements(void);

/* Outcome of catalog_sql_run. */
enum catalog_sql_rc {
    CATALOG_SQL_OK = 0,      /* a row: json (and version when two columns) */
    CATALOG_SQL_EMPTY,       /* no row */
    CATALOG_SQL_CONSTRAINT,  /* integrity violation: sqlstate + constraint set */
    CATALOG_SQL_UNAVAILABLE, /* no connection (pool timeout, server down) */
    CATALOG_SQL_ERROR        /* anything else (logged here) */
};

typedef struct {
    char *json;   /* malloc'd, last column of the first row */
    long version; /* first column when the result has two columns */
    char sqlstate[6];
    char constraint[64];
} catalog_sql_result_t;

/* Runs a prepared statement; retries once on a broken connection (only
 * when retry_safe: reads, or writes that cannot have committed). */
int catalog_sql_run(pgpool_t *pool, const char *rid, const char *stmt, int nparams,
                    const char *const *values, bool retry_safe, catalog_sql_result_t *out);
void catalog_sql_result_clear(catalog_sql_result_t *res);

#endif
