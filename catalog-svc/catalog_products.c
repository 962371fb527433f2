/* catalog_products: the products.* ops of API.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_keys.h"
#include "catalog_app.h"
#include "catalog_input.h"
#include "catalog_query.h"
#include "catalog_sql.h"
#include "log.h"
#include "validate.h"

#define NOT_FOUND "Product not found"

/* ---- reads ---- */

/* Detail through product:{id}: version-guarded fills, negative caching of
 * 404s, single-flight on misses. */
static void product_read(catalog_app_t *app, const svc_request_t *req, svc_reply_t *rep,
                         const char *id)
{
    char *json = NULL;
    uint64_t pgen = 0;
    catalog_cache_rc_t crc = catalog_cache_product_get(app->cache, id, &json, &pgen);
    if (crc == CATALOG_CACHE_HIT) {
        svc_reply_raw(rep, 200, json);
        return;
    }
    if (crc == CATALOG_CACHE_NEGATIVE) {
        svc_reply_detail(rep, 404, NOT_FOUND);
        return;
    }
    int status = 0;
    char *body = NULL;
    catalog_flight_call_t *call = NULL;
    int role = CATALOG_FLIGHT_TIMEOUT;
    if (app->flight) {
        char key[128];
        snprintf(key, sizeof key, "product:%llu:%llu:%s",
                 (unsigned long long)catalog_cache_epoch(app->cache), (unsigned long long)pgen, id);
        role = catalog_flight_join(app->flight, key, CATALOG_FLIGHT_WAIT_MS, &call, &status, &body);
    }
    if (role != CATALOG_FLIGHT_SHARED) {
        const char *values[] = {id};
        long version;
        catalog_query_reply(app, req, CATALOG_SQL_PRODUCT_GET, 1, values, NOT_FOUND, &status, &body,
                            &version);
        if (crc == CATALOG_CACHE_MISS && (status == 200 || status == 404))
            catalog_cache_product_put(app->cache, id, pgen, version, status == 200 ? body : NULL);
        if (role == CATALOG_FLIGHT_LEADER)
            catalog_flight_finish(app->flight, call, status, body);
    }
    catalog_reply_body(rep, status, body);
}

void catalog_products_get(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    char id[37];
    if (!catalog_path_id(req, rep, NOT_FOUND, id))
        return;
    product_read(app, req, rep, id);
}

void catalog_products_list(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    json_t *errs = json_array();
    catalog_list_query_t *q = malloc(sizeof *q);
    if (!errs || !q) {
        json_decref(errs);
        free(q);
        svc_reply_detail(rep, 500, "Internal server error");
        return;
    }
    if (!catalog_list_query_parse(req->query, q, errs)) {
        svc_reply_errors(rep, errs);
    } else {
        catalog_list_bufs_t bufs;
        const char *values[8];
        int variant;
        int n = catalog_list_query_params(q, &bufs, &variant, values);
        char key[2048];
        if (catalog_list_query_key(q, key, sizeof key) < 0)
            key[0] = '\0';
        catalog_cached_read(app, req, rep, CACHE_LIST_NS, key, true, catalog_sql_list_name(variant),
                            n, values, NULL);
    }
    json_decref(errs);
    free(q);
}

/* ---- writes ---- */

/* After a committed write: the new JSON goes to the cache at once (so the
 * next read, on any replica, sees it) and every list is invalidated. */
