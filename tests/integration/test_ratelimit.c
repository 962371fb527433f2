/* Rate limiting end to end (API.md "Rate limiting", DESIGN §8): the 6th
 * request in a 5-per-2-s window is a 429 with the exact body and headers,
 * the window slides, exempt paths are not counted, two gateways sharing
 * Redis enforce one budget, a killed Redis leaves limiting to the local
 * window (nothing fails) and Redis comes back by itself, a spoofed
 * X-Forwarded-For from an untrusted peer changes nothing while a trusted
 * proxy's is honoured, and a bad CIDR stops the gateway at start-up. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "harness.h"

#define LIMITED "/api/v1/customers"

/* Waits for the stack, stretched like the harness's own: under valgrind
 * (SHOPMQ_TEST_TIME_SCALE) a request takes the whole stack ~20x longer, so
 * the rate window grows with it, or a burst of 6 would not fit in one. */
static int scaled(int ms)
{
    return ms * harness_time_scale();
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long header_long(const http_resp_t *r, const char *name)
{
    char *v = http_header(r, name);
    if (!v)
        return -1;
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* One GET; returns the status, fills *out (caller clears). */
static int get(int port, const char *path, const char *xff, http_resp_t *out)
{
    char h[256];
    const char *headers[] = {h, NULL};
    if (xff)
        snprintf(h, sizeof h, "X-Forwarded-For: %s", xff);
    memset(out, 0, sizeof *out);
    if (http_request_port(port, "GET", path, NULL, 0, xff ? headers : NULL, out) != 0)
        return 0;
    return out->status;
}

static int get_status(int port, const char *path, const char *xff)
{
    http_resp_t r;
    int st = get(port, path, xff, &r);
    http_resp_clear(&r);
    return st;
}

/* A 429 exactly as API.md has it. */
static void assert_429(const http_resp_t *r, int limit)
{
    assert_int_equal(r->status, 429);
    long ra = header_long(r, "Retry-After");
    assert_true(ra >= 1);
    char want[160];
    snprintf(want, sizeof want,
             "{\"error\": \"Rate limit exceeded\", \"retry_after\": %ld, "
             "\"detail\": \"Rate limit exceeded\"}",
             ra);
    assert_string_equal(r->body, want);
    assert_int_equal(header_long(r, "X-RateLimit-Limit"), limit);
    assert_int_equal(header_long(r, "X-RateLimit-Remaining"), 0);
    long reset = header_long(r, "X-RateLimit-Reset");
    long now = (long)time(NULL);
    assert_true(reset >= now && reset <= now + ra + 1);
}

static long long redis_exists(int port, const char *key)
{
    struct timeval tv = {.tv_sec = 1};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return -1;
    }
    /* The harness's ECOM_REDIS_URL names db 0. */
    redisReply *r = redisCommand(c, "EXISTS %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return v;
}

static int wait_http(int port, int timeout_ms)
{
    for (long long end = now_ms() + timeout_ms; now_ms() < end; sleep_ms(50))
        if (get_status(port, "/", NULL) == 200)
            return 0;
    return -1;
}

static void test_limit_slide_share_and_outage(void **state)
{
    (void)state;
    if (!harness_program_exists("gateway"))
        skip();
    /* a 2 s window (2 x the time scale) */
    const int window = scaled(2000);
    char window_env[64];
    snprintf(window_env, sizeof window_env, "ECOM_REDIS_RATE_LIMIT_WINDOW=%d", window / 1000);
    const char *const env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=5", window_env, NULL};
    harness_opts_t opts = {.no_catalog = true, .no_order = true, .env = env};
    harness_t *h = harness_start(&opts);
    assert_non_null(h);
    int port = harness_http_port(h);

    /* Exempt paths carry no limit headers and are not counted (whatever
     * they answer: "/" and /health report degraded without all services). */
    static const char *const exempt[] = {"/health", "/", "/metrics", "/openapi.json"};
    for (int i = 0; i < 8; i++) {
        http_resp_t r;
        int st = get(port, exempt[i % 4], NULL, &r);
        if (st == 0 || st == 429)
            fail_msg("exempt %s: status %d", exempt[i % 4], st);
        char *lim = http_header(&r, "X-RateLimit-Limit");
        assert_null(lim);
        http_resp_clear(&r);
    }

    long long t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        http_resp_t r;
        assert_int_equal(get(port, LIMITED, NULL, &r), 200);
        assert_int_equal(header_long(&r, "X-RateLimit-Limit"), 5);
        assert_int_equal(header_long(&r, "X-RateLimit-Remaining"), 4 - i);
        long reset = header_long(&r, "X-RateLimit-Reset");
        long now = (long)time(NULL);
        assert_true(reset >= now && reset <= now + window / 1000 + 1);
        http_resp_clear(&r);
    }
    http_resp_t r;
    get(port, LIMITED, NULL, &r);
    assert_429(&r, 5);
    long retry_after = header_long(&r, "Retry-After");
    assert_true(retry_after <= window / 1000);
    http_resp_clear(&r);
    assert_true(now_ms() - t0 < window * 3 / 4); /* else the window slid under us */

    /* A client-supplied X-Forwarded-For from an untrusted peer is ignored. */
    get(port, LIMITED, "203.0.113.99", &r);
    assert_429(&r, 5);
    http_resp_clear(&r);
    get(port, LIMITED, "203.0.113.98, 198.51.100.1", &r);
    assert_429(&r, 5);
    http_resp_clear(&r);

    /* A second gateway on the same Redis sees the same budget. */
    int port2 = harness_free_port();
    char port_env[32];
    snprintf(port_env, sizeof port_env, "ECOM_PORT=%d", port2);
    const char *const env2[] = {port_env, NULL};
    assert_true(harness_spawn(h, "gateway2", "gateway", env2) > 0);
    assert_int_equal(wait_http(port2, scaled(10000)), 0);
    get(port2, LIMITED, NULL, &r);
    assert_429(&r, 5);
    http_resp_clear(&r);

    /* The window slides: once Retry-After has passed, requests go through. */
    get(port, LIMITED, NULL, &r);
    retry_after = header_long(&r, "Retry-After");
    http_resp_clear(&r);
    sleep_ms(retry_after * 1000 + 150);
    assert_int_equal(get_status(port, LIMITED, NULL), 200);

    /* One budget across both gateways: a fresh window, alternating. */
    sleep_ms(window + 100);
    t0 = now_ms();
    int allowed = 0, denied = 0;
    for (int i = 0; i < 10; i++) {
        int st = get_status(i % 2 ? port2 : port, LIMITED, NULL);
        allowed += st == 200;
        denied += st == 429;
    }
    if (now_ms() - t0 < window * 3 / 4) {
        assert_int_equal(allowed, 5);
        assert_int_equal(denied, 5);
    } else {
        print_message("burst took %lld ms: only checking it was limited\n", now_ms() - t0);
        assert_true(denied >= 1 && allowed + denied == 10);
    }
    assert_int_equal(redis_exists(harness_redis_port(h), "rl:127.0.0.1"), 1);

    /* Redis dies: every request is still answered (200 or 429, never 5xx
     * and never a hang) and the limit still holds, per gateway. */
    sleep_ms(window + 100);
    assert_int_equal(harness_kill(h, "redis", SIGKILL), 0);
    allowed = denied = 0;
    t0 = now_ms();
    for (int i = 0; i < 12; i++) {
        long long t1 = now_ms();
        get(port, LIMITED, NULL, &r);
        assert_true(now_ms() - t1 < scaled(2000));
        if (r.status != 200 && r.status != 429)
            fail_msg("request %d with Redis down: status %d", i, r.status);
        if (r.status == 429)
            assert_429(&r, 5);
        else
            assert_int_equal(header_long(&r, "X-RateLimit-Limit"), 5);
        allowed += r.status == 200;
        denied += r.status == 429;
        http_resp_clear(&r);
    }
    if (now_ms() - t0 < window * 3 / 4)
        assert_true(allowed <= 5);
    assert_true(allowed >= 1);
    assert_true(denied >= 1);
    int st2 = get_status(port2, LIMITED, NULL);
    if (st2 != 200 && st2 != 429)
        fail_msg("second gateway with Redis down: status %d", st2);

    /* Redis comes back: the limiter reconnects by itself (backoff <= 5 s)
     * and its decisions land in Redis again. */
    assert_int_equal(harness_restart(h, "redis"), 0);
    bool back = false;
    for (long long end = now_ms() + scaled(12000); now_ms() < end && !back; sleep_ms(250)) {
        get_status(port, LIMITED, NULL);
        back = redis_exists(harness_redis_port(h), "rl:127.0.0.1") == 1;
    }
    assert_true(back);
    harness_stop(&h);
}

static void test_trusted_proxy_xff(void **state)
{
    (void)state;
    if (!harness_program_exists("gateway"))
        skip();
    static const char *const env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=3",
                                      "ECOM_REDIS_RATE_LIMIT_WINDOW=30",
                                      "ECOM_TRUSTED_PROXIES=10.0.0.0/8, 127.0.0.1/32", NULL};
    harness_opts_t opts = {.no_catalog = true, .no_order = true, .env = env};
    harness_t *h = harness_start(&opts);
    assert_non_null(h);
    int port = harness_http_port(h);

    for (int i = 0; i < 3; i++)
        assert_int_equal(get_status(port, LIMITED, "203.0.113.1"), 200);
    http_resp_t r;
    get(port, LIMITED, "203.0.113.1", &r);
    assert_429(&r, 3);
    http_resp_clear(&r);
    /* Another client behind the proxy has its own budget. */
    assert_int_equal(get_status(port, LIMITED, "203.0.113.2"), 200);
    /* Right to left: the client cannot hide behind made-up hops on the
     * left, and our own trusted hops are skipped. */
    assert_int_equal(get_status(port, LIMITED, "6.6.6.6, 203.0.113.1"), 429);
    assert_int_equal(get_status(port, LIMITED, "203.0.113.1, 10.1.1.1"), 429);
    assert_int_equal(get_status(port, LIMITED, " 203.0.113.1 "), 429);
    /* A proxy that adds a header line of its own (HAProxy's "option
     * forwardfor") rather than appending to the client's: the lines are one
     * list (RFC 9110 5.3), so the client's line on top cannot pick its IP. */
    const char *const two_lines[] = {"X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 203.0.113.1",
                                     NULL};
    memset(&r, 0, sizeof r);
    assert_int_equal(http_request_port(port, "GET", LIMITED, NULL, 0, two_lines, &r), 0);
    assert_int_equal(r.status, 429);
    http_resp_clear(&r);
    /* Without the header the proxy itself is the client. */
    assert_int_equal(get_status(port, LIMITED, NULL), 200);
    assert_int_equal(redis_exists(harness_redis_port(h), "rl:203.0.113.1"), 1);
    assert_int_equal(redis_exists(harness_redis_port(h), "rl:203.0.113.2"), 1);
    assert_int_equal(redis_exists(harness_redis_port(h), "rl:6.6.6.6"), 0);
    harness_stop(&h);
}

