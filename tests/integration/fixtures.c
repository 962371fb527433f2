/* Shared integration-test fixtures: see fixtures.h. */
#include "fixtures.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin_auth.h"
#include "log.h"

const char *fixture_database(const char *name, harness_t **h_p)
{
    const char *url = getenv("SHOPMQ_TEST_DATABASE_URL");
    *h_p = NULL;
    if (!url || !*url) {
        harness_opts_t opts = {.no_catalog = true,
                               .no_order = true,
                               .no_customer = true,
                               .no_redis = true,
                               .no_gateway = true};
        *h_p = harness_start(&opts);
        if (!*h_p)
            return NULL;
        url = harness_database_url(*h_p);
    }
    const char *level = getenv("TEST_LOG_LEVEL");
    log_init(name, level ? level : "error");
    return url;
}

long fixture_sql_long(harness_t *h, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return harness_sql_long(h, sql);
}

char *fixture_post_id(harness_t *h, const char *path, const char *body)
{
    json_t *j = NULL;
    assert_int_equal(admin_json(h, "POST", path, body, &j), 201);
    const char *id = json_string_value(json_object_get(j, "id"));
    assert_non_null(id);
    char *copy = strdup(id);
    json_decref(j);
    return copy;
}

char *fixture_customer(harness_t *h, const char *email, const char *name)
{
    json_t *o = json_pack("{s:s, s:s}", "email", email, "name", name);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *id = fixture_post_id(h, "/api/v1/customers", body);
    free(body);
    return id;
}

char *fixture_product(harness_t *h, const char *name, const char *price, int stock)
{
    static int n;
    char body[512];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"price\":%s,\"stock\":%d,\"sku\":\"FX-%d-%d\"}",
             name, price, stock, (int)getpid(), ++n);
    return fixture_post_id(h, "/api/v1/products", body);
}

long fixture_api_stock(harness_t *h, const char *product_id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/products/%s", product_id);
    json_t *j = NULL;
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    long stock = (long)json_integer_value(json_object_get(j, "stock"));
    json_decref(j);
    return stock;
}

const char *fixture_str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}
