/* The customer API of API.md through the real gateway, broker and
 * customer-svc against a real PostgreSQL: what succeeds, and every kind of
 * bad input a client can send (each a JSON 4xx, never a 500, and nothing
 * written to the database). */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static harness_t *h;

/* Rate limiting is not under test here, and these tests send well over
 * the default 100 requests a minute from one address. */
static const char *const test_env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", NULL};

static int group_setup(void **state)
{
    harness_opts_t opts = {.no_catalog = true, .no_order = true, .env = test_env};
    h = harness_start(&opts);
    return h ? 0 : -1;
}

static int group_teardown(void **state)
{
    harness_stop(&h);
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static long customer_count(void)
{
    return harness_sql_long(h, "SELECT count(*) FROM customers");
}

/* POSTs body to /api/v1/customers; returns the status, *json the reply. */
static int post_customer(const char *body, json_t **json)
{
    return http_json(h, "POST", "/api/v1/customers", body, json);
}

/* A body built with printf-style formatting (jansson escapes the strings). */
static char *customer_body(const char *email, const char *name)
{
    json_t *o = json_object();
    if (email)
        json_object_set_new(o, "email", json_string(email));
    if (name)
        json_object_set_new(o, "name", json_string(name));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* API.md's RFC 3339 UTC with microseconds: 2026-11-24T20:08:15.123456Z */
static void assert_timestamp(const char *s)
{
    assert_non_null(s);
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    assert_int_equal(strlen(s), strlen(shape));
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd')
            assert_true(isdigit((unsigned char)s[i]));
        else
            assert_int_equal(s[i], shape[i]);
    }
}

static bool is_uuid_text(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static void assert_customer(json_t *c, const char *email, const char *name)
{
    assert_true(json_is_object(c));
    assert_int_equal(json_object_size(c), 4);
    assert_true(is_uuid_text(json_string_value(json_object_get(c, "id"))));
    assert_string_equal(json_string_value(json_object_get(c, "email")), email);
    assert_string_equal(json_string_value(json_object_get(c, "name")), name);
    assert_timestamp(json_string_value(json_object_get(c, "created_at")));
}

static void assert_detail(json_t *json, const char *detail)
{
    assert_non_null(json);
    assert_string_equal(json_string_value(json_object_get(json, "detail")), detail);
}

/* Sends body and expects 422 naming the fields, with nothing inserted. */
static void expect_422(const char *body, ...)
{
    long before = customer_count();
    json_t *json = NULL;
    int status = post_customer(body, &json);
    if (status != 422)
        fail_msg("body %.80s: expected 422, got %d", body, status);
    json_t *detail = json_object_get(json, "detail");
    assert_true(json_is_array(detail));
    va_list ap;
    va_start(ap, body);
    size_t n = 0;
    for (const char *field; (field = va_arg(ap, const char *)) != NULL; n++) {
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(detail, i, e) {
            json_t *loc = json_object_get(e, "loc");
            assert_string_equal(json_string_value(json_array_get(loc, 0)), "body");
            const char *f = json_string_value(json_array_get(loc, 1));
            if (field[0] == '\0' ? json_array_size(loc) == 1 : (f && strcmp(f, field) == 0))
                found = true;
        }
        if (!found)
            fail_msg("body %.80s: 422 detail has no entry for '%s'", body, field);
    }
    va_end(ap);
    assert_int_equal(json_array_size(detail), n);
    json_decref(json);
    assert_int_equal(customer_count(), before);
}

/* ---- success paths ---------------------------------------------------- */

static void test_create_then_get(void **state)
{
    json_t *created = NULL;
    int status = post_customer("{\"email\":\"Zoe.Create@Example.com\",\"name\":\"Zoe Create\","
                               "\"unknown_field\":[1,2,3]}",
                               &created);
    assert_int_equal(status, 201);
    assert_customer(created, "Zoe.Create@Example.com", "Zoe Create");

    char path[128];
    const char *id = json_string_value(json_object_get(created, "id"));
    snprintf(path, sizeof path, "/api/v1/customers/%s", id);
    json_t *got = NULL;
    assert_int_equal(http_json(h, "GET", path, NULL, &got), 200);
    assert_true(json_equal(got, created));
    json_decref(got);

    /* Ids are case-insensitive hex, like the database's uuid type. */
    char upper[64];
    snprintf(upper, sizeof upper, "%s", id);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(path, sizeof path, "/api/v1/customers/%s", upper);
    got = NULL;
    assert_int_equal(http_json(h, "GET", path, NULL, &got), 200);
    assert_true(json_equal(got, created));
    json_decref(got);

    /* It really is in the database, as sent. */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT email FROM customers WHERE id = '%s'", id);
    char *email = harness_sql_value(h, sql);
    assert_non_null(email);
    assert_string_equal(email, "Zoe.Create@Example.com");
    free(email);
    json_decref(created);
}

static void test_unicode_and_boundaries(void **state)
{
    /* name: 200 characters (not bytes) is the limit; these are 2 bytes each. */
    char name[200 * 2 + 1] = "";
    for (int i = 0; i < 200; i++)
        strcat(name, "\xc3\xa9");
    char *body = customer_body("unicode.limit@example.com", name);
    json_t *json = NULL;
    assert_int_equal(post_customer(body, &json), 201);
    assert_customer(json, "unicode.limit@example.com", name);
    json_decref(json);
    free(body);

    /* email: exactly 255 characters (64-character local part) is accepted. */
    char email[256];
    memset(email, 'a', 64);
    email[64] = '@';
    size_t p = 65;
    const int labels[] = {62, 61, 61};
    for (int l = 0; l < 3; l++) {
        memset(email + p, 'b' + l, (size_t)labels[l]);
        p += (size_t)labels[l];
        email[p++] = '.';
    }
    memcpy(email + p, "com", 4);
    assert_int_equal(strlen(email), 255);
    body = customer_body(email, "Long Address");
    json = NULL;
    assert_int_equal(post_customer(body, &json), 201);
    assert_customer(json, email, "Long Address");
    json_decref(json);
    free(body);
}

static void test_list_ordered_by_name_at_most_100(void **state)
{
    assert_int_equal(harness_sql_exec(h, "INSERT INTO customers (email, name) "
                                         "SELECT 'bulk' || g || '@example.com', "
                                         "'Bulk ' || lpad(g::text, 3, '0') "
                                         "FROM generate_series(1, 120) g"),
                     0);
    json_t *list = NULL;
    assert_int_equal(http_json(h, "GET", "/api/v1/customers", NULL, &list), 200);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 100);
    /* "Ordered by name" means in the database's collation: compare with
     * PostgreSQL's own ordering of the same rows. */
    char *expected = harness_sql_value(
        h, "SELECT string_agg(name, '|' ORDER BY name, id) FROM "
           "(SELECT name, id FROM customers ORDER BY name, id LIMIT 100) c");
    assert_non_null(expected);
    size_t cap = strlen(expected) + 1, off = 0;
    char *got = calloc(1, cap + 1);
    assert_non_null(got);
    int last_bulk = 0;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        assert_non_null(name);
        assert_int_equal(json_object_size(c), 4);
        assert_timestamp(json_string_value(json_object_get(c, "created_at")));
        off += (size_t)snprintf(got + off, cap + 1 - off, "%s%s", i ? "|" : "", name);
        assert_true(off <= cap);
        int n;
        if (sscanf(name, "Bulk %d", &n) == 1) {
            assert_true(n == last_bulk + 1); /* collation-independent part */
            last_bulk = n;
        }
    }
    assert_string_equal(got, expected);
    assert_true(last_bulk >= 90); /* the bulk rows really were listed */
    free(got);
    free(expected);
    json_decref(list);
    assert_int_equal(harness_sql_exec(h, "DELETE FROM customers WHERE email LIKE 'bulk%'"), 0);

    /* And a list is an array even with a single customer or none. */
    list = NULL;
    assert_int_equal(http_json(h, "GET", "/api/v1/customers?page=2", NULL, &list), 200);
    assert_true(json_is_array(list));
    json_decref(list);
}

