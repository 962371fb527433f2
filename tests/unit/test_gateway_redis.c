/* The gateway's two Redis users against a real, private redis-server,
 * driven the way the gateway drives them (zmq_poll on their poll items and
 * timeouts).
 * ratelimit_t: the Lua sliding log, NOSCRIPT recovery, a stalled Redis
 * answered locally within the deadline (late replies ignored, every
 * callback exactly once), a dead Redis, and recovery.
 * gwcache_t: catalog-svc's rules for a hit (generation, cached 404, list
 * pages by normalized query), many lookups in flight, a stalled Redis
 * answered "miss" within the deadline, and the hit counts it sends.
 * Skipped when redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "gwcache.h"
#include "log.h"
#include "ratelimit.h"

static pid_t redis_pid = -1;
static int redis_port;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sin.sin_port);
}

static redisContext *redis_sync(void)
{
    struct timeval tv = {.tv_sec = 1};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c) {
        redisReply *r = redisCommand(c, "SELECT 3"); /* the limiter's db, see make_config */
        if (r)
            freeReplyObject(r);
    }
    return c;
}

static long long redis_int(const char *fmt, const char *arg)
{
    redisContext *c = redis_sync();
    assert_non_null(c);
    redisReply *r = redisCommand(c, fmt, arg);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_STRING ? atoll(r->str)
                                                  : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void redis_cmd(const char *cmd)
{
    redisContext *c = redis_sync();
    assert_non_null(c);
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

static int redis_start(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", redis_port);
    redis_pid = fork();
    if (redis_pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        redisContext *c = redis_sync();
        if (c) {
            redisFree(c);
            return 0;
        }
        int st;
        if (waitpid(redis_pid, &st, WNOHANG) == redis_pid) {
            redis_pid = -1;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

static void redis_kill(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
}

static int setup(void **state)
{
    (void)state;
    log_init("test", "error");
    redis_port = free_port();
    if (redis_start() != 0) {
        print_message("redis-server not available: skipping\n");
        return 0;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (redis_pid > 0)
        kill(redis_pid, SIGCONT);
    redis_kill();
    return 0;
}

/* ---- a miniature gateway loop ---- */

typedef struct {
    int calls;
    ratelimit_result_t res;
} answer_t;

static void on_answer(void *arg, const ratelimit_result_t *res)
{
    answer_t *a = arg;
    a->calls++;
    a->res = *res;
}

static void pump(ratelimit_t *rl, int ms)
{
    int64_t end = clock_mono_ms() + ms;
    for (int64_t now = clock_mono_ms(); now < end; now = clock_mono_ms()) {
        zmq_pollitem_t items[2];
        int n = ratelimit_pollitems(rl, items, 2);
        long t = ratelimit_next_timeout_ms(rl);
        if (t < 0 || t > end - now)
            t = (long)(end - now);
        zmq_poll(items, n, t);
        ratelimit_process(rl, items, n);
        if (ratelimit_next_timeout_ms(rl) == 0)
            ratelimit_timeout(rl);
    }
}

static bool redis_up(ratelimit_t *rl)
{
    ratelimit_stats_t st;
    ratelimit_stats(rl, &st);
    return st.redis_up;
}

static bool pump_until_up(ratelimit_t *rl, bool want, int ms)
{
    for (int waited = 0; waited < ms && redis_up(rl) != want; waited += 10)
        pump(rl, 10);
    return redis_up(rl) == want;
}

/* Checks one request and waits for its answer if pending. */
static ratelimit_result_t check(ratelimit_t *rl, const char *ip, int *pending)
{
    answer_t a = {0};
    ratelimit_result_t res;
    if (ratelimit_check(rl, ip, &res, on_answer, &a) == RATELIMIT_DONE) {
        *pending = 0;
        return res;
    }
    *pending = 1;
    for (int i = 0; i < 500 && a.calls == 0; i++)
        pump(rl, 2);
    assert_int_equal(a.calls, 1);
    pump(rl, 5); /* nothing calls it twice */
    assert_int_equal(a.calls, 1);
    return a.res;
}

static config_t make_config(int max, int window_s)
{
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://127.0.0.1:%d/3", redis_port);
    cfg.redis_enabled = true;
    cfg.redis_timeout_ms = 100;
    cfg.rate_limit_max = max;
    cfg.rate_limit_window = window_s;
    return cfg;
}

static void test_sliding_log_in_redis(void **state)
{
    (void)state;
    if (redis_pid < 0)
        skip();
    config_t cfg = make_config(5, 2);
    ratelimit_t *rl = ratelimit_new(&cfg);
    assert_non_null(rl);
    assert_true(ratelimit_enabled(rl));
    assert_true(pump_until_up(rl, true, 2000));

    long now_s = (long)(clock_wall_ms() / 1000);
    int pending;
    for (int i = 0; i < 5; i++) {
        ratelimit_result_t r = check(rl, "192.0.2.1", &pending);
        assert_int_equal(pending, 1);
        assert_true(r.allowed);
        assert_int_equal(r.limit, 5);
        assert_int_equal(r.remaining, 4 - i);
        assert_true(r.reset_s >= now_s + 1 && r.reset_s <= now_s + 3);
    }
    ratelimit_result_t r = check(rl, "192.0.2.1", &pending);
    assert_int_equal(pending, 1);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_true(r.retry_after_s >= 1 && r.retry_after_s <= 2);
    /* Denied requests are not logged; the log (a (ms, n) pair per admitted
     * batch, here one per check) and the count expire soon after the window. */
    assert_int_equal(redis_int("HGET %s n", "rl:192.0.2.1:n"), 5);
    assert_int_equal(redis_int("LLEN %s", "rl:192.0.2.1"), 10);
    long long ttl = redis_int("PTTL %s", "rl:192.0.2.1");
    assert_true(ttl > 2000 && ttl <= 4000);
    ttl = redis_int("PTTL %s", "rl:192.0.2.1:n");
    assert_true(ttl > 2000 && ttl <= 4000);

    /* Other IPs are independent; many in flight at once all come back. */
    answer_t a[50] = {{0}};
    for (int i = 0; i < 50; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "198.51.100.%d", i % 10);
        ratelimit_result_t res;
        assert_int_equal(ratelimit_check(rl, ip, &res, on_answer, &a[i]), RATELIMIT_PENDING);
    }
    pump(rl, 200);
    int allowed = 0;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(a[i].calls, 1);
        allowed += a[i].res.allowed;
    }
    assert_int_equal(allowed, 50); /* 5 each */

    /* The window slides: after it, the IP is allowed again. */
    pump(rl, 2100);
    r = check(rl, "192.0.2.1", &pending);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);

    /* A flushed script cache (Redis restart, SCRIPT FLUSH) costs nothing. */
    redis_cmd("SCRIPT FLUSH");
    r = check(rl, "192.0.2.1", &pending);
    assert_int_equal(pending, 1);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 3);
    r = check(rl, "192.0.2.1", &pending);
    assert_int_equal(r.remaining, 2);
    ratelimit_stats_t st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.redis_errors, 0);
    assert_int_equal(st.local_decisions, 0);
    assert_true(st.redis_up);
    assert_int_equal(st.rejected, 1);
    ratelimit_destroy(&rl);
    assert_null(rl);
}

/* Two limiters (two gateways) sharing Redis share one budget. */
static void test_shared_budget(void **state)
{
    (void)state;
    if (redis_pid < 0)
        skip();
    config_t cfg = make_config(4, 5);
    ratelimit_t *a = ratelimit_new(&cfg), *b = ratelimit_new(&cfg);
    assert_true(pump_until_up(a, true, 2000));
    assert_true(pump_until_up(b, true, 2000));
    int pending, allowed = 0;
    for (int i = 0; i < 8; i++) {
        ratelimit_result_t r = check(i % 2 ? a : b, "203.0.113.50", &pending);
        allowed += r.allowed;
    }
    assert_int_equal(allowed, 4);
    ratelimit_destroy(&a);
    ratelimit_destroy(&b);
}

/* Checks made in one pass go to Redis as one command per IP, and each is
 * answered as if it had been sent alone, in the order it was made. */
static void test_batched_checks(void **state)
{
    (void)state;
    if (redis_pid < 0)
        skip();
    config_t cfg = make_config(5, 30);
    ratelimit_t *rl = ratelimit_new(&cfg);
    assert_true(pump_until_up(rl, true, 2000));
    int pending;
    assert_true(check(rl, "192.0.2.9", &pending).allowed); /* 4 left */

    answer_t a[8] = {{0}}, other[2] = {{0}};
    ratelimit_result_t res;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(ratelimit_check(rl, "192.0.2.9", &res, on_answer, &a[i]), RATELIMIT_PENDING);
        if (i < 2)
            assert_int_equal(ratelimit_check(rl, "192.0.2.10", &res, on_answer, &other[i]),
                             RATELIMIT_PENDING);
    }
    pump(rl, 200);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_int_equal(a[i].res.allowed, i < 4);
        assert_int_equal(a[i].res.remaining, i < 4 ? 3 - i : 0);
        if (i >= 4)
            assert_true(a[i].res.retry_after_s >= 29 && a[i].res.retry_after_s <= 31);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(other[i].calls, 1);
        assert_true(other[i].res.allowed);
        assert_int_equal(other[i].res.remaining, 4 - i);
    }
    /* Two commands in all: one pair for the first check, one for the batch. */
    assert_int_equal(redis_int("LLEN %s", "rl:192.0.2.9"), 4);
    assert_int_equal(redis_int("HGET %s n", "rl:192.0.2.9:n"), 5);
    assert_int_equal(redis_int("LLEN %s", "rl:192.0.2.10"), 2);
    ratelimit_stats_t st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.allowed, 7);
    assert_int_equal(st.rejected, 4);
    assert_int_equal(st.local_decisions, 0);

    /* Checks that arrive while the IP's command is in flight wait for it
     * and then go together: two commands for five checks over two passes. */
    answer_t b[5] = {{0}};
    zmq_pollitem_t items[2];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ratelimit_check(rl, "192.0.2.11", &res, on_answer, &b[i]), RATELIMIT_PENDING);
        if (i == 0)
            ratelimit_pollitems(rl, items, 2); /* sends the first */
    }
    pump(rl, 200);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(b[i].calls, 1);
        assert_true(b[i].res.allowed);
        assert_int_equal(b[i].res.remaining, 4 - i);
    }
    assert_int_equal(redis_int("LLEN %s", "rl:192.0.2.11"), 4);

    /* That IP is busy now (its last batch carried four): its next batch may
     * be held a moment to fill, and is still answered, in order. */
    answer_t c[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_check(rl, "192.0.2.11", &res, on_answer, &c[i]), RATELIMIT_PENDING);
    pump(rl, 200);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_false(c[i].res.allowed);
        assert_int_equal(c[i].res.remaining, 0);
    }
    ratelimit_destroy(&rl);
}

