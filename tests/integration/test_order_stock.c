/* Orders through the real stack (gateway, broker, catalog-, customer- and
 * order-svc, PostgreSQL, Redis): no overselling under concurrency, an order
 * that fails changes nothing, cancel restores stock exactly once, the
 * replaced system's flow read back through the product cache, the status
 * table, Idempotency-Key, and bad input. */
#include <pthread.h>
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
#include "fixtures.h"
#include "harness.h"

static harness_t *h;
static char customer_id[64];
static char customer_name[] = "Order Tester";

static const char *const test_env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", NULL};

/* ---- helpers ---------------------------------------------------------- */

static long product_stock_db(const char *id)
{
    return fixture_sql_long(h, "SELECT stock FROM products WHERE id = '%s'", id);
}

static char *order_body(const char *customer, int n, const char *const *products, const int *qty)
{
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(
            items, json_pack("{s:s, s:i}", "product_id", products[i], "quantity", qty[i]));
    json_t *o = json_pack("{s:s, s:o}", "customer_id", customer, "items", items);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int post_order(const char *body, const char *idem_key, json_t **json)
{
    char hdr[400];
    const char *headers[] = {hdr, NULL};
    if (idem_key)
        snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", idem_key);
    http_resp_t r;
    memset(&r, 0, sizeof r);
    int rc = http_request(h, "POST", "/api/v1/orders", body, idem_key ? headers : NULL, &r);
    int status = rc == 0 ? r.status : 0;
    if (json) {
        *json = r.json;
        r.json = NULL;
    }
    if (json && !*json && status)
        fail_msg("non-JSON reply %d: %s", status, r.body);
    http_resp_clear(&r);
    return status;
}

static int set_status(const char *order_id, const char *status, json_t **json)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/orders/%s/status?status=%s", order_id, status);
    return admin_json(h, "PATCH", path, NULL, json);
}

/* Everything an order touches, to prove that a failed one touched nothing. */
typedef struct {
    long orders, items, outbox, stock_sum, version_sum;
} snapshot_t;

static void snapshot(snapshot_t *s)
{
    s->orders = fixture_sql_long(h, "SELECT count(*) FROM orders");
    s->items = fixture_sql_long(h, "SELECT count(*) FROM order_items");
    s->outbox = fixture_sql_long(h, "SELECT count(*) FROM outbox");
    s->stock_sum = fixture_sql_long(h, "SELECT coalesce(sum(stock), 0) FROM products");
    s->version_sum = fixture_sql_long(h, "SELECT coalesce(sum(version), 0) FROM products");
}

static void assert_unchanged(const snapshot_t *before)
{
    snapshot_t now;
    snapshot(&now);
    assert_int_equal(now.orders, before->orders);
    assert_int_equal(now.items, before->items);
    assert_int_equal(now.outbox, before->outbox);
    assert_int_equal(now.stock_sum, before->stock_sum);
    assert_int_equal(now.version_sum, before->version_sum);
}

static int group_setup(void **state)
{
    harness_opts_t opts = {.env = test_env};
    h = harness_start(&opts);
    if (!h)
        return -1;
    char *id = fixture_customer(h, "orders@example.com", customer_name);
    snprintf(customer_id, sizeof customer_id, "%s", id);
    free(id);
    return 0;
}

static int group_teardown(void **state)
{
    harness_stop(&h);
    return 0;
}

/* ---- no overselling --------------------------------------------------- */

typedef struct {
    const char *body;
    int status;
    char detail[256];
} race_t;

static void *race_order(void *arg)
{
    race_t *r = arg;
    json_t *j = NULL;
    r->status = post_order(r->body, NULL, &j);
    snprintf(r->detail, sizeof r->detail, "%s", fixture_str(j, "detail"));
    json_decref(j);
    return NULL;
}

