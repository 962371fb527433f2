/* ECOM_ADMIN_TOKEN through the real stack: catalog writes and order status
 * changes answer 401 without "Authorization: Bearer <token>" and 403 with a
 * wrong one, and change nothing; with the token they work; browsing,
 * customers and placing orders stay open; every 401/403 counts against the
 * rate limit (so the token cannot be brute-forced faster than the limit);
 * the gateway's own answers carry the security headers and no server
 * banner. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "raw_http.h"

#define TOKEN "s3cret-Admin-token_0123456789abcdef"
#define NIL_UUID "00000000-0000-4000-8000-000000000000"

static harness_t *h;
static char product_id[64];
static char order_id[64];
static char customer_id[64];

static const char *const test_env[] = {"ECOM_ADMIN_TOKEN=" TOKEN, "ECOM_REDIS_RATE_LIMIT_MAX=0",
                                       NULL};

static long sql_long(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long sql_long(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return harness_sql_long(h, sql);
}

/* Everything an unauthorised request could have changed, in one string. */
static char *db_state(void)
{
    return harness_sql_value(
        h, "SELECT (SELECT count(*) FROM products) || '/' || (SELECT count(*) FROM categories) || "
           "'/' || (SELECT count(*) FROM orders) || '/' || "
           "(SELECT coalesce(sum(stock), 0) FROM products) || '/' || "
           "(SELECT coalesce(sum(version), 0) FROM products) || '/' || "
           "(SELECT count(*) FROM products WHERE is_active) || '/' || "
           "(SELECT string_agg(status, ',' ORDER BY id) FROM orders)");
}

static int req(int port, const char *method, const char *path, const char *body,
               const char *auth, http_resp_t *r)
{
    char line[1024];
    const char *hdrs[2] = {NULL, NULL};
    if (auth) {
        snprintf(line, sizeof line, "Authorization: %s", auth);
        hdrs[0] = line;
    }
    int rc = http_request_port(port, method, path, body, body ? strlen(body) : 0, hdrs, r);
    assert_int_equal(rc, 0);
    return r->status;
}

