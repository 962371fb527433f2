/* Two brokers side by side (DESIGN §1): the gateway, the three services,
 * order-svc's event publisher and catalog-svc's subscriber all connect to
 * both. Proves, with the real stack:
 *   - both brokers know every worker, and requests are spread over both;
 *   - an event reaches catalog-svc twice (once per broker) without being
 *     taken for a sequence gap or a publisher restart;
 *   - kill -9 of a broker: only requests it held may fail (502/503/504),
 *     new ones succeed within a second, /health keeps its counts, events
 *     still invalidate the cache through the other broker;
 *   - the killed broker, restarted, gets its workers back and gets work;
 *   - then the other broker can die too (full failover both ways). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>
#include <jansson.h>

#include "admin_auth.h"
#include "clock.h"
#include "harness.h"
#include "shopmq_proto.h"

#define WORKERS 4 /* ECOM_WORKERS the harness gives every service */
/* ECOM_REQUEST_TIMEOUT_MS below: 2 s, stretched like the harness's own
 * clocks under valgrind (SHOPMQ_TEST_TIME_SCALE). */
#define REQUEST_TIMEOUT_MS (2000 * harness_time_scale())

static harness_t *h;
static char *cid, *pid;
static char order_body[256];

/* ---- a broker, asked directly ---- */

/* broker.status of the broker at endpoint (new reference), NULL when it
 * does not answer within 1 s. */
static json_t *status_at(const char *endpoint)
{
    zsock_t *c = zsock_new(ZMQ_DEALER);
    assert_non_null(c);
    zsock_set_linger(c, 0);
    assert_int_equal(zsock_connect(c, "%s", endpoint), 0);
    smq_ctl_t ctl = {.budget_ms = 1000, .flags = 0};
    const char *meta = "{\"op\":\"broker.status\"}";
    zmsg_t *msg = smq_client_request_new(SMQ_SVC_BROKER, "st", &ctl, meta, strlen(meta), "", 0);
    json_t *j = NULL;
    if (zmsg_send(&msg, c) == 0) {
        zpoller_t *p = zpoller_new(c, NULL);
        if (zpoller_wait(p, 1000 * harness_time_scale())) {
            zmsg_t *r = zmsg_recv(c);
            smq_reply_t rep;
            memset(&rep, 0, sizeof rep);
            if (r && smq_client_reply_decode(r, &rep) == 0 && rep.status == 200 && rep.body)
                j = json_loads(rep.body, 0, NULL);
            smq_reply_clear(&rep);
            zmsg_destroy(&r);
        }
        zpoller_destroy(&p);
    }
    zmsg_destroy(&msg);
    zsock_destroy(&c);
    return j;
}

static long workers_of(json_t *st, const char *service)
{
    json_t *v = json_object_get(json_object_get(json_object_get(st, "services"), service),
                                "workers");
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static long dispatched_at(const char *endpoint)
{
    json_t *st = status_at(endpoint);
    long n = st ? (long)json_integer_value(
                      json_object_get(json_object_get(st, "broker"), "dispatched"))
                : -1;
    json_decref(st);
    return n;
}

/* Waits until the broker at endpoint knows WORKERS workers of every
 * service; returns how long that took in ms, or -1. */
static long wait_all_workers_at(const char *endpoint, int timeout_ms)
{
    int64_t t0 = clock_mono_ms();
    int64_t end = t0 + (int64_t)timeout_ms * harness_time_scale();
    while (clock_mono_ms() < end) {
        json_t *st = status_at(endpoint);
        bool all = st && workers_of(st, "customer") == WORKERS &&
                   workers_of(st, "catalog") == WORKERS && workers_of(st, "order") == WORKERS;
        json_decref(st);
        if (all)
            return (long)(clock_mono_ms() - t0);
        usleep(20 * 1000);
    }
    return -1;
}

/* ---- HTTP helpers ---- */

static char *post_id(const char *path, const char *body)
{
    json_t *j = NULL;
    assert_int_equal(admin_json(h, "POST", path, body, &j), 201);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    return id;
}

static long api_stock(void)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/products/%s", pid);
    json_t *j = NULL;
    int st = http_json(h, "GET", path, NULL, &j);
    long s = st == 200 ? (long)json_integer_value(json_object_get(j, "stock")) : -1;
    json_decref(j);
    return s;
}

