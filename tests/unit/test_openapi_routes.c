/* The documentation and the gateway agree: every route the gateway routes
 * is in proto/openapi.json with the same method, and every documented
 * operation is routed. Path parameters are compared by position only
 * ("{id}" and "{product_id}" are the same segment). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "routes.h"

static json_t *load_openapi(void)
{
    char path[1024];
    const char *here = __FILE__; /* .../tests/unit/test_openapi_routes.c */
    const char *cut = strstr(here, "tests/unit/");
    assert_non_null(cut);
    snprintf(path, sizeof path, "%.*sproto/openapi.json", (int)(cut - here), here);
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc)
        fail_msg("%s: %s (line %d)", path, err.text, err.line);
    return doc;
}

/* "/api/v1/products/{product_id}" -> "/api/v1/products/{}" */
static void normalise(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 3 < cap; p++) {
        if (*p == '{') {
            out[o++] = '{';
            out[o++] = '}';
            while (*p && *p != '}')
                p++;
            if (!*p)
                break;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void lower(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static json_t *documented_op(json_t *paths, const char *pattern, const char *method)
{
    char want[256], have[256], m[16];
    normalise(pattern, want, sizeof want);
    lower(method, m, sizeof m);
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item)
    {
        normalise(key, have, sizeof have);
        if (strcmp(have, want) == 0)
            return json_object_get(item, m);
    }
    return NULL;
}

static void test_every_route_is_documented(void **state)
{
    json_t *doc = load_openapi();
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(paths);
    int missing = 0;
    for (int i = 0; i < routes_count(); i++) {
        const route_t *r = routes_at(i);
        if (r->kind == ROUTE_DOCS || r->kind == ROUTE_DOCS_FILE || r->kind == ROUTE_OPENAPI)
            continue; /* the documentation does not document itself */
        if (strcmp(r->method, "OPTIONS") == 0 || strcmp(r->method, "HEAD") == 0)
            continue;
        if (!documented_op(paths, r->pattern, r->method)) {
            fprintf(stderr, "undocumented route: %s %s\n", r->method, r->pattern);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
    json_decref(doc);
}

static void test_every_documented_operation_is_routed(void **state)
{
    json_t *doc = load_openapi();
    json_t *paths = json_object_get(doc, "paths");
    const char *key, *method;
    json_t *item, *op;
    int unrouted = 0;
    json_object_foreach(paths, key, item)
    {
        json_object_foreach(item, method, op)
        {
            char want[256], have[256], m[16];
            normalise(key, want, sizeof want);
            bool found = false;
            for (int i = 0; i < routes_count() && !found; i++) {
                const route_t *r = routes_at(i);
                normalise(r->pattern, have, sizeof have);
                lower(r->method, m, sizeof m);
                found = strcmp(have, want) == 0 && strcmp(m, method) == 0;
            }
            if (!found) {
                fprintf(stderr, "documented but not routed: %s %s\n", method, key);
                unrouted++;
            }
            /* Every operation documents its success and error bodies. */
            assert_non_null(json_object_get(op, "responses"));
        }
    }
    assert_int_equal(unrouted, 0);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_is_documented),
        cmocka_unit_test(test_every_documented_operation_is_routed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
