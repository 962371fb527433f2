/* GET /health and GET /metrics as the gateway builds them from the broker's
 * "broker.status" answer: which states are healthy, degraded or unhealthy,
 * and that every instance metric reaches the Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "gwmetrics.h"
#include "health.h"
#include "routes.h"

static json_t *health(const char *status, int *http)
{
    char *text = health_build(status, 42, http);
    assert_non_null(text);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    free(text);
    return j;
}

static const char *str(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

#define ALL_UP                                                                                  \
    "{\"services\":{"                                                                           \
    "\"catalog\":{\"workers\":2,\"queued\":0,\"instances\":{\"c1\":{\"database\":true,"         \
    "\"cache\":%s}}},"                                                                          \
    "\"order\":{\"workers\":%d,\"queued\":0,\"instances\":{}},"                                 \
    "\"customer\":{\"workers\":1,\"queued\":3,\"instances\":{\"u1\":{\"database\":%s,"          \
    "\"metrics\":{\"pool_in_use\":4,\"weird-name\":1.5,\"text\":\"x\"}}}}}}"

static char *status_json(const char *cache, int order_workers, const char *db)
{
    char *out = malloc(1024);
    snprintf(out, 1024, ALL_UP, cache, order_workers, db);
    return out;
}

static void test_all_up_is_healthy(void **state)
{
    int http = 0;
    char *st = status_json("true", 1, "true");
    json_t *h = health(st, &http);
    assert_int_equal(http, 200);
    assert_string_equal(str(h, "status"), "healthy");
    assert_string_equal(str(h, "database"), "connected");
    assert_string_equal(str(h, "cache"), "connected");
    assert_non_null(str(h, "version"));
    assert_int_equal(json_integer_value(json_object_get(h, "uptime_seconds")), 42);
    json_t *svc = json_object_get(h, "services");
    assert_int_equal(json_integer_value(json_object_get(svc, "catalog")), 2);
    assert_int_equal(json_integer_value(json_object_get(svc, "order")), 1);
    assert_int_equal(json_integer_value(json_object_get(svc, "customer")), 1);
    json_decref(h);
    free(st);
}

static void test_cache_down_is_degraded(void **state)
{
    int http = 0;
    char *st = status_json("false", 1, "true");
    json_t *h = health(st, &http);
    assert_int_equal(http, 200);
    assert_string_equal(str(h, "status"), "degraded");
    assert_string_equal(str(h, "cache"), "unavailable");
    json_decref(h);
    free(st);
}

static void test_service_without_workers_is_unhealthy(void **state)
{
    int http = 0;
    char *st = status_json("true", 0, "true");
    json_t *h = health(st, &http);
    assert_int_equal(http, 503);
    assert_string_equal(str(h, "status"), "unhealthy");
    json_decref(h);
    free(st);
}

static void test_database_or_broker_down_is_unhealthy(void **state)
{
    int http = 0;
    /* Only the catalog instance reports a database; make it false too. */
    const char *nodb = "{\"services\":{\"customer\":{\"workers\":1,\"queued\":0,"
                       "\"instances\":{\"u1\":{\"database\":false}}}}}";
    json_t *h = health(nodb, &http);
    assert_int_equal(http, 503);
    assert_string_equal(str(h, "status"), "unhealthy");
    assert_string_equal(str(h, "database"), "disconnected");
    assert_string_equal(str(h, "cache"), "unknown");
    json_decref(h);

    const char *bad[] = {NULL, "", "garbage", "[]", "{\"services\":3}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = health(bad[i], &http);
        assert_int_equal(http, 503);
        assert_string_equal(str(h, "status"), "unhealthy");
        json_decref(h);
    }
}