static void test_200_concurrent_orders_never_oversell(void **state)
{
    enum { N = 200 };
    char *pid = fixture_product(h, "Hot Item", "10.00", 50);
    const char *products[] = {pid};
    int qty[] = {1};
    char *body = order_body(customer_id, 1, products, qty);

    static race_t races[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        races[i] = (race_t){.body = body};
        assert_int_equal(pthread_create(&th[i], NULL, race_order, &races[i]), 0);
    }
    int created = 0, rejected = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (races[i].status == 201)
            created++;
        else if (races[i].status == 400) {
            rejected++;
            assert_non_null(strstr(races[i].detail, "Insufficient stock for Hot Item: "));
        } else
            fail_msg("unexpected status %d: %s", races[i].status, races[i].detail);
    }
    assert_int_equal(created, 50);
    assert_int_equal(rejected, 150);
    assert_int_equal(product_stock_db(pid), 0);
    assert_int_equal(
        fixture_sql_long(h, "SELECT sum(quantity) FROM order_items WHERE product_id = '%s'", pid),
        50);
    assert_int_equal(fixture_sql_long(h,
                                      "SELECT count(DISTINCT order_id) FROM order_items"
                                      " WHERE product_id = '%s'",
                                      pid),
                     50);
    /* The cache follows through the outbox events. */
    assert_int_equal(fixture_api_stock(h, pid), 0);
    free(body);
    free(pid);
}

/* ---- a failing order changes nothing ---------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_failed_line_rolls_back_whole_order(void **state)
{
    /* Lines are locked in product-id order: make the short one the last
     * locked so the first two were already decremented when it fails. */
    char *ids[3] = {fixture_product(h, "Roll A", "1.00", 10),
                    fixture_product(h, "Roll B", "2.00", 10),
                    fixture_product(h, "Roll C", "3.00", 10)};
    qsort(ids, 3, sizeof ids[0], cmp_str);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE products SET stock = 1 WHERE id = '%s'", ids[2]);
    assert_int_equal(harness_sql_exec(h, sql), 0);
    char *name = NULL;
    snprintf(sql, sizeof sql, "SELECT name FROM products WHERE id = '%s'", ids[2]);
    name = harness_sql_value(h, sql);

    const char *products[] = {ids[0], ids[1], ids[2]};
    int qty[] = {1, 2, 5};
    char *body = order_body(customer_id, 3, products, qty);
    snapshot_t before;
    snapshot(&before);
    json_t *j = NULL;
    assert_int_equal(post_order(body, NULL, &j), 400);
    char expect[256];
    snprintf(expect, sizeof expect, "Insufficient stock for %s: available=1, requested=5", name);
    assert_string_equal(fixture_str(j, "detail"), expect);
    json_decref(j);
    assert_unchanged(&before);
    assert_int_equal(product_stock_db(ids[0]), 10);
    assert_int_equal(product_stock_db(ids[1]), 10);
    assert_int_equal(product_stock_db(ids[2]), 1);

    /* Unknown customer and unknown / inactive product: 404, nothing changed. */
    char *b2 = order_body("00000000-0000-4000-8000-000000000000", 1, products, qty);
    assert_int_equal(post_order(b2, NULL, &j), 404);
    assert_string_equal(fixture_str(j, "detail"), "Customer not found");
    json_decref(j);
    free(b2);

    const char *ghost[] = {ids[0], "ffffffff-ffff-4fff-bfff-ffffffffffff"};
    int q2[] = {1, 1};
    b2 = order_body(customer_id, 2, ghost, q2);
    assert_int_equal(post_order(b2, NULL, &j), 404);
    assert_string_equal(fixture_str(j, "detail"),
                        "Product ffffffff-ffff-4fff-bfff-ffffffffffff not found");
    json_decref(j);
    free(b2);

    char path[128];
    snprintf(path, sizeof path, "/api/v1/products/%s", ids[1]);
    http_resp_t r;
    assert_int_equal(admin_request(h, "DELETE", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    snapshot(&before);
    const char *inactive[] = {ids[1]};
    b2 = order_body(customer_id, 1, inactive, q2);
    assert_int_equal(post_order(b2, NULL, &j), 404);
    snprintf(expect, sizeof expect, "Product %s not found", ids[1]);
    assert_string_equal(fixture_str(j, "detail"), expect);
    json_decref(j);
    free(b2);
    assert_unchanged(&before);

    free(name);
    free(body);
    for (int i = 0; i < 3; i++)
        free(ids[i]);
}

/* ---- the replaced system's flow, read through the cache --------------- */

static void test_order_and_cancel_flow_through_cache(void **state)
{
    char *pid = fixture_product(h, "Flow Widget", "25.00", 50);
    assert_int_equal(fixture_api_stock(h, pid), 50); /* now cached */
    assert_int_equal(fixture_api_stock(h, pid), 50);

    const char *products[] = {pid};
    int qty[] = {2};
    char *body = order_body(customer_id, 1, products, qty);
    json_t *o = NULL;
    assert_int_equal(post_order(body, NULL, &o), 201);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "pending");
    assert_string_equal(json_string_value(json_object_get(o, "customer_id")), customer_id);
    assert_string_equal(json_string_value(json_object_get(o, "customer_name")), customer_name);
    assert_true(json_number_value(json_object_get(o, "total")) == 50.0);
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(it, "product_id")), pid);
    assert_string_equal(json_string_value(json_object_get(it, "product_name")), "Flow Widget");
    assert_int_equal(json_integer_value(json_object_get(it, "quantity")), 2);
    assert_true(json_number_value(json_object_get(it, "unit_price")) == 25.0);
    assert_non_null(json_string_value(json_object_get(it, "id")));
    assert_non_null(json_string_value(json_object_get(o, "created_at")));
    assert_non_null(json_string_value(json_object_get(o, "updated_at")));
    char *order_id = strdup(json_string_value(json_object_get(o, "id")));
    json_decref(o);

    /* Right after the order, through catalog's cache. */
    assert_int_equal(fixture_api_stock(h, pid), 48);
    assert_int_equal(
        fixture_sql_long(h, "SELECT total * 100 FROM orders WHERE id = '%s'", order_id), 5000);

    json_t *j = NULL;
    assert_int_equal(set_status(order_id, "cancelled", &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "cancelled");
    assert_string_equal(json_string_value(json_object_get(j, "id")), order_id);
    json_decref(j);
    assert_int_equal(fixture_api_stock(h, pid), 50);

    char path[128];
    snprintf(path, sizeof path, "/api/v1/orders/%s", order_id);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "cancelled");
    json_decref(j);

    free(order_id);
    free(body);
    free(pid);
}

