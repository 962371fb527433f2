/* catalog_app: what every catalog-svc handler shares, and the route table.
 * One instance per process, built by main.c. */
#ifndef CATALOG_APP_H
#define CATALOG_APP_H

#include <jansson.h>
#include <stdatomic.h>

#include "catalog_cache.h"
#include "catalog_flight.h"
#include "config.h"
#include "pgpool.h"
#include "worker.h"

typedef struct {
    const config_t *cfg;
    pgpool_t *pool;
    catalog_cache_t *cache;
    catalog_flight_t *flight; /* NULL when the cache is disabled */
    atomic_long requests;
} catalog_app_t;

/* How long a follower waits for a leader's query before running its own. */
#define CATALOG_FLIGHT_WAIT_MS 2000

/* The ops of proto/shopmq_proto.h served by catalog-svc, {NULL, NULL}-ended. */
extern const svc_route_t catalog_routes[];

/* Heartbeat status: {"database", "cache", "cache_enabled", "metrics"}. */
void catalog_app_status(void *app, json_t *out);

/* Handlers (catalog_products.c, catalog_categories.c). */
void catalog_products_list(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_products_get(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_products_create(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_products_update(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_products_delete(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_categories_list(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_categories_get(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_categories_create(void *app, const svc_request_t *req, svc_reply_t *rep);
void catalog_app_cache_stats(void *app, const svc_request_t *req, svc_reply_t *rep);

/* Shared helpers for handlers. */
/* Maps a non-OK catalog_sql_run outcome to a reply (503/500). */
void catalog_reply_db_error(svc_reply_t *rep, int sql_rc);
/* The uuid path parameter, lower-cased into out. False, after a 404 with
 * detail not_found (no query is worth running), if absent or malformed. */
bool catalog_path_id(const svc_request_t *req, svc_reply_t *rep, const char *not_found,
                     char out[37]);

/* Runs a read; the status and malloc'd body of the reply it makes (200 with
 * the JSON; 404 with not_found when there is no row and not_found is set;
 * 503/500), and the row's version (0 without one; version may be NULL). */
void catalog_query_reply(catalog_app_t *app, const svc_request_t *req, const char *stmt,
                         int nparams, const char *const *values, const char *not_found, int *status,
                         char **body, long *version);
/* Replies with a catalog_query_reply (or single-flight) outcome; body is
 * taken over, NULL (out of memory) makes a 500. */
void catalog_reply_body(svc_reply_t *rep, int status, char *body);

/* Cached read of one JSON value through the generation-scoped cache and
 * single-flight: ns/suffix name the cache entry; stmt/values the query.
 * not_found: the detail of a 404 when the query returns no row. */
void catalog_cached_read(catalog_app_t *app, const svc_request_t *req, svc_reply_t *rep,
                         const char *ns, const char *suffix, bool counted, const char *stmt,
                         int nparams, const char *const *values, const char *not_found);

#endif
