/* Request tracing: the client's X-Request-Id travels through the protocol
 * (meta "trace") and is the "rid" of a log line in every process that
 * handled a request that went wrong: the gateway, the service that answered
 * it, and the broker when it answered itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static harness_t *h;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A JSON line of the process's log whose "rid" is rid, as malloc'd text
 * (waits up to 3 s: the line is written after the answer). */
static char *log_line_with_rid(const char *proc, const char *rid)
{
    const char *path = harness_log_path(h, proc);
    assert_non_null(path);
    long long until = now_ms() + 3000LL;
    do {
        FILE *f = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        while (f && getline(&line, &cap, f) > 0) {
            json_t *j = json_loads(line, 0, NULL);
            const char *r = json_string_value(json_object_get(j, "rid"));
            bool hit = r && strcmp(r, rid) == 0;
            json_decref(j);
            if (hit) {
                fclose(f);
                return line;
            }
        }
        free(line);
        if (f)
            fclose(f);
        usleep(50 * 1000);
    } while (now_ms() < until);
    return NULL;
}

static void get_with_id(const char *path, const char *rid, int want_status)
{
    char hdr[160];
    snprintf(hdr, sizeof hdr, "X-Request-Id: %s", rid);
    const char *const headers[] = {hdr, NULL};
    http_resp_t r = {0};
    assert_int_equal(http_request(h, "GET", path, NULL, headers, &r), 0);
    assert_int_equal(r.status, want_status);
    char *echo = http_header(&r, "X-Request-Id");
    assert_non_null(echo);
    assert_string_equal(echo, rid);
    free(echo);
    http_resp_clear(&r);
}

static void unique_id(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "trace-%s-%ld-%d", what, (long)time(NULL), rand() % 100000);
}

/* A 404 made by each service: the id is in the gateway's log and in the
 * log of the service that answered. */
static void a_failed_request_is_in_the_gateway_and_service_logs(void **state)
{
    static const struct {
        const char *path, *proc, *what;
    } cases[] = {
        {"/api/v1/products/9b2f4c1e-0000-4000-8000-000000000001", "catalog-svc", "catalog"},
        {"/api/v1/customers/9b2f4c1e-0000-4000-8000-000000000002", "customer-svc", "customer"},
        {"/api/v1/orders/9b2f4c1e-0000-4000-8000-000000000003", "order-svc", "order"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rid[96];
        unique_id(rid, sizeof rid, cases[i].what);
        get_with_id(cases[i].path, rid, 404);

        char *line = log_line_with_rid("gateway", rid);
        if (!line)
            fail_msg("X-Request-Id %s not in the gateway's log", rid);
        assert_non_null(strstr(line, "404"));
        free(line);

        line = log_line_with_rid(cases[i].proc, rid);
        if (!line)
            fail_msg("X-Request-Id %s not in %s's log", rid, cases[i].proc);
        assert_non_null(strstr(line, "404"));
        free(line);
    }
}

/* Each request keeps its own id: a second failing request is logged under
 * its id, not the first one's. */
static void ids_do_not_leak_between_requests(void **state)
{
    char a[96], b[96];
    unique_id(a, sizeof a, "first");
    unique_id(b, sizeof b, "second");
    get_with_id("/api/v1/products/not-a-uuid", a, 404);
    get_with_id("/api/v1/categories/9b2f4c1e-0000-4000-8000-000000000004", b, 404);
    char *la = log_line_with_rid("catalog-svc", a);
    char *lb = log_line_with_rid("catalog-svc", b);
    assert_non_null(la);
    assert_non_null(lb);
    assert_non_null(strstr(la, "products.get"));
    assert_non_null(strstr(lb, "categories.get"));
    free(la);
    free(lb);
}

/* No live worker: the broker answers 503 itself and logs the id. */
static void the_broker_logs_what_it_answers_itself(void **state)
{
    assert_int_equal(harness_kill(h, "order-svc", SIGKILL), 0);
    /* once the broker has dropped the dead workers (three heartbeats) */
    long long until = now_ms() + 10000LL;
    char rid[96];
    int status = 0;
    do {
        unique_id(rid, sizeof rid, "broker");
        char hdr[160];
        snprintf(hdr, sizeof hdr, "X-Request-Id: %s", rid);
        const char *const headers[] = {hdr, NULL};
        http_resp_t r = {0};
        assert_int_equal(
            http_request(h, "GET", "/api/v1/orders/9b2f4c1e-0000-4000-8000-000000000005", NULL,
                         headers, &r),
            0);
        status = r.status;
        http_resp_clear(&r);
    } while (status != 503 && now_ms() < until && (usleep(200 * 1000), true));
    assert_int_equal(status, 503);
    char *line = log_line_with_rid("broker", rid);
    if (!line)
        fail_msg("X-Request-Id %s not in the broker's log", rid);
    free(line);
    line = log_line_with_rid("gateway", rid);
    assert_non_null(line);
    assert_non_null(strstr(line, "503"));
    free(line);
}

static int group_setup(void **state)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    h = harness_start(NULL);
    return h ? 0 : -1;
}

static int group_teardown(void **state)
{
    harness_stop(&h);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_failed_request_is_in_the_gateway_and_service_logs),
        cmocka_unit_test(ids_do_not_leak_between_requests),
        cmocka_unit_test(the_broker_logs_what_it_answers_itself),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
