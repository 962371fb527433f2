/* The products and categories API of API.md through the real gateway,
 * broker and catalog-svc against real PostgreSQL and Redis: success paths,
 * the cache (second read is a hit, a write is seen by the next read), soft
 * delete, the sample-data seed, and every bad input (a JSON 4xx, never a
 * 500, nothing written). */
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
#include "harness.h"

static harness_t *h;
static const char *const test_env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", NULL};
static char cat_id[64];    /* "Gadgets" */
static char other_cat[64]; /* "Garden" */

#define NIL_UUID "00000000-0000-4000-8000-000000000000"

static int post(const char *path, const char *body, json_t **json)
{
    return admin_json(h, "POST", path, body, json);
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Creates a product; returns its id (static buffer per call site copy). */
static void create_product(const char *name, const char *price, int stock, const char *sku,
                           const char *cat, char id_out[64])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\": \"%s\", \"price\": %s, \"stock\": %d, \"sku\": \"%s\"%s%s%s}", name, price,
             stock, sku, cat ? ", \"category_id\": \"" : "", cat ? cat : "", cat ? "\"" : "");
    json_t *j = NULL;
    assert_int_equal(post("/api/v1/products", body, &j), 201);
    snprintf(id_out, 64, "%s", str(j, "id"));
    json_decref(j);
}

static void cache_counters(long *hits, long *misses)
{
    json_t *j = NULL;
    assert_int_equal(http_json(h, "GET", "/api/v1/cache/stats", NULL, &j), 200);
    assert_true(json_is_true(json_object_get(j, "available")));
    *hits = (long)json_integer_value(json_object_get(j, "hits"));
    *misses = (long)json_integer_value(json_object_get(j, "misses"));
    assert_non_null(json_object_get(j, "hit_rate"));
    json_decref(j);
}

/* The gateway sums every catalog instance's counters from their heartbeats,
 * so a read shows up within a heartbeat or two: read until two looks more
 * than a heartbeat apart (ECOM_HEARTBEAT_MS, 500 ms) agree. */
static void cache_counters_settled(long *hits, long *misses)
{
    cache_counters(hits, misses);
    for (int i = 0; i < 20; i++) {
        usleep(600 * 1000 * harness_time_scale()); /* > one heartbeat */
        long h2, m2;
        cache_counters(&h2, &m2);
        if (h2 == *hits && m2 == *misses)
            return;
        *hits = h2;
        *misses = m2;
    }
    fail_msg("cache counters still moving after 12 s");
}

/* List-page cache hits from /metrics: the catalog instances' own (summed)
 * plus the gateways' (one shared counter that every instance reports, so
 * the largest reading). */
static long list_hits(void)
{
    http_resp_t r;
    assert_int_equal(http_request(h, "GET", "/metrics", NULL, NULL, &r), 0);
    long sum = 0, gw = 0;
    const char *names[] = {"shopmq_service_list_cache_hits{",
                           "shopmq_service_gateway_list_cache_hits{"};
    for (int i = 0; i < 2; i++)
        for (const char *p = strstr(r.body, names[i]); p; p = strstr(p + 1, names[i])) {
            const char *sp = strchr(p, ' ');
            if (sp && (!strchr(p, '\n') || sp < strchr(p, '\n'))) {
                long v = atol(sp + 1);
                if (i == 0)
                    sum += v;
                else if (v > gw)
                    gw = v;
            }
        }
    http_resp_clear(&r);
    return sum + gw;
}

static void list_counters_settled(long *hits)
{
    *hits = list_hits();
    for (int i = 0; i < 20; i++) {
        usleep(600 * 1000 * harness_time_scale()); /* > one heartbeat */
        long h2 = list_hits();
        if (h2 == *hits)
            return;
        *hits = h2;
    }
    fail_msg("list cache counters still moving after 12 s");
}

static int group_setup(void **state)
{
    harness_opts_t opts = {.no_order = true, .env = test_env};
    h = harness_start(&opts);
    if (!h)
        return -1;
    json_t *j = NULL;
    if (post("/api/v1/categories", "{\"name\": \"Gadgets\", \"description\": \"Things\"}", &j) !=
        201)
        return -1;
    snprintf(cat_id, sizeof cat_id, "%s", str(j, "id"));
    json_decref(j);
    if (post("/api/v1/categories", "{\"name\": \"Garden\"}", &j) != 201)
        return -1;
    snprintf(other_cat, sizeof other_cat, "%s", str(j, "id"));
    json_decref(j);
    return 0;
}

