/* POST /api/v1/orders body validation: what is a 422, how lines merge, and
 * the text forms handed to the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order_request.h"

#define C1 "11111111-1111-1111-1111-111111111111"
#define PA "aaaaaaaa-0000-0000-0000-000000000001"
#define PB "bbbbbbbb-0000-0000-0000-000000000002"

static int parse(const char *body, order_request_t *req, json_t **errs)
{
    *errs = json_array();
    return order_request_parse(body, strlen(body), req, *errs);
}

/* The first error's loc as "a.b.0.c". */
static char *first_loc(json_t *errs)
{
    json_t *loc = json_object_get(json_array_get(errs, 0), "loc");
    static char buf[256];
    buf[0] = '\0';
    size_t i;
    json_t *part;
    json_array_foreach(loc, i, part)
    {
        char one[64];
        if (json_is_integer(part))
            snprintf(one, sizeof one, "%lld", (long long)json_integer_value(part));
        else
            snprintf(one, sizeof one, "%s", json_string_value(part));
        if (i)
            strcat(buf, ".");
        strcat(buf, one);
    }
    return buf;
}

static void expect_invalid(const char *body, const char *loc)
{
    order_request_t req;
    json_t *errs;
    assert_int_equal(parse(body, &req, &errs), -1);
    assert_true(json_array_size(errs) >= 1);
    if (loc)
        assert_string_equal(first_loc(errs), loc);
    assert_null(req.lines);
    json_decref(errs);
}

static void test_lines_are_merged_and_sorted(void **state)
{
    (void)state;
    order_request_t req;
    json_t *errs;
    const char *body = "{\"customer_id\":\"" C1 "\",\"extra\":1,\"items\":["
                       "{\"product_id\":\"" PB "\",\"quantity\":2},"
                       "{\"product_id\":\"AAAAAAAA-0000-0000-0000-000000000001\",\"quantity\":1},"
                       "{\"product_id\":\"" PB "\",\"quantity\":3}]}";
    assert_int_equal(parse(body, &req, &errs), 0);
    assert_int_equal(json_array_size(errs), 0);
    assert_string_equal(req.customer_id, C1);
    assert_int_equal(req.nlines, 2);
    assert_string_equal(req.lines[0].product_id, PA);
    assert_int_equal(req.lines[0].quantity, 1);
    assert_string_equal(req.lines[1].product_id, PB);
    assert_int_equal(req.lines[1].quantity, 5);

    char *p = order_request_products_text(&req);
    char *q = order_request_quantities_text(&req);
    char *c = order_request_canonical(&req);
    assert_string_equal(p, "{" PA "," PB "}");
    assert_string_equal(q, "{1,5}");
    assert_string_equal(c, C1 "|" PA ":1," PB ":5");
    free(p);
    free(q);
    free(c);
    order_request_clear(&req);
    json_decref(errs);
}

static void test_same_order_same_canonical_text(void **state)
{
    (void)state;
    order_request_t a, b;
    json_t *ea, *eb;
    assert_int_equal(parse("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                           "\",\"quantity\":2}]}",
                           &a, &ea),
                     0);
    assert_int_equal(parse("{ \"items\" : [{\"quantity\":1,\"product_id\":\"" PA
                           "\"},{\"quantity\":1,\"product_id\":\"" PA "\"}],"
                           "\"customer_id\":\"" C1 "\"}",
                           &b, &eb),
                     0);
    char *ca = order_request_canonical(&a), *cb = order_request_canonical(&b);
    assert_string_equal(ca, cb);
    free(ca);
    free(cb);
    order_request_clear(&a);
    order_request_clear(&b);
    json_decref(ea);
    json_decref(eb);
}

static void test_bad_bodies_are_422(void **state)
{
    (void)state;
    expect_invalid("", "body");
    expect_invalid("not json", "body");
    expect_invalid("[1,2]", "body");
    expect_invalid("{\"items\":[{\"product_id\":\"" PA "\",\"quantity\":1}]}", "body.customer_id");
    expect_invalid("{\"customer_id\":\"nope\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":1}]}",
                   "body.customer_id");
    expect_invalid("{\"customer_id\":\"" C1 "\"}", "body.items");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[]}", "body.items");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":{}}", "body.items");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[3]}", "body.items.0");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":1},{\"quantity\":1}]}",
                   "body.items.1.product_id");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":0}]}",
                   "body.items.0.quantity");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":-3}]}",
                   "body.items.0.quantity");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":\"2\"}]}",
                   "body.items.0.quantity");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":2.5}]}",
                   "body.items.0.quantity");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":1000001}]}",
                   "body.items.0.quantity");
    expect_invalid("{\"customer_id\":\"" C1 "\",\"items\":[{\"product_id\":\"" PA
                   "\",\"quantity\":true}]}",
                   "body.items.0.quantity");
}

static void test_every_bad_field_is_reported(void **state)
{
    (void)state;
    order_request_t req;
    json_t *errs;
    assert_int_equal(parse("{\"customer_id\":5,\"items\":[{\"product_id\":1,\"quantity\":0}]}",
                           &req, &errs),
                     -1);
    assert_int_equal(json_array_size(errs), 3);
    json_decref(errs);
}

static void test_line_count_is_capped(void **state)
{
    (void)state;
    size_t n = ORDER_MAX_LINES + 1;
    char *body = malloc(n * 80 + 128);
    size_t o = (size_t)sprintf(body, "{\"customer_id\":\"" C1 "\",\"items\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(body + o, "%s{\"product_id\":\"" PA "\",\"quantity\":1}",
                             i ? "," : "");
    strcpy(body + o, "]}");
    expect_invalid(body, "body.items");

    /* Exactly the cap is fine and merges to one line of 1000. */
    o = (size_t)sprintf(body, "{\"customer_id\":\"" C1 "\",\"items\":[");
    for (size_t i = 0; i < ORDER_MAX_LINES; i++)
        o += (size_t)sprintf(body + o, "%s{\"product_id\":\"" PA "\",\"quantity\":1}",
                             i ? "," : "");
    strcpy(body + o, "]}");
    order_request_t req;
    json_t *errs;
    assert_int_equal(parse(body, &req, &errs), 0);
    assert_int_equal(req.nlines, 1);
    assert_int_equal(req.lines[0].quantity, ORDER_MAX_LINES);
    order_request_clear(&req);
    json_decref(errs);
    free(body);
}

static void test_idempotency_key_length(void **state)
{
    (void)state;
    char key[300];
    json_t *errs = json_array();
    memset(key, 'k', 255);
    key[255] = '\0';
    assert_true(order_idem_key_valid(key, errs));
    key[255] = 'k';
    key[256] = '\0';
    assert_false(order_idem_key_valid(key, errs));
    assert_false(order_idem_key_valid("", errs));
    assert_false(order_idem_key_valid("bad\xff", errs));
    assert_int_equal(json_array_size(errs), 3);
    assert_string_equal(first_loc(errs), "header.Idempotency-Key");
    json_decref(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_are_merged_and_sorted),
        cmocka_unit_test(test_same_order_same_canonical_text),
        cmocka_unit_test(test_bad_bodies_are_422),
        cmocka_unit_test(test_every_bad_field_is_reported),
        cmocka_unit_test(test_line_count_is_capped),
        cmocka_unit_test(test_idempotency_key_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