/* ---- conflicts ---------------------------------------------------------- */

static void test_duplicate_email_any_case_409(void **state)
{
    json_t *json = NULL;
    assert_int_equal(post_customer("{\"email\":\"dup@example.com\",\"name\":\"First\"}", &json),
                     201);
    json_decref(json);
    const char *again[] = {
        "{\"email\":\"dup@example.com\",\"name\":\"Same\"}",
        "{\"email\":\"DUP@EXAMPLE.COM\",\"name\":\"Upper\"}",
        "{\"email\":\"Dup@Example.Com\",\"name\":\"Mixed\"}",
    };
    for (size_t i = 0; i < sizeof again / sizeof *again; i++) {
        json = NULL;
        assert_int_equal(post_customer(again[i], &json), 409);
        assert_detail(json, "Email already registered");
        json_decref(json);
    }
    assert_int_equal(
        harness_sql_long(h, "SELECT count(*) FROM customers WHERE lower(email) = 'dup@example.com'"),
        1);
}

/* ---- bad input: 422 ----------------------------------------------------- */

static void test_invalid_json_422(void **state)
{
    expect_422("{\"email\": \"x@example.com\", \"name\": ", "", NULL);
    expect_422("{email: 'x@example.com'}", "", NULL);
    expect_422("", "", NULL);
    expect_422("\xff\xfe{}", "", NULL);
    expect_422("{\"email\":\"x@example.com\",\"name\":\"N\"} trailing", "", NULL);
}