static int group_teardown(void **state)
{
    harness_stop(&h);
    return 0;
}

static void create_and_read_back(void **state)
{
    json_t *j = NULL;
    const char *body = "{\"name\": \"Lamp 3000\", \"price\": 29.99, \"stock\": 5, \"sku\": "
                       "\"API-1\", \"description\": \"bright\", \"category_id\": \"%s\"}";
    char buf[512];
    snprintf(buf, sizeof buf, body, cat_id);
    assert_int_equal(post("/api/v1/products", buf, &j), 201);
    assert_string_equal(str(j, "name"), "Lamp 3000");
    assert_string_equal(str(j, "category_name"), "Gadgets");
    assert_true(json_is_true(json_object_get(j, "is_active")));
    assert_int_equal(json_integer_value(json_object_get(j, "stock")), 5);
    char id[64], path[128];
    snprintf(id, sizeof id, "%s", str(j, "id"));
    json_decref(j);

    /* the price is exact on the wire */
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    http_resp_t r;
    assert_int_equal(http_request(h, "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "29.99"));
    assert_non_null(strstr(r.body, "\"description\" : \"bright\"") ? r.body
                                                                   : strstr(r.body, "bright"));
    http_resp_clear(&r);

    /* defaults: description "", stock 0, no category */
    assert_int_equal(
        post("/api/v1/products", "{\"name\": \"Bare\", \"price\": 1, \"sku\": \"API-2\"}", &j),
        201);
    assert_string_equal(str(j, "description"), "");
    assert_int_equal(json_integer_value(json_object_get(j, "stock")), 0);
    assert_true(json_is_null(json_object_get(j, "category_id")));
    assert_true(json_is_null(json_object_get(j, "category_name")));
    json_decref(j);
}

static void second_read_is_a_cache_hit(void **state)
{
    char id[64], path[128];
    create_product("Hit Me", "10.00", 3, "HIT-1", cat_id, id);
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    long h0, h1, m1, h2, m2;
    json_t *a = NULL, *b = NULL;
    assert_int_equal(http_json(h, "GET", path, NULL, &a), 200);
    cache_counters_settled(&h1, &m1);
    assert_int_equal(http_json(h, "GET", path, NULL, &b), 200);
    cache_counters_settled(&h2, &m2);
    assert_int_equal(h2 - h1, 1); /* the second read is a hit */
    assert_int_equal(m2 - m1, 0);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);

    /* list pages are cached too (counted apart from product reads) */
    list_counters_settled(&h0);
    assert_int_equal(http_json(h, "GET", "/api/v1/products?page_size=7&search=hit", NULL, &a), 200);
    assert_int_equal(http_json(h, "GET", "/api/v1/products?search=hit&page_size=7", NULL, &b), 200);
    list_counters_settled(&h1);
    assert_true(h1 - h0 >= 1);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void put_then_get_returns_new_price(void **state)
{
    char id[64], path[128];
    create_product("Pricey", "50.00", 9, "PUT-1", cat_id, id);
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    json_t *j = NULL;
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200); /* cached */
    json_decref(j);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    json_decref(j);
    http_resp_t r;
    assert_int_equal(admin_request(h, "PUT", path, "{\"price\": 42.5}", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    assert_int_equal(http_request(h, "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "42.50"));
    http_resp_clear(&r);
    assert_int_equal(harness_sql_long(h, "SELECT version FROM products WHERE sku = 'PUT-1'"), 2);

    /* partial update of every field; other fields stay */
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"name\": \"Renamed\", \"description\": \"d\", \"stock\": 0, \"category_id\": \"%s\","
        " \"is_active\": true}",
        other_cat);
    assert_int_equal(admin_json(h, "PUT", path, body, &j), 200);
    assert_string_equal(str(j, "name"), "Renamed");
    assert_string_equal(str(j, "category_name"), "Garden");
    assert_int_equal(json_integer_value(json_object_get(j, "stock")), 0);
    assert_string_equal(str(j, "sku"), "PUT-1");
    json_decref(j);
    /* category_id null clears it */
    assert_int_equal(admin_json(h, "PUT", path, "{\"category_id\": null}", &j), 200);
    assert_true(json_is_null(json_object_get(j, "category_id")));
    json_decref(j);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_true(json_is_null(json_object_get(j, "category_name")));
    assert_string_equal(str(j, "name"), "Renamed");
    json_decref(j);
}

static bool list_contains(const char *query, const char *id)
{
    json_t *j = NULL;
    char path[512];
    snprintf(path, sizeof path, "/api/v1/products?page_size=100%s", query);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    bool found = false;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(j, "items"), i, it) if (strcmp(str(it, "id"), id) == 0)
        found = true;
    json_decref(j);
    return found;
}

static void delete_hides_from_list_but_detail_shows_inactive(void **state)
{
    char id[64], path[128];
    create_product("Doomed", "5.00", 1, "DEL-1", cat_id, id);
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    assert_true(list_contains("", id)); /* list cached with it */
    http_resp_t r;
    assert_int_equal(admin_request(h, "DELETE", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    http_resp_clear(&r);
    assert_false(list_contains("", id));
    json_t *j = NULL;
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_true(json_is_false(json_object_get(j, "is_active")));
    json_decref(j);
    assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM products WHERE sku = 'DEL-1'"), 1);
    /* unknown and malformed ids */
    assert_int_equal(admin_json(h, "DELETE", "/api/v1/products/" NIL_UUID, NULL, &j), 404);
    assert_string_equal(str(j, "detail"), "Product not found");
    json_decref(j);
    assert_int_equal(admin_json(h, "DELETE", "/api/v1/products/not-a-uuid", NULL, &j), 404);
    json_decref(j);
}

static void list_filters_paging_and_order(void **state)
{
    /* a category of its own so counts are exact */
    json_t *j = NULL;
    assert_int_equal(post("/api/v1/categories", "{\"name\": \"Filters\"}", &j), 201);
    char fc[64];
    snprintf(fc, sizeof fc, "%s", str(j, "id"));
    json_decref(j);
    char id[64];
    create_product("Zeta 100% Wool", "10.00", 0, "F-1", fc, id);
    create_product("Alpha_Widget", "20.00", 5, "F-2", fc, id);
    create_product("beta widget", "30.00", 5, "F-3", fc, id);
    create_product("Gamma Widget", "40.00", 5, "F-4", fc, id);

    char path[512];
    snprintf(path, sizeof path, "/api/v1/products?category_id=%s", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "pages")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "page_size")), 20);
    json_t *items = json_object_get(j, "items");
    assert_string_equal(str(json_array_get(items, 0), "name"), "Alpha_Widget"); /* by name */
    assert_string_equal(str(json_array_get(items, 3), "name"), "beta widget");  /* C collation */
    json_decref(j);

    snprintf(path, sizeof path, "/api/v1/products?category_id=%s&min_price=20&max_price=30", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);

    snprintf(path, sizeof path, "/api/v1/products?category_id=%s&in_stock=true", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_decref(j);

    /* search: case-insensitive; % and _ match literally */
    snprintf(path, sizeof path, "/api/v1/products?category_id=%s&search=WIDGET", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/products?category_id=%s&search=a_w", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/products?category_id=%s&search=0%%25", fc); /* "0%" */
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);

    /* paging: page 2 of size 3, and a page beyond the end */
    snprintf(path, sizeof path, "/api/v1/products?category_id=%s&page=2&page_size=3", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "pages")), 2);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/products?category_id=%s&page=50", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "page")), 50);
    json_decref(j);
    /* empty result: pages 0 */
    assert_int_equal(http_json(h, "GET", "/api/v1/products?search=nothing-matches-this", NULL, &j),
                     200);
    assert_int_equal(json_integer_value(json_object_get(j, "pages")), 0);
    json_decref(j);

    /* categories: product_count counts active products */
    snprintf(path, sizeof path, "/api/v1/categories/%s", fc);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "product_count")), 4);
    json_decref(j);
    assert_int_equal(http_json(h, "GET", "/api/v1/categories", NULL, &j), 200);
    assert_true(json_is_array(j));
    const char *prev = "";
    size_t i;
    json_t *c;
    json_array_foreach(j, i, c)
    {
        assert_true(strcmp(prev, str(c, "name")) <= 0);
        prev = str(c, "name");
        if (strcmp(str(c, "id"), fc) == 0)
            assert_int_equal(json_integer_value(json_object_get(c, "product_count")), 4);
    }
    json_decref(j);
}

