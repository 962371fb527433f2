/* The validation helpers: every function, with the edge cases that the
 * replaced FastAPI service answered with a 422. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

/* Parses a JSON object literal for a test. */
static json_t *obj(const char *text)
{
    json_t *errs = json_array();
    json_t *o = v_parse_object(text, strlen(text), errs);
    if (!o)
        fail_msg("test fixture is not an object: %s", text);
    assert_int_equal(json_array_size(errs), 0);
    json_decref(errs);
    return o;
}

/* Asserts errs holds exactly one error with this loc field and type. */
static void expect_error(json_t *errs, const char *where, const char *field, const char *type,
                         const char *msg)
{
    if (json_array_size(errs) != 1) {
        char *dump = json_dumps(errs, 0);
        fail_msg("expected one error, got %s", dump);
    }
    json_t *e = json_array_get(errs, 0);
    json_t *loc = json_object_get(e, "loc");
    assert_string_equal(json_string_value(json_array_get(loc, 0)), where);
    if (field) {
        assert_int_equal(json_array_size(loc), 2);
        assert_string_equal(json_string_value(json_array_get(loc, 1)), field);
    } else {
        assert_int_equal(json_array_size(loc), 1);
    }
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    if (msg)
        assert_string_equal(json_string_value(json_object_get(e, "msg")), msg);
    json_array_clear(errs);
}

static void test_parse_object(void **state)
{
    json_t *errs = json_array();
    const char *cases[][2] = {
        {"{\"a\":1e309}", "json_invalid"},     /* overflow is a parse error */
        {"{\"a\":1,}", "json_invalid"},
        {"{\"a\":\"\\u0000\"}", "json_invalid"}, /* NUL in a string */
        {"{\"a\":\"\xff\"}", "json_invalid"},    /* invalid UTF-8 */
        {"{\"a\":\"\xc0\xaf\"}", "json_invalid"}, /* overlong */
        {"   ", "json_invalid"},
        {"[1,2]", "dict_type"},
        {"\"text\"", "dict_type"},
        {"42", "dict_type"},
        {"null", "dict_type"},
        {"{\"a\":99999999999999999999999}", "json_invalid"}, /* bigger than int64 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_null(v_parse_object(cases[i][0], strlen(cases[i][0]), errs));
        expect_error(errs, "body", NULL, cases[i][1], NULL);
    }
    assert_null(v_parse_object("", 0, errs));
    expect_error(errs, "body", NULL, "missing", "Field required");
    assert_null(v_parse_object(NULL, 0, errs));
    expect_error(errs, "body", NULL, "missing", NULL);

    /* Length is honoured: trailing bytes beyond len are not parsed. */
    const char *text = "{\"a\":1}garbage";
    json_t *o = v_parse_object(text, 7, errs);
    assert_non_null(o);
    assert_int_equal(json_array_size(errs), 0);
    json_decref(o);

    /* Duplicate keys: last wins, as in Python. */
    o = v_parse_object("{\"a\":1,\"a\":2}", 13, errs);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "a")), 2);
    json_decref(o);
    json_decref(errs);
}

