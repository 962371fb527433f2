/* The PostgreSQL pool against a real server: lending, limits, timeouts,
 * prepared statements, rollback on release, and recovery after every pool
 * backend is terminated (what a server restart looks like to the pool).
 * Runs against SHOPMQ_TEST_DATABASE_URL when set, else against a private
 * PostgreSQL started by the integration harness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixtures.h"
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "pgpool.h"

static const char *db_url;

static const pgpool_stmt_t stmts[] = {
    {"t_add", "SELECT $1::int + 1"},
    {"t_pid", "SELECT pg_backend_pid()"},
    {"t_sleep", "SELECT pg_sleep($1::float8)"},
    {NULL, NULL},
};

static void make_cfg(config_t *cfg, int size, int overflow)
{
    char err[256];
    assert_int_equal(config_load_from(cfg, NULL, err, sizeof(err)), 0);
    snprintf(cfg->database_url, sizeof(cfg->database_url), "%s", db_url);
    cfg->db_pool_size = size;
    cfg->db_max_overflow = overflow;
    cfg->db_pool_timeout_s = 5;
    cfg->db_pool_recycle_s = 0;
    cfg->db_preping_idle_ms = 60000;
}

static int backend_pid(PGconn *conn)
{
    PGresult *res = pgpool_exec(conn, "t_pid", 0, NULL);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    int pid = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return pid;
}

static void test_acquire_release_and_limits(void **state)
{
    config_t cfg;
    make_cfg(&cfg, 2, 1);
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    assert_non_null(pool);
    pgpool_stats_t st;
    pgpool_stats(pool, &st);
    assert_int_equal(st.size, 2);
    assert_int_equal(st.open, 0); /* lazily opened */

    PGconn *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = pgpool_acquire(pool, 1000);
        assert_non_null(c[i]);
    }
    assert_true(pgpool_healthy(pool));
    pgpool_stats(pool, &st);
    assert_int_equal(st.open, 3);
    assert_int_equal(st.in_use, 3);

    /* Exhausted: gives up after the timeout, and counts it. */
    int64_t t0 = clock_mono_ms();
    assert_null(pgpool_acquire(pool, 200));
    int64_t waited = clock_mono_ms() - t0;
    assert_true(waited >= 190 && waited < 1500);
    pgpool_stats(pool, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.waiting, 0);

    /* Prepared statements exist on every connection. */
    const char *params[] = {"41"};
    for (int i = 0; i < 3; i++) {
        PGresult *res = pgpool_exec(c[i], "t_add", 1, params);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "42");
        PQclear(res);
    }

    /* Past size, a released connection is closed, not kept. */
    pgpool_release(pool, c[2]);
    pgpool_stats(pool, &st);
    assert_int_equal(st.open, 2);
    assert_int_equal(st.in_use, 2);
    pgpool_release(pool, c[1]);
    pgpool_release(pool, c[0]);
    pgpool_stats(pool, &st);
    assert_int_equal(st.open, 2);
    assert_int_equal(st.in_use, 0);

    /* LIFO: the most recently released connection comes back first. */
    PGconn *again = pgpool_acquire(pool, 1000);
    assert_ptr_equal(again, c[0]);
    pgpool_release(pool, again);
    pgpool_release(pool, NULL); /* harmless */
    pgpool_destroy(&pool);
    assert_null(pool);
    pgpool_destroy(&pool);
}

typedef struct {
    pgpool_t *pool;
    PGconn *got;
    int64_t waited;
} waiter_t;

static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    int64_t t0 = clock_mono_ms();
    w->got = pgpool_acquire(w->pool, 3000);
    w->waited = clock_mono_ms() - t0;
    return NULL;
}

/* A statement is cancelled once it outlives ECOM_REQUEST_TIMEOUT_MS (the
 * client has had its 504 by then) instead of holding the worker thread,
 * and the connection stays usable. */
static void test_statement_timeout(void **state)
{
    (void)state;
    config_t cfg;
    make_cfg(&cfg, 1, 0);
    cfg.request_timeout_ms = 300;
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    assert_non_null(pool);
    PGconn *conn = pgpool_acquire(pool, 1000);
    assert_non_null(conn);
    const char *secs[] = {"5"};
    int64_t t0 = clock_mono_ms();
    PGresult *res = pgpool_exec(conn, "t_sleep", 1, secs);
    int64_t took = clock_mono_ms() - t0;
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    assert_string_equal(pgpool_sqlstate(res), "57014");
    assert_true(pgpool_is_conn_error(conn, res)); /* answered 503, not 500 */
    PQclear(res);
    assert_true(took >= 250 && took < 3000);
    const char *one[] = {"1"};
    res = pgpool_exec(conn, "t_add", 1, one);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    pgpool_release(pool, conn);
    pgpool_destroy(&pool);
}

