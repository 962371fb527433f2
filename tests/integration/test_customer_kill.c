/* kill -9 of customer-svc: clients get an answer (503, never a hang) within
 * the request deadline while no customer worker is alive, and the service
 * is back (201) within 3 s of its restart. */
#include <setjmp.h>
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

#include "harness.h"

/* The gateway's deadline (ECOM_REQUEST_TIMEOUT_MS, default 5000; the
 * harness stretches it by SHOPMQ_TEST_TIME_SCALE, as the other clocks). */
#define DEADLINE_MS (5000 * harness_time_scale())
/* Slack for scheduling on a loaded 2-core CI machine (or under valgrind). */
#define SLACK_MS (1000 * harness_time_scale())
/* customer-svc answers within this of its restart. */
#define RESTART_MS (3000 * harness_time_scale())

static const char *const test_env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", NULL};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request; returns its status and how long it took. */
static int timed(harness_t *h, const char *method, const char *path, const char *body,
                 long long *took_ms, json_t **json)
{
    long long t0 = now_ms();
    int status = http_json(h, method, path, body, json);
    *took_ms = now_ms() - t0;
    return status;
}

static void test_kill_gives_503_then_recovers(void **state)
{
    harness_opts_t opts = {.no_catalog = true, .no_order = true, .env = test_env};
    harness_t *h = harness_start(&opts);
    assert_non_null(h);

    json_t *json = NULL;
    assert_int_equal(http_json(h, "POST", "/api/v1/customers",
                               "{\"email\":\"before@example.com\",\"name\":\"Before\"}", &json),
                     201);
    json_decref(json);

    assert_int_equal(harness_kill(h, "customer-svc", SIGKILL), 0);
    long long killed_at = now_ms();

    /* Right after the kill the broker may still count the dead worker
     * (until 3 missed heartbeats): a request can then wait, but it must
     * be answered within the deadline and must not succeed. */
    long long took = 0;
    json = NULL;
    int status = timed(h, "GET", "/api/v1/customers", NULL, &took, &json);
    if (status != 502 && status != 503 && status != 504)
        fail_msg("GET right after kill: status %d", status);
    assert_true(took <= DEADLINE_MS + SLACK_MS);
    json_decref(json);

    /* Once the worker is known dead, every request is a prompt 503. */
    bool saw_503 = false;
    while (now_ms() - killed_at < 3 * DEADLINE_MS) {
        json = NULL;
        status = timed(h, "GET", "/api/v1/customers", NULL, &took, &json);
        assert_true(took <= DEADLINE_MS + SLACK_MS);
        json_decref(json);
        if (status == 503) {
            saw_503 = true;
            break;
        }
        usleep(100 * 1000);
    }
    assert_true(saw_503);

    http_resp_t resp = {0};
    long long t0 = now_ms();
    assert_int_equal(http_request(h, "POST", "/api/v1/customers",
                                  "{\"email\":\"during@example.com\",\"name\":\"During\"}", NULL,
                                  &resp),
                     0);
    took = now_ms() - t0;
    assert_int_equal(resp.status, 503);
    assert_true(took <= DEADLINE_MS + SLACK_MS);
    assert_non_null(resp.json);
    assert_string_equal(json_string_value(json_object_get(resp.json, "detail")),
                        "Service unavailable");
    char *retry_after = http_header(&resp, "Retry-After");
    assert_non_null(retry_after);
    free(retry_after);
    http_resp_clear(&resp);

    json = NULL;
    status = timed(h, "GET", "/api/v1/customers/00000000-0000-0000-0000-000000000000", NULL,
                   &took, &json);
    assert_int_equal(status, 503);
    assert_true(took <= DEADLINE_MS + SLACK_MS);
    json_decref(json);

    /* Nothing was written while the service was down. */
    assert_int_equal(
        harness_sql_long(h, "SELECT count(*) FROM customers WHERE email = 'during@example.com'"),
        0);

    /* Restart: creating a customer works again within 3 s. */
    assert_int_equal(harness_restart(h, "customer-svc"), 0);
    long long restarted_at = now_ms();
    int created = 0;
    while (now_ms() - restarted_at <= RESTART_MS) {
        json = NULL;
        status = http_json(h, "POST", "/api/v1/customers",
                           "{\"email\":\"after@example.com\",\"name\":\"After\"}", &json);
        json_decref(json);
        if (status == 201) {
            created = 1;
            break;
        }
        assert_int_equal(status, 503); /* nothing else while it starts */
        usleep(50 * 1000);
    }
    if (!created)
        fail_msg("no 201 within %d ms of restarting customer-svc", RESTART_MS);
    fprintf(stderr, "customer-svc answered 201 %lld ms after its restart\n",
            now_ms() - restarted_at);

    /* And the data from before the kill is still there. */
    json = NULL;
    assert_int_equal(http_json(h, "GET", "/api/v1/customers", NULL, &json), 200);
    assert_int_equal(json_array_size(json), 2);
    json_decref(json);

    harness_stop(&h);
    assert_null(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_gives_503_then_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