/* Expects a 422 whose first error has this loc. */
static void expect_422(const char *method, const char *path, const char *body, const char *where,
                       const char *field)
{
    json_t *j = NULL;
    int st = admin_json(h, method, path, body, &j);
    if (st != 422)
        fprintf(stderr, "%s %s %s -> %d\n", method, path, body ? body : "", st);
    assert_int_equal(st, 422);
    json_t *e = json_array_get(json_object_get(j, "detail"), 0);
    json_t *loc = json_object_get(e, "loc");
    assert_string_equal(json_string_value(json_array_get(loc, 0)), where);
    if (field)
        assert_string_equal(json_string_value(json_array_get(loc, 1)), field);
    json_decref(j);
}

static void every_bad_input_is_a_4xx(void **state)
{
    long before = harness_sql_long(h, "SELECT count(*) FROM products");
    const char *P = "/api/v1/products";
    expect_422("POST", P, "{\"name\": \"x\", \"price\": 0, \"sku\": \"B-1\"}", "body", "price");
    expect_422("POST", P, "{\"name\": \"x\", \"price\": -1, \"sku\": \"B-1\"}", "body", "price");
    expect_422("POST", P, "{\"name\": \"x\", \"price\": 1.234, \"sku\": \"B-1\"}", "body", "price");
    expect_422("POST", P, "{\"name\": \"x\", \"price\": \"1\", \"sku\": \"B-1\"}", "body", "price");
    expect_422("POST", P, "{\"name\": \"x\", \"price\": 1, \"stock\": -1, \"sku\": \"B-1\"}",
               "body", "stock");
    expect_422("POST", P, "{\"name\": \"x\", \"price\": 1, \"stock\": 1.5, \"sku\": \"B-1\"}",
               "body", "stock");
    expect_422("POST", P, "{\"price\": 1, \"sku\": \"B-1\"}", "body", "name");
    expect_422("POST", P, "{\"name\": \"x\", \"sku\": \"B-1\"}", "body", "price");
    expect_422("POST", P, "{\"name\": \"x\", \"price\": 1}", "body", "sku");
    char longname[260];
    memset(longname, 'n', 201);
    longname[201] = '\0';
    char body[600];
    snprintf(body, sizeof body, "{\"name\": \"%s\", \"price\": 1, \"sku\": \"B-1\"}", longname);
    expect_422("POST", P, body, "body", "name");
    longname[51] = '\0';
    snprintf(body, sizeof body, "{\"name\": \"x\", \"price\": 1, \"sku\": \"%s\"}", longname);
    expect_422("POST", P, body, "body", "sku");
    expect_422("POST", P,
               "{\"name\": \"x\", \"price\": 1, \"sku\": \"B-1\", \"category_id\": \"nope\"}",
               "body", "category_id");
    /* unknown category: 422 on category_id */
    expect_422("POST", P,
               "{\"name\": \"x\", \"price\": 1, \"sku\": \"B-1\", \"category_id\": \"" NIL_UUID
               "\"}",
               "body", "category_id");
    expect_422("POST", P, "[1, 2]", "body", NULL);
    expect_422("POST", P, "{not json", "body", NULL);
    expect_422("POST", P, "", "body", NULL);
    /* duplicate sku: 409 */
    char id[64];
    create_product("Original", "1.00", 1, "DUP-1", NULL, id);
    json_t *j = NULL;
    assert_int_equal(post(P, "{\"name\": \"Copy\", \"price\": 2, \"sku\": \"DUP-1\"}", &j), 409);
    assert_string_equal(str(j, "detail"), "Product with this SKU already exists");
    json_decref(j);
    assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM products"), before + 1);

    /* update */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    expect_422("PUT", path, "{\"price\": 0}", "body", "price");
    expect_422("PUT", path, "{\"stock\": -5}", "body", "stock");
    expect_422("PUT", path, "{\"name\": \"\"}", "body", "name");
    expect_422("PUT", path, "{\"is_active\": \"yes\"}", "body", "is_active");
    expect_422("PUT", path, "{\"category_id\": \"" NIL_UUID "\"}", "body", "category_id");
    expect_422("PUT", path, "\"str\"", "body", NULL);
    assert_int_equal(admin_json(h, "PUT", "/api/v1/products/" NIL_UUID, "{\"price\": 1}", &j), 404);
    json_decref(j);
    assert_int_equal(admin_json(h, "PUT", "/api/v1/products/123", "{\"price\": 1}", &j), 404);
    json_decref(j);
    assert_int_equal(harness_sql_long(h, "SELECT version FROM products WHERE sku = 'DUP-1'"), 1);

    /* list query */
    expect_422("GET", "/api/v1/products?page=0", NULL, "query", "page");
    expect_422("GET", "/api/v1/products?page=-1", NULL, "query", "page");
    expect_422("GET", "/api/v1/products?page_size=101", NULL, "query", "page_size");
    expect_422("GET", "/api/v1/products?page_size=0", NULL, "query", "page_size");
    expect_422("GET", "/api/v1/products?min_price=abc", NULL, "query", "min_price");
    expect_422("GET", "/api/v1/products?max_price=-3", NULL, "query", "max_price");
    expect_422("GET", "/api/v1/products?category_id=xyz", NULL, "query", "category_id");
    expect_422("GET", "/api/v1/products?in_stock=maybe", NULL, "query", "in_stock");

    /* detail */
    assert_int_equal(http_json(h, "GET", "/api/v1/products/" NIL_UUID, NULL, &j), 404);
    assert_string_equal(str(j, "detail"), "Product not found");
    json_decref(j);
    assert_int_equal(http_json(h, "GET", "/api/v1/products/" NIL_UUID, NULL, &j),
                     404); /* negative-cached */
    json_decref(j);
    assert_int_equal(http_json(h, "GET", "/api/v1/products/abc'%3B--", NULL, &j), 404);
    json_decref(j);

    /* categories */
    expect_422("POST", "/api/v1/categories", "{}", "body", "name");
    expect_422("POST", "/api/v1/categories", "{\"name\": \"\"}", "body", "name");
    memset(longname, 'c', 101);
    longname[101] = '\0';
    snprintf(body, sizeof body, "{\"name\": \"%s\"}", longname);
    expect_422("POST", "/api/v1/categories", body, "body", "name");
    assert_int_equal(post("/api/v1/categories", "{\"name\": \"Gadgets\"}", &j), 409);
    assert_string_equal(str(j, "detail"), "Category with this name already exists");
    json_decref(j);
    assert_int_equal(http_json(h, "GET", "/api/v1/categories/" NIL_UUID, NULL, &j), 404);
    assert_string_equal(str(j, "detail"), "Category not found");
    json_decref(j);
    assert_int_equal(http_json(h, "GET", "/api/v1/categories/bad-id", NULL, &j), 404);
    json_decref(j);
}

