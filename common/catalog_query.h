/* catalog_query: the product list's query string, validated (API.md:
 * page >= 1, page_size 1..100, category_id, min_price, max_price, search,
 * in_stock), turned into statement parameters and into a normalized cache
 * key (two requests asking for the same page share one key). Shared:
 * catalog-svc runs the query, and the gateway looks the same key up in the
 * cache (gateway/gwcache.h), so both must build it the same way. */
#ifndef CATALOG_QUERY_H
#define CATALOG_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CATALOG_SEARCH_MAX 200 /* characters; names are at most 200 */

/* The product list has one statement per combination of filters (so a
 * generic plan never has to cover "filter or not" branches, and each plan
 * can pick its index). Bits of the variant number
 * (catalog_sql.h names the statements): */
enum {
    CATALOG_LIST_CATEGORY = 1, /* category_id = $ */
    CATALOG_LIST_PRICE = 2,    /* price BETWEEN COALESCE($min,0) AND COALESCE($max,...) */
    CATALOG_LIST_SEARCH = 4,   /* name ILIKE $pattern */
    CATALOG_LIST_IN_STOCK = 8, /* stock > 0 */
    CATALOG_LIST_VARIANTS = 16
};

typedef struct {
    int64_t page, page_size;
    bool has_category;
    char category_id[37]; /* lower case */
    bool has_min, has_max;
    char min_price[32], max_price[32];
    bool has_search;
    char search[CATALOG_SEARCH_MAX * 4 + 1];  /* as given */
    char pattern[CATALOG_SEARCH_MAX * 8 + 3]; /* ILIKE pattern: %escaped% */
    bool in_stock;
} catalog_list_query_t;

/* Fills q from the query object; false (errors appended, loc "query") if
 * any parameter is invalid. An empty search= is no filter. */
bool catalog_list_query_parse(json_t *query, catalog_list_query_t *q, json_t *errs);

/* Statement variant (CATALOG_LIST_* bits) and its parameters; values
 * point into q and bufs (which must outlive the call). Returns nparams. */
typedef struct {
    char page_size[24], offset[24], page[24];
} catalog_list_bufs_t;
int catalog_list_query_params(const catalog_list_query_t *q, catalog_list_bufs_t *bufs,
                              int *variant, const char *values[8]);

/* Normalized cache key, e.g. "p=2&ps=20&c=<uuid>&min=10&max=&s=lamp&st=1". */
int catalog_list_query_key(const catalog_list_query_t *q, char *out, size_t cap);

/* Escapes \, % and _ so term matches literally inside ILIKE (escape
 * character: backslash, PostgreSQL's default). Returns the length written,
 * or -1 when out is too small. */
int catalog_like_escape(const char *term, char *out, size_t cap);

/* Lower-cases a canonical UUID into out[37]. false if s is not a UUID. */
bool catalog_uuid_normalize(const char *s, char out[37]);

#endif