static void written(catalog_app_t *app, const catalog_sql_result_t *res)
{
    json_t *doc = json_loads(res->json, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (id)
        catalog_cache_product_written(app->cache, id, res->version, res->json);
    else
        catalog_cache_invalidate_all(app->cache); /* cannot happen; be safe */
    json_decref(doc);
}

/* Maps a constraint violation of a product write to API.md's answers. */
static void product_constraint_reply(svc_reply_t *rep, const catalog_sql_result_t *res)
{
    json_t *errs = json_array();
    if (strcmp(res->constraint, "products_sku_key") == 0) {
        svc_reply_detail(rep, 409, "Product with this SKU already exists");
    } else if (strcmp(res->constraint, "products_category_id_fkey") == 0) {
        v_error(errs, "body", "category_id", "Category not found", "value_error");
        svc_reply_errors(rep, errs);
    } else if (strcmp(res->constraint, "products_price_check") == 0) {
        v_error(errs, "body", "price", "must be greater than 0", "value_error");
        svc_reply_errors(rep, errs);
    } else if (strcmp(res->constraint, "products_stock_check") == 0) {
        v_error(errs, "body", "stock", "must be greater than or equal to 0", "value_error");
        svc_reply_errors(rep, errs);
    } else {
        log_warn(NULL, "unexpected constraint violation %s (%s)", res->constraint, res->sqlstate);
        svc_reply_detail(rep, 409, "Conflict");
    }
    json_decref(errs);
}

/* Runs a product write and answers it: ok_status with the product's new
 * JSON (204: no body), 404 when there is no such product, API.md's answers
 * to a constraint violation, 503/500 when the database failed. */
static void product_write(catalog_app_t *app, const svc_request_t *req, svc_reply_t *rep,
                          const char *stmt, int nparams, const char *const *values, int ok_status)
{
    catalog_sql_result_t res;
    int rc = catalog_sql_run(app->pool, req->rid, stmt, nparams, values, false, &res);
    if (rc == CATALOG_SQL_OK) {
        written(app, &res);
        if (ok_status == 204) {
            svc_reply_raw(rep, 204, NULL);
        } else {
            svc_reply_raw(rep, ok_status, res.json);
            res.json = NULL;
        }
    } else if (rc == CATALOG_SQL_EMPTY) {
        svc_reply_detail(rep, 404, NOT_FOUND);
    } else if (rc == CATALOG_SQL_CONSTRAINT) {
        product_constraint_reply(rep, &res);
    } else {
        catalog_reply_db_error(rep, rc);
    }
    catalog_sql_result_clear(&res);
}

void catalog_products_create(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    json_t *errs = json_array();
    catalog_product_input_t in;
    if (catalog_product_input_parse(req->body, req->body_len, false, &in, errs) != 0) {
        svc_reply_errors(rep, errs);
        json_decref(errs);
        return;
    }
    char stock_s[24];
    snprintf(stock_s, sizeof stock_s, "%lld", (long long)in.stock);
    const char *values[] = {in.name, in.description, in.price, stock_s, in.sku, in.category_id};
    product_write(app, req, rep, CATALOG_SQL_PRODUCT_CREATE, 6, values, 201);
    catalog_product_input_clear(&in);
    json_decref(errs);
}

void catalog_products_update(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    char id[37];
    if (!catalog_path_id(req, rep, NOT_FOUND, id))
        return;
    json_t *errs = json_array();
    catalog_product_input_t in;
    if (catalog_product_input_parse(req->body, req->body_len, true, &in, errs) != 0) {
        svc_reply_errors(rep, errs);
        json_decref(errs);
        return;
    }
    if (catalog_product_input_empty(&in)) {
        product_read(app, req, rep, id); /* nothing to change: no write, no version bump */
        goto done;
    }
    char stock_s[24];
    snprintf(stock_s, sizeof stock_s, "%lld", (long long)in.stock);
    const char *values[] = {id,
                            in.has_name ? in.name : NULL,
                            in.has_description ? in.description : NULL,
                            in.has_price ? in.price : NULL,
                            in.has_stock ? stock_s : NULL,
                            in.has_category ? "true" : "false",
                            in.has_category ? in.category_id : NULL,
                            in.has_active ? (in.is_active ? "true" : "false") : NULL};
    product_write(app, req, rep, CATALOG_SQL_PRODUCT_UPDATE, 8, values, 200);
done:
    catalog_product_input_clear(&in);
    json_decref(errs);
}

void catalog_products_delete(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    char id[37];
    if (!catalog_path_id(req, rep, NOT_FOUND, id))
        return;
    const char *values[] = {id};
    product_write(app, req, rep, CATALOG_SQL_PRODUCT_DELETE, 1, values, 204); /* soft delete */
}