/* The window slides pair by pair: requests leave it when their own window
 * ends, not all at once. */
static void test_partial_slide(void **state)
{
    (void)state;
    if (redis_pid < 0)
        skip();
    config_t cfg = make_config(5, 1);
    ratelimit_t *rl = ratelimit_new(&cfg);
    assert_true(pump_until_up(rl, true, 2000));
    int pending;
    for (int i = 0; i < 3; i++)
        assert_true(check(rl, "192.0.2.33", &pending).allowed);
    pump(rl, 600);
    for (int i = 0; i < 2; i++)
        assert_true(check(rl, "192.0.2.33", &pending).allowed);
    assert_false(check(rl, "192.0.2.33", &pending).allowed);
    pump(rl, 500); /* the first three have left the window, the last two not */
    for (int i = 0; i < 3; i++)
        assert_true(check(rl, "192.0.2.33", &pending).allowed);
    ratelimit_result_t r = check(rl, "192.0.2.33", &pending);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(redis_int("HGET %s n", "rl:192.0.2.33:n"), 5);
    ratelimit_destroy(&rl);
}

/* A stalled Redis: the check is answered locally at its deadline, the
 * limiter stays local (no waiting) until Redis answers again, and the late
 * reply changes nothing. Then a dead Redis, and one that comes back. */