static void assert_header(const http_resp_t *r, const char *name, const char *want)
{
    char *v = http_header(r, name);
    if (!v || strcmp(v, want) != 0)
        fprintf(stderr, "header %s: got '%s', want '%s'\n", name, v ? v : "(none)", want);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void assert_no_header(const http_resp_t *r, const char *name)
{
    char *v = http_header(r, name);
    if (v)
        fprintf(stderr, "unexpected header %s: %s\n", name, v);
    assert_null(v);
}

static void assert_detail(const http_resp_t *r, const char *detail)
{
    assert_non_null(r->json);
    json_t *d = json_object_get(r->json, "detail");
    assert_true(json_is_string(d));
    assert_string_equal(json_string_value(d), detail);
}

/* Headers every gateway answer carries; errors are also not cacheable. */
static void assert_security_headers(const http_resp_t *r)
{
    assert_header(r, "X-Content-Type-Options", "nosniff");
    assert_no_header(r, "Server");
    assert_no_header(r, "X-Powered-By");
    if (r->status >= 400)
        assert_header(r, "Cache-Control", "no-store");
}

static int setup(void **state)
{
    (void)state;
    harness_opts_t opts = {.env = test_env};
    h = harness_start(&opts);
    if (!h)
        return -1;
    int port = harness_http_port(h);
    http_resp_t r;
    /* Workers report their database only after their first heartbeat. */
    for (int i = 0; i < 100; i++) {
        int st = http_request_timeout(port, "GET", "/health", NULL, 0, NULL, 1000, &r) == 0
                     ? r.status
                     : 0;
        http_resp_clear(&r);
        if (st == 200)
            break;
        usleep(50 * 1000);
    }
    const char *auth = "Bearer " TOKEN;
    if (req(port, "POST", "/api/v1/products",
            "{\"name\":\"Admin Lamp\",\"price\":12.50,\"stock\":40,\"sku\":\"ADM-1\"}", auth,
            &r) != 201)
        return -1;
    snprintf(product_id, sizeof product_id, "%s",
             json_string_value(json_object_get(r.json, "id")));
    http_resp_clear(&r);
    if (req(port, "POST", "/api/v1/customers", "{\"email\":\"adm@example.com\",\"name\":\"Adm\"}",
            NULL, &r) != 201)
        return -1;
    snprintf(customer_id, sizeof customer_id, "%s",
             json_string_value(json_object_get(r.json, "id")));
    http_resp_clear(&r);
    char body[256];
    snprintf(body, sizeof body, "{\"customer_id\":\"%s\",\"items\":[{\"product_id\":\"%s\","
                                "\"quantity\":2}]}",
             customer_id, product_id);
    if (req(port, "POST", "/api/v1/orders", body, NULL, &r) != 201)
        return -1;
    snprintf(order_id, sizeof order_id, "%s", json_string_value(json_object_get(r.json, "id")));
    http_resp_clear(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_stop(&h);
    return 0;
}

typedef struct {
    const char *method;
    char path[160];
    const char *body;
} admin_call_t;

/* One call of every admin route, aimed at real rows. */
static int admin_calls(admin_call_t *c)
{
    int n = 0;
    c[n++] = (admin_call_t){"POST", "/api/v1/products",
                            "{\"name\":\"Nope\",\"price\":1,\"stock\":1,\"sku\":\"ADM-NOPE\"}"};
    c[n] = (admin_call_t){"PUT", "", "{\"price\":99.99,\"stock\":1}"};
    snprintf(c[n++].path, sizeof c[0].path, "/api/v1/products/%s", product_id);
    c[n] = (admin_call_t){"DELETE", "", NULL};
    snprintf(c[n++].path, sizeof c[0].path, "/api/v1/products/%s", product_id);
    c[n++] = (admin_call_t){"POST", "/api/v1/categories", "{\"name\":\"Nope\"}"};
    c[n] = (admin_call_t){"PATCH", "", NULL};
    snprintf(c[n++].path, sizeof c[0].path, "/api/v1/orders/%s/status?status=cancelled", order_id);
    /* The check comes before any lookup: unknown ids are not revealed. */
    c[n++] = (admin_call_t){"PUT", "/api/v1/products/" NIL_UUID, "{\"price\":1}"};
    c[n++] = (admin_call_t){"DELETE", "/api/v1/products/not-a-uuid", NULL};
    c[n++] = (admin_call_t){"PATCH", "/api/v1/orders/" NIL_UUID "/status?status=shipped", NULL};
    return n;
}

static void test_without_token_401(void **state)
{
    (void)state;
    int port = harness_http_port(h);
    char *before = db_state();
    admin_call_t calls[16];
    int n = admin_calls(calls);
    /* Missing, or not a Bearer credential at all. */
    const char *bad[] = {NULL,
                         "",
                         "Bearer",
                         "Bearer ",
                         "Bearer    ",
                         "Basic YWRtaW46" TOKEN,
                         "Token " TOKEN,
                         TOKEN,
                         "Bearer" TOKEN,
                         "Bearerx " TOKEN};
    for (int i = 0; i < n; i++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            http_resp_t r;
            int st = req(port, calls[i].method, calls[i].path, calls[i].body, bad[b], &r);
            if (st != 401)
                fprintf(stderr, "%s %s with '%s' -> %d %s\n", calls[i].method, calls[i].path,
                        bad[b] ? bad[b] : "(none)", st, r.body);
            assert_int_equal(st, 401);
            assert_detail(&r, "Not authenticated");
            assert_header(&r, "WWW-Authenticate", "Bearer");
            assert_security_headers(&r);
            http_resp_clear(&r);
        }
    }
    char *after = db_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_wrong_token_403(void **state)
{
    (void)state;
    int port = harness_http_port(h);
    char *before = db_state();
    admin_call_t calls[16];
    int n = admin_calls(calls);
    /* Near misses: a prefix, one byte more, one byte changed, other case,
     * a much longer guess, bytes a C string compare would stop at. */
    char longer[2048];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    memcpy(longer, "Bearer ", 7);
    const char *wrong[] = {"Bearer wrong",
                           "Bearer " TOKEN "x",
                           "Bearer s3cret-Admin-token_0123456789abcde",
                           "Bearer s3cret-Admin-token_0123456789abcdeF",
                           "Bearer S3CRET-ADMIN-TOKEN_0123456789ABCDEF",
                           "Bearer " TOKEN " " TOKEN,
                           "Bearer \"" TOKEN "\"",
                           longer};
    for (int i = 0; i < n; i++) {
        for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++) {
            http_resp_t r;
            int st = req(port, calls[i].method, calls[i].path, calls[i].body, wrong[w], &r);
            if (st != 403)
                fprintf(stderr, "%s %s with '%.60s' -> %d %s\n", calls[i].method, calls[i].path,
                        wrong[w], st, r.body);
            assert_int_equal(st, 403);
            assert_detail(&r, "Invalid token");
            assert_no_header(&r, "WWW-Authenticate");
            assert_security_headers(&r);
            http_resp_clear(&r);
        }
    }
    char *after = db_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_with_token_works(void **state)
{
    (void)state;
    int port = harness_http_port(h);
    http_resp_t r;
    /* The scheme is case-insensitive (RFC 7235); spaces around are fine. */
    assert_int_equal(req(port, "POST", "/api/v1/categories", "{\"name\":\"Admin Cat\"}",
                         "Bearer " TOKEN, &r),
                     201);
    assert_security_headers(&r);
    http_resp_clear(&r);
    assert_int_equal(sql_long("SELECT count(*) FROM categories WHERE name = 'Admin Cat'"), 1);

    assert_int_equal(req(port, "POST", "/api/v1/products",
                         "{\"name\":\"Admin Desk\",\"price\":80,\"stock\":3,\"sku\":\"ADM-2\"}",
                         "bearer " TOKEN, &r),
                     201);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "id")));
    http_resp_clear(&r);

    char path[160];
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    assert_int_equal(req(port, "PUT", path, "{\"stock\":7}", "BEARER   " TOKEN "  ", &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "stock")), 7);
    http_resp_clear(&r);
    assert_int_equal(req(port, "DELETE", path, NULL, "Bearer " TOKEN, &r), 204);
    http_resp_clear(&r);
    assert_int_equal(sql_long("SELECT count(*) FROM products WHERE sku = 'ADM-2' AND NOT "
                              "is_active"),
                     1);

    /* Authorised but wrong in itself: the service's own answer comes through. */
    assert_int_equal(req(port, "PUT", "/api/v1/products/" NIL_UUID, "{\"price\":1}",
                         "Bearer " TOKEN, &r),
                     404);
    http_resp_clear(&r);

    snprintf(path, sizeof path, "/api/v1/orders/%s/status?status=confirmed", order_id);
    assert_int_equal(req(port, "PATCH", path, NULL, "Bearer " TOKEN, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "confirmed");
    http_resp_clear(&r);
}