/* ---- cancel restores exactly once ------------------------------------- */

typedef struct {
    const char *order_id;
    int status;
} cancel_t;

static void *race_cancel(void *arg)
{
    cancel_t *c = arg;
    c->status = set_status(c->order_id, "cancelled", NULL);
    return NULL;
}

static void test_parallel_cancels_restore_once(void **state)
{
    enum { N = 8 };
    char *pid = fixture_product(h, "Cancel Me", "3.50", 10);
    const char *products[] = {pid};
    int qty[] = {3};
    char *body = order_body(customer_id, 1, products, qty);
    for (int round = 0; round < 5; round++) {
        json_t *o = NULL;
        assert_int_equal(post_order(body, NULL, &o), 201);
        char *oid = strdup(json_string_value(json_object_get(o, "id")));
        json_decref(o);
        if (round % 2)
            assert_int_equal(set_status(oid, "confirmed", NULL), 200);
        assert_int_equal(product_stock_db(pid), 7);
        long outbox = fixture_sql_long(h, "SELECT count(*) FROM outbox");

        cancel_t c[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            c[i] = (cancel_t){.order_id = oid};
            pthread_create(&th[i], NULL, race_cancel, &c[i]);
        }
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(c[i].status, 200); /* the losers are no-ops */
        }
        assert_int_equal(product_stock_db(pid), 10);
        assert_int_equal(fixture_sql_long(h, "SELECT count(*) FROM outbox"), outbox + 1);
        free(oid);
    }
    assert_int_equal(fixture_api_stock(h, pid), 10);
    free(body);
    free(pid);
}

/* ---- the status table ------------------------------------------------- */