static void test_non_object_body_422(void **state)
{
    expect_422("[]", "", NULL);
    expect_422("[{\"email\":\"x@example.com\",\"name\":\"N\"}]", "", NULL);
    expect_422("\"x@example.com\"", "", NULL);
    expect_422("42", "", NULL);
    expect_422("null", "", NULL);
}

static void test_wrong_types_422(void **state)
{
    expect_422("{\"email\": 5, \"name\": true}", "email", "name", NULL);
    expect_422("{\"email\": [\"x@example.com\"], \"name\": \"N\"}", "email", NULL);
    expect_422("{\"email\": \"x@example.com\", \"name\": {\"first\": \"N\"}}", "name", NULL);
    expect_422("{\"email\": null, \"name\": null}", "email", "name", NULL);
    expect_422("{\"email\": \"x@example.com\", \"name\": 1.5}", "name", NULL);
}

static void test_missing_fields_422(void **state)
{
    expect_422("{}", "email", "name", NULL);
    expect_422("{\"email\": \"x@example.com\"}", "name", NULL);
    expect_422("{\"name\": \"Only Name\"}", "email", NULL);
    expect_422("{\"email\": \"x@example.com\", \"name\": \"\"}", "name", NULL);
    expect_422("{\"email\": \"\", \"name\": \"N\"}", "email", NULL);
}

static void test_overlong_fields_422(void **state)
{
    char name[202];
    memset(name, 'n', 201);
    name[201] = '\0';
    char *body = customer_body("long.name@example.com", name);
    expect_422(body, "name", NULL);
    free(body);

    /* 256 characters, otherwise a valid address. */
    char email[257];
    memset(email, 'a', 64);
    email[64] = '@';
    size_t p = 65;
    const int labels[] = {62, 62, 61};
    for (int l = 0; l < 3; l++) {
        memset(email + p, 'b' + l, (size_t)labels[l]);
        p += (size_t)labels[l];
        email[p++] = '.';
    }
    memcpy(email + p, "com", 4);
    assert_int_equal(strlen(email), 256);
    body = customer_body(email, "N");
    expect_422(body, "email", NULL);
    free(body);

    char huge[5001];
    memset(huge, 'x', 5000);
    huge[5000] = '\0';
    body = customer_body(huge, huge);
    expect_422(body, "email", "name", NULL);
    free(body);
}

static void test_invalid_email_422(void **state)
{
    const char *bad[] = {
        "not-an-email", "a@b",          "@example.com", "user@",         "user@@example.com",
        "us er@example.com", "user@exa mple.com", "user@.example.com", ".user@example.com",
        "user..x@example.com", "user@example",   "a@b@example.com", "user@example.c",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *body = customer_body(bad[i], "Bad Email");
        expect_422(body, "email", NULL);
        free(body);
    }
    /* A NUL inside a JSON string can never be stored (PostgreSQL text has
     * none): a 422, whether blamed on the field or the body, never a 500. */
    const char *nul_bodies[] = {
        "{\"email\": \"x@example.com\", \"name\": \"a\\u0000b\"}",
        "{\"email\": \"x\\u0000@example.com\", \"name\": \"N\"}",
    };
    for (size_t i = 0; i < 2; i++) {
        long before = customer_count();
        json_t *json = NULL;
        assert_int_equal(post_customer(nul_bodies[i], &json), 422);
        assert_true(json_is_array(json_object_get(json, "detail")));
        json_decref(json);
        assert_int_equal(customer_count(), before);
    }
}

/* ---- bad paths and methods ---------------------------------------------- */

