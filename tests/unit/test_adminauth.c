/* The admin token check (gateway/adminauth.h): which Authorization values
 * pass, which are 401 (not a Bearer credential) and which 403 (wrong), and
 * that the route table marks exactly the write routes of API.md as admin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "adminauth.h"
#include "routes.h"

static void test_off_allows_everything(void **state)
{
    (void)state;
    adminauth_t a;
    adminauth_init(&a, "");
    assert_false(a.on);
    assert_int_equal(adminauth_check(&a, NULL), 0);
    assert_int_equal(adminauth_check(&a, "Bearer anything"), 0);
    adminauth_init(&a, NULL);
    assert_int_equal(adminauth_check(&a, "garbage"), 0);
}

static void test_missing_or_malformed_is_401(void **state)
{
    (void)state;
    adminauth_t a;
    adminauth_init(&a, "tok");
    const char *bad[] = {NULL,        "",          "Bearer", "Bearer ", "Bearer \t ",
                         "Basic dG9r", "tok",       "Bearertok", "Token tok", "Bearer-tok"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(adminauth_check(&a, bad[i]), 401);
}

static void test_right_and_wrong(void **state)
{
    (void)state;
    adminauth_t a;
    adminauth_init(&a, "s3cret");
    assert_int_equal(adminauth_check(&a, "Bearer s3cret"), 0);
    assert_int_equal(adminauth_check(&a, "bearer s3cret"), 0);
    assert_int_equal(adminauth_check(&a, "  BEARER \t s3cret  "), 0);
    assert_int_equal(adminauth_check(&a, "Bearer\ts3cret"), 0);
    assert_int_equal(adminauth_check(&a, "Bearer s3cre"), 403);
    assert_int_equal(adminauth_check(&a, "Bearer s3crett"), 403);
    assert_int_equal(adminauth_check(&a, "Bearer S3CRET"), 403);
    assert_int_equal(adminauth_check(&a, "Bearer s3cret s3cret"), 403);
    assert_int_equal(adminauth_check(&a, "Bearer x"), 403);
    /* Longer than any token can be: wrong, never read past the buffer. */
    char longer[4096];
    memcpy(longer, "Bearer ", 7);
    memset(longer + 7, 's', sizeof longer - 8);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(adminauth_check(&a, longer), 403);
}

static void test_nul_inside_is_malformed(void **state)
{
    (void)state;
    adminauth_t a;
    adminauth_init(&a, "tok");
    static const char v[] = "Bearer tok\0junk";
    assert_int_equal(adminauth_check(&a, v), 0); /* as a C string: "Bearer tok" */
    assert_int_equal(adminauth_check_n(&a, v, sizeof v - 1), 401);
    assert_int_equal(adminauth_check_n(&a, "Bearer tok", 10), 0);
    assert_int_equal(adminauth_check_n(&a, "Bearer tok", 9), 403); /* "Bearer to" */
    assert_int_equal(adminauth_check_n(&a, "Bearer tok", 6), 401); /* "Bearer" */
}

static void test_token_of_max_length(void **state)
{
    (void)state;
    char tok[ADMINAUTH_MAX];
    memset(tok, 'k', sizeof tok - 1);
    tok[sizeof tok - 1] = '\0';
    adminauth_t a;
    adminauth_init(&a, tok);
    assert_true(a.on);
    char hdr[ADMINAUTH_MAX + 16];
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(adminauth_check(&a, hdr), 0);
    strcat(hdr, "k"); /* 256 bytes: one more than a token can have */
    assert_int_equal(adminauth_check(&a, hdr), 403);
}

static void test_route_table_marks_writes(void **state)
{
    (void)state;
    const char *admin_ops[] = {"products.create", "products.update", "products.delete",
                               "categories.create", "orders.status"};
    int seen = 0;
    for (int i = 0; i < routes_count(); i++) {
        const route_t *r = routes_at(i);
        bool want = false;
        for (size_t k = 0; k < sizeof admin_ops / sizeof admin_ops[0]; k++)
            want = want || strcmp(r->op, admin_ops[k]) == 0;
        if (r->admin != want)
            fprintf(stderr, "%s %s admin=%d\n", r->method, r->pattern, r->admin);
        assert_int_equal(r->admin, want);
        seen += want;
    }
    assert_int_equal(seen, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_allows_everything),
        cmocka_unit_test(test_missing_or_malformed_is_401),
        cmocka_unit_test(test_right_and_wrong),
        cmocka_unit_test(test_nul_inside_is_malformed),
        cmocka_unit_test(test_token_of_max_length),
        cmocka_unit_test(test_route_table_marks_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
