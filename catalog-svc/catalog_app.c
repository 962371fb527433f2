/* catalog_app: route table, heartbeat status, cache stats, and the cached
 * read path shared by lists and categories. */
#include "catalog_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_query.h"
#include "catalog_sql.h"
#include "log.h"
#include "service.h"
#include "shopmq_proto.h"
#include "validate.h"

const svc_route_t catalog_routes[] = {
    {"products.list", catalog_products_list},     {"products.get", catalog_products_get},
    {"products.create", catalog_products_create}, {"products.update", catalog_products_update},
    {"products.delete", catalog_products_delete}, {"categories.list", catalog_categories_list},
    {"categories.get", catalog_categories_get},   {"categories.create", catalog_categories_create},
    {"cache.stats", catalog_app_cache_stats},     {NULL, NULL},
};

void catalog_app_status(void *arg, json_t *out)
{
    catalog_app_t *app = arg;
    long hits, misses, gw_hits, gw_list_hits;
    catalog_cache_counters(app->cache, &hits, &misses);
    /* A round trip from this thread (at most one try a second when Redis is
     * down) so /health follows Redis even when no request touches the
     * cache; it reads the gateways' hit count on the way. */
    bool up = catalog_cache_probe_gateway_hits(app->cache, &gw_hits, &gw_list_hits);
    json_object_set_new(out, "cache", json_boolean(up));
    json_object_set_new(out, "cache_enabled", json_boolean(catalog_cache_enabled(app->cache)));
    json_t *m = json_object();
    json_object_set_new(m, "cache_hits", json_integer(hits));
    /* Shared counters: every replica reports the same figures. */
    json_object_set_new(m, "gateway_cache_hits", json_integer(gw_hits));
    json_object_set_new(m, "gateway_list_cache_hits", json_integer(gw_list_hits));
    json_object_set_new(m, "cache_misses", json_integer(misses));
    catalog_cache_list_counters(app->cache, &hits, &misses);
    json_object_set_new(m, "list_cache_hits", json_integer(hits));
    json_object_set_new(m, "list_cache_misses", json_integer(misses));
    json_object_set_new(m, "requests", json_integer(atomic_load(&app->requests)));
    json_object_set_new(out, "metrics", m);
    service_db_status(app->pool, out);
}

void catalog_app_cache_stats(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    long hits, misses, gw_hits, gw_list_hits;
    catalog_cache_counters(app->cache, &hits, &misses);
    bool up = catalog_cache_probe_gateway_hits(app->cache, &gw_hits, &gw_list_hits);
    hits += gw_hits;
    double rate = hits + misses > 0 ? (double)hits / (double)(hits + misses) : 0.0;
    char *body;
    if (asprintf(&body, "{\"available\": %s, \"hits\": %ld, \"misses\": %ld, \"hit_rate\": %.4f}",
                 up ? "true" : "false", hits, misses, rate) < 0) {
        svc_reply_detail(rep, 500, "Internal server error");
        return;
    }
    svc_reply_raw(rep, 200, body);
}

void catalog_reply_db_error(svc_reply_t *rep, int sql_rc)
{
    if (sql_rc == CATALOG_SQL_UNAVAILABLE)
        svc_reply_detail(rep, 503, "Database unavailable");
    else
        svc_reply_detail(rep, 500, "Internal server error");
}

bool catalog_path_id(const svc_request_t *req, svc_reply_t *rep, const char *not_found,
                     char out[37])
{
    json_t *id = json_object_get(req->params, "id");
    if (json_is_string(id) && catalog_uuid_normalize(json_string_value(id), out))
        return true;
    svc_reply_detail(rep, 404, not_found);
    return false;
}

void catalog_query_reply(catalog_app_t *app, const svc_request_t *req, const char *stmt,
                         int nparams, const char *const *values, const char *not_found, int *status,
                         char **body, long *version)
{
    catalog_sql_result_t res;
    int rc = catalog_sql_run(app->pool, req->rid, stmt, nparams, values, true, &res);
    if (version)
        *version = res.version;
    if (rc == CATALOG_SQL_OK) {
        *status = 200;
        *body = res.json;
        res.json = NULL;
    } else if (rc == CATALOG_SQL_EMPTY && not_found) {
        *status = 404;
        *body = v_detail_body(not_found);
    } else if (rc == CATALOG_SQL_UNAVAILABLE) {
        *status = 503;
        *body = v_detail_body("Database unavailable");
    } else {
        *status = 500;
        *body = v_detail_body("Internal server error");
    }
    catalog_sql_result_clear(&res);
}

void catalog_reply_body(svc_reply_t *rep, int status, char *body)
{
    if (!body) {
        svc_reply_detail(rep, 500, "Internal server error");
        return;
    }
    svc_reply_raw(rep, status, body);
}

void catalog_cached_read(catalog_app_t *app, const svc_request_t *req, svc_reply_t *rep,
                         const char *ns, const char *suffix, bool counted, const char *stmt,
                         int nparams, const char *const *values, const char *not_found)
{
    char *json = NULL;
    uint64_t gen = 0;
    catalog_cache_rc_t crc = catalog_cache_gen_get(app->cache, ns, suffix, counted, &json, &gen);
    if (crc == CATALOG_CACHE_HIT) {
        svc_reply_raw(rep, 200, json);
        return;
    }
    int status = 0;
    char *body = NULL;
    catalog_flight_call_t *call = NULL;
    char *key = NULL;
    int role = CATALOG_FLIGHT_TIMEOUT;
    if (app->flight &&
        asprintf(&key, "%s:%llu:%llu:%s", ns, (unsigned long long)catalog_cache_epoch(app->cache),
                 (unsigned long long)gen, suffix) >= 0)
        role = catalog_flight_join(app->flight, key, CATALOG_FLIGHT_WAIT_MS, &call, &status, &body);
    else
        key = NULL;
    free(key);
    if (role != CATALOG_FLIGHT_SHARED) {
        catalog_query_reply(app, req, stmt, nparams, values, not_found, &status, &body, NULL);
        if (status == 200 && crc == CATALOG_CACHE_MISS)
            catalog_cache_gen_put(app->cache, ns, gen, suffix, body);
        if (role == CATALOG_FLIGHT_LEADER)
            catalog_flight_finish(app->flight, call, status, body);
    }
    catalog_reply_body(rep, status, body);
}
