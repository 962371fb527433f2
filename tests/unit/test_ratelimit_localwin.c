/* The local fallback window: limits per IP, slides, reports waits that
 * are honest, and keeps its memory bounded (cap and idle expiry). Time is
 * injected, so every case is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "localwin.h"

#define W 2000 /* window, ms */
#define T0 1000000

static void test_allows_max_then_denies(void **state)
{
    (void)state;
    localwin_t *lw = localwin_new(5, W, 100);
    localwin_result_t r;
    for (int i = 0; i < 5; i++) {
        localwin_check(lw, "10.0.0.1", T0 + i, &r);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 4 - i);
        assert_true(r.wait_ms > 0 && r.wait_ms <= 2 * W);
    }
    localwin_check(lw, "10.0.0.1", T0 + 10, &r);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_true(r.wait_ms >= 1);
    /* Another IP has its own budget. */
    localwin_check(lw, "10.0.0.2", T0 + 10, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
    localwin_destroy(&lw);
    assert_null(lw);
}

/* Denied requests are not counted: a client hammering while limited does
 * not push its own recovery further away. */
static void test_denied_not_counted_and_wait_is_exact(void **state)
{
    (void)state;
    localwin_t *lw = localwin_new(5, W, 100);
    localwin_result_t r;
    for (int i = 0; i < 5; i++)
        localwin_check(lw, "a", T0, &r); /* T0 is the start of a window */
    localwin_check(lw, "a", T0 + 100, &r);
    assert_false(r.allowed);
    int64_t wait = r.wait_ms;
    for (int i = 0; i < 50; i++)
        localwin_check(lw, "a", T0 + 200, &r);
    assert_false(r.allowed);
    assert_int_equal(r.wait_ms, wait - 100);
    /* Just before the promised time: still denied; at it: allowed. */
    localwin_check(lw, "a", T0 + 100 + wait - 1, &r);
    assert_false(r.allowed);
    localwin_check(lw, "a", T0 + 100 + wait, &r);
    assert_true(r.allowed);
    localwin_destroy(&lw);
}

/* The previous window's count decays linearly through the current one. */
static void test_window_slides(void **state)
{
    (void)state;
    localwin_t *lw = localwin_new(4, W, 100);
    localwin_result_t r;
    for (int i = 0; i < 4; i++)
        localwin_check(lw, "a", T0, &r);
    /* Next window, at its start the previous 4 still weigh 4. */
    localwin_check(lw, "a", T0 + W, &r);
    assert_false(r.allowed);
    /* Half-way through: 4 * 0.5 = 2 used, so two more fit and a third not. */
    localwin_check(lw, "a", T0 + W + W / 2, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1);
    localwin_check(lw, "a", T0 + W + W / 2, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    localwin_check(lw, "a", T0 + W + W / 2, &r);
    assert_false(r.allowed);
    /* Two whole windows later, everything has drained. */
    for (int i = 0; i < 4; i++) {
        localwin_check(lw, "a", T0 + 4 * W, &r);
        assert_true(r.allowed);
    }
    localwin_destroy(&lw);
}

/* Requests Redis allowed count locally too, so a Redis outage does not
 * hand every client a fresh budget. */
static void test_record_counts(void **state)
{
    (void)state;
    localwin_t *lw = localwin_new(3, W, 100);
    localwin_result_t r;
    for (int i = 0; i < 3; i++)
        localwin_record(lw, "a", T0 + i);
    localwin_check(lw, "a", T0 + 5, &r);
    assert_false(r.allowed);
    localwin_destroy(&lw);
}

static void test_cap_evicts_least_recently_seen(void **state)
{
    (void)state;
    localwin_t *lw = localwin_new(1, W, 3);
    localwin_result_t r;
    localwin_check(lw, "a", T0, &r);
    localwin_check(lw, "b", T0 + 1, &r);
    localwin_check(lw, "c", T0 + 2, &r);
    localwin_check(lw, "a", T0 + 3, &r); /* a is now the most recent */
    assert_false(r.allowed);
    localwin_check(lw, "d", T0 + 4, &r); /* evicts b */
    assert_int_equal(localwin_size(lw), 3);
    localwin_check(lw, "a", T0 + 5, &r);
    assert_false(r.allowed); /* a survived */
    localwin_check(lw, "b", T0 + 6, &r);
    assert_true(r.allowed); /* b was forgotten (and evicted c to return) */
    assert_int_equal(localwin_size(lw), 3);
    localwin_destroy(&lw);
}

static void test_idle_ips_expire(void **state)
{
    (void)state;
    localwin_t *lw = localwin_new(10, W, 100000);
    localwin_result_t r;
    char ip[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
        localwin_check(lw, ip, T0 + i, &r);
    }
    assert_int_equal(localwin_size(lw), 1000);
    /* Every call reclaims a few idle entries, so steady traffic from one IP
     * empties the table of the idle ones. */
    for (int i = 0; i < 400; i++)
        localwin_check(lw, "192.0.2.1", T0 + 1000 + 2 * W + i, &r);
    assert_int_equal(localwin_size(lw), 1);
    localwin_destroy(&lw);
}

static void test_many_ips_grow_table(void **state)
{
    (void)state;
    localwin_t *lw = localwin_new(2, W, 50000);
    localwin_result_t r;
    char ip[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20000; i++) {
            snprintf(ip, sizeof ip, "2001:db8::%x", i);
            localwin_check(lw, ip, T0, &r);
            assert_int_equal(r.allowed, round < 2);
        }
    }
    assert_int_equal(localwin_size(lw), 20000);
    localwin_destroy(&lw);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(localwin_new(0, W, 10));
    assert_null(localwin_new(1, 0, 10));
    assert_null(localwin_new(1, W, 0));
    localwin_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allows_max_then_denies),
        cmocka_unit_test(test_denied_not_counted_and_wait_is_exact),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_record_counts),
        cmocka_unit_test(test_cap_evicts_least_recently_seen),
        cmocka_unit_test(test_idle_ips_expire),
        cmocka_unit_test(test_many_ips_grow_table),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
