/* catalog_flight: concurrent misses on one key share one query; different
 * keys do not; a slow leader does not hold followers forever. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog_flight.h"

#define THREADS 16

typedef struct {
    catalog_flight_t *fl;
    const char *key;
    int sleep_ms;
    int wait_ms;
    atomic_int *queries;
    int status;
    char *body;
    int role;
} job_t;

static void *run_job(void *arg)
{
    job_t *j = arg;
    catalog_flight_call_t *call;
    j->role = catalog_flight_join(j->fl, j->key, j->wait_ms, &call, &j->status, &j->body);
    if (j->role != CATALOG_FLIGHT_SHARED) {
        atomic_fetch_add(j->queries, 1);
        usleep((useconds_t)j->sleep_ms * 1000);
        j->status = 200;
        j->body = strdup("{\"v\": 1}");
        if (j->role == CATALOG_FLIGHT_LEADER)
            catalog_flight_finish(j->fl, call, j->status, j->body);
    }
    return NULL;
}

static void concurrent_misses_share_one_query(void **state)
{
    catalog_flight_t *fl = catalog_flight_new();
    atomic_int queries = 0;
    job_t jobs[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job_t){fl, "product:1", 300, 5000, &queries, 0, NULL, 0};
        pthread_create(&t[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&queries), 1);
    int leaders = 0;
    for (int i = 0; i < THREADS; i++) {
        leaders += jobs[i].role == CATALOG_FLIGHT_LEADER;
        assert_int_equal(jobs[i].status, 200);
        assert_string_equal(jobs[i].body, "{\"v\": 1}");
        free(jobs[i].body);
    }
    assert_int_equal(leaders, 1);
    assert_int_equal(catalog_flight_active(fl), 0);
    catalog_flight_destroy(&fl);
    assert_null(fl);
}

static void different_keys_do_not_share(void **state)
{
    catalog_flight_t *fl = catalog_flight_new();
    atomic_int queries = 0;
    job_t jobs[4];
    pthread_t t[4];
    const char *keys[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job_t){fl, keys[i], 100, 5000, &queries, 0, NULL, 0};
        pthread_create(&t[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].role, CATALOG_FLIGHT_LEADER);
        free(jobs[i].body);
    }
    assert_int_equal(atomic_load(&queries), 4);
    catalog_flight_destroy(&fl);
}

static void slow_leader_lets_followers_go(void **state)
{
    catalog_flight_t *fl = catalog_flight_new();
    catalog_flight_call_t *call;
    int status;
    char *body = NULL;
    assert_int_equal(catalog_flight_join(fl, "k", 100, &call, &status, &body),
                     CATALOG_FLIGHT_LEADER);
    /* a follower gives up after its timeout */
    catalog_flight_call_t *c2;
    assert_int_equal(catalog_flight_join(fl, "k", 50, &c2, &status, &body), CATALOG_FLIGHT_TIMEOUT);
    assert_null(body);
    catalog_flight_finish(fl, call, 404, "{\"detail\": \"Product not found\"}");
    assert_int_equal(catalog_flight_active(fl), 0);
    /* after finishing, the same key starts a new flight */
    assert_int_equal(catalog_flight_join(fl, "k", 100, &call, &status, &body),
                     CATALOG_FLIGHT_LEADER);
    catalog_flight_finish(fl, call, 200, NULL);
    catalog_flight_destroy(&fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_misses_share_one_query),
        cmocka_unit_test(different_keys_do_not_share),
        cmocka_unit_test(slow_leader_lets_followers_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
