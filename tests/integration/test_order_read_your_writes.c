/* An order's stock change shows in the very next product read through the
 * cache, even when no event reaches catalog-svc: order-svc deletes the
 * touched product keys itself right after the commit, before it replies.
 * Events are cut off here by pointing the publishers at a dead port, so
 * only that direct invalidation can make the reads fresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "admin_auth.h"
#include "fixtures.h"
#include "harness.h"

static void test_read_after_order_and_cancel_without_events(void **state)
{
    (void)state;
    char pub[96];
    snprintf(pub, sizeof pub, "ECOM_EVENTS_PUB_ENDPOINTS=tcp://127.0.0.1:%d",
             harness_free_port());
    const char *const env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", pub, NULL};
    harness_opts_t opts = {.env = env};
    harness_t *h = harness_start(&opts);
    assert_non_null(h);

    char *cid = fixture_customer(h, "ryw@example.com", "Read Your Writes");
    char *pid = fixture_product(h, "RYW Widget", "25.00", 50);
    assert_non_null(cid);
    assert_non_null(pid);
    assert_int_equal(fixture_api_stock(h, pid), 50); /* fills the cache */
    assert_int_equal(fixture_api_stock(h, pid), 50); /* served from it */

    char body[256];
    snprintf(body, sizeof body,
             "{\"customer_id\": \"%s\", \"items\": [{\"product_id\": \"%s\", \"quantity\": 2}]}",
             cid, pid);
    json_t *order = NULL;
    assert_int_equal(http_json(h, "POST", "/api/v1/orders", body, &order), 201);
    assert_int_equal(fixture_api_stock(h, pid), 48);

    char path[160];
    snprintf(path, sizeof path, "/api/v1/orders/%s/status?status=cancelled",
             fixture_str(order, "id"));
    http_resp_t r;
    assert_int_equal(admin_request(h, "PATCH", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    assert_int_equal(fixture_api_stock(h, pid), 50);

    json_decref(order);
    free(cid);
    free(pid);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_after_order_and_cancel_without_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
