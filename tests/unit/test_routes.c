/* The gateway's route table and URL parsing: what path reaches which op
 * with which parameters, what is 404 and what is 405, and how query strings
 * and %-escapes are decoded (bad ones kept literally, never trusted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwreq.h"
#include "jbuf.h"
#include "routes.h"

static char s_scratch[4 * GWREQ_MAX_URI + 64];

static route_match_t match(const char *method, const char *path)
{
    route_match_t m;
    route_match(method, path, strlen(path), &m, s_scratch, sizeof s_scratch);
    return m;
}

static void test_every_api_route_has_its_op(void **state)
{
    static const struct {
        const char *method, *path, *service, *op, *id;
    } cases[] = {
        {"GET", "/api/v1/products", "catalog", "products.list", NULL},
        {"POST", "/api/v1/products", "catalog", "products.create", NULL},
        {"GET", "/api/v1/products/p1", "catalog", "products.get", "p1"},
        {"PUT", "/api/v1/products/p1", "catalog", "products.update", "p1"},
        {"DELETE", "/api/v1/products/p1", "catalog", "products.delete", "p1"},
        {"GET", "/api/v1/categories", "catalog", "categories.list", NULL},
        {"POST", "/api/v1/categories", "catalog", "categories.create", NULL},
        {"GET", "/api/v1/categories/c1", "catalog", "categories.get", "c1"},
        {"GET", "/api/v1/cache/stats", "catalog", "cache.stats", NULL},
        {"GET", "/api/v1/customers", "customer", "customers.list", NULL},
        {"POST", "/api/v1/customers", "customer", "customers.create", NULL},
        {"GET", "/api/v1/customers/u1", "customer", "customers.get", "u1"},
        {"POST", "/api/v1/orders", "order", "orders.create", NULL},
        {"GET", "/api/v1/orders", "order", "orders.list", NULL},
        {"GET", "/api/v1/orders/o1", "order", "orders.get", "o1"},
        {"PATCH", "/api/v1/orders/o1/status", "order", "orders.status", "o1"},
        {"HEAD", "/api/v1/products/p1", "catalog", "products.get", "p1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        route_match_t m = match(cases[i].method, cases[i].path);
        assert_int_equal(m.status, 200);
        /* cache stats: the gateway sums every catalog instance's counters */
        assert_int_equal(m.route->kind, strcmp(cases[i].op, "cache.stats") == 0 ? ROUTE_CACHE_STATS
                                                                                : ROUTE_PROXY);
        assert_string_equal(m.route->service, cases[i].service);
        assert_string_equal(m.route->op, cases[i].op);
        assert_false(m.route->exempt);
        assert_ptr_equal(routes_at(m.index), m.route);
        if (cases[i].id) {
            assert_int_equal(m.nparams, 1);
            assert_int_equal(m.params[0].name_len, 2);
            assert_memory_equal(m.params[0].name, "id", 2);
            assert_string_equal(m.params[0].value, cases[i].id);
        } else {
            assert_int_equal(m.nparams, 0);
        }
    }
}

static void test_local_routes_are_exempt(void **state)
{
    static const struct {
        const char *path;
        route_kind_t kind;
    } cases[] = {{"/", ROUTE_ROOT},       {"/health", ROUTE_HEALTH},
                 {"/metrics", ROUTE_METRICS}, {"/docs", ROUTE_DOCS},
                 {"/docs/swagger-ui.css", ROUTE_DOCS_FILE}, {"/openapi.json", ROUTE_OPENAPI}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        route_match_t m = match("GET", cases[i].path);
        assert_int_equal(m.status, 200);
        assert_int_equal(m.route->kind, cases[i].kind);
        assert_true(m.route->exempt);
        assert_null(m.route->service);
    }
}

static void test_unknown_paths_are_404(void **state)
{
    const char *paths[] = {"/nope",
                           "/api/v1",
                           "/api/v1/product",
                           "/api/v1/products/p1/extra",
                           "/api/v1/orders/o1/status/x",
                           "/api/v1/products//",
                           "/api/v1//products",
                           "/api/v1/products//p1",
                           "/API/v1/products",
                           "api/v1/products",
                           "",
                           "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        route_match_t m = match("GET", paths[i]);
        assert_int_equal(m.status, 404);
        assert_null(m.route);
    }
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    route_match_t m = match("DELETE", "/api/v1/customers");
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, POST, HEAD");
    m = match("POST", "/api/v1/products/p1");
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, PUT, DELETE, HEAD");
    m = match("GET", "/api/v1/orders/o1/status");
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "PATCH");
    m = match("POST", "/health");
    assert_int_equal(m.status, 405);
    m = match("BREW", "/api/v1/orders");
    assert_int_equal(m.status, 405);
}

