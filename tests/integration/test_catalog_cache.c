/* The catalog cache under failure and invalidation: Redis killed mid-test
 * (every read still 200 from PostgreSQL, quickly; /health says the cache is
 * unavailable; caching resumes by itself when Redis is back), and events
 * from a publisher of our own through the broker's proxy (in-order
 * stock.changed drops the named product; a sequence gap, a restart and
 * three missed heartbeats invalidate everything), and the gateway answering
 * hits by itself. */
#include <czmq.h>
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
#include <hiredis/hiredis.h>

#include "admin_auth.h"
#include "harness.h"
#include "shopmq_proto.h"

static harness_t *h;
static const char *const test_env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", "ECOM_REDIS_TIMEOUT_MS=100",
                                       NULL};

/* Waits for the stack: stretched by SHOPMQ_TEST_TIME_SCALE like the
 * harness's own (valgrind), together with the stack's heartbeat. */
static int scaled(int ms)
{
    return ms * harness_time_scale();
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int group_setup(void **state)
{
    harness_opts_t opts = {.env = test_env}; /* /health is unhealthy without every service */
    h = harness_start(&opts);
    return h ? 0 : -1;
}

static int group_teardown(void **state)
{
    harness_stop(&h);
    return 0;
}

static void create_product(const char *sku, const char *price, char id[64])
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\": \"Cache %s\", \"price\": %s, \"stock\": 10, \"sku\": \"%s\"}", sku, price,
             sku);
    json_t *j = NULL;
    assert_int_equal(admin_json(h, "POST", "/api/v1/products", body, &j), 201);
    snprintf(id, 64, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

/* The price the API returns now, as text ("12.50"). */
static void api_price(const char *id, char out[32])
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    http_resp_t r;
    assert_int_equal(http_request(h, "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    const char *p = strstr(r.body, "\"price\"");
    assert_non_null(p);
    p = strchr(p, ':') + 1;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, ",}");
    snprintf(out, 32, "%.*s", (int)n, p);
    http_resp_clear(&r);
}

/* Changes the price in the database behind the cache's back. */
static void sql_price(const char *id, const char *price)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE products SET price = %s WHERE id = '%s'", price, id);
    assert_int_equal(harness_sql_exec(h, sql), 0);
}

static json_t *health(void)
{
    json_t *j = NULL;
    http_json(h, "GET", "/health", NULL, &j);
    return j;
}

static bool wait_health_cache(const char *want, int timeout_ms)
{
    long until = now_ms() + scaled(timeout_ms);
    while (now_ms() < until) {
        json_t *j = health();
        bool ok = j && strcmp(json_string_value(json_object_get(j, "cache")) ?: "", want) == 0;
        json_decref(j);
        if (ok)
            return true;
        usleep(200 * 1000);
    }
    return false;
}

static long stats_misses(bool *available, long *hits)
{
    json_t *j = NULL;
    assert_int_equal(http_json(h, "GET", "/api/v1/cache/stats", NULL, &j), 200);
    *available = json_is_true(json_object_get(j, "available"));
    *hits = (long)json_integer_value(json_object_get(j, "hits"));
    long misses = (long)json_integer_value(json_object_get(j, "misses"));
    json_decref(j);
    return misses;
}

static void stats(bool *available, long *hits)
{
    stats_misses(available, hits);
}