static long db_stock(void)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT stock FROM products WHERE id = '%s'", pid);
    return harness_sql_long(h, sql);
}

/* The product is cached (read twice), an order takes one, and the cached
 * copy must follow within 2 s: only an event (or a flush) can do that, as
 * the cache TTL is minutes. */
static void order_invalidates_cached_stock(void)
{
    long before = db_stock();
    assert_int_equal(api_stock(), before);
    assert_int_equal(api_stock(), before);
    json_t *j = NULL;
    assert_int_equal(http_json(h, "POST", "/api/v1/orders", order_body, &j), 201);
    json_decref(j);
    long s = -1;
    for (int waited = 0; waited <= 2000 * harness_time_scale(); waited += 50) {
        if ((s = api_stock()) == before - 1)
            break;
        usleep(50 * 1000);
    }
    assert_int_equal(s, before - 1);
}

/* Lines of catalog-svc's log saying it invalidated everything because of a
 * sequence gap or a publisher restart. */
static int catalog_flushes(void)
{
    FILE *f = fopen(harness_log_path(h, "catalog-svc"), "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "sequence gap") || strstr(line, "publisher restart"))
            n++;
    fclose(f);
    return n;
}

/* /health answers 200 with every service at full strength. */
static void health_is_full(void)
{
    json_t *j = NULL;
    assert_int_equal(http_json(h, "GET", "/health", NULL, &j), 200);
    json_t *svc = json_object_get(j, "services");
    assert_int_equal(json_integer_value(json_object_get(svc, "customer")), WORKERS);
    assert_int_equal(json_integer_value(json_object_get(svc, "catalog")), WORKERS);
    assert_int_equal(json_integer_value(json_object_get(svc, "order")), WORKERS);
    /* "degraded" may also come from a Redis command timing out on a busy
     * machine; that is no broker's doing. */
    const char *status = json_string_value(json_object_get(j, "status"));
    const char *cache = json_string_value(json_object_get(j, "cache"));
    bool ok = status && (strcmp(status, "healthy") == 0 ||
                         (strcmp(status, "degraded") == 0 && cache &&
                          strcmp(cache, "unavailable") == 0));
    if (!ok) {
        char *text = json_dumps(j, JSON_COMPACT);
        fail_msg("/health: %s", text ? text : "?");
    }
    json_decref(j);
}

/* ---- background traffic: GETs on all three services, and orders ---- */

enum { MAX_SAMPLES = 200000, TRAFFIC_THREADS = 4 };
typedef struct {
    int64_t start_ms, end_ms;
    int status;
} sample_t;

static sample_t *samples;
static int nsamples;
static pthread_mutex_t samples_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int traffic_stop;

static void *traffic(void *arg)
{
    intptr_t k = (intptr_t)arg;
    char paths[3][160];
    snprintf(paths[0], sizeof paths[0], "/api/v1/products/%s", pid);
    snprintf(paths[1], sizeof paths[1], "/api/v1/customers/%s", cid);
    snprintf(paths[2], sizeof paths[2], "/api/v1/orders?customer_id=%s&page_size=1", cid);
    for (int i = 0; !traffic_stop; i++) {
        int64_t t0 = clock_mono_ms();
        http_resp_t r;
        bool order = k == 0 && i % 4 == 0; /* non-idempotent POSTs too */
        if (order)
            http_request(h, "POST", "/api/v1/orders", order_body, NULL, &r);
        else
            http_request(h, "GET", paths[(i + k) % 3], NULL, NULL, &r);
        int st = r.status;
        http_resp_clear(&r);
        pthread_mutex_lock(&samples_lock);
        if (nsamples < MAX_SAMPLES)
            samples[nsamples++] = (sample_t){t0, clock_mono_ms(), st};
        pthread_mutex_unlock(&samples_lock);
    }
    return NULL;
}

static pthread_t threads[TRAFFIC_THREADS];

static void traffic_start(void)
{
    nsamples = 0;
    traffic_stop = 0;
    for (intptr_t i = 0; i < TRAFFIC_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, traffic, (void *)i), 0);
}