static void test_outage_falls_back_locally(void **state)
{
    (void)state;
    if (redis_pid < 0)
        skip();
    config_t cfg = make_config(3, 10);
    ratelimit_t *rl = ratelimit_new(&cfg);
    assert_true(pump_until_up(rl, true, 2000));
    int pending;
    for (int i = 0; i < 3; i++)
        assert_true(check(rl, "192.0.2.77", &pending).allowed);

    kill(redis_pid, SIGSTOP);
    answer_t a = {0};
    ratelimit_result_t res;
    int64_t t0 = clock_mono_ms();
    assert_int_equal(ratelimit_check(rl, "192.0.2.77", &res, on_answer, &a), RATELIMIT_PENDING);
    while (a.calls == 0 && clock_mono_ms() - t0 < 1000)
        pump(rl, 5);
    int64_t took = clock_mono_ms() - t0;
    assert_int_equal(a.calls, 1);
    assert_true(took >= 90 && took < 300);
    /* Redis had allowed 3: the local window knows, so the limit holds. */
    assert_false(a.res.allowed);
    assert_false(redis_up(rl));
    /* While down, answers are immediate. */
    ratelimit_result_t r = check(rl, "192.0.2.77", &pending);
    assert_int_equal(pending, 0);
    assert_false(r.allowed);
    r = check(rl, "192.0.2.78", &pending);
    assert_int_equal(pending, 0);
    assert_true(r.allowed);

    kill(redis_pid, SIGCONT);
    assert_true(pump_until_up(rl, true, 8000));
    pump(rl, 50);
    assert_int_equal(a.calls, 1); /* the late reply was ignored */

    redis_kill();
    r = check(rl, "192.0.2.79", &pending);
    assert_true(r.allowed); /* never fails closed */
    assert_true(pump_until_up(rl, false, 1000));
    for (int i = 0; i < 5; i++) {
        r = check(rl, "192.0.2.80", &pending);
        assert_int_equal(pending, 0);
        assert_int_equal(r.allowed, i < 3);
    }
    assert_int_equal(redis_start(), 0);
    assert_true(pump_until_up(rl, true, 8000));
    r = check(rl, "192.0.2.81", &pending);
    assert_int_equal(pending, 1);
    assert_true(r.allowed);
    ratelimit_stats_t st;
    ratelimit_stats(rl, &st);
    assert_true(st.local_decisions >= 7);
    ratelimit_destroy(&rl);
}