static void redis_killed_reads_still_answer_then_caching_resumes(void **state)
{
    char id[64], path[128], price[32];
    create_product("R-1", "11.00", id);
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    api_price(id, price);
    api_price(id, price); /* cached */
    assert_true(wait_health_cache("connected", 5000));

    assert_int_equal(harness_kill(h, "redis", SIGKILL), 0);

    /* every catalog read answers 200 from PostgreSQL, and promptly */
    const char *reads[] = {path, "/api/v1/products", "/api/v1/products?search=cache&page_size=5",
                           "/api/v1/categories", NULL};
    for (int round = 0; round < 3; round++)
        for (int i = 0; reads[i]; i++) {
            long t0 = now_ms();
            json_t *j = NULL;
            assert_int_equal(http_json(h, "GET", reads[i], NULL, &j), 200);
            json_decref(j);
            assert_true(now_ms() - t0 < scaled(1000));
        }
    /* writes still succeed, and the next read sees them */
    json_t *j = NULL;
    assert_int_equal(admin_json(h, "PUT", path, "{\"price\": 12.25}", &j), 200);
    json_decref(j);
    api_price(id, price);
    assert_string_equal(price, "12.25");
    json_t *c = NULL;
    assert_int_equal(admin_json(h, "POST", "/api/v1/categories", "{\"name\": \"No Redis\"}", &c),
                     201);
    json_decref(c);

    assert_true(wait_health_cache("unavailable", 5000));
    j = health();
    assert_string_equal(json_string_value(json_object_get(j, "status")), "degraded");
    json_decref(j);
    bool avail;
    long hits;
    stats(&avail, &hits);
    assert_false(avail);

    /* Redis back (empty, no persistence): caching resumes by itself */
    assert_int_equal(harness_restart(h, "redis"), 0);
    assert_true(wait_health_cache("connected", 10000));
    /* Cache stats are summed by the gateway from the replicas' heartbeats
     * (500 ms apart): hits are counted once a heartbeat has carried them. */
    long until = now_ms() + scaled(10000), h0 = -1;
    bool resumed = false;
    stats(&avail, &h0);
    while (!resumed && now_ms() < until) {
        api_price(id, price);
        api_price(id, price);
        usleep(scaled(700) * 1000);
        long h1;
        stats(&avail, &h1);
        resumed = avail && h1 > h0;
        h0 = h1;
    }
    assert_true(resumed);
    assert_string_equal(price, "12.25");
}

/* ---- events ---- */

static zsock_t *pub;

static void publish(const char *topic, const char *publisher, uint64_t seq, const char *payload)
{
    zmsg_t *m = smq_event_new(topic, publisher, seq, payload);
    assert_non_null(m);
    assert_int_equal(zmsg_send(&m, pub), 0);
}

/* Publishes and gives the consumer time to act on it. */
static void publish_settle(const char *topic, const char *publisher, uint64_t seq,
                           const char *payload)
{
    publish(topic, publisher, seq, payload);
    usleep(scaled(300) * 1000);
}

/* Reads the product until the API answers want (the consumer has acted on
 * an event), for at most ms (scaled); asserts it did. */
static void wait_price(const char *id, const char *want, int ms)
{
    char p[32];
    long until = now_ms() + scaled(ms);
    do {
        api_price(id, p);
        if (strcmp(p, want) == 0)
            return;
        usleep(50 * 1000);
    } while (now_ms() < until);
    assert_string_equal(p, want);
}

/* Caches the product at its current price, then changes the price behind
 * the cache and checks that the stale one is served (so that a later fresh
 * read proves an invalidation happened). */
static void cache_then_change(const char *id, const char *old_price, const char *new_price)
{
    char p[32];
    api_price(id, p);
    api_price(id, p);
    assert_string_equal(p, old_price);
    sql_price(id, new_price);
    api_price(id, p);
    assert_string_equal(p, old_price); /* served from the cache */
}

/* Whether the process's log has a line containing both needles. */
static bool log_has(const char *proc, const char *needle, const char *needle2)
{
    FILE *f = fopen(harness_log_path(h, proc), "r");
    assert_non_null(f);
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) && (!needle2 || strstr(line, needle2));
    fclose(f);
    return found;
}

/* order-svc's outbox relay is a publisher too: its first heartbeat reaching
 * catalog-svc flushes the cache ("new publisher"). Waits for that, so that
 * it cannot land in the middle of a check below. */
