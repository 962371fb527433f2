/* catalog_categories: the categories.* ops of API.md. Reads are cached
 * under the list generation (product_count changes with product writes,
 * which bump it). */
#include <stdio.h>
#include <string.h>

#include "catalog_app.h"
#include "catalog_input.h"
#include "catalog_sql.h"
#include "log.h"
#include "validate.h"

#define NOT_FOUND "Category not found"

void catalog_categories_list(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    catalog_cached_read(app, req, rep, "clist", "all", false, CATALOG_SQL_CATEGORY_LIST, 0, NULL,
                        NULL);
}

void catalog_categories_get(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    char id[37];
    if (!catalog_path_id(req, rep, NOT_FOUND, id))
        return;
    const char *values[] = {id};
    catalog_cached_read(app, req, rep, "category", id, false, CATALOG_SQL_CATEGORY_GET, 1, values,
                        NOT_FOUND);
}

void catalog_categories_create(void *arg, const svc_request_t *req, svc_reply_t *rep)
{
    catalog_app_t *app = arg;
    atomic_fetch_add(&app->requests, 1);
    json_t *errs = json_array();
    catalog_category_input_t in;
    if (catalog_category_input_parse(req->body, req->body_len, &in, errs) != 0) {
        svc_reply_errors(rep, errs);
        json_decref(errs);
        return;
    }
    const char *values[] = {in.name, in.description};
    catalog_sql_result_t res;
    int rc =
        catalog_sql_run(app->pool, req->rid, CATALOG_SQL_CATEGORY_CREATE, 2, values, false, &res);
    if (rc == CATALOG_SQL_OK) {
        catalog_cache_lists_changed(app->cache);
        svc_reply_raw(rep, 201, res.json);
        res.json = NULL;
    } else if (rc == CATALOG_SQL_CONSTRAINT && strcmp(res.constraint, "categories_name_key") == 0) {
        svc_reply_detail(rep, 409, "Category with this name already exists");
    } else if (rc == CATALOG_SQL_CONSTRAINT) {
        log_warn(req->rid, "unexpected constraint violation %s", res.constraint);
        svc_reply_detail(rep, 409, "Conflict");
    } else {
        catalog_reply_db_error(rep, rc);
    }
    catalog_sql_result_clear(&res);
    catalog_category_input_clear(&in);
    json_decref(errs);
}