static void test_open_routes_stay_open(void **state)
{
    (void)state;
    int port = harness_http_port(h);
    char p1[160], p2[160];
    snprintf(p1, sizeof p1, "/api/v1/products/%s", product_id);
    snprintf(p2, sizeof p2, "/api/v1/orders/%s", order_id);
    const char *gets[] = {"/",
                          "/health",
                          "/api/v1/products",
                          "/api/v1/products?search=lamp&page=1",
                          p1,
                          "/api/v1/categories",
                          "/api/v1/customers",
                          "/api/v1/orders",
                          p2,
                          "/api/v1/cache/stats",
                          "/openapi.json"};
    /* No header, and a wrong one: neither matters on open routes. */
    const char *auths[] = {NULL, "Bearer wrong", "Basic Zm9vOmJhcg=="};
    for (size_t a = 0; a < sizeof auths / sizeof auths[0]; a++) {
        for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
            http_resp_t r;
            int st = req(port, "GET", gets[i], NULL, auths[a], &r);
            if (st != 200)
                fprintf(stderr, "GET %s -> %d %s\n", gets[i], st, r.body);
            assert_int_equal(st, 200);
            assert_header(&r, "X-Content-Type-Options", "nosniff");
            assert_no_header(&r, "Server");
            http_resp_clear(&r);
        }
        http_resp_t r;
        char body[256];
        snprintf(body, sizeof body, "{\"email\":\"open%zu@example.com\",\"name\":\"Open\"}", a);
        assert_int_equal(req(port, "POST", "/api/v1/customers", body, auths[a], &r), 201);
        http_resp_clear(&r);
        snprintf(body, sizeof body,
                 "{\"customer_id\":\"%s\",\"items\":[{\"product_id\":\"%s\",\"quantity\":1}]}",
                 customer_id, product_id);
        assert_int_equal(req(port, "POST", "/api/v1/orders", body, auths[a], &r), 201);
        http_resp_clear(&r);
    }
}