static void test_malformed_ids_404(void **state)
{
    const char *paths[] = {
        "/api/v1/customers/not-a-uuid",
        "/api/v1/customers/123",
        "/api/v1/customers/00000000-0000-0000-0000-00000000000",   /* one short */
        "/api/v1/customers/00000000-0000-0000-0000-0000000000000", /* one long */
        "/api/v1/customers/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "/api/v1/customers/%27%3B%20DROP%20TABLE%20customers%3B--",
        "/api/v1/customers/00000000-0000-0000-0000-000000000000", /* well-formed, unknown */
        "/api/v1/customers/6f1c9b52-3c4e-4d7a-9a1b-2f3e4d5c6b7a",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        json_t *json = NULL;
        int status = http_json(h, "GET", paths[i], NULL, &json);
        if (status != 404)
            fail_msg("GET %s: expected 404, got %d", paths[i], status);
        assert_detail(json, "Customer not found");
        json_decref(json);
    }
    assert_true(harness_sql_long(h, "SELECT count(*) FROM customers") >= 0);
}

static void test_2mib_body_413(void **state)
{
    long before = customer_count();
    size_t n = 2 * 1024 * 1024;
    char *body = malloc(n + 64);
    assert_non_null(body);
    int off = snprintf(body, 64, "{\"email\":\"big@example.com\",\"name\":\"");
    memset(body + off, 'x', n);
    strcpy(body + off + n, "\"}");
    http_resp_t resp = {0};
    assert_int_equal(http_request(h, "POST", "/api/v1/customers", body, NULL, &resp), 0);
    assert_int_equal(resp.status, 413);
    assert_non_null(resp.json);
    assert_true(json_is_string(json_object_get(resp.json, "detail")));
    http_resp_clear(&resp);
    free(body);
    assert_int_equal(customer_count(), before);
}

static void test_unknown_route_404(void **state)
{
    const char *paths[] = {"/api/v1/customerz", "/api/v1/customers/x/orders", "/api/v2/customers",
                           "/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        json_t *json = NULL;
        int status = http_json(h, "GET", paths[i], NULL, &json);
        if (status != 404)
            fail_msg("GET %s: expected 404, got %d", paths[i], status);
        assert_true(json_is_string(json_object_get(json, "detail")));
        json_decref(json);
    }
}

static void test_wrong_method_405(void **state)
{
    struct {
        const char *method, *path;
    } cases[] = {
        {"DELETE", "/api/v1/customers"},
        {"PUT", "/api/v1/customers"},
        {"PATCH", "/api/v1/customers"},
        {"POST", "/api/v1/customers/00000000-0000-0000-0000-000000000000"},
        {"DELETE", "/api/v1/customers/00000000-0000-0000-0000-000000000000"},
        {"PUT", "/api/v1/customers/00000000-0000-0000-0000-000000000000"},
    };
    long before = customer_count();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *json = NULL;
        int status = http_json(h, cases[i].method, cases[i].path,
                               "{\"email\":\"m@example.com\",\"name\":\"M\"}", &json);
        if (status != 405)
            fail_msg("%s %s: expected 405, got %d", cases[i].method, cases[i].path, status);
        assert_true(json_is_string(json_object_get(json, "detail")));
        json_decref(json);
    }
    assert_int_equal(customer_count(), before);
}

/* Every reply is JSON with the request id echoed, errors included. */
static void test_request_id_and_content_type(void **state)
{
    const char *hdrs[] = {"X-Request-Id: cust-test-42", NULL};
    http_resp_t resp = {0};
    assert_int_equal(http_request(h, "GET", "/api/v1/customers/nope", NULL, hdrs, &resp), 0);
    assert_int_equal(resp.status, 404);
    char *rid = http_header(&resp, "X-Request-Id");
    assert_non_null(rid);
    assert_string_equal(rid, "cust-test-42");
    free(rid);
    char *ct = http_header(&resp, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "application/json"));
    free(ct);
    http_resp_clear(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_then_get),
        cmocka_unit_test(test_unicode_and_boundaries),
        cmocka_unit_test(test_list_ordered_by_name_at_most_100),
        cmocka_unit_test(test_duplicate_email_any_case_409),
        cmocka_unit_test(test_invalid_json_422),
        cmocka_unit_test(test_non_object_body_422),
        cmocka_unit_test(test_wrong_types_422),
        cmocka_unit_test(test_missing_fields_422),
        cmocka_unit_test(test_overlong_fields_422),
        cmocka_unit_test(test_invalid_email_422),
        cmocka_unit_test(test_malformed_ids_404),
        cmocka_unit_test(test_2mib_body_413),
        cmocka_unit_test(test_unknown_route_404),
        cmocka_unit_test(test_wrong_method_405),
        cmocka_unit_test(test_request_id_and_content_type),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