static void wait_relay_seen(void)
{
    char relay[128] = "";
    long until = now_ms() + scaled(10000);
    while (now_ms() < until) {
        FILE *f = fopen(harness_log_path(h, "order-svc"), "r");
        assert_non_null(f);
        char line[4096];
        const char *tag = "outbox relay: publisher ";
        while (!*relay && fgets(line, sizeof line, f)) {
            char *at = strstr(line, tag);
            if (at)
                sscanf(at + strlen(tag), "%127[^\"]", relay);
        }
        fclose(f);
        if (*relay && log_has("catalog-svc", "events: new publisher", relay))
            return;
        usleep(50 * 1000);
    }
    fail_msg("catalog-svc never saw order-svc's relay (publisher \"%s\")", relay);
}

static void events_invalidate(void **state)
{
    pub = zsock_new(ZMQ_PUB);
    assert_non_null(pub);
    assert_int_equal(zsock_connect(pub, "%s", harness_events_pub_endpoint(h)), 0);
    usleep(scaled(1000) * 1000); /* the subscription travels XPUB -> XSUB -> us */
    wait_relay_seen();

    char a[64], b[64], p[32];
    create_product("E-A", "20.00", a);
    create_product("E-B", "30.00", b);

    /* first sight of the publisher: invalidates all; then in order */
    publish_settle(SMQ_TOPIC_HEARTBEAT, "test-pub", 1, "{}");

    /* in-order stock.changed naming A drops A (and only A) */
    cache_then_change(a, "20.00", "21.00");
    cache_then_change(b, "30.00", "31.00");
    publish(SMQ_TOPIC_HEARTBEAT, "test-pub", 1, "{}");
    char payload[128];
    snprintf(payload, sizeof payload, "{\"product_ids\": [\"%s\"]}", a);
    publish(SMQ_TOPIC_STOCK, "test-pub", 2, payload);
    wait_price(a, "21.00", 1000);
    api_price(b, p);
    assert_string_equal(p, "30.00"); /* B not named, no gap: still cached */

    /* an injected gap (3 -> 5) naming nobody invalidates everything */
    publish_settle(SMQ_TOPIC_PRODUCT, "test-pub", 3, "{\"product_ids\": []}");
    api_price(b, p);
    assert_string_equal(p, "30.00"); /* in order, empty: nothing dropped */
    publish(SMQ_TOPIC_PRODUCT, "test-pub", 5, "{\"product_ids\": []}");
    wait_price(b, "31.00", 1000);

    /* a restart (seq goes back to 1) invalidates everything; seq 1 was
     * last seen at the heartbeat above: a sighting under 500 ms old would
     * be taken for the copy through a second broker (catalog_seq.c) */
    cache_then_change(b, "31.00", "32.00");
    usleep(600 * 1000);
    publish(SMQ_TOPIC_HEARTBEAT, "test-pub", 1, "{}");
    wait_price(b, "32.00", 1000);

    /* a heartbeat announcing a seq we never got is a gap too */
    cache_then_change(b, "32.00", "33.00");
    publish(SMQ_TOPIC_HEARTBEAT, "test-pub", 4, "{}");
    wait_price(b, "33.00", 1000);

    /* lists are invalidated as well (generation bump) */
    json_t *j = NULL;
    assert_int_equal(http_json(h, "GET", "/api/v1/products?search=Cache%20E-B", NULL, &j), 200);
    json_decref(j);
    sql_price(b, "34.00");
    publish_settle(SMQ_TOPIC_PRODUCT, "test-pub", 9, "{}"); /* gap */
    assert_int_equal(http_json(h, "GET", "/api/v1/products?search=Cache%20E-B", NULL, &j), 200);
    json_t *item = json_array_get(json_object_get(j, "items"), 0);
    assert_true(json_real_value(json_object_get(item, "price")) > 33.99);
    json_decref(j);

    /* three missed heartbeats (3 x ECOM_HEARTBEAT_MS, scaled by the
     * harness too): the publisher goes quiet, everything goes */
    publish(SMQ_TOPIC_HEARTBEAT, "test-pub", 9, "{}");
    cache_then_change(b, "34.00", "35.00");
    wait_price(b, "35.00", 4000);

    /* garbage on the event bus is dropped, the consumer keeps working */
    zmsg_t *junk = zmsg_new();
    zmsg_addstr(junk, SMQ_TOPIC_STOCK);
    zmsg_addstr(junk, "garbage");
    zmsg_send(&junk, pub);
    publish_settle(SMQ_TOPIC_HEARTBEAT, "test-pub-2", 1, "{}");
    cache_then_change(b, "35.00", "36.00");
    snprintf(payload, sizeof payload, "{\"product_ids\": [\"%s\"]}", b);
    publish(SMQ_TOPIC_STOCK, "test-pub-2", 2, payload);
    wait_price(b, "36.00", 1000);
    json_t *hj = health();
    assert_non_null(hj);
    json_decref(hj);
    assert_true(harness_pid(h, "catalog-svc") > 0);
    zsock_destroy(&pub);
}