/* Errors the gateway makes itself carry the same headers. */
static void test_gateway_errors_have_security_headers(void **state)
{
    (void)state;
    int port = harness_http_port(h);
    struct {
        const char *method, *path, *body;
        int status;
    } cases[] = {
        {"GET", "/nope", NULL, 404},
        {"PATCH", "/api/v1/products", "{}", 405},
        {"GET", "/api/v1/products/x/y/z", NULL, 404},
        {"DELETE", "/api/v1/categories", NULL, 405},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_resp_t r;
        int st = req(port, cases[i].method, cases[i].path, cases[i].body, NULL, &r);
        assert_int_equal(st, cases[i].status);
        assert_true(json_is_string(json_object_get(r.json, "detail")));
        assert_security_headers(&r);
        http_resp_clear(&r);
    }
    /* 413 (body over ECOM_MAX_BODY_BYTES, default 1 MiB) and 414. */
    size_t big = 2u << 20;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    http_resp_t r;
    assert_int_equal(http_request_port(port, "POST", "/api/v1/customers", body, big, NULL, &r), 0);
    assert_int_equal(r.status, 413);
    assert_security_headers(&r);
    http_resp_clear(&r);
    free(body);
    /* Past GWREQ_MAX_URI (8 KB) but within what MHD buffers: the gateway's 414. */
    size_t ulen = 8300;
    char *reqbuf = malloc(ulen + 128);
    int off = sprintf(reqbuf, "GET /api/v1/products?search=");
    memset(reqbuf + off, 'a', ulen);
    off += (int)ulen;
    off += sprintf(reqbuf + off, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw_resp_t rr;
    assert_int_equal(raw_request(port, reqbuf, (size_t)off, 5000, &rr), 0);
    free(reqbuf);
    assert_int_equal(rr.status, 414);
    assert_true(json_is_string(json_object_get(rr.json, "detail")));
    char *v = raw_header(&rr, "X-Content-Type-Options");
    assert_non_null(v);
    assert_string_equal(v, "nosniff");
    free(v);
    v = raw_header(&rr, "Cache-Control");
    assert_non_null(v);
    assert_string_equal(v, "no-store");
    free(v);
    assert_null(raw_header(&rr, "Server"));
    raw_resp_clear(&rr);
}

/* 401s and 403s count against the rate limit: with a limit of 5, five
 * guesses use the budget and even the right token then gets 429. */
static void test_guesses_are_rate_limited(void **state)
{
    (void)state;
    int port = harness_free_port();
    char port_env[32];
    snprintf(port_env, sizeof port_env, "ECOM_PORT=%d", port);
    const char *env[] = {port_env, "ECOM_REDIS_RATE_LIMIT_MAX=5",
                         "ECOM_REDIS_RATE_LIMIT_WINDOW=60", NULL};
    assert_true(harness_spawn(h, "gateway-rl", "gateway", env) > 0);
    http_resp_t r;
    int up = 0;
    for (int i = 0; i < 100 && !up; i++) {
        if (http_request_timeout(port, "GET", "/health", NULL, 0, NULL, 1000, &r) == 0 &&
            r.status == 200)
            up = 1;
        http_resp_clear(&r);
        if (!up)
            usleep(100 * 1000);
    }
    assert_true(up);
    char *before = db_state();
    const char *guesses[] = {NULL, "Bearer a", "Bearer b", "Basic x", "Bearer c"};
    const int want[] = {401, 403, 403, 401, 403};
    for (int i = 0; i < 5; i++) {
        int st = req(port, "POST", "/api/v1/categories", "{\"name\":\"Guess\"}", guesses[i], &r);
        assert_int_equal(st, want[i]);
        char rem[8];
        snprintf(rem, sizeof rem, "%d", 4 - i);
        assert_header(&r, "X-RateLimit-Limit", "5");
        assert_header(&r, "X-RateLimit-Remaining", rem);
        http_resp_clear(&r);
    }
    /* Budget spent: the right token, a wrong one and an open route all wait. */
    const char *after_auth[] = {"Bearer " TOKEN, "Bearer d", NULL};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            req(port, "POST", "/api/v1/categories", "{\"name\":\"Guess\"}", after_auth[i], &r),
            429);
        assert_detail(&r, "Rate limit exceeded");
        char *ra = http_header(&r, "Retry-After");
        assert_non_null(ra);
        free(ra);
        assert_security_headers(&r);
        assert_no_header(&r, "WWW-Authenticate");
        http_resp_clear(&r);
    }
    assert_int_equal(req(port, "GET", "/api/v1/products", NULL, NULL, &r), 429);
    http_resp_clear(&r);
    char *after = db_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(sql_long("SELECT count(*) FROM categories WHERE name = 'Guess'"), 0);
    harness_kill(h, "gateway-rl", SIGTERM);
}