static void test_one_trailing_slash_is_ignored(void **state)
{
    route_match_t m = match("GET", "/api/v1/products/");
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route->op, "products.list");
    m = match("GET", "/api/v1/products/p1/");
    assert_int_equal(m.status, 200);
    assert_string_equal(m.params[0].value, "p1");
    m = match("GET", "/health/");
    assert_int_equal(m.status, 200);
    m = match("GET", "/");
    assert_int_equal(m.route->kind, ROUTE_ROOT);
}

static void test_ids_with_odd_characters(void **state)
{
    /* An encoded slash stays inside the id; escapes are decoded; NUL never
     * reaches a service as a NUL. Malformed ids are the service's 404. */
    route_match_t m = match("GET", "/api/v1/products/a%2Fb");
    assert_int_equal(m.status, 200);
    assert_string_equal(m.params[0].value, "a/b");
    m = match("GET", "/api/v1/products/%20x%zz%4");
    assert_string_equal(m.params[0].value, " x%zz%4");
    m = match("GET", "/api/v1/products/a+b");
    assert_string_equal(m.params[0].value, "a+b"); /* '+' is only a space in queries */
    m = match("GET", "/api/v1/products/a%00b");
    assert_string_equal(m.params[0].value, "a\xEF\xBF\xBD" "b");
    m = match("GET", "/api/v1/products/%C3%A9%FF'\"");
    assert_string_equal(m.params[0].value, "\xC3\xA9\xFF'\"");
    m = match("GET", "/api/v1/%70roducts"); /* decoded before comparing, like Starlette */
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route->op, "products.list");
}

static void test_long_paths(void **state)
{
    char *path = malloc(GWREQ_MAX_URI + 64);
    strcpy(path, "/api/v1/products/");
    size_t n = strlen(path);
    memset(path + n, 'x', 5000);
    path[n + 5000] = '\0';
    route_match_t m = match("GET", path);
    assert_int_equal(m.status, 200);
    assert_int_equal(strlen(m.params[0].value), 5000);

    /* Through gwreq: over 8 KiB is 414, and never touches the scratch. */
    gwreq_t req;
    memset(path + n, 'y', GWREQ_MAX_URI);
    path[n + GWREQ_MAX_URI] = '\0';
    assert_int_equal(gwreq_parse("GET", path, strlen(path), &req, s_scratch, sizeof s_scratch),
                     414);
    /* Scratch smaller than promised is refused, not overrun. */
    char small[16];
    assert_int_equal(gwreq_parse("GET", "/api/v1/products", 16, &req, small, sizeof small), 414);
    free(path);
}

static void test_url_decode(void **state)
{
    char out[64];
    assert_int_equal(url_decode("a%41b", 5, false, out, sizeof out), 3);
    assert_string_equal(out, "aAb");
    assert_int_equal(url_decode("%zz%4%", 6, false, out, sizeof out), 6);
    assert_string_equal(out, "%zz%4%");
    assert_int_equal(url_decode("a+b", 3, true, out, sizeof out), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(url_decode("%2b", 3, true, out, sizeof out), 1);
    assert_string_equal(out, "+");
    /* Too small: refused. */
    assert_int_equal(url_decode("abcdef", 6, false, out, 4), -1);
    assert_int_equal(url_decode("%00", 3, false, out, 3), -1);
    assert_int_equal(url_decode("%00", 3, false, out, 4), 3);
}

static void test_query_parsing(void **state)
{
    query_kv_t kv[8];
    char sc[256];
    const char *q = "page=2&search=red+shoe%21&x=1&x=2&&=skip&flag&empty=&bad=%zz%";
    int n = query_parse(q, strlen(q), kv, 8, sc, sizeof sc);
    assert_int_equal(n, 7);
    assert_string_equal(query_get(kv, n, "page"), "2");
    assert_string_equal(query_get(kv, n, "search"), "red shoe!");
    assert_string_equal(query_get(kv, n, "x"), "2"); /* last value wins */
    assert_string_equal(query_get(kv, n, "flag"), "");
    assert_string_equal(query_get(kv, n, "empty"), "");
    assert_string_equal(query_get(kv, n, "bad"), "%zz%");
    assert_null(query_get(kv, n, "missing"));
    /* More pairs than room: refused. */
    assert_int_equal(query_parse("a&b&c", 5, kv, 2, sc, sizeof sc), -1);
    /* Encoded '&' and '=' are data, not separators. */
    n = query_parse("k%3D=v%26w", 10, kv, 8, sc, sizeof sc);
    assert_int_equal(n, 1);
    assert_string_equal(kv[0].key, "k=");
    assert_string_equal(kv[0].val, "v&w");
}

static void test_meta_json_is_valid_and_complete(void **state)
{
    gwreq_t req;
    const char *uri = "/api/v1/orders/o%221/status?status=shipped&status=confirmed&n=%FF%00";
    assert_int_equal(gwreq_parse("PATCH", uri, strlen(uri), &req, s_scratch, sizeof s_scratch), 0);
    char out[4096];
    long len = gwreq_meta(&req, NULL, "PATCH", "10.0.0.1", "trace-1", "key\x01\xC0", out,
                          sizeof out);
    assert_true(len > 0);
    json_error_t err;
    json_t *m = json_loads(out, 0, &err);
    if (!m)
        fail_msg("meta is not JSON: %s: %s", err.text, out);
    assert_string_equal(json_string_value(json_object_get(m, "op")), "orders.status");
    assert_string_equal(json_string_value(json_object_get(m, "method")), "PATCH");
    assert_string_equal(json_string_value(json_object_get(m, "path")), "/api/v1/orders/o%221/status");
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "params"), "id")),
                        "o\"1");
    json_t *q = json_object_get(m, "query");
    assert_int_equal(json_object_size(q), 2);
    assert_string_equal(json_string_value(json_object_get(q, "status")), "confirmed");
    assert_string_equal(json_string_value(json_object_get(q, "n")), "\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(json_string_value(json_object_get(m, "ip")), "10.0.0.1");
    assert_string_equal(json_string_value(json_object_get(m, "trace")), "trace-1");
    assert_string_equal(json_string_value(json_object_get(m, "idem_key")), "key\x01\xEF\xBF\xBD");
    json_decref(m);

    /* No idempotency key: no field. Too small a buffer: -1, not an overrun. */
    assert_true(gwreq_meta(&req, "broker.status", "GET", "ip", "t", NULL, out, sizeof out) > 0);
    assert_null(strstr(out, "idem_key"));
    assert_non_null(strstr(out, "\"op\":\"broker.status\""));
    assert_int_equal(gwreq_meta(&req, NULL, "PATCH", "ip", "t", NULL, out, 20), -1);
}