static void traffic_end(void)
{
    traffic_stop = 1;
    for (int i = 0; i < TRAFFIC_THREADS; i++)
        pthread_join(threads[i], NULL);
}

static bool ok_status(int st)
{
    return st >= 200 && st < 300;
}

/* Checks the samples around a broker's death at kill_ms: requests started
 * before it (or just after, while the dead connection is noticed) may fail
 * with 502/503/504 and nothing else; every request started more than
 * settle_ms after it succeeded. Prints a summary. */
static void check_samples(const char *what, int64_t kill_ms, int settle_ms)
{
    int ok = 0, failed = 0, late_failed = 0, after = 0, n502 = 0, n503 = 0, n504 = 0;
    int64_t first_ok_after = -1;
    for (int i = 0; i < nsamples; i++) {
        sample_t *s = &samples[i];
        if (ok_status(s->status)) {
            ok++;
            if (s->start_ms >= kill_ms && (first_ok_after < 0 || s->end_ms < first_ok_after))
                first_ok_after = s->end_ms;
        } else {
            failed++;
            n502 += s->status == 502;
            n503 += s->status == 503;
            n504 += s->status == 504;
            if (s->status != 502 && s->status != 503 && s->status != 504)
                fail_msg("%s: a request started %lld ms after the kill got %d", what,
                         (long long)(s->start_ms - kill_ms), s->status);
        }
        if (s->start_ms > kill_ms + settle_ms) {
            after++;
            if (!ok_status(s->status)) {
                late_failed++;
                fprintf(stderr, "# %s: request started %lld ms after the kill got %d\n", what,
                        (long long)(s->start_ms - kill_ms), s->status);
            }
        }
    }
    printf("# %s: %d requests, %d ok, %d failed (%d 502, %d 503, %d 504); %d started > %d ms "
           "after, %d of them failed; first success %lld ms after the kill\n",
           what, nsamples, ok, failed, n502, n503, n504, after, settle_ms, late_failed,
           (long long)(first_ok_after - kill_ms));
    assert_true(after > 20);
    assert_int_equal(late_failed, 0);
    assert_true(first_ok_after >= 0 && first_ok_after - kill_ms <= settle_ms);
}

/* ---- tests (in order: each leaves the stack as the next expects) ---- */

static void test_both_brokers_know_every_worker_and_share_the_work(void **state)
{
    (void)state;
    const char *b1 = harness_broker_endpoint(h), *b2 = harness_broker2_endpoint(h);
    assert_non_null(b2);
    assert_true(wait_all_workers_at(b1, 10000) >= 0);
    assert_true(wait_all_workers_at(b2, 10000) >= 0);
    /* The gateway's /health trails the brokers by a heartbeat. */
    assert_int_equal(harness_wait_workers(h, "customer", WORKERS, 5000), 0);
    assert_int_equal(harness_wait_workers(h, "catalog", WORKERS, 5000), 0);
    assert_int_equal(harness_wait_workers(h, "order", WORKERS, 5000), 0);
    for (int i = 0; i < 10; i++)
        health_is_full();

    long d1 = dispatched_at(b1), d2 = dispatched_at(b2);
    char path[160];
    snprintf(path, sizeof path, "/api/v1/customers/%s", cid);
    for (int i = 0; i < 200; i++) {
        json_t *j = NULL;
        assert_int_equal(http_json(h, "GET", i % 2 ? path : "/api/v1/categories", NULL, &j), 200);
        json_decref(j);
    }
    long n1 = dispatched_at(b1) - d1, n2 = dispatched_at(b2) - d2;
    printf("# 200 requests: %ld via broker, %ld via broker2\n", n1, n2);
    /* broker.status itself is answered by the broker, not dispatched */
    assert_int_equal(n1 + n2, 200);
    assert_true(n1 >= 40 && n2 >= 40);
}

