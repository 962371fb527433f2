/* catalog_query: the product list's query string is validated per API.md,
 * search terms match literally, and equal queries share one cache key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "catalog_query.h"
#include "catalog_sql.h"

static json_t *query(const char *text)
{
    json_error_t e;
    json_t *q = json_loads(text, 0, &e);
    assert_non_null(q);
    return q;
}

/* Parses and returns the number of errors. */
static int parse(const char *text, catalog_list_query_t *out)
{
    json_t *q = query(text), *errs = json_array();
    bool ok = catalog_list_query_parse(q, out, errs);
    int n = (int)json_array_size(errs);
    assert_true(ok == (n == 0));
    json_decref(q);
    json_decref(errs);
    return n;
}

static void defaults(void **state)
{
    catalog_list_query_t q;
    assert_int_equal(parse("{}", &q), 0);
    assert_int_equal(q.page, 1);
    assert_int_equal(q.page_size, 20);
    assert_false(q.has_category || q.has_min || q.has_max || q.has_search || q.in_stock);
}

static void out_of_range_is_rejected(void **state)
{
    catalog_list_query_t q;
    assert_int_equal(parse("{\"page\": \"0\"}", &q), 1);
    assert_int_equal(parse("{\"page_size\": \"101\"}", &q), 1);
    assert_int_equal(parse("{\"page_size\": \"0\"}", &q), 1);
    assert_int_equal(parse("{\"page\": \"x\"}", &q), 1);
    assert_int_equal(parse("{\"min_price\": \"abc\"}", &q), 1);
    assert_int_equal(parse("{\"max_price\": \"-1\"}", &q), 1);
    assert_int_equal(parse("{\"category_id\": \"nope\"}", &q), 1);
    assert_int_equal(parse("{\"in_stock\": \"maybe\"}", &q), 1);
    assert_int_equal(parse("{\"page\": \"0\", \"page_size\": \"101\"}", &q), 2);
    assert_int_equal(parse("{\"page_size\": \"100\", \"page\": \"3\"}", &q), 0);
    assert_int_equal(q.page_size, 100);
}

static void like_escape_makes_wildcards_literal(void **state)
{
    char out[64];
    assert_int_equal(catalog_like_escape("50%_off\\x", out, sizeof out), 12);
    assert_string_equal(out, "50\\%\\_off\\\\x");
    assert_int_equal(catalog_like_escape("abc", out, 3), -1); /* no room for NUL */
    catalog_list_query_t q;
    assert_int_equal(parse("{\"search\": \"100%\"}", &q), 0);
    assert_true(q.has_search);
    assert_string_equal(q.pattern, "%100\\%%");
    assert_int_equal(parse("{\"search\": \"\"}", &q), 0);
    assert_false(q.has_search); /* empty search is no filter */
}

static void params_follow_the_variant(void **state)
{
    catalog_list_query_t q;
    catalog_list_bufs_t b;
    const char *v[8];
    int variant;
    assert_int_equal(parse("{\"page\": \"3\", \"page_size\": \"10\"}", &q), 0);
    assert_int_equal(catalog_list_query_params(&q, &b, &variant, v), 3);
    assert_int_equal(variant, 0);
    assert_string_equal(v[0], "10");
    assert_string_equal(v[1], "20"); /* offset */
    assert_string_equal(v[2], "3");

    assert_int_equal(parse("{\"category_id\": \"5B1E0000-0000-4000-8000-0000000000AA\","
                           " \"max_price\": \"50\", \"search\": \"lamp\", \"in_stock\": \"true\"}",
                           &q),
                     0);
    assert_int_equal(catalog_list_query_params(&q, &b, &variant, v), 7);
    assert_int_equal(variant, CATALOG_LIST_CATEGORY | CATALOG_LIST_PRICE | CATALOG_LIST_SEARCH |
                                  CATALOG_LIST_IN_STOCK);
    assert_string_equal(v[3], "5b1e0000-0000-4000-8000-0000000000aa"); /* lower-cased */
    assert_null(v[4]);                                                 /* no min */
    assert_string_equal(v[5], "50");
    assert_string_equal(v[6], "%lamp%");
    assert_non_null(catalog_sql_list_name(variant));
}

static void equal_queries_share_a_key(void **state)
{
    catalog_list_query_t a, b;
    char ka[512], kb[512];
    assert_int_equal(
        parse("{\"page\": \"1\", \"category_id\": \"5b1e0000-0000-4000-8000-0000000000aa\"}", &a),
        0);
    assert_int_equal(
        parse(
            "{\"category_id\": \"5B1E0000-0000-4000-8000-0000000000AA\", \"in_stock\": \"false\"}",
            &b),
        0);
    assert_true(catalog_list_query_key(&a, ka, sizeof ka) > 0);
    assert_true(catalog_list_query_key(&b, kb, sizeof kb) > 0);
    assert_string_equal(ka, kb);
    assert_int_equal(parse("{\"page\": \"2\"}", &b), 0);
    catalog_list_query_key(&b, kb, sizeof kb);
    assert_string_not_equal(ka, kb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(out_of_range_is_rejected),
        cmocka_unit_test(like_escape_makes_wildcards_literal),
        cmocka_unit_test(params_follow_the_variant),
        cmocka_unit_test(equal_queries_share_a_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