static void test_string(void **state)
{
    json_t *errs = json_array();
    json_t *o = obj("{\"name\":\"Café\",\"empty\":\"\",\"num\":5,\"nul\":null,"
                    "\"arr\":[\"x\"]}");
    const char *s = NULL;
    bool present = false;

    assert_true(v_string(o, "name", true, 4, &s, &present, errs));
    assert_string_equal(s, "Café");
    assert_true(present);
    /* 4 code points, 5 bytes: max 3 fails, in characters */
    assert_false(v_string(o, "name", true, 3, &s, NULL, errs));
    expect_error(errs, "body", "name", "string_too_long", "String should have at most 3 characters");

    s = "untouched";
    assert_true(v_string(o, "absent", false, 10, &s, &present, errs));
    assert_false(present);
    assert_string_equal(s, "untouched");
    assert_false(v_string(o, "absent", true, 10, &s, &present, errs));
    expect_error(errs, "body", "absent", "missing", "Field required");

    assert_true(v_string(o, "empty", false, 10, &s, NULL, errs));
    assert_string_equal(s, "");
    assert_false(v_string(o, "empty", true, 10, &s, NULL, errs));
    expect_error(errs, "body", "empty", "string_too_short", NULL);

    assert_false(v_string(o, "num", true, 10, &s, NULL, errs));
    expect_error(errs, "body", "num", "string_type", "Input should be a valid string");
    assert_false(v_string(o, "nul", false, 10, &s, NULL, errs));
    expect_error(errs, "body", "nul", "string_type", NULL);
    assert_false(v_string(o, "arr", true, 10, &s, NULL, errs));
    expect_error(errs, "body", "arr", "string_type", NULL);
    json_decref(o);

    /* 200 multi-byte characters pass a 200 limit; 201 do not. */
    char text[2048];
    strcpy(text, "{\"n\":\"");
    for (int i = 0; i < 200; i++)
        strcat(text, "é");
    strcat(text, "\"}");
    o = obj(text);
    assert_true(v_string(o, "n", true, 200, &s, NULL, errs));
    json_decref(o);
    strcpy(text + strlen(text) - 2, "ü\"}");
    o = obj(text);
    assert_false(v_string(o, "n", true, 200, &s, NULL, errs));
    expect_error(errs, "body", "n", "string_too_long", "String should have at most 200 characters");
    json_decref(o);

    /* A string with an embedded NUL can only be built in code; still refused. */
    o = json_object();
    json_object_set_new(o, "z", json_stringn("a\0b", 3));
    assert_false(v_string(o, "z", true, 10, &s, NULL, errs));
    expect_error(errs, "body", "z", "string_unicode", NULL);
    json_decref(o);
    json_decref(errs);
}

static void test_int(void **state)
{
    json_t *errs = json_array();
    json_t *o = obj("{\"q\":5,\"zero\":0,\"neg\":-1,\"s\":\"12\",\"t\":true,\"f\":1.5,"
                    "\"whole\":3.0,\"big\":9223372036854775807,\"nul\":null,"
                    "\"hugereal\":1e300}");
    int64_t v = -7;
    bool present;

    assert_true(v_int(o, "q", true, 1, 100, &v, &present, errs));
    assert_int_equal(v, 5);
    assert_true(present);
    assert_false(v_int(o, "zero", true, 1, 100, &v, NULL, errs));
    expect_error(errs, "body", "zero", "greater_than", "must be greater than 0");
    assert_true(v_int(o, "zero", true, 0, 100, &v, NULL, errs));
    assert_int_equal(v, 0);
    assert_false(v_int(o, "neg", true, 0, 100, &v, NULL, errs));
    expect_error(errs, "body", "neg", "greater_than_equal", "must be greater than or equal to 0");
    assert_false(v_int(o, "q", true, 1, 4, &v, NULL, errs));
    expect_error(errs, "body", "q", "less_than_equal", "must be less than or equal to 4");

    assert_false(v_int(o, "s", true, 0, 100, &v, NULL, errs));
    expect_error(errs, "body", "s", "int_type", "Input should be a valid integer");
    assert_false(v_int(o, "t", true, 0, 100, &v, NULL, errs));
    expect_error(errs, "body", "t", "int_type", NULL);
    assert_false(v_int(o, "f", true, 0, 100, &v, NULL, errs));
    expect_error(errs, "body", "f", "int_from_float", NULL);
    assert_false(v_int(o, "nul", false, 0, 100, &v, NULL, errs));
    expect_error(errs, "body", "nul", "int_type", NULL);
    assert_false(v_int(o, "hugereal", false, 0, INT64_MAX, &v, NULL, errs));
    expect_error(errs, "body", "hugereal", "int_type", NULL);

    v = 0;
    assert_true(v_int(o, "whole", true, 0, 100, &v, NULL, errs)); /* pydantic: 3.0 is 3 */
    assert_int_equal(v, 3);
    assert_false(v_int(o, "big", true, 0, 2147483647, &v, NULL, errs));
    expect_error(errs, "body", "big", "less_than_equal", NULL);
    assert_true(v_int(o, "big", true, 0, INT64_MAX, &v, NULL, errs));
    assert_true(v == INT64_MAX);

    v = 42;
    assert_true(v_int(o, "absent", false, 0, 1, &v, &present, errs));
    assert_false(present);
    assert_int_equal(v, 42);
    assert_false(v_int(o, "absent", true, 0, 1, &v, &present, errs));
    expect_error(errs, "body", "absent", "missing", NULL);
    json_decref(o);
    json_decref(errs);
}