/* Pending checks when the limiter is destroyed are dropped quietly. */
static void test_destroy_with_pending(void **state)
{
    (void)state;
    if (redis_pid < 0)
        skip();
    config_t cfg = make_config(3, 10);
    ratelimit_t *rl = ratelimit_new(&cfg);
    assert_true(pump_until_up(rl, true, 2000));
    answer_t a = {0};
    ratelimit_result_t res;
    assert_int_equal(ratelimit_check(rl, "192.0.2.90", &res, on_answer, &a), RATELIMIT_PENDING);
    ratelimit_destroy(&rl);
    assert_int_equal(a.calls, 0);
}

static void test_disabled_and_local_only(void **state)
{
    (void)state;
    config_t cfg = make_config(0, 60);
    ratelimit_t *rl = ratelimit_new(&cfg);
    assert_non_null(rl);
    assert_false(ratelimit_enabled(rl));
    zmq_pollitem_t items[1];
    assert_int_equal(ratelimit_pollitems(rl, items, 1), 0);
    assert_int_equal(ratelimit_next_timeout_ms(rl), -1);
    ratelimit_destroy(&rl);

    cfg = make_config(2, 60);
    cfg.redis_enabled = false;
    rl = ratelimit_new(&cfg);
    assert_true(ratelimit_enabled(rl));
    assert_int_equal(ratelimit_pollitems(rl, items, 1), 0);
    int pending;
    assert_true(check(rl, "10.0.0.1", &pending).allowed);
    assert_int_equal(pending, 0);
    assert_true(check(rl, "10.0.0.1", &pending).allowed);
    ratelimit_result_t r = check(rl, "10.0.0.1", &pending);
    assert_false(r.allowed);
    assert_true(r.retry_after_s >= 1 && r.retry_after_s <= 120);
    ratelimit_destroy(&rl);

    cfg = make_config(2, 60);
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "http://nope");
    assert_null(ratelimit_new(&cfg));
    cfg = make_config(-1, 60);
    assert_null(ratelimit_new(&cfg));
}