static void test_status_transitions(void **state)
{
    char *pid = fixture_product(h, "Status Thing", "1.25", 100);
    const char *products[] = {pid};
    int qty[] = {4};
    char *body = order_body(customer_id, 1, products, qty);
    json_t *o = NULL, *j = NULL;
    assert_int_equal(post_order(body, NULL, &o), 201);
    const char *oid = json_string_value(json_object_get(o, "id"));

    assert_int_equal(set_status(oid, "shipped", &j), 409);
    assert_string_equal(fixture_str(j, "detail"), "Cannot change status from pending to shipped");
    json_decref(j);
    assert_int_equal(set_status(oid, "bogus", &j), 400);
    assert_string_equal(fixture_str(j, "detail"),
                        "Invalid status. Must be one of: pending, confirmed, "
                        "shipped, delivered, cancelled");
    json_decref(j);
    assert_int_equal(set_status(oid, "pending", NULL), 200); /* same status: no-op */
    assert_int_equal(set_status(oid, "confirmed", NULL), 200);
    assert_int_equal(set_status(oid, "confirmed", NULL), 200);
    assert_int_equal(set_status(oid, "pending", &j), 409);
    assert_string_equal(fixture_str(j, "detail"), "Cannot change status from confirmed to pending");
    json_decref(j);
    assert_int_equal(set_status(oid, "shipped", NULL), 200);
    assert_int_equal(set_status(oid, "cancelled", &j), 409);
    assert_string_equal(fixture_str(j, "detail"), "Cannot change status from shipped to cancelled");
    json_decref(j);
    assert_int_equal(set_status(oid, "delivered", NULL), 200);
    assert_int_equal(product_stock_db(pid), 96); /* no restore without a cancel */

    assert_int_equal(set_status("00000000-0000-4000-8000-000000000000", "confirmed", &j), 404);
    assert_string_equal(fixture_str(j, "detail"), "Order not found");
    json_decref(j);
    assert_int_equal(set_status("not-a-uuid", "confirmed", &j), 404);
    json_decref(j);
    assert_int_equal(admin_json(h, "PATCH", "/api/v1/orders/x/status", NULL, &j), 422);
    json_decref(j);

    /* A cancel whose restore cannot fit the stock column (restocked to near
     * INT32_MAX meanwhile) is refused as a conflict, not a 500, and nothing
     * changes. */
    json_t *o2 = NULL;
    assert_int_equal(post_order(body, NULL, &o2), 201);
    const char *oid2 = json_string_value(json_object_get(o2, "id"));
    assert_int_equal(fixture_sql_long(h, "UPDATE products SET stock = 2147483647 - 1"
                                         " WHERE id = '%s' RETURNING stock", pid),
                     2147483646);
    assert_int_equal(set_status(oid2, "cancelled", &j), 409);
    assert_non_null(strstr(fixture_str(j, "detail"), "Cannot cancel"));
    json_decref(j);
    assert_int_equal(product_stock_db(pid), 2147483646);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/orders/%s", oid2);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_string_equal(fixture_str(j, "status"), "pending");
    json_decref(j);
    json_decref(o2);

    json_decref(o);
    free(body);
    free(pid);
}

/* ---- Idempotency-Key -------------------------------------------------- */

typedef struct {
    const char *body, *key;
    int status;
    char id[64];
} idem_t;

static void *race_idem(void *arg)
{
    idem_t *r = arg;
    json_t *j = NULL;
    r->status = post_order(r->body, r->key, &j);
    const char *id = json_string_value(json_object_get(j, "id"));
    snprintf(r->id, sizeof r->id, "%s", id ? id : "");
    json_decref(j);
    return NULL;
}

static void test_idempotency_key(void **state)
{
    char *pid = fixture_product(h, "Idem Item", "7.00", 1000);
    const char *products[] = {pid};
    int qty[] = {2}, qty3[] = {3};
    char *body = order_body(customer_id, 1, products, qty);
    char *other = order_body(customer_id, 1, products, qty3);

    long orders = fixture_sql_long(h, "SELECT count(*) FROM orders");
    http_resp_t a, b;
    const char *hdr[] = {"Idempotency-Key: key-one", NULL};
    assert_int_equal(http_request(h, "POST", "/api/v1/orders", body, hdr, &a), 0);
    assert_int_equal(http_request(h, "POST", "/api/v1/orders", body, hdr, &b), 0);
    assert_int_equal(a.status, 201);
    assert_int_equal(b.status, 201);
    assert_string_equal(a.body, b.body);
    http_resp_clear(&a);
    http_resp_clear(&b);
    assert_int_equal(fixture_sql_long(h, "SELECT count(*) FROM orders"), orders + 1);
    assert_int_equal(product_stock_db(pid), 998);

    json_t *j = NULL;
    assert_int_equal(post_order(other, "key-one", &j), 422);
    json_decref(j);
    char longkey[300];
    memset(longkey, 'k', 256);
    longkey[256] = '\0';
    assert_int_equal(post_order(body, longkey, &j), 422);
    json_decref(j);
    longkey[255] = '\0';
    assert_int_equal(post_order(body, longkey, &j), 201);
    json_decref(j);

    /* A stored failure is replayed too. */
    const char *big[] = {pid};
    int huge[] = {999999};
    char *toomuch = order_body(customer_id, 1, big, huge);
    assert_int_equal(post_order(toomuch, "key-fail", &j), 400);
    json_decref(j);
    assert_int_equal(post_order(toomuch, "key-fail", &j), 400);
    json_decref(j);
    free(toomuch);

    /* Concurrent requests with one key create one order. */
    enum { N = 20 };
    idem_t r[N];
    pthread_t th[N];
    orders = fixture_sql_long(h, "SELECT count(*) FROM orders");
    for (int i = 0; i < N; i++) {
        r[i] = (idem_t){.body = body, .key = "key-concurrent"};
        pthread_create(&th[i], NULL, race_idem, &r[i]);
    }
    const char *winner = NULL;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_true(r[i].status == 201 || r[i].status == 409);
        if (r[i].status == 201) {
            if (winner)
                assert_string_equal(r[i].id, winner);
            winner = r[i].id;
        }
    }
    assert_non_null(winner);
    assert_int_equal(fixture_sql_long(h, "SELECT count(*) FROM orders"), orders + 1);
    assert_int_equal(post_order(body, "key-concurrent", &j), 201);
    assert_string_equal(json_string_value(json_object_get(j, "id")), winner);
    json_decref(j);

    free(body);
    free(other);
    free(pid);
}

