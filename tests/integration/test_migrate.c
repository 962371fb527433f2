/* Migrations against a real server: applied once, in order, each with its
 * record; a failing file changes nothing; replicas starting together apply
 * each file exactly once; start-up waits for tables another service owns.
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

#include "migrate.h"

static const char *db_url;
static char svc[64]; /* unique per run so reruns start clean */

static PGconn *admin(void)
{
    PGconn *c = PQconnectdb(db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static char *scalar(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    char *v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void drop_tables(void)
{
    PGconn *c = admin();
    PQclear(PQexec(c, "DROP TABLE IF EXISTS tm_a, tm_b, tm_required"));
    char sql[256];
    snprintf(sql, sizeof(sql), "DELETE FROM schema_migrations WHERE service LIKE '%s%%'", svc);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

static int setup(void **state)
{
    drop_tables();
    return 0;
}

static const migration_t good[] = {
    {"001_a.sql", "CREATE TABLE tm_a(id int PRIMARY KEY);\nINSERT INTO tm_a VALUES (1);"},
    {"002_b.sql", "CREATE TABLE tm_b(a int REFERENCES tm_a(id));"},
    {NULL, NULL},
};

static int count_records(PGconn *c, const char *service)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM schema_migrations WHERE service = '%s'",
             service);
    char *v = scalar(c, sql);
    int n = atoi(v);
    free(v);
    return n;
}

static void test_apply_once(void **state)
{
    PGconn *c = admin();
    char err[512];
    assert_int_equal(migrate_run(c, svc, good, err, sizeof(err)), 0);
    assert_int_equal(count_records(c, svc), 2);
    /* Second run: nothing to do (tm_a would fail to be created twice). */
    assert_int_equal(migrate_run(c, svc, good, err, sizeof(err)), 0);
    assert_int_equal(count_records(c, svc), 2);
    char *v = scalar(c, "SELECT count(*) FROM tm_a");
    assert_string_equal(v, "1");
    free(v);
    /* The lock was released. */
    v = scalar(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                  "pg_backend_pid()");
    assert_string_equal(v, "0");
    free(v);
    PQfinish(c);
}

static void test_failure_rolls_back(void **state)
{
    static const migration_t bad[] = {
        {"001_a.sql", "CREATE TABLE tm_a(id int PRIMARY KEY);"},
        {"002_bad.sql", "CREATE TABLE tm_b(x int); SELECT * FROM tm_no_such_table;"},
        {"003_never.sql", "CREATE TABLE tm_required(x int);"},
        {NULL, NULL},
    };
    PGconn *c = admin();
    char err[512] = "";
    assert_int_equal(migrate_run(c, svc, bad, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "002_bad.sql"));
    assert_non_null(strstr(err, "tm_no_such_table"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(count_records(c, svc), 1);
    char *v = scalar(c, "SELECT to_regclass('tm_b') IS NULL AND to_regclass('tm_required') IS "
                        "NULL AND to_regclass('tm_a') IS NOT NULL");
    assert_string_equal(v, "t");
    free(v);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    PQfinish(c);
}

typedef struct {
    int rc;
} racer_t;

static void *racer_main(void *arg)
{
    racer_t *r = arg;
    PGconn *c = PQconnectdb(db_url);
    char err[512];
    r->rc = migrate_run(c, svc, good, err, sizeof(err));
    PQfinish(c);
    return NULL;
}

static void test_replicas_race(void **state)
{
    enum { N = 4 };
    pthread_t t[N];
    racer_t r[N];
    for (int i = 0; i < N; i++)
        pthread_create(&t[i], NULL, racer_main, &r[i]);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, 0);
    }
    PGconn *c = admin();
    assert_int_equal(count_records(c, svc), 2);
    PQfinish(c);
}

static volatile int stop_flag;

typedef struct {
    int rc;
} starter_t;

static void *starter_main(void *arg)
{
    starter_t *s = arg;
    static const char *const requires[] = {"tm_required", NULL};
    char service[80];
    snprintf(service, sizeof(service), "%s-dep", svc);
    static const migration_t dep[] = {
        {"001_dep.sql", "CREATE TABLE tm_b(r int);"},
        {NULL, NULL},
    };
    s->rc = migrate_startup(db_url, service, dep, requires, &stop_flag);
    return NULL;
}

static void test_startup_waits_for_tables(void **state)
{
    stop_flag = 0;
    starter_t s = {.rc = 99};
    pthread_t t;
    pthread_create(&t, NULL, starter_main, &s);
    usleep(1500 * 1000);
    PGconn *c = admin();
    char *v = scalar(c, "SELECT to_regclass('tm_b') IS NULL");
    assert_string_equal(v, "t"); /* still waiting */
    free(v);
    PQclear(PQexec(c, "CREATE TABLE tm_required(x int)"));
    pthread_join(t, NULL);
    assert_int_equal(s.rc, 0);
    v = scalar(c, "SELECT to_regclass('tm_b') IS NOT NULL");
    assert_string_equal(v, "t");
    free(v);
    PQfinish(c);
}

static void test_startup_stops(void **state)
{
    static const char *const requires[] = {"tm_never_created", NULL};
    stop_flag = 1;
    assert_int_equal(migrate_startup(db_url, svc, good, requires, &stop_flag), -1);
    stop_flag = 0;
    /* Unreachable database: waits until stopped. */
    stop_flag = 1;
    assert_int_equal(
        migrate_startup("postgresql://postgres@127.0.0.1:17298/x", svc, good, NULL, &stop_flag),
        -1);
    stop_flag = 0;
}

int main(void)
{
    harness_t *h;
    if (!(db_url = fixture_database("test_migrate", &h)))
        return 1;
    snprintf(svc, sizeof(svc), "test-migrate-%ld", (long)getpid());
    /* schema_migrations must exist for drop_tables' DELETE. */
    PGconn *c = PQconnectdb(db_url);
    char err[256];
    static const migration_t none[] = {{NULL, NULL}};
    if (migrate_run(c, svc, none, err, sizeof(err)) != 0) {
        fprintf(stderr, "test_migrate: %s\n", err);
        PQfinish(c);
        return 1;
    }
    PQfinish(c);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_once, setup, setup),
        cmocka_unit_test_setup_teardown(test_failure_rolls_back, setup, setup),
        cmocka_unit_test_setup_teardown(test_replicas_race, setup, setup),
        cmocka_unit_test_setup_teardown(test_startup_waits_for_tables, setup, setup),
        cmocka_unit_test_setup_teardown(test_startup_stops, setup, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_stop(&h);
    return rc;
}