static void test_request_errors(void **state)
{
    gwreq_t req;
    assert_int_equal(gwreq_parse("GET", "/x?a=1", 6, &req, s_scratch, sizeof s_scratch), 404);
    assert_string_equal(req.detail, "Not Found");
    assert_int_equal(gwreq_parse("PUT", "/api/v1/orders", 14, &req, s_scratch, sizeof s_scratch),
                     405);
    assert_string_equal(req.detail, "Method Not Allowed");
    char uri[1024] = "/api/v1/products?";
    for (int i = 0; i < GWREQ_MAX_QUERY + 1; i++)
        strcat(uri, "a=1&");
    assert_int_equal(gwreq_parse("GET", uri, strlen(uri), &req, s_scratch, sizeof s_scratch), 400);
}

static void test_trace_ids(void **state)
{
    assert_true(gwreq_trace_ok("abc-123_XYZ.:/"));
    assert_false(gwreq_trace_ok(""));
    assert_false(gwreq_trace_ok("has space"));
    assert_false(gwreq_trace_ok("quote\""));
    assert_false(gwreq_trace_ok("ctl\x01"));
    assert_false(gwreq_trace_ok("\xC3\xA9"));
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[199] = '\0';
    assert_false(gwreq_trace_ok(longid));
    longid[GWREQ_MAX_TRACE] = '\0';
    assert_true(gwreq_trace_ok(longid));

    uint64_t st = 42;
    char a[GWREQ_TRACE_LEN + 1], b[GWREQ_TRACE_LEN + 1];
    gwreq_trace_new(a, &st);
    gwreq_trace_new(b, &st);
    assert_int_equal(strlen(a), GWREQ_TRACE_LEN);
    assert_true(gwreq_trace_ok(a));
    assert_string_not_equal(a, b);
}

static void test_jbuf_escapes_and_overflows(void **state)
{
    char buf[64];
    jbuf_t jb;
    jbuf_init(&jb, buf, sizeof buf);
    jbuf_strn(&jb, "a\"\\\n\x7f\xF0\x9F\x98\x80\xED\xA0\x80", 12);
    assert_true(jbuf_ok(&jb));
    /* U+1F600 kept; the encoded surrogate (3 invalid bytes) becomes 3 x U+FFFD */
    assert_string_equal(buf, "\"a\\\"\\\\\\n\\u007f\xF0\x9F\x98\x80"
                             "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    jbuf_init(&jb, buf, 8);
    jbuf_str(&jb, "0123456789");
    assert_false(jbuf_ok(&jb));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_api_route_has_its_op),
        cmocka_unit_test(test_local_routes_are_exempt),
        cmocka_unit_test(test_unknown_paths_are_404),
        cmocka_unit_test(test_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_one_trailing_slash_is_ignored),
        cmocka_unit_test(test_ids_with_odd_characters),
        cmocka_unit_test(test_long_paths),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_query_parsing),
        cmocka_unit_test(test_meta_json_is_valid_and_complete),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_trace_ids),
        cmocka_unit_test(test_jbuf_escapes_and_overflows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