/* ---- reads and bad input ---------------------------------------------- */

static void test_list_get_and_bad_input(void **state)
{
    char *cust = fixture_customer(h, "lister@example.com", "Lister");
    char *pid = fixture_product(h, "List Item", "0.99", 100);
    const char *products[] = {pid};
    int qty[] = {1};
    char *body = order_body(cust, 1, products, qty);
    char ids[3][64];
    for (int i = 0; i < 3; i++) {
        json_t *o = NULL;
        assert_int_equal(post_order(body, NULL, &o), 201);
        snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(o, "id")));
        json_decref(o);
    }
    assert_int_equal(set_status(ids[0], "confirmed", NULL), 200);

    char path[256];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/api/v1/orders?customer_id=%s&page_size=2", cust);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "page")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "page_size")), 2);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    /* newest first */
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), ids[2]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "id")), ids[1]);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/orders?customer_id=%s&page_size=2&page=2", cust);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), ids[0]);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/orders?customer_id=%s&status=confirmed", cust);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);

    const char *bad_lists[] = {"/api/v1/orders?status=lost", "/api/v1/orders?page=0",
                               "/api/v1/orders?page_size=101", "/api/v1/orders?customer_id=x",
                               NULL};
    for (int i = 0; bad_lists[i]; i++) {
        assert_int_equal(http_json(h, "GET", bad_lists[i], NULL, &j), 422);
        assert_true(json_is_array(json_object_get(j, "detail")));
        json_decref(j);
    }

    snprintf(path, sizeof path, "/api/v1/orders/%s", ids[1]);
    assert_int_equal(http_json(h, "GET", path, NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "customer_name")), "Lister");
    json_decref(j);
    assert_int_equal(
        http_json(h, "GET", "/api/v1/orders/00000000-0000-4000-8000-000000000000", NULL, &j), 404);
    assert_string_equal(fixture_str(j, "detail"), "Order not found");
    json_decref(j);
    assert_int_equal(http_json(h, "GET", "/api/v1/orders/123", NULL, &j), 404);
    json_decref(j);

    snapshot_t before;
    snapshot(&before);
    char big[600];
    snprintf(big, sizeof big,
             "{\"customer_id\":\"%s\",\"items\":[{\"product_id\":\"%s\",\"quantity\":1000000}]}",
             cust, pid);
    const char *bad_bodies[] = {
        "",
        "nope",
        "[]",
        "{}",
        "{\"customer_id\":\"x\",\"items\":[]}",
        "{\"customer_id\":null,\"items\":[{\"product_id\":\"x\",\"quantity\":1}]}",
        NULL};
    for (int i = 0; bad_bodies[i]; i++) {
        assert_int_equal(post_order(bad_bodies[i], NULL, &j), 422);
        json_decref(j);
    }
    char *zero = NULL;
    int q0[] = {0};
    zero = order_body(cust, 1, products, q0);
    assert_int_equal(post_order(zero, NULL, &j), 422);
    json_decref(j);
    free(zero);
    assert_int_equal(post_order(big, NULL, &j), 400);
    json_decref(j);
    assert_unchanged(&before);

    free(body);
    free(pid);
    free(cust);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_concurrent_orders_never_oversell),
        cmocka_unit_test(test_failed_line_rolls_back_whole_order),
        cmocka_unit_test(test_order_and_cancel_flow_through_cache),
        cmocka_unit_test(test_parallel_cancels_restore_once),
        cmocka_unit_test(test_status_transitions),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_list_get_and_bad_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