static void test_events_via_two_brokers_are_not_gaps(void **state)
{
    (void)state;
    int flushes = catalog_flushes();
    order_invalidates_cached_stock();
    /* A burst: the two copies of each event interleave. */
    traffic_start();
    usleep(1500 * 1000);
    traffic_end();
    for (int i = 0; i < nsamples; i++)
        if (!ok_status(samples[i].status))
            fail_msg("request %d failed with %d with both brokers up", i, samples[i].status);
    order_invalidates_cached_stock();
    usleep(500 * 1000); /* late copies through the slower broker */
    int more = catalog_flushes() - flushes;
    printf("# %d requests in the burst; catalog flushes for gaps/restarts: %d\n", nsamples, more);
    assert_int_equal(more, 0);
}

static void test_kill_9_broker2(void **state)
{
    (void)state;
    traffic_start();
    usleep(1000 * 1000);
    int64_t kill_ms = clock_mono_ms();
    assert_int_equal(harness_kill(h, "broker2", SIGKILL), 0);
    usleep((REQUEST_TIMEOUT_MS + 1500 * harness_time_scale()) * 1000);
    traffic_end();
    check_samples("kill -9 broker2", kill_ms, 1000 * harness_time_scale());
    for (int i = 0; i < 10; i++)
        health_is_full(); /* broker answers for everyone */
    order_invalidates_cached_stock(); /* events through broker alone */
}

static void test_restarted_broker2_gets_work_again(void **state)
{
    (void)state;
    int flushes = catalog_flushes();
    /* A longer outage, so a reconnect backoff would have grown by now. */
    usleep(13500 * 1000);
    traffic_start();
    usleep(500 * 1000);
    assert_int_equal(harness_restart(h, "broker2"), 0);
    long took = wait_all_workers_at(harness_broker2_endpoint(h), 10000);
    printf("# restarted broker2 knew every worker after %ld ms\n", took);
    /* within a heartbeat or so: requests it gets meanwhile wait in its
     * queue, and 503 after ECOM_QUEUE_GRACE_MS (1 s) */
    assert_true(took >= 0 && took < 1000 * harness_time_scale());
    usleep(1000 * 1000);
    traffic_end();
    /* Nothing fails while a broker joins: requests it takes before its
     * workers are back wait in its queue (ECOM_QUEUE_GRACE_MS). */
    int failed = 0;
    for (int i = 0; i < nsamples; i++)
        if (!ok_status(samples[i].status)) {
            failed++;
            fprintf(stderr, "# during the restart: a request got %d\n", samples[i].status);
        }
    printf("# %d requests during broker2's restart, %d failed\n", nsamples, failed);
    assert_int_equal(failed, 0);
    long d = dispatched_at(harness_broker2_endpoint(h));
    int more = catalog_flushes() - flushes;
    printf("# the new broker2 dispatched %ld; catalog flushes: %d\n", d, more);
    assert_true(d > 20);
    /* events queued for the dead broker are not delivered stale when it is
     * back (each would flush the cache): a gap as its path joins, at most */
    assert_true(more <= 3);
    health_is_full();
}

/* A hung broker (SIGSTOP: its TCP connections stay up, nothing answers)
 * is what a dead host looks like: no connection is closed, so only
 * heartbeats can tell the gateway to stop sending to it. */
