/* catalog_seq: which event sequences the catalog cache may trust. Anything
 * that can hide a lost event (a gap, a restart, a publisher we never saw, a
 * publisher gone silent) must say "invalidate everything". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog_seq.h"

#define SILENCE 3000

static void first_sight_flushes_then_in_order_is_ok(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    assert_int_equal(catalog_seq_observe(s, "order-a", 7, false, 0), CATALOG_SEQ_NEW);
    assert_true(catalog_seq_must_flush(CATALOG_SEQ_NEW));
    assert_int_equal(catalog_seq_observe(s, "order-a", 8, false, 10), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "order-a", 9, false, 20), CATALOG_SEQ_OK);
    assert_false(catalog_seq_must_flush(CATALOG_SEQ_OK));
    catalog_seq_destroy(&s);
    assert_null(s);
}

static void gap_is_detected(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    catalog_seq_observe(s, "p", 1, false, 0);
    assert_int_equal(catalog_seq_observe(s, "p", 3, false, 1), CATALOG_SEQ_GAP);
    assert_true(catalog_seq_must_flush(CATALOG_SEQ_GAP));
    /* after the gap the new seq is the baseline */
    assert_int_equal(catalog_seq_observe(s, "p", 4, false, 2), CATALOG_SEQ_OK);
    catalog_seq_destroy(&s);
}

static void lower_seq_means_restart(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    catalog_seq_observe(s, "p", 100, false, 0);
    assert_int_equal(catalog_seq_observe(s, "p", 1, false, 1), CATALOG_SEQ_RESTART);
    assert_true(catalog_seq_must_flush(CATALOG_SEQ_RESTART));
    /* the mark stays at 100 (it may have been a stale copy): a publisher
     * that restarted under its old id flushes until it passes it */
    assert_int_equal(catalog_seq_observe(s, "p", 2, false, 2), CATALOG_SEQ_RESTART);
    assert_int_equal(catalog_seq_observe(s, "p", 101, false, 3), CATALOG_SEQ_OK);
    catalog_seq_destroy(&s);
}

static void same_seq_is_a_duplicate(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    catalog_seq_observe(s, "p", 5, false, 0);
    assert_int_equal(catalog_seq_observe(s, "p", 5, false, 1), CATALOG_SEQ_DUPLICATE);
    assert_false(catalog_seq_must_flush(CATALOG_SEQ_DUPLICATE));
    assert_int_equal(catalog_seq_observe(s, "p", 6, false, 2), CATALOG_SEQ_OK);
    catalog_seq_destroy(&s);
}

/* Two brokers: every message comes twice, one path a few behind. */
static void late_copies_through_a_second_broker_are_duplicates(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    assert_int_equal(catalog_seq_observe(s, "p", 5, false, 0), CATALOG_SEQ_NEW);
    assert_int_equal(catalog_seq_observe(s, "p", 6, false, 1), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "p", 7, false, 2), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "p", 5, false, 3), CATALOG_SEQ_DUPLICATE);
    assert_int_equal(catalog_seq_observe(s, "p", 6, false, 4), CATALOG_SEQ_DUPLICATE);
    assert_int_equal(catalog_seq_observe(s, "p", 7, false, 5), CATALOG_SEQ_DUPLICATE);
    assert_int_equal(catalog_seq_observe(s, "p", 8, false, 6), CATALOG_SEQ_OK);
    /* the slow path's heartbeat still says 7 */
    assert_int_equal(catalog_seq_observe(s, "p", 7, true, 7), CATALOG_SEQ_DUPLICATE);
    assert_int_equal(catalog_seq_observe(s, "p", 8, true, 8), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "p", 8, false, 9), CATALOG_SEQ_DUPLICATE);
    /* one path lost 9 (its broker died), the other delivered it: no gap */
    assert_int_equal(catalog_seq_observe(s, "p", 9, false, 10), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "p", 10, false, 11), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "p", 10, false, 12), CATALOG_SEQ_DUPLICATE);
    /* both lost 11: a gap all the same */
    assert_int_equal(catalog_seq_observe(s, "p", 12, false, 13), CATALOG_SEQ_GAP);
    catalog_seq_destroy(&s);
}

/* A lower seq seen too long ago, or never, is not a late copy. */
static void old_or_unseen_lower_seq_is_a_restart(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    catalog_seq_observe(s, "p", 10, false, 0);
    catalog_seq_observe(s, "p", 11, false, 1);
    assert_int_equal(catalog_seq_observe(s, "p", 10, false, 600), CATALOG_SEQ_RESTART);
    /* the last one again, much later: not a redelivery either */
    assert_int_equal(catalog_seq_observe(s, "p", 11, false, 601), CATALOG_SEQ_RESTART);
    assert_int_equal(catalog_seq_observe(s, "p", 12, false, 602), CATALOG_SEQ_OK);
    /* never seen at all, however recent */
    assert_int_equal(catalog_seq_observe(s, "p", 3, false, 603), CATALOG_SEQ_RESTART);
    /* heartbeats alike */
    assert_int_equal(catalog_seq_observe(s, "p", 13, false, 604), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "p", 12, true, 605), CATALOG_SEQ_DUPLICATE);
    assert_int_equal(catalog_seq_observe(s, "p", 0, true, 606), CATALOG_SEQ_RESTART);
    catalog_seq_destroy(&s);
}