static void test_waiter_wakes_on_release(void **state)
{
    config_t cfg;
    make_cfg(&cfg, 1, 0);
    pgpool_t *pool = pgpool_new(&cfg, NULL);
    PGconn *c = pgpool_acquire(pool, 1000);
    assert_non_null(c);
    waiter_t w = {.pool = pool};
    pthread_t t;
    pthread_create(&t, NULL, waiter_main, &w);
    usleep(150 * 1000);
    pgpool_stats_t st;
    pgpool_stats(pool, &st);
    assert_int_equal(st.waiting, 1);
    pgpool_release(pool, c);
    pthread_join(t, NULL);
    assert_ptr_equal(w.got, c);
    assert_true(w.waited >= 100 && w.waited < 2000);
    pgpool_release(pool, w.got);
    pgpool_destroy(&pool);
}

static void test_release_rolls_back(void **state)
{
    config_t cfg;
    make_cfg(&cfg, 1, 0);
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    PGconn *c = pgpool_acquire(pool, 1000);
    assert_non_null(c);
    PQclear(PQexec(c, "BEGIN"));
    PQclear(PQexec(c, "CREATE TEMP TABLE pgpool_rollback_probe(x int)"));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INTRANS);
    pgpool_release(pool, c);

    c = pgpool_acquire(pool, 1000);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    PGresult *res = PQexec(c, "SELECT to_regclass('pg_temp.pgpool_rollback_probe') IS NULL");
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    PQclear(res);

    /* A failed transaction (INERROR) is rolled back too. */
    PQclear(PQexec(c, "BEGIN"));
    res = PQexec(c, "SELECT 1/0");
    assert_string_equal(pgpool_sqlstate(res), "22012");
    assert_false(pgpool_is_retryable(res));
    assert_false(pgpool_is_conn_error(c, res));
    PQclear(res);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INERROR);
    pgpool_release(pool, c);
    c = pgpool_acquire(pool, 1000);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    pgpool_release(pool, c);
    pgpool_destroy(&pool);
}

static void terminate_pids(const int *pids, int n)
{
    PGconn *admin = PQconnectdb(db_url);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    for (int i = 0; i < n; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pids[i]);
        PGresult *res = PQexec(admin, sql);
        assert_string_equal(PQgetvalue(res, 0, 0), "t");
        PQclear(res);
    }
    /* pg_terminate_backend only signals; wait until they are gone. */
    for (int tries = 0; tries < 100; tries++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%d,%d,%d)",
                 pids[0], n > 1 ? pids[1] : 0, n > 2 ? pids[2] : 0);
        PGresult *res = PQexec(admin, sql);
        int left = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (left == 0)
            break;
        usleep(20 * 1000);
    }
    PQfinish(admin);
}

/* Every idle connection dies at once (as in a server restart); the next
 * requests must all get working connections, whatever the ping age. */
static void check_recovery(int preping_idle_ms)
{
    config_t cfg;
    make_cfg(&cfg, 3, 0);
    cfg.db_preping_idle_ms = preping_idle_ms;
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    PGconn *c[3];
    int pids[3];
    for (int i = 0; i < 3; i++) {
        c[i] = pgpool_acquire(pool, 1000);
        assert_non_null(c[i]);
        pids[i] = backend_pid(c[i]);
    }
    for (int i = 0; i < 3; i++)
        pgpool_release(pool, c[i]);
    terminate_pids(pids, 3);

    for (int i = 0; i < 3; i++) {
        c[i] = pgpool_acquire(pool, 1000);
        assert_non_null(c[i]);
        int pid = backend_pid(c[i]); /* would fail on a dead connection */
        assert_true(pid != pids[0] && pid != pids[1] && pid != pids[2]);
    }
    assert_true(pgpool_healthy(pool));
    for (int i = 0; i < 3; i++)
        pgpool_release(pool, c[i]);
    pgpool_destroy(&pool);
}

static void test_reconnect_after_terminate_recently_used(void **state)
{
    check_recovery(60000); /* no ping by age: the idle-socket check must catch it */
}

static void test_reconnect_after_terminate_preping(void **state)
{
    check_recovery(0); /* ping on every acquire */
}

/* A connection killed while lent out: the request fails, the release
 * drops the connection, and the next acquire gets a fresh one. */