/* With ECOM_ADMIN_TOKEN empty the routes are open and the header ignored
 * (the harness default every other test runs with). */
static void test_no_token_configured_is_open(void **state)
{
    (void)state;
    int port = harness_free_port();
    char port_env[32];
    snprintf(port_env, sizeof port_env, "ECOM_PORT=%d", port);
    const char *env[] = {port_env, "ECOM_ADMIN_TOKEN=", NULL};
    assert_true(harness_spawn(h, "gateway-open", "gateway", env) > 0);
    http_resp_t r;
    int up = 0;
    for (int i = 0; i < 100 && !up; i++) {
        if (http_request_timeout(port, "GET", "/health", NULL, 0, NULL, 1000, &r) == 0 &&
            r.status == 200)
            up = 1;
        http_resp_clear(&r);
        if (!up)
            usleep(100 * 1000);
    }
    assert_true(up);
    assert_int_equal(req(port, "POST", "/api/v1/categories", "{\"name\":\"Open Cat\"}", NULL, &r),
                     201);
    http_resp_clear(&r);
    assert_int_equal(
        req(port, "POST", "/api/v1/categories", "{\"name\":\"Open Cat 2\"}", "Bearer junk", &r),
        201);
    http_resp_clear(&r);
    /* The first gateway still wants the token. */
    assert_int_equal(req(harness_http_port(h), "POST", "/api/v1/categories",
                         "{\"name\":\"Open Cat 3\"}", NULL, &r),
                     401);
    http_resp_clear(&r);
    harness_kill(h, "gateway-open", SIGTERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_token_401),
        cmocka_unit_test(test_wrong_token_403),
        cmocka_unit_test(test_with_token_works),
        cmocka_unit_test(test_open_routes_stay_open),
        cmocka_unit_test(test_gateway_errors_have_security_headers),
        cmocka_unit_test(test_guesses_are_rate_limited),
        cmocka_unit_test(test_no_token_configured_is_open),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