/* A broker that hung, then resumed, delivers events long gone: each one
 * flushes, but the fresh ones from the other broker after it are still in
 * order (no flush on every fresh event as if it were a gap). */
static void stale_copies_do_not_turn_fresh_events_into_gaps(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    for (uint64_t q = 1; q <= 50; q++)
        catalog_seq_observe(s, "p", q, false, (int64_t)q);
    for (uint64_t q = 20; q <= 30; q++) {
        assert_int_equal(catalog_seq_observe(s, "p", q, false, 5000 + (int64_t)q),
                         CATALOG_SEQ_RESTART); /* stale, from the resumed one */
        assert_int_equal(catalog_seq_observe(s, "p", q + 31, false, 5000 + (int64_t)q),
                         CATALOG_SEQ_OK); /* fresh, from the other */
    }
    catalog_seq_destroy(&s);
}

/* A publisher restarted under its old id: every event up to the old mark
 * flushes (seen long ago or never), then it is in order again. */
static void restart_under_the_same_id_never_trusts_an_old_seq(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    for (uint64_t q = 1; q <= 5; q++)
        catalog_seq_observe(s, "p", q, false, (int64_t)q);
    for (uint64_t q = 1; q <= 5; q++)
        assert_int_equal(catalog_seq_observe(s, "p", q, false, 2000 + (int64_t)q),
                         CATALOG_SEQ_RESTART);
    assert_int_equal(catalog_seq_observe(s, "p", 6, false, 2006), CATALOG_SEQ_OK);
    catalog_seq_destroy(&s);
}

static void heartbeat_carries_current_seq(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    catalog_seq_observe(s, "p", 10, false, 0);
    /* heartbeat with the last published seq: nothing missed */
    assert_int_equal(catalog_seq_observe(s, "p", 10, true, 1000), CATALOG_SEQ_OK);
    /* heartbeat says 12: event 11 (and 12) never arrived */
    assert_int_equal(catalog_seq_observe(s, "p", 12, true, 2000), CATALOG_SEQ_GAP);
    assert_int_equal(catalog_seq_observe(s, "p", 13, false, 2100), CATALOG_SEQ_OK);
    /* heartbeat below what we saw: restarted */
    assert_int_equal(catalog_seq_observe(s, "p", 0, true, 2200), CATALOG_SEQ_RESTART);
    catalog_seq_destroy(&s);
}

static void first_heartbeat_is_new(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    assert_int_equal(catalog_seq_observe(s, "p", 0, true, 0), CATALOG_SEQ_NEW);
    assert_int_equal(catalog_seq_observe(s, "p", 1, false, 5), CATALOG_SEQ_OK);
    catalog_seq_destroy(&s);
}

static void publishers_are_independent(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    catalog_seq_observe(s, "a", 1, false, 0);
    catalog_seq_observe(s, "b", 50, false, 0);
    assert_int_equal(catalog_seq_size(s), 2);
    assert_int_equal(catalog_seq_observe(s, "a", 2, false, 1), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "b", 51, false, 1), CATALOG_SEQ_OK);
    assert_int_equal(catalog_seq_observe(s, "a", 4, false, 2), CATALOG_SEQ_GAP);
    assert_int_equal(catalog_seq_observe(s, "b", 52, false, 2), CATALOG_SEQ_OK);
    catalog_seq_destroy(&s);
}

static void three_missed_heartbeats_expire(void **state)
{
    catalog_seq_t *s = catalog_seq_new(SILENCE);
    catalog_seq_observe(s, "quiet", 1, false, 0);
    catalog_seq_observe(s, "chatty", 1, false, 0);
    catalog_seq_observe(s, "chatty", 1, true, 2500);
    assert_int_equal(catalog_seq_expire(s, 3000), 0); /* exactly 3 s: not yet */
    assert_int_equal(catalog_seq_expire(s, 3001), 1); /* quiet is gone */
    assert_int_equal(catalog_seq_size(s), 1);
    assert_int_equal(catalog_seq_expire(s, 3002), 0); /* reported once */
    /* it comes back: first sight again, which flushes */
    assert_int_equal(catalog_seq_observe(s, "quiet", 2, false, 4000), CATALOG_SEQ_NEW);
    assert_int_equal(catalog_seq_observe(s, "chatty", 1, true, 4000), CATALOG_SEQ_OK);
    catalog_seq_destroy(&s);
}

static void destroy_null_is_safe(void **state)
{
    catalog_seq_t *s = NULL;
    catalog_seq_destroy(&s);
    catalog_seq_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_sight_flushes_then_in_order_is_ok),
        cmocka_unit_test(gap_is_detected),
        cmocka_unit_test(lower_seq_means_restart),
        cmocka_unit_test(same_seq_is_a_duplicate),
        cmocka_unit_test(late_copies_through_a_second_broker_are_duplicates),
        cmocka_unit_test(old_or_unseen_lower_seq_is_a_restart),
        cmocka_unit_test(stale_copies_do_not_turn_fresh_events_into_gaps),
        cmocka_unit_test(restart_under_the_same_id_never_trusts_an_old_seq),
        cmocka_unit_test(heartbeat_carries_current_seq),
        cmocka_unit_test(first_heartbeat_is_new),
        cmocka_unit_test(publishers_are_independent),
        cmocka_unit_test(three_missed_heartbeats_expire),
        cmocka_unit_test(destroy_null_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