static void test_in_flight_failure_is_contained(void **state)
{
    config_t cfg;
    make_cfg(&cfg, 1, 0);
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    PGconn *c = pgpool_acquire(pool, 1000);
    int pid = backend_pid(c);
    terminate_pids(&pid, 1);
    PGresult *res = pgpool_exec(c, "t_pid", 0, NULL);
    assert_int_not_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(pgpool_is_conn_error(c, res));
    PQclear(res);
    pgpool_release(pool, c);
    pgpool_stats_t st;
    pgpool_stats(pool, &st);
    assert_int_equal(st.open, 0);
    c = pgpool_acquire(pool, 1000);
    assert_non_null(c);
    assert_int_not_equal(backend_pid(c), pid);
    pgpool_release(pool, c);
    pgpool_destroy(&pool);
}

static void test_recycle(void **state)
{
    config_t cfg;
    make_cfg(&cfg, 1, 0);
    cfg.db_pool_recycle_s = 1;
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    PGconn *c = pgpool_acquire(pool, 1000);
    int pid = backend_pid(c);
    pgpool_release(pool, c);
    c = pgpool_acquire(pool, 1000);
    assert_int_equal(backend_pid(c), pid); /* young: kept */
    pgpool_release(pool, c);
    usleep(1100 * 1000);
    c = pgpool_acquire(pool, 1000);
    assert_int_not_equal(backend_pid(c), pid);
    pgpool_release(pool, c);
    pgpool_destroy(&pool);
}

static void test_prepare_failure(void **state)
{
    static const pgpool_stmt_t bad[] = {
        {"t_ok", "SELECT 1"},
        {"t_missing", "SELECT * FROM pgpool_no_such_table"},
        {NULL, NULL},
    };
    config_t cfg;
    make_cfg(&cfg, 1, 0);
    pgpool_t *pool = pgpool_new(&cfg, bad);
    assert_null(pgpool_acquire(pool, 1000));
    pgpool_stats_t st;
    pgpool_stats(pool, &st);
    assert_int_equal(st.open, 0);
    assert_int_equal(st.in_use, 0);
    assert_false(pgpool_healthy(pool));
    pgpool_destroy(&pool);
}

static void test_unreachable_server(void **state)
{
    config_t cfg;
    make_cfg(&cfg, 1, 0);
    snprintf(cfg.database_url, sizeof(cfg.database_url),
             "postgresql://postgres@127.0.0.1:17299/none");
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    int64_t t0 = clock_mono_ms();
    assert_null(pgpool_acquire(pool, 1000));
    assert_true(clock_mono_ms() - t0 < 1000);
    assert_false(pgpool_healthy(pool));
    pgpool_stats_t st;
    pgpool_stats(pool, &st);
    assert_int_equal(st.open, 0);
    pgpool_destroy(&pool);
}

typedef struct {
    pgpool_t *pool;
    int ok, failed;
} hammer_t;

static void *hammer_main(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < 200; i++) {
        PGconn *c = pgpool_acquire(h->pool, 5000);
        if (!c) {
            h->failed++;
            continue;
        }
        const char *params[] = {"1"};
        PGresult *res = pgpool_exec(c, "t_add", 1, params);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "2") == 0)
            h->ok++;
        else
            h->failed++;
        PQclear(res);
        pgpool_release(h->pool, c);
    }
    return NULL;
}

static void test_concurrent_use(void **state)
{
    config_t cfg;
    make_cfg(&cfg, 3, 2);
    pgpool_t *pool = pgpool_new(&cfg, stmts);
    enum { N = 8 };
    pthread_t t[N];
    hammer_t h[N];
    for (int i = 0; i < N; i++) {
        h[i] = (hammer_t){.pool = pool};
        pthread_create(&t[i], NULL, hammer_main, &h[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(h[i].ok, 200);
        assert_int_equal(h[i].failed, 0);
    }
    pgpool_stats_t st;
    pgpool_stats(pool, &st);
    assert_true(st.open <= 3);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.timeouts, 0);
    pgpool_destroy(&pool);
}

int main(void)
{
    harness_t *h;
    if (!(db_url = fixture_database("test_pgpool", &h)))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_release_and_limits),
        cmocka_unit_test(test_waiter_wakes_on_release),
        cmocka_unit_test(test_statement_timeout),
        cmocka_unit_test(test_release_rolls_back),
        cmocka_unit_test(test_reconnect_after_terminate_recently_used),
        cmocka_unit_test(test_reconnect_after_terminate_preping),
        cmocka_unit_test(test_in_flight_failure_is_contained),
        cmocka_unit_test(test_recycle),
        cmocka_unit_test(test_prepare_failure),
        cmocka_unit_test(test_unreachable_server),
        cmocka_unit_test(test_concurrent_use),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_stop(&h);
    return rc;
}