/* A bad ECOM_TRUSTED_PROXIES stops the gateway before it serves anything,
 * with a message naming the entry. Needs no stack: it must fail first. */
static void test_bad_cidr_stops_startup(void **state)
{
    (void)state;
    if (!harness_program_exists("gateway"))
        skip();
    char exe[1024], port_env[32];
    snprintf(exe, sizeof exe, "%s/gateway", SHOPMQ_BIN_DIR);
    snprintf(port_env, sizeof port_env, "ECOM_PORT=%d", harness_free_port());
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        char *envp[] = {port_env, "ECOM_HOST=127.0.0.1", "ECOM_REDIS_RATE_LIMIT_MAX=10",
                        "ECOM_TRUSTED_PROXIES=127.0.0.1/32, 10.0.0.0/33",
                        "ECOM_BROKER_ENDPOINTS=tcp://127.0.0.1:1",
                        "ECOM_REDIS_URL=redis://127.0.0.1:1/0", NULL};
        char *argv[] = {exe, NULL};
        execve(exe, argv, envp);
        _exit(127);
    }
    close(pipefd[1]);
    int status = 0;
    pid_t done = 0;
    for (long long end = now_ms() + 5000; now_ms() < end; sleep_ms(20))
        if ((done = waitpid(pid, &status, WNOHANG)) == pid)
            break;
    if (done != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(pipefd[0]);
        fail_msg("gateway kept running with ECOM_TRUSTED_PROXIES=10.0.0.0/33");
    }
    char out[8192];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof out - 1 && (k = read(pipefd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = '\0';
    close(pipefd[0]);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_int_not_equal(WEXITSTATUS(status), 127);
    if (!strstr(out, "10.0.0.0/33"))
        fail_msg("start-up error does not name the bad entry: %s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_cidr_stops_startup),
        cmocka_unit_test(test_trusted_proxy_xff),
        cmocka_unit_test(test_limit_slide_share_and_outage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