static void test_metrics_text(void **state)
{
    gwmetrics_t *m[2] = {gwmetrics_new(), gwmetrics_new()};
    gwmetrics_observe(m[0], 0, 200, 1500);
    gwmetrics_observe(m[1], 0, 200, 20000000);
    gwmetrics_observe(m[1], -1, 404, 10);
    gwmetrics_inflight(m[0], 3);
    ratelimit_stats_t rl = {.allowed = 7, .rejected = 2, .redis_up = true};
    gwmetrics_ratelimit(m[1], &rl);
    char *st = status_json("true", 1, "true");
    char *text = gwmetrics_render(m, 2, st, 5);
    assert_non_null(text);
    char want[256];
    snprintf(want, sizeof want,
             "shopmq_http_requests_total{method=\"%s\",route=\"%s\",status=\"200\"} 2\n",
             routes_at(0)->method, routes_at(0)->pattern);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "route=\"unmatched\",status=\"404\"} 1\n"));
    assert_non_null(strstr(text, "le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(text, "le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "shopmq_http_requests_in_flight 3\n"));
    assert_non_null(strstr(text, "shopmq_ratelimit_rejected_total 2\n"));
    assert_non_null(strstr(text, "shopmq_broker_up 1\n"));
    assert_non_null(strstr(text, "shopmq_broker_workers{service=\"catalog\"} 2\n"));
    assert_non_null(strstr(text, "shopmq_broker_queued{service=\"customer\"} 3\n"));
    assert_non_null(
        strstr(text, "shopmq_service_pool_in_use{service=\"customer\",instance=\"u1\"} 4\n"));
    assert_non_null(
        strstr(text, "shopmq_service_weird_name{service=\"customer\",instance=\"u1\"} 1.5\n"));
    assert_null(strstr(text, "shopmq_service_text"));
    assert_non_null(strstr(text, "shopmq_service_instances{service=\"catalog\"} 1\n"));
    assert_non_null(strstr(text, "shopmq_service_instances{service=\"order\"} 0\n"));
    free(text);

    /* the broker's own counters, one series per broker */
    const char *with_broker = "{\"services\":{},\"broker\":{\"id\":\"b\\\"1\",\"dispatched\":9,"
                              "\"unavailable\":2}}";
    text = gwmetrics_render(m, 2, with_broker, 5);
    assert_non_null(strstr(text, "# TYPE shopmq_broker_dispatched_total counter\n"
                                 "shopmq_broker_dispatched_total{broker=\"b\\\"1\"} 9\n"));
    assert_non_null(strstr(text, "shopmq_broker_unavailable_total{broker=\"b\\\"1\"} 2\n"));
    free(text);

    text = gwmetrics_render(m, 2, NULL, 5);
    assert_non_null(strstr(text, "shopmq_broker_up 0\n"));
    assert_null(strstr(text, "shopmq_broker_workers{"));
    free(text);
    free(st);
    gwmetrics_destroy(&m[0]);
    gwmetrics_destroy(&m[1]);
    assert_null(m[0]);
}

static json_t *cache_stats(const char *status, int *http)
{
    char *text = health_cache_stats(status, http);
    assert_non_null(text);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    free(text);
    return j;
}

/* GET /api/v1/cache/stats sums every catalog replica, not the one asked. */
static void test_cache_stats_sum_every_catalog_instance(void **state)
{
    int http = 0;
    const char *two =
        "{\"services\":{\"catalog\":{\"workers\":8,\"queued\":0,\"instances\":{"
        "\"a\":{\"cache\":false,\"metrics\":{\"cache_hits\":3,\"cache_misses\":1}},"
        "\"b\":{\"cache\":true,\"metrics\":{\"cache_hits\":5,\"cache_misses\":1}}}},"
        "\"order\":{\"workers\":1,\"queued\":0,\"instances\":{\"o\":{\"metrics\":"
        "{\"cache_hits\":100}}}}}}";
    json_t *j = cache_stats(two, &http);
    assert_int_equal(http, 200);
    assert_true(json_is_true(json_object_get(j, "available")));
    assert_int_equal(json_integer_value(json_object_get(j, "hits")), 8);
    assert_int_equal(json_integer_value(json_object_get(j, "misses")), 2);
    assert_true(json_real_value(json_object_get(j, "hit_rate")) == 0.8);
    json_decref(j);

    const char *cold = "{\"services\":{\"catalog\":{\"workers\":1,\"queued\":0,"
                       "\"instances\":{\"a\":{\"cache\":false}}}}}";
    j = cache_stats(cold, &http);
    assert_int_equal(http, 200);
    assert_true(json_is_false(json_object_get(j, "available")));
    assert_int_equal(json_integer_value(json_object_get(j, "hits")), 0);
    assert_true(json_real_value(json_object_get(j, "hit_rate")) == 0.0);
    json_decref(j);

    const char *none[] = {NULL, "not json", "{\"services\":{\"catalog\":{\"instances\":{}}}}"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        j = cache_stats(none[i], &http);
        assert_int_equal(http, 503);
        assert_string_equal(str(j, "detail"), "Service unavailable");
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_up_is_healthy),
        cmocka_unit_test(test_cache_down_is_degraded),
        cmocka_unit_test(test_database_or_broker_down_is_unhealthy),
        cmocka_unit_test(test_service_without_workers_is_unhealthy),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_cache_stats_sum_every_catalog_instance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