/* ---- gwcache ---- */

typedef struct {
    int calls;
    uint64_t token;
    gwcache_rc_t rc;
    char json[256];
} found_t;

static found_t s_found[300];

static void on_found(void *arg, uint64_t token, gwcache_rc_t rc, const char *json, size_t len)
{
    (void)arg;
    assert_true(token < 300);
    found_t *f = &s_found[token];
    f->calls++;
    f->token = token;
    f->rc = rc;
    snprintf(f->json, sizeof f->json, "%.*s", (int)len, json ? json : "");
}

static void cache_pump(gwcache_t *c, int ms)
{
    int64_t end = clock_mono_ms() + ms;
    for (int64_t now = clock_mono_ms(); now < end; now = clock_mono_ms()) {
        zmq_pollitem_t items[1];
        int n = gwcache_pollitems(c, items, 1);
        long t = gwcache_next_timeout_ms(c);
        if (t < 0 || t > end - now)
            t = (long)(end - now);
        zmq_poll(items, n, t);
        gwcache_process(c, items, n);
        if (gwcache_next_timeout_ms(c) == 0)
            gwcache_timeout(c);
    }
}

/* The lookup for token: -1 if it was not sent, else its answer. */
static int lookup(gwcache_t *c, const char *id, const query_kv_t *kv, int n, uint64_t token)
{
    memset(&s_found[token], 0, sizeof s_found[token]);
    int rc = id ? gwcache_product(c, id, token) : gwcache_list(c, kv, n, token);
    if (rc != 0)
        return -1;
    for (int i = 0; i < 500 && s_found[token].calls == 0; i++)
        cache_pump(c, 2);
    assert_int_equal(s_found[token].calls, 1);
    return (int)s_found[token].rc;
}

#define ID "4f8e2a56-1c2b-4d3e-9f00-aa11bb22cc33"

/* A new cache, once its connection is up (lookups are refused until then). */
static gwcache_t *cache_up(config_t *cfg)
{
    gwcache_t *c = gwcache_new(cfg, on_found, NULL);
    assert_non_null(c);
    for (int i = 0; i < 200; i++) {
        if (lookup(c, "00000000-0000-0000-0000-0000000000ff", NULL, 0, 299) >= 0)
            return c;
        cache_pump(c, 10);
    }
    fail_msg("the read cache never connected");
    return NULL;
}

static void test_cache_rules(void **state)
{
    (void)state;
    if (redis_pid <= 0)
        skip();
    unsetenv("ECOM_CATALOG_CACHE_PREFIX");
    config_t cfg = make_config(0, 60);
    gwcache_t *c = cache_up(&cfg);
    redis_cmd("SET catalog:pgen 5");
    redis_cmd("SET product:" ID " 5:3:{\"id\":1}");
    assert_int_equal(lookup(c, ID, NULL, 0, 1), GWCACHE_HIT);
    assert_string_equal(s_found[1].json, "{\"id\":1}");
    /* catalog-svc keys by the lower-case id */
    assert_int_equal(lookup(c, "4F8E2A56-1C2B-4D3E-9F00-AA11BB22CC33", NULL, 0, 2), GWCACHE_HIT);
    /* stored under an older generation: stale */
    redis_cmd("INCR catalog:pgen");
    assert_int_equal(lookup(c, ID, NULL, 0, 3), GWCACHE_MISS);
    redis_cmd("SET product:" ID " 6:4:");
    assert_int_equal(lookup(c, ID, NULL, 0, 4), GWCACHE_NOT_FOUND);
    redis_cmd("DEL product:" ID);
    assert_int_equal(lookup(c, ID, NULL, 0, 5), GWCACHE_MISS);
    /* not a UUID: catalog-svc answers it */
    assert_int_equal(lookup(c, "42", NULL, 0, 6), -1);

    /* list pages: the page under the current list generation, by the
     * normalized query (parameter order and repeats do not matter) */
    redis_cmd("SET catalog:gen 9");
    redis_cmd("SET plist:9:p=2&ps=5&c=&min=&max=&st=0&s=lamp {\"items\":[]}");
    query_kv_t q1[] = {{"search", "lamp"}, {"page", "2"}, {"page_size", "5"}};
    assert_int_equal(lookup(c, NULL, q1, 3, 7), GWCACHE_HIT);
    assert_string_equal(s_found[7].json, "{\"items\":[]}");
    query_kv_t q2[] = {{"page_size", "7"}, {"page", "2"}, {"page_size", "5"}, {"search", "lamp"}};
    assert_int_equal(lookup(c, NULL, q2, 4, 8), GWCACHE_HIT);
    redis_cmd("INCR catalog:gen");
    assert_int_equal(lookup(c, NULL, q1, 3, 9), GWCACHE_MISS);
    query_kv_t bad[] = {{"page", "0"}};
    assert_int_equal(lookup(c, NULL, bad, 1, 10), -1); /* a 422: catalog-svc words it */

    /* hits (and cached 404s) reach Redis within a flush interval */
    cache_pump(c, 300);
    assert_int_equal(redis_int("HGET cache:gwstats %s", "hits"), 3);
    assert_int_equal(redis_int("HGET cache:gwstats %s", "list_hits"), 2);
    gwcache_destroy(&c);
    assert_null(c);
}