static void money_ok(const char *json_value, bool allow_zero, const char *expect)
{
    char text[128];
    snprintf(text, sizeof(text), "{\"p\":%s}", json_value);
    json_t *o = obj(text);
    json_t *errs = json_array();
    char out[32] = "";
    bool present = false;
    if (!v_money(o, "p", true, allow_zero, out, &present, errs))
        fail_msg("money %s refused", json_value);
    assert_true(present);
    assert_string_equal(out, expect);
    json_decref(o);
    json_decref(errs);
}

static void money_bad(const char *json_value, bool allow_zero, const char *type, const char *msg)
{
    char text[128];
    snprintf(text, sizeof(text), "{\"p\":%s}", json_value);
    json_t *o = obj(text);
    json_t *errs = json_array();
    char out[32] = "unchanged";
    if (v_money(o, "p", true, allow_zero, out, NULL, errs))
        fail_msg("money %s accepted as %s", json_value, out);
    expect_error(errs, "body", "p", type, msg);
    assert_string_equal(out, "unchanged");
    json_decref(o);
    json_decref(errs);
}

static void test_money(void **state)
{
    money_ok("29.99", false, "29.99");
    money_ok("0.01", false, "0.01");
    money_ok("30", false, "30.00");
    money_ok("30.0", false, "30.00");
    money_ok("1.1", false, "1.10");
    money_ok("0.07", false, "0.07");
    money_ok("1e2", false, "100.00");
    money_ok("9999999999.99", false, "9999999999.99");
    money_ok("9999999999", false, "9999999999.00");
    money_ok("0", true, "0.00");
    money_ok("0.0", true, "0.00");
    money_ok("1234567.89", false, "1234567.89");

    money_bad("0", false, "value_error", "must be greater than 0");
    money_bad("0.00", false, "value_error", "must be greater than 0");
    money_bad("-1", false, "value_error", "must be greater than 0");
    money_bad("-0.5", true, "value_error", "must be greater than or equal to 0");
    money_bad("-0.001", false, "value_error", "must be greater than 0");
    money_bad("1.999", false, "value_error", "must have at most 2 decimal places");
    money_bad("29.999", false, "value_error", "must have at most 2 decimal places");
    money_bad("0.001", true, "value_error", "must have at most 2 decimal places");
    money_bad("10000000000", false, "value_error", "must be less than or equal to 9999999999.99");
    money_bad("10000000000.00", false, "value_error", NULL);
    money_bad("9999999999.999", false, "value_error", NULL);
    money_bad("1e300", false, "value_error", NULL);
    money_bad("9223372036854775807", false, "value_error", NULL);
    money_bad("-9223372036854775807", false, "value_error", "must be greater than 0");
    money_bad("\"29.99\"", false, "decimal_type", NULL);
    money_bad("true", false, "decimal_type", NULL);
    money_bad("null", false, "decimal_type", NULL);
    money_bad("[1]", false, "decimal_type", NULL);

    json_t *errs = json_array();
    json_t *o = obj("{}");
    char out[32] = "keep";
    bool present = true;
    assert_true(v_money(o, "p", false, false, out, &present, errs));
    assert_false(present);
    assert_string_equal(out, "keep");
    assert_false(v_money(o, "p", true, false, out, &present, errs));
    expect_error(errs, "body", "p", "missing", NULL);
    json_decref(o);
    json_decref(errs);
}