static void seed_scripts_load_sample_data(void **state)
{
    /* the seed only fills empty tables: run it on a copy of the schema */
    assert_int_equal(
        harness_sql_exec(h,
                         "CREATE SCHEMA seedtest; "
                         "CREATE TABLE seedtest.categories (LIKE public.categories INCLUDING ALL); "
                         "CREATE TABLE seedtest.products (LIKE public.products INCLUDING ALL); "
                         "CREATE TABLE seedtest.customers (LIKE public.customers INCLUDING ALL)"),
        0);
    char path[1024];
    snprintf(path, sizeof path, "%s/scripts/seed.sql", SHOPMQ_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char sql[64 * 1024];
    size_t n = fread(sql, 1, sizeof sql - 1, f);
    fclose(f);
    sql[n] = '\0';
    /* BEGIN/COMMIT/ANALYZE statements run fine in one simple-query string */
    static char wrapped[70 * 1024];
    snprintf(wrapped, sizeof wrapped, "SET search_path = seedtest; %s", sql);
    assert_int_equal(harness_sql_exec(h, wrapped), 0);
    assert_int_equal(harness_sql_exec(h, wrapped), 0); /* second run adds nothing */
    assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM seedtest.categories"), 6);
    assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM seedtest.products"), 48);
    assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM seedtest.customers"), 10);
    assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM seedtest.products WHERE price < "
                                         "9.99 OR price > 299.99 OR stock < 10 OR stock > 500"),
                     0);
    assert_int_equal(
        harness_sql_long(h, "SELECT count(*) FROM seedtest.products WHERE sku = 'SKU-01000'"), 1);
    assert_int_equal(
        harness_sql_long(
            h, "SELECT count(*) FROM seedtest.customers WHERE email = 'alice@example.com'"),
        1);
    assert_int_equal(harness_sql_exec(h, "DROP SCHEMA seedtest CASCADE"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_and_read_back),
        cmocka_unit_test(second_read_is_a_cache_hit),
        cmocka_unit_test(put_then_get_returns_new_price),
        cmocka_unit_test(delete_hides_from_list_but_detail_shows_inactive),
        cmocka_unit_test(list_filters_paging_and_order),
        cmocka_unit_test(every_bad_input_is_a_4xx),
        cmocka_unit_test(seed_scripts_load_sample_data),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