static void get(const char *path, http_resp_t *r)
{
    assert_int_equal(http_request(h, "GET", path, NULL, NULL, r), 0);
    assert_int_equal(r->status, 200);
}

/* The gateway answers hits itself (gateway/gwcache.h): with catalog-svc
 * frozen, a cached product and a cached list page still answer with the
 * same bytes. A bumped product generation sends the read to catalog-svc
 * again (a miss there), and a frozen Redis costs a read at most the
 * lookup's timeout before it is forwarded. */
static void gateway_answers_hits_itself(void **state)
{
    char id[64], path[128];
    create_product("GW-1", "7.00", id);
    snprintf(path, sizeof path, "/api/v1/products/%s", id);
    const char *list = "/api/v1/products?search=Cache%20GW&page_size=5";
    http_resp_t a, b, la, lb;
    get(path, &a);
    get(list, &la); /* fills the page */
    get(list, &lb);
    http_resp_clear(&lb);

    assert_int_equal(harness_kill(h, "catalog-svc", SIGSTOP), 0);
    get(path, &b);
    assert_string_equal(a.body, b.body);
    http_resp_clear(&b);
    get(list, &lb);
    assert_string_equal(la.body, lb.body);
    http_resp_clear(&lb);
    assert_int_equal(harness_kill(h, "catalog-svc", SIGCONT), 0);

    /* Every cached product is stale once catalog:pgen moves. */
    bool avail;
    long hits, m0 = stats_misses(&avail, &hits);
    redisContext *rc = redisConnect("127.0.0.1", harness_redis_port(h));
    assert_true(rc && !rc->err);
    redisReply *rep = redisCommand(rc, "INCR catalog:pgen");
    assert_true(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    redisFree(rc);
    get(path, &b);
    assert_string_equal(a.body, b.body);
    http_resp_clear(&b);
    long until = now_ms() + scaled(5000), m1 = m0;
    while (m1 == m0 && now_ms() < until) {
        usleep(200 * 1000);
        m1 = stats_misses(&avail, &hits);
    }
    assert_true(m1 > m0); /* catalog-svc answered it */

    /* Redis frozen: the lookup times out and the read is forwarded. */
    assert_int_equal(harness_kill(h, "redis", SIGSTOP), 0);
    long t0 = now_ms();
    get(path, &b);
    assert_true(now_ms() - t0 < scaled(3000));
    assert_string_equal(a.body, b.body);
    http_resp_clear(&b);
    assert_int_equal(harness_kill(h, "redis", SIGCONT), 0);
    http_resp_clear(&a);
    http_resp_clear(&la);
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_invalidate),
        cmocka_unit_test(redis_killed_reads_still_answer_then_caching_resumes),
        cmocka_unit_test(gateway_answers_hits_itself),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    zsys_shutdown();
    return rc;
}