static void test_hung_broker2_is_left_out(void **state)
{
    (void)state;
    traffic_start();
    usleep(1000 * 1000);
    int64_t stop_ms = clock_mono_ms();
    assert_int_equal(harness_kill(h, "broker2", SIGSTOP), 0);
    usleep((REQUEST_TIMEOUT_MS + 2500 * harness_time_scale()) * 1000);
    traffic_end();
    /* 3 heartbeats (1.5 s, scaled by the harness too) to notice */
    check_samples("SIGSTOP broker2", stop_ms, 2000 * harness_time_scale());
    for (int i = 0; i < 10; i++)
        health_is_full();
    order_invalidates_cached_stock();

    int flushes = catalog_flushes();
    assert_int_equal(harness_kill(h, "broker2", SIGCONT), 0);
    long took = wait_all_workers_at(harness_broker2_endpoint(h), 10000);
    printf("# resumed broker2 knew every worker after %ld ms\n", took);
    /* and no more: the workers said goodbye when they left it, so it does
     * not keep them for a liveness period and dispatch to sockets that
     * are gone (which a POST would answer with 502) */
    assert_true(took >= 0 && took < 1000 * harness_time_scale());
    long d0 = dispatched_at(harness_broker2_endpoint(h));
    for (int i = 0; i < 100; i++) {
        json_t *j = NULL;
        if (i % 3 == 0)
            assert_int_equal(http_json(h, "POST", "/api/v1/orders", order_body, &j), 201);
        else
            assert_int_equal(http_json(h, "GET", "/api/v1/products", NULL, &j), 200);
        json_decref(j);
    }
    long d = dispatched_at(harness_broker2_endpoint(h)) - d0;
    int more = catalog_flushes() - flushes;
    printf("# the resumed broker2 dispatched %ld of 100; catalog flushes since it resumed: %d\n",
           d, more);
    assert_true(d >= 20);
    /* What it held while hung is stale: a few flushes (more when a slow,
     * sanitized build lets more pile up), never one per event (~33 here). */
    assert_true(more <= 10);
    health_is_full();
}

static void test_then_kill_9_broker(void **state)
{
    (void)state;
    traffic_start();
    usleep(1000 * 1000);
    int64_t kill_ms = clock_mono_ms();
    assert_int_equal(harness_kill(h, "broker", SIGKILL), 0);
    usleep((REQUEST_TIMEOUT_MS + 1500 * harness_time_scale()) * 1000);
    traffic_end();
    check_samples("kill -9 broker", kill_ms, 1000 * harness_time_scale());
    for (int i = 0; i < 10; i++)
        health_is_full();
    order_invalidates_cached_stock(); /* events through the restarted broker2 */
    long d = dispatched_at(harness_broker2_endpoint(h));
    assert_true(d > 0);
}

static int setup(void **state)
{
    (void)state;
    static char timeout_env[64];
    snprintf(timeout_env, sizeof timeout_env, "ECOM_REQUEST_TIMEOUT_MS=%d", REQUEST_TIMEOUT_MS);
    static const char *env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", timeout_env, NULL};
    harness_opts_t opts = {.two_brokers = true, .env = env};
    h = harness_start(&opts);
    if (!h)
        return -1;
    samples = calloc(MAX_SAMPLES, sizeof *samples);
    cid = post_id("/api/v1/customers", "{\"email\":\"ha@example.com\",\"name\":\"HA\"}");
    pid = post_id("/api/v1/products",
                  "{\"name\":\"HA Item\",\"price\":2.5,\"stock\":1000000,\"sku\":\"HA-1\"}");
    snprintf(order_body, sizeof order_body,
             "{\"customer_id\":\"%s\",\"items\":[{\"product_id\":\"%s\",\"quantity\":1}]}", cid,
             pid);
    return samples ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    harness_stop(&h);
    free(samples);
    free(cid);
    free(pid);
    return 0;
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_brokers_know_every_worker_and_share_the_work),
        cmocka_unit_test(test_events_via_two_brokers_are_not_gaps),
        cmocka_unit_test(test_kill_9_broker2),
        cmocka_unit_test(test_restarted_broker2_gets_work_again),
        cmocka_unit_test(test_hung_broker2_is_left_out),
        cmocka_unit_test(test_then_kill_9_broker),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