static void test_uuid_and_bool(void **state)
{
    json_t *errs = json_array();
    json_t *o = obj("{\"u\":\"5B1E3C4D-aaaa-4bbb-8ccc-0123456789ab\",\"short\":\"5b1e\","
                    "\"nul\":null,\"num\":7,\"b\":true,\"bs\":\"true\",\"bi\":1,"
                    "\"nodash\":\"5b1e3c4daaaa4bbb8ccc0123456789ab\"}");
    const char *u = "x";
    bool present, b = false;

    assert_true(v_uuid(o, "u", true, false, &u, &present, errs));
    assert_string_equal(u, "5B1E3C4D-aaaa-4bbb-8ccc-0123456789ab");
    assert_false(v_uuid(o, "short", true, false, &u, NULL, errs));
    expect_error(errs, "body", "short", "uuid_parsing", NULL);
    assert_false(v_uuid(o, "nodash", true, false, &u, NULL, errs));
    expect_error(errs, "body", "nodash", "uuid_parsing", NULL);
    assert_true(v_uuid(o, "nul", false, true, &u, &present, errs));
    assert_null(u);
    assert_true(present);
    assert_false(v_uuid(o, "nul", false, false, &u, NULL, errs));
    expect_error(errs, "body", "nul", "uuid_type", NULL);
    assert_false(v_uuid(o, "num", false, true, &u, NULL, errs));
    expect_error(errs, "body", "num", "uuid_type", NULL);
    assert_false(v_uuid(o, "absent", true, true, &u, NULL, errs));
    expect_error(errs, "body", "absent", "missing", NULL);

    assert_true(v_bool(o, "b", true, &b, &present, errs));
    assert_true(b);
    assert_false(v_bool(o, "bs", true, &b, NULL, errs));
    expect_error(errs, "body", "bs", "bool_type", "Input should be a valid boolean");
    assert_false(v_bool(o, "bi", true, &b, NULL, errs));
    expect_error(errs, "body", "bi", "bool_type", NULL);
    b = true;
    assert_true(v_bool(o, "absent", false, &b, &present, errs));
    assert_false(present);
    assert_true(b);
    json_decref(o);
    json_decref(errs);

    assert_true(v_is_uuid("00000000-0000-0000-0000-000000000000"));
    assert_false(v_is_uuid("00000000-0000-0000-0000-00000000000g"));
    assert_false(v_is_uuid("00000000-0000-0000-0000-0000000000000"));
    assert_false(v_is_uuid("{00000000-0000-0000-0000-000000000000}"));
    assert_false(v_is_uuid(""));
    assert_false(v_is_uuid(NULL));
}

