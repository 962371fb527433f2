/* kill -9 of order-svc under order traffic: no order that was answered 201
 * is lost, stock and orders still agree, every committed outbox row is
 * published after the restart (including one left unsent by the dead
 * process), and catalog's cache follows the new publisher. */
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixtures.h"
#include "harness.h"

static const char *const test_env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", NULL};
static harness_t *h;

/* Waits for the stack, stretched like the harness's own (valgrind). */
static int scaled(int ms)
{
    return ms * harness_time_scale();
}

/* Waits up to ms for the API's stock of pid == want; returns the last value seen. */
static long wait_stock(const char *pid, long want, int ms)
{
    long s = -1;
    for (int waited = 0; waited <= scaled(ms); waited += 50) {
        if ((s = fixture_api_stock(h, pid)) == want)
            break;
        usleep(50 * 1000);
    }
    return s;
}

enum { MAX_IDS = 20000 };
static char order_body[256];
static volatile int traffic_stop;
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static char (*ok_ids)[40];
static int ok_count, fail_count;

static void *traffic(void *arg)
{
    (void)arg;
    while (!traffic_stop) {
        json_t *j = NULL;
        int st = http_json(h, "POST", "/api/v1/orders", order_body, &j);
        pthread_mutex_lock(&ids_lock);
        if (st == 201 && ok_count < MAX_IDS)
            snprintf(ok_ids[ok_count++], 40, "%s", json_string_value(json_object_get(j, "id")));
        else if (st != 201)
            fail_count++;
        pthread_mutex_unlock(&ids_lock);
        json_decref(j);
    }
    return NULL;
}

static void test_kill_9_loses_no_order_and_no_event(void **state)
{
    harness_opts_t opts = {.env = test_env};
    h = harness_start(&opts);
    assert_non_null(h);
    ok_ids = calloc(MAX_IDS, sizeof *ok_ids);

    char *cid = fixture_customer(h, "kill@example.com", "Kill");
    char *pid = fixture_product(h, "Kill Item", "1.5", 100000);
    char *pid2 = fixture_product(h, "Orphan Item", "2", 500);
    snprintf(order_body, sizeof order_body,
             "{\"customer_id\":\"%s\",\"items\":[{\"product_id\":\"%s\",\"quantity\":1}]}", cid,
             pid);
    assert_int_equal(fixture_api_stock(h, pid), 100000);
    assert_int_equal(fixture_api_stock(h, pid2), 500); /* both cached now */

    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, traffic, NULL);
    usleep(scaled(1500) * 1000);
    assert_int_equal(harness_kill(h, "order-svc", SIGKILL), 0);
    pthread_mutex_lock(&ids_lock);
    int before_kill = ok_count;
    pthread_mutex_unlock(&ids_lock);
    assert_true(before_kill > 0);

    /* What a process killed between COMMIT and publish leaves behind: a
     * stock change whose event is only in the outbox. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; UPDATE products SET stock = stock - 7, version = version + 1 WHERE id = '%s';"
             " INSERT INTO outbox (topic, payload) VALUES ('stock.changed',"
             " '{\"product_ids\":[\"%s\"]}'); COMMIT",
             pid2, pid2);
    assert_int_equal(harness_sql_exec(h, sql), 0);
    long orphan = fixture_sql_long(h, "SELECT max(id) FROM outbox");

    assert_int_equal(harness_restart(h, "order-svc"), 0);
    assert_int_equal(harness_wait_workers(h, "order", 4, 20000), 0);
    /* Requests caught by the kill wait out the gateway's deadline; then
     * traffic flows through the new process. */
    for (int waited = 0; waited < scaled(15000); waited += 100) {
        pthread_mutex_lock(&ids_lock);
        bool flowing = ok_count > before_kill + 50;
        pthread_mutex_unlock(&ids_lock);
        if (flowing)
            break;
        usleep(100 * 1000);
    }
    traffic_stop = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(ok_count > before_kill); /* orders succeeded after the restart */

    /* No order answered 201 is missing. */
    for (int i = 0; i < ok_count; i++)
        if (fixture_sql_long(h, "SELECT count(*) FROM orders WHERE id = '%s'", ok_ids[i]) != 1)
            fail_msg("order %s was answered 201 but is not in the database", ok_ids[i]);
    /* Stock and orders agree (also for orders whose reply the kill cut off). */
    long sold = fixture_sql_long(
        h, "SELECT coalesce(sum(quantity), 0) FROM order_items WHERE product_id = '%s'", pid);
    assert_true(sold >= ok_count);
    assert_int_equal(fixture_sql_long(h, "SELECT stock FROM products WHERE id = '%s'", pid),
                     100000 - sold);

    /* Every committed outbox row goes out, the dead process's orphan too. */
    long unsent = -1;
    for (int waited = 0; waited < scaled(5000); waited += 100) {
        if ((unsent = fixture_sql_long(h, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")) ==
            0)
            break;
        usleep(100 * 1000);
    }
    assert_int_equal(unsent, 0);
    assert_int_equal(
        fixture_sql_long(h, "SELECT count(*) FROM outbox WHERE id = %ld AND sent_at IS NOT NULL",
                         orphan),
        1);

    /* catalog's cache follows: the orphan's product and the traffic's. */
    assert_int_equal(wait_stock(pid2, 493, 3000), 493);
    assert_int_equal(wait_stock(pid, 100000 - sold, 3000), 100000 - sold);

    /* And the new publisher invalidates right away, as before the kill. */
    json_t *j = NULL;
    assert_int_equal(http_json(h, "POST", "/api/v1/orders", order_body, &j), 201);
    json_decref(j);
    assert_int_equal(fixture_api_stock(h, pid), 100000 - sold - 1);

    printf("# %d orders answered 201 (%d before the kill), %d other answers, %ld sold\n", ok_count,
           before_kill, fail_count, sold);
    free(ok_ids);
    free(cid);
    free(pid);
    free(pid2);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_9_loses_no_order_and_no_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