static void test_cache_many_in_flight_and_stalls(void **state)
{
    (void)state;
    if (redis_pid <= 0)
        skip();
    config_t cfg = make_config(0, 60);
    gwcache_t *c = cache_up(&cfg);
    redis_cmd("SET catalog:pgen 1");
    redis_cmd("SET product:" ID " 1:1:{\"ok\":true}");
    /* more lookups than the ring starts with, all in one pass */
    for (uint64_t t = 0; t < 200; t++) {
        memset(&s_found[t], 0, sizeof s_found[t]);
        assert_int_equal(gwcache_product(c, ID, t), 0);
    }
    for (int i = 0; i < 500; i++) {
        int done = 0;
        for (int t = 0; t < 200; t++)
            done += s_found[t].calls;
        if (done == 200)
            break;
        cache_pump(c, 2);
    }
    for (int t = 0; t < 200; t++) {
        assert_int_equal(s_found[t].calls, 1);
        assert_int_equal(s_found[t].rc, GWCACHE_HIT);
    }

    /* Redis stalls: each lookup is answered "miss" at its deadline, once;
     * the late replies are dropped and the connection comes back */
    /* the 200 hits went to Redis in one flush; this one waits its turn */
    assert_int_equal(lookup(c, ID, NULL, 0, 250), GWCACHE_HIT);
    kill(redis_pid, SIGSTOP);
    for (uint64_t t = 0; t < 3; t++) {
        memset(&s_found[t], 0, sizeof s_found[t]);
        assert_int_equal(gwcache_product(c, ID, t), 0);
    }
    int64_t t0 = clock_mono_ms();
    while (s_found[2].calls == 0 && clock_mono_ms() - t0 < 2000)
        cache_pump(c, 5);
    /* Down now, with a hit not yet sent: once its flush is due the loop
     * must still sleep until the reconnect (500 ms after the drop), not
     * spin on a flush it cannot send. */
    cache_pump(c, 300);
    assert_true(gwcache_next_timeout_ms(c) != 0);
    kill(redis_pid, SIGCONT);
    for (int t = 0; t < 3; t++) {
        assert_int_equal(s_found[t].calls, 1);
        assert_int_equal(s_found[t].rc, GWCACHE_MISS);
    }
    int rc = -1;
    for (int i = 0; i < 300 && rc != GWCACHE_HIT; i++) {
        cache_pump(c, 10);
        rc = lookup(c, ID, NULL, 0, 5);
    }
    assert_int_equal(rc, GWCACHE_HIT);
    for (int t = 0; t < 3; t++)
        assert_int_equal(s_found[t].calls, 1);
    gwcache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_and_local_only),
        cmocka_unit_test(test_sliding_log_in_redis),
        cmocka_unit_test(test_shared_budget),
        cmocka_unit_test(test_batched_checks),
        cmocka_unit_test(test_partial_slide),
        cmocka_unit_test(test_destroy_with_pending),
        cmocka_unit_test(test_outage_falls_back_locally),
        cmocka_unit_test(test_cache_rules),
        cmocka_unit_test(test_cache_many_in_flight_and_stalls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