static void test_query(void **state)
{
    json_t *q = obj("{\"page\":\"2\",\"bad\":\"2x\",\"empty\":\"\",\"neg\":\"-1\","
                    "\"huge\":\"99999999999999999999\",\"spaced\":\" 3 \",\"float\":\"1.0\","
                    "\"min_price\":\"10.5\",\"dot\":\"5.\",\"lead\":\".5\",\"exp\":\"1e3\","
                    "\"nan\":\"NaN\",\"negm\":\"-0.01\",\"negzero\":\"-0\","
                    "\"in_stock\":\"TRUE\",\"no\":\"0\",\"maybe\":\"maybe\","
                    "\"cat\":\"5b1e3c4d-aaaa-4bbb-8ccc-0123456789ab\",\"badcat\":\"nope\"}");
    json_t *errs = json_array();
    int64_t v;

    assert_true(q_int(q, "page", 1, 1, 100, &v, errs));
    assert_int_equal(v, 2);
    assert_true(q_int(q, "absent", 20, 1, 100, &v, errs));
    assert_int_equal(v, 20);
    assert_true(q_int(q, "spaced", 1, 1, 100, &v, errs));
    assert_int_equal(v, 3);
    assert_false(q_int(q, "bad", 1, 1, 100, &v, errs));
    expect_error(errs, "query", "bad", "int_parsing", NULL);
    assert_false(q_int(q, "empty", 1, 1, 100, &v, errs));
    expect_error(errs, "query", "empty", "int_parsing", NULL);
    assert_false(q_int(q, "float", 1, 1, 100, &v, errs));
    expect_error(errs, "query", "float", "int_parsing", NULL);
    assert_false(q_int(q, "huge", 1, 1, 100, &v, errs));
    expect_error(errs, "query", "huge", "int_parsing", NULL);
    assert_false(q_int(q, "neg", 1, 1, 100, &v, errs));
    expect_error(errs, "query", "neg", "greater_than", "must be greater than 0");
    assert_false(q_int(q, "page", 1, 1, 1, &v, errs));
    expect_error(errs, "query", "page", "less_than_equal", NULL);

    char out[32];
    bool present;
    assert_true(q_money(q, "min_price", out, &present, errs));
    assert_true(present);
    assert_string_equal(out, "10.5");
    assert_true(q_money(q, "dot", out, NULL, errs));
    assert_string_equal(out, "5");
    assert_true(q_money(q, "lead", out, NULL, errs));
    assert_string_equal(out, "0.5");
    assert_true(q_money(q, "negzero", out, NULL, errs));
    assert_true(q_money(q, "absent", out, &present, errs));
    assert_false(present);
    assert_false(q_money(q, "exp", out, NULL, errs));
    expect_error(errs, "query", "exp", "decimal_parsing", NULL);
    assert_false(q_money(q, "nan", out, NULL, errs));
    expect_error(errs, "query", "nan", "decimal_parsing", NULL);
    assert_false(q_money(q, "empty", out, NULL, errs));
    expect_error(errs, "query", "empty", "decimal_parsing", NULL);
    assert_false(q_money(q, "negm", out, NULL, errs));
    expect_error(errs, "query", "negm", "greater_than_equal", NULL);

    bool b = false;
    assert_true(q_bool(q, "in_stock", &b, &present, errs));
    assert_true(b && present);
    assert_true(q_bool(q, "no", &b, NULL, errs));
    assert_false(b);
    assert_true(q_bool(q, "absent", &b, &present, errs));
    assert_false(present);
    assert_false(q_bool(q, "maybe", &b, NULL, errs));
    expect_error(errs, "query", "maybe", "bool_parsing", NULL);

    const char *u = NULL;
    assert_true(q_uuid(q, "cat", &u, errs));
    assert_string_equal(u, "5b1e3c4d-aaaa-4bbb-8ccc-0123456789ab");
    u = NULL;
    assert_true(q_uuid(q, "absent", &u, errs));
    assert_null(u);
    assert_false(q_uuid(q, "badcat", &u, errs));
    expect_error(errs, "query", "badcat", "uuid_parsing", NULL);
    json_decref(q);
    json_decref(errs);
}

static void test_email(void **state)
{
    const char *good[] = {"a@b.co", "john.doe+tag@example.com", "x_y-z@sub.example.org",
                          "ünï@exämple.de", "o'neil@example.ie"};
    const char *bad[] = {"", "plain", "@example.com", "a@", "a@b", "a@b.c", "a b@example.com",
                         "a@@example.com", "a@b@example.com", ".a@example.com",
                         "a.@example.com", "a..b@example.com", "a@-example.com",
                         "a@example-.com", "a@example..com", "a@.example.com", "a@example.com.",
                         "a@1.2.3.4", "a@exa mple.com", "\"quoted\"@example.com", "a\t@x.com",
                         "a@exa_mple.com"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!v_is_email(good[i]))
            fail_msg("refused %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (v_is_email(bad[i]))
            fail_msg("accepted %s", bad[i]);
    assert_false(v_is_email(NULL));

    /* 255 characters at most (a 64-char local part, a long domain). */
    char e[400];
    memset(e, 'a', 64);
    e[64] = '@';
    size_t n = 65;
    while (n < 251) {
        memset(e + n, 'b', 60);
        n += 60;
        e[n++] = '.';
    }
    strcpy(e + n, "com");
    n += 3;
    assert_true(n > 255);
    assert_false(v_is_email(e));
    /* shorten to exactly 255 */
    strcpy(e + 255 - 4, ".com");
    assert_int_equal(strlen(e), 255);
    assert_true(v_is_email(e));
    memset(e, 'a', 65); /* local part of 65 */
    assert_false(v_is_email(e));
}

static void test_utf8_len(void **state)
{
    assert_int_equal(v_utf8_len("", 0), 0);
    assert_int_equal(v_utf8_len("abc", 3), 3);
    assert_int_equal(v_utf8_len("é", 2), 1);
    assert_int_equal(v_utf8_len("€", 3), 1);
    assert_int_equal(v_utf8_len("\xf0\x9f\x98\x80", 4), 1); /* U+1F600 */
    assert_int_equal(v_utf8_len("\xf4\x8f\xbf\xbf", 4), 1); /* U+10FFFF */
    assert_int_equal(v_utf8_len("a\0b", 3), -1);           /* NUL */
    assert_int_equal(v_utf8_len("\xc0\x80", 2), -1);       /* overlong NUL */
    assert_int_equal(v_utf8_len("\xc1\xbf", 2), -1);       /* overlong */
    assert_int_equal(v_utf8_len("\xe0\x80\xaf", 3), -1);   /* overlong 3-byte */
    assert_int_equal(v_utf8_len("\xf0\x80\x80\xaf", 4), -1); /* overlong 4-byte */
    assert_int_equal(v_utf8_len("\xed\xa0\x80", 3), -1);   /* surrogate U+D800 */
    assert_int_equal(v_utf8_len("\xed\xbf\xbf", 3), -1);   /* surrogate U+DFFF */
    assert_int_equal(v_utf8_len("\xf4\x90\x80\x80", 4), -1); /* > U+10FFFF */
    assert_int_equal(v_utf8_len("\xf5\x80\x80\x80", 4), -1);
    assert_int_equal(v_utf8_len("\x80", 1), -1);           /* stray continuation */
    assert_int_equal(v_utf8_len("\xc3", 1), -1);           /* truncated */
    assert_int_equal(v_utf8_len("\xe2\x82", 2), -1);
    assert_int_equal(v_utf8_len("\xe2\x28\xa1", 3), -1);   /* bad continuation */
    assert_int_equal(v_utf8_len("\xff", 1), -1);
    /* len limits the scan: the invalid byte after it is not seen */
    assert_int_equal(v_utf8_len("ab\xff", 2), 2);
}

static void test_bodies(void **state)
{
    json_t *errs = json_array();
    v_error(errs, "body", "price", "must be greater than 0", "value_error");
    char *text = v_errors_body(errs);
    assert_string_equal(text, "{\"detail\":[{\"loc\":[\"body\",\"price\"],\"msg\":\"must be "
                              "greater than 0\",\"type\":\"value_error\"}]}");
    free(text);
    /* errs is not stolen */
    assert_int_equal(json_array_size(errs), 1);
    json_decref(errs);

    text = v_errors_body(NULL);
    assert_string_equal(text, "{\"detail\":[]}");
    free(text);

    text = v_detail_body("Customer not found");
    assert_string_equal(text, "{\"detail\":\"Customer not found\"}");
    free(text);
    text = v_detail_body("quote \" and é");
    assert_string_equal(text, "{\"detail\":\"quote \\\" and é\"}");
    free(text);
    text = v_detail_body("bad \xff byte");
    assert_string_equal(text, "{\"detail\":\"bad ? byte\"}");
    free(text);

    /* v_error with a NULL errs is a no-op, not a crash. */
    v_error(NULL, "body", "x", "m", "t");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_object), cmocka_unit_test(test_string),
        cmocka_unit_test(test_int),          cmocka_unit_test(test_money),
        cmocka_unit_test(test_uuid_and_bool), cmocka_unit_test(test_query),
        cmocka_unit_test(test_email),        cmocka_unit_test(test_utf8_len),
        cmocka_unit_test(test_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
