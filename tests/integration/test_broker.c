/* The broker on its own: fake workers and a fake gateway (DEALER sockets
 * speaking proto/) against the real broker process. Proves request/reply,
 * LRU dispatch, the remaining budget forwarded, dead workers (idempotent
 * re-dispatch once, otherwise 502), 503 after the queueing grace, expiry of
 * queued requests, broker.status, the event proxy, and that garbage from
 * any peer neither crashes the broker nor disturbs real traffic. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <czmq.h>
#include <jansson.h>

#include "clock.h"
#include "harness.h"
#include "shopmq_proto.h"

#define HB_MS 200    /* ECOM_HEARTBEAT_MS below: dead after 600 ms */
#define GRACE_MS 500 /* ECOM_QUEUE_GRACE_MS below */

static harness_t *h;

/* ---- a fake worker ---- */

typedef struct {
    zsock_t *sock;
    int64_t next_hb;
    const char *status; /* heartbeat status JSON, may be NULL */
    bool alive;         /* false: stays silent (simulates a hung/dead process) */
} fake_worker_t;

static fake_worker_t *worker_new(const char *service, const char *status)
{
    fake_worker_t *w = calloc(1, sizeof *w);
    w->sock = zsock_new_dealer(harness_broker_endpoint(h));
    assert_non_null(w->sock);
    zsock_set_linger(w->sock, 0);
    w->status = status;
    w->alive = true;
    zmsg_t *ready = smq_worker_ready_new(service);
    assert_int_equal(zmsg_send(&ready, w->sock), 0);
    if (status) {
        zmsg_t *hb = smq_worker_heartbeat_new(status);
        zmsg_send(&hb, w->sock);
    }
    w->next_hb = clock_mono_ms() + HB_MS / 2;
    return w;
}

static void worker_destroy(fake_worker_t **w_p, bool say_disconnect)
{
    fake_worker_t *w = *w_p;
    if (!w)
        return;
    if (say_disconnect) {
        zmsg_t *bye = smq_worker_disconnect_new();
        zmsg_send(&bye, w->sock);
        zclock_sleep(20);
    }
    zsock_destroy(&w->sock);
    free(w);
    *w_p = NULL;
}

/* Waits for a REQUEST or DISCONNECT, heartbeating meanwhile. 0 on success
 * with *wm filled; -1 on timeout. HEARTBEATs from the broker are consumed. */
static int worker_recv(fake_worker_t *w, int timeout_ms, smq_worker_msg_t *wm)
{
    int64_t end = clock_mono_ms() + timeout_ms;
    zpoller_t *poller = zpoller_new(w->sock, NULL);
    int rc = -1;
    for (int64_t now = clock_mono_ms(); now < end; now = clock_mono_ms()) {
        if (w->alive && now >= w->next_hb) {
            zmsg_t *hb = smq_worker_heartbeat_new(w->status);
            zmsg_send(&hb, w->sock);
            w->next_hb = now + HB_MS / 2;
        }
        int64_t wait = end - now < 20 ? end - now : 20;
        if (!zpoller_wait(poller, (int)wait))
            continue;
        zmsg_t *msg = zmsg_recv(w->sock);
        assert_non_null(msg);
        assert_int_equal(smq_worker_msg_decode(msg, wm), 0);
        zmsg_destroy(&msg);
        if (wm->command == SMQ_HEARTBEAT) {
            smq_worker_msg_clear(wm);
            continue;
        }
        rc = 0;
        break;
    }
    zpoller_destroy(&poller);
    return rc;
}

/* Keeps a worker alive (heartbeats) for ms without expecting anything. */
static void worker_idle(fake_worker_t *w, int ms)
{
    smq_worker_msg_t wm;
    if (worker_recv(w, ms, &wm) == 0)
        fail_msg("worker got an unexpected command %d", wm.command);
}

static void worker_reply(fake_worker_t *w, smq_worker_msg_t *req, int status, const char *body)
{
    zmsg_t *rep = smq_worker_reply_new(req->client, req->req.rid, status, body, strlen(body));
    assert_int_equal(zmsg_send(&rep, w->sock), 0);
}

/* ---- a fake gateway ---- */

static zsock_t *client_new(void)
{
    zsock_t *c = zsock_new_dealer(harness_broker_endpoint(h));
    assert_non_null(c);
    zsock_set_linger(c, 0);
    return c;
}

static void client_send(zsock_t *c, const char *service, const char *rid, uint32_t budget,
                        uint8_t flags, const char *meta, const char *body)
{
    smq_ctl_t ctl = {.budget_ms = budget, .flags = flags};
    zmsg_t *msg =
        smq_client_request_new(service, rid, &ctl, meta, strlen(meta), body, strlen(body));
    assert_int_equal(zmsg_send(&msg, c), 0);
}

static int client_recv(zsock_t *c, int timeout_ms, smq_reply_t *rep)
{
    zpoller_t *poller = zpoller_new(c, NULL);
    void *ready = zpoller_wait(poller, timeout_ms);
    zpoller_destroy(&poller);
    if (!ready)
        return -1;
    zmsg_t *msg = zmsg_recv(c);
    int rc = smq_client_reply_decode(msg, rep);
    zmsg_destroy(&msg);
    assert_int_equal(rc, 0);
    return 0;
}

/* broker.status as JSON (new reference). */
static json_t *broker_status(zsock_t *c)
{
    client_send(c, SMQ_SVC_BROKER, "status", 2000, 0, "{\"op\":\"broker.status\"}", "");
    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_string_equal(rep.rid, "status");
    assert_int_equal(rep.status, 200);
    json_t *j = json_loads(rep.body, 0, NULL);
    assert_non_null(j);
    smq_reply_clear(&rep);
    return j;
}

static json_int_t status_int(json_t *st, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(json_object_get(st, a), b);
    if (c)
        v = json_object_get(v, c);
    return json_integer_value(v);
}

/* Waits until the broker has registered n workers for service. */
static void wait_workers(zsock_t *c, const char *service, int n)
{
    int64_t end = clock_mono_ms() + 3000;
    json_int_t seen = -1;
    while (clock_mono_ms() < end) {
        json_t *st = broker_status(c);
        seen = status_int(st, "services", service, "workers");
        json_decref(st);
        if (seen == n)
            return;
        zclock_sleep(10);
    }
    fail_msg("service %s: %lld workers, wanted %d", service, (long long)seen, n);
}

/* ---- tests ---- */

static void test_request_reply(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w = worker_new("t-rr", NULL);
    wait_workers(c, "t-rr", 1);

    const char body[] = "{\"name\":\"x\"}";
    client_send(c, "t-rr", "rid-rr", 3000, 0, "{\"op\":\"things.create\"}", body);
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w, 2000, &wm), 0);
    assert_int_equal(wm.command, SMQ_REQUEST);
    assert_string_equal(wm.req.rid, "rid-rr");
    assert_string_equal(wm.req.meta, "{\"op\":\"things.create\"}");
    assert_string_equal(wm.req.body, body);
    /* The worker gets what is left of the budget, not the original. */
    assert_in_range(wm.req.ctl.budget_ms, 2000, 3000);
    worker_reply(w, &wm, 201, "{\"id\":1}");
    smq_worker_msg_clear(&wm);

    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_string_equal(rep.rid, "rid-rr");
    assert_int_equal(rep.status, 201);
    assert_string_equal(rep.body, "{\"id\":1}");
    smq_reply_clear(&rep);

    worker_destroy(&w, true);
    zsock_destroy(&c);
}

static void test_lru_dispatch(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w1 = worker_new("t-lru", NULL);
    wait_workers(c, "t-lru", 1);
    fake_worker_t *w2 = worker_new("t-lru", NULL);
    wait_workers(c, "t-lru", 2);

    /* Idle order is w1, w2: A goes to w1, which then becomes the most
     * recently used, so B goes to w2 and C (w2 busy) to w1. */
    smq_worker_msg_t wm;
    client_send(c, "t-lru", "A", 3000, 0, "{}", "");
    assert_int_equal(worker_recv(w1, 2000, &wm), 0);
    assert_string_equal(wm.req.rid, "A");
    worker_reply(w1, &wm, 200, "{}");
    smq_worker_msg_clear(&wm);
    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    smq_reply_clear(&rep);

    client_send(c, "t-lru", "B", 3000, 0, "{}", "");
    assert_int_equal(worker_recv(w2, 2000, &wm), 0);
    assert_string_equal(wm.req.rid, "B");
    smq_worker_msg_t wm2;
    client_send(c, "t-lru", "C", 3000, 0, "{}", "");
    assert_int_equal(worker_recv(w1, 2000, &wm2), 0);
    assert_string_equal(wm2.req.rid, "C");
    worker_reply(w2, &wm, 200, "{\"who\":2}");
    worker_reply(w1, &wm2, 200, "{\"who\":1}");
    smq_worker_msg_clear(&wm);
    smq_worker_msg_clear(&wm2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(client_recv(c, 2000, &rep), 0);
        assert_string_equal(rep.body, strcmp(rep.rid, "B") == 0 ? "{\"who\":2}" : "{\"who\":1}");
        smq_reply_clear(&rep);
    }
    worker_destroy(&w1, true);
    worker_destroy(&w2, true);
    zsock_destroy(&c);
}

/* An idempotent request held by a worker that goes silent is re-dispatched
 * to another worker, once: if that one dies too the client gets 502. */
static void test_dead_worker_idempotent_redispatched_once(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w1 = worker_new("t-idem", NULL);
    wait_workers(c, "t-idem", 1);
    fake_worker_t *w2 = worker_new("t-idem", NULL);
    wait_workers(c, "t-idem", 2);

    client_send(c, "t-idem", "idem-1", 5000, SMQ_FLAG_IDEMPOTENT, "{}", "");
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w1, 2000, &wm), 0); /* LRU: w1 first */
    assert_string_equal(wm.req.rid, "idem-1");
    assert_int_equal(wm.req.ctl.flags & SMQ_FLAG_IDEMPOTENT, SMQ_FLAG_IDEMPOTENT);
    smq_worker_msg_clear(&wm);
    w1->alive = false; /* hangs: no heartbeats, no reply */

    int64_t t0 = clock_mono_ms();
    assert_int_equal(worker_recv(w2, 3000, &wm), 0);
    int64_t took = clock_mono_ms() - t0;
    assert_int_equal(wm.command, SMQ_REQUEST);
    assert_string_equal(wm.req.rid, "idem-1");
    assert_in_range(took, 3 * HB_MS - 100, 3 * HB_MS + 700);
    smq_worker_msg_clear(&wm);

    /* The second holder dies by saying DISCONNECT: no third try. */
    smq_reply_t rep;
    worker_destroy(&w2, true);
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_string_equal(rep.rid, "idem-1");
    assert_int_equal(rep.status, 502);
    assert_string_equal(rep.body, "{\"detail\":\"Bad gateway\"}");
    smq_reply_clear(&rep);

    json_t *st = broker_status(c);
    assert_true(status_int(st, "broker", "redispatched", NULL) >= 1);
    assert_int_equal(status_int(st, "services", "t-idem", "workers"), 0);
    json_decref(st);
    worker_destroy(&w1, false);
    zsock_destroy(&c);
}

static void test_dead_worker_not_idempotent_502(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w1 = worker_new("t-502", NULL);
    wait_workers(c, "t-502", 1);
    fake_worker_t *w2 = worker_new("t-502", NULL);
    wait_workers(c, "t-502", 2);

    client_send(c, "t-502", "post-1", 5000, 0, "{\"op\":\"orders.create\"}", "{}");
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w1, 2000, &wm), 0);
    smq_worker_msg_clear(&wm);
    w1->alive = false;

    smq_reply_t rep;
    int64_t t0 = clock_mono_ms();
    /* w2 keeps heartbeating while we wait, and must not get the request. */
    worker_idle(w2, 3 * HB_MS + 300);
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_true(clock_mono_ms() - t0 < 3 * HB_MS + 1500);
    assert_string_equal(rep.rid, "post-1");
    assert_int_equal(rep.status, 502);
    assert_string_equal(rep.body, "{\"detail\":\"Bad gateway\"}");
    smq_reply_clear(&rep);

    worker_destroy(&w1, false);
    worker_destroy(&w2, true);
    zsock_destroy(&c);
}

/* A REPLY from a peer that never said READY is forwarded, and that peer
 * gets DISCONNECT. */
static void test_reply_from_unknown_worker(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w = worker_new("t-unknown", NULL);
    wait_workers(c, "t-unknown", 1);
    client_send(c, "t-unknown", "u-1", 3000, 0, "{}", "");
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w, 2000, &wm), 0);

    zsock_t *stranger = zsock_new_dealer(harness_broker_endpoint(h));
    zsock_set_linger(stranger, 0);
    zmsg_t *rep_msg = smq_worker_reply_new(wm.client, "u-1", 200, "{\"from\":\"stranger\"}", 19);
    assert_int_equal(zmsg_send(&rep_msg, stranger), 0);
    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_string_equal(rep.rid, "u-1");
    assert_string_equal(rep.body, "{\"from\":\"stranger\"}");
    smq_reply_clear(&rep);
    zsock_set_rcvtimeo(stranger, 2000);
    zmsg_t *bye = zmsg_recv(stranger);
    assert_non_null(bye);
    smq_worker_msg_t bm;
    assert_int_equal(smq_worker_msg_decode(bye, &bm), 0);
    assert_int_equal(bm.command, SMQ_DISCONNECT);
    smq_worker_msg_clear(&bm);
    zmsg_destroy(&bye);

    /* The real worker's answer is forwarded too; it is then idle again. */
    worker_reply(w, &wm, 200, "{\"from\":\"worker\"}");
    smq_worker_msg_clear(&wm);
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_string_equal(rep.body, "{\"from\":\"worker\"}");
    smq_reply_clear(&rep);
    client_send(c, "t-unknown", "u-2", 3000, 0, "{}", "");
    assert_int_equal(worker_recv(w, 2000, &wm), 0);
    assert_string_equal(wm.req.rid, "u-2");
    smq_worker_msg_clear(&wm);

    zsock_destroy(&stranger);
    worker_destroy(&w, true);
    zsock_destroy(&c);
}

/* A worker that talks before READY is told to DISCONNECT. */
static void test_message_before_ready_disconnects(void **state)
{
    zsock_t *s = zsock_new_dealer(harness_broker_endpoint(h));
    zsock_set_linger(s, 0);
    zsock_set_rcvtimeo(s, 2000);
    zmsg_t *hb = smq_worker_heartbeat_new("{}");
    assert_int_equal(zmsg_send(&hb, s), 0);
    zmsg_t *msg = zmsg_recv(s);
    assert_non_null(msg);
    smq_worker_msg_t wm;
    assert_int_equal(smq_worker_msg_decode(msg, &wm), 0);
    assert_int_equal(wm.command, SMQ_DISCONNECT);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&msg);
    zsock_destroy(&s);
}

static void test_no_worker_503_after_grace(void **state)
{
    zsock_t *c = client_new();
    const char *services[] = {"t-nobody", SMQ_SVC_ORDER};
    for (int i = 0; i < 2; i++) {
        int64_t t0 = clock_mono_ms();
        client_send(c, services[i], "nobody", 5000, SMQ_FLAG_IDEMPOTENT, "{}", "");
        smq_reply_t rep;
        assert_int_equal(client_recv(c, 4000, &rep), 0);
        int64_t took = clock_mono_ms() - t0;
        assert_int_equal(rep.status, 503);
        assert_string_equal(rep.body, "{\"detail\":\"Service unavailable\"}");
        assert_in_range(took, GRACE_MS - 50, GRACE_MS + 500);
        smq_reply_clear(&rep);
    }
    /* A deadline shorter than the grace wins. */
    int64_t t0 = clock_mono_ms();
    client_send(c, "t-nobody", "short", 200, 0, "{}", "");
    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_int_equal(rep.status, 503);
    assert_true(clock_mono_ms() - t0 < GRACE_MS - 100);
    smq_reply_clear(&rep);

    /* A worker arriving within the grace gets the request instead. */
    client_send(c, "t-late", "late", 5000, 0, "{}", "");
    zclock_sleep(GRACE_MS / 3);
    fake_worker_t *w = worker_new("t-late", NULL);
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w, 2000, &wm), 0);
    assert_string_equal(wm.req.rid, "late");
    worker_reply(w, &wm, 200, "{}");
    smq_worker_msg_clear(&wm);
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_int_equal(rep.status, 200);
    smq_reply_clear(&rep);
    worker_destroy(&w, true);
    zsock_destroy(&c);
}

/* A queued request whose deadline passes is dropped (the gateway already
 * answered 504), never dispatched late. */
static void test_expired_queued_request_dropped(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w = worker_new("t-exp", NULL);
    wait_workers(c, "t-exp", 1);
    json_t *st = broker_status(c);
    json_int_t expired0 = status_int(st, "broker", "expired", NULL);
    json_decref(st);

    client_send(c, "t-exp", "busy", 5000, 0, "{}", "");
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w, 2000, &wm), 0);
    client_send(c, "t-exp", "doomed", 150, 0, "{}", ""); /* queues behind "busy" */
    worker_idle(w, 400);
    worker_reply(w, &wm, 200, "{}");
    smq_worker_msg_clear(&wm);
    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_string_equal(rep.rid, "busy");
    smq_reply_clear(&rep);
    assert_int_equal(worker_recv(w, 300, &wm), -1);  /* "doomed" never arrives */
    assert_int_equal(client_recv(c, 100, &rep), -1); /* and nothing is answered */

    st = broker_status(c);
    assert_int_equal(status_int(st, "broker", "expired", NULL), expired0 + 1);
    json_decref(st);
    worker_destroy(&w, true);
    zsock_destroy(&c);
}

static void test_broker_status(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w = worker_new(
        SMQ_SVC_CATALOG, "{\"instance\":\"cat-test-1\",\"database\":true,\"cache\":false}");
    wait_workers(c, SMQ_SVC_CATALOG, 1);
    worker_idle(w, 2 * HB_MS);

    json_t *st = broker_status(c);
    json_t *services = json_object_get(st, "services");
    assert_non_null(json_object_get(services, SMQ_SVC_ORDER));
    assert_non_null(json_object_get(services, SMQ_SVC_CUSTOMER));
    assert_int_equal(status_int(st, "services", SMQ_SVC_CUSTOMER, "workers"), 0);
    assert_int_equal(status_int(st, "services", SMQ_SVC_CATALOG, "workers"), 1);
    assert_int_equal(status_int(st, "services", SMQ_SVC_CATALOG, "queued"), 0);
    json_t *inst = json_object_get(
        json_object_get(json_object_get(services, SMQ_SVC_CATALOG), "instances"), "cat-test-1");
    assert_non_null(inst);
    assert_true(json_is_true(json_object_get(inst, "database")));
    assert_true(json_is_false(json_object_get(inst, "cache")));
    json_t *b = json_object_get(st, "broker");
    assert_true(json_integer_value(json_object_get(b, "dispatched")) >= 1);
    assert_non_null(json_object_get(b, "redispatched"));
    assert_non_null(json_object_get(b, "expired"));
    assert_non_null(json_object_get(b, "dropped_malformed"));
    json_decref(st);

    /* Unknown broker ops are 404, not silence. */
    client_send(c, SMQ_SVC_BROKER, "op?", 2000, 0, "{\"op\":\"broker.nope\"}", "");
    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_int_equal(rep.status, 404);
    smq_reply_clear(&rep);
    worker_destroy(&w, true);
    zsock_destroy(&c);
}

static void test_event_proxy(void **state)
{
    zsock_t *sub = zsock_new_sub(harness_events_sub_endpoint(h), SMQ_TOPIC_STOCK);
    zsock_t *pub = zsock_new_pub(NULL);
    assert_non_null(sub);
    assert_int_equal(zsock_connect(pub, "%s", harness_events_pub_endpoint(h)), 0);
    zsock_set_linger(sub, 0);
    zsock_set_linger(pub, 0);
    zpoller_t *poller = zpoller_new(sub, NULL);
    /* Subscriptions travel up through the proxy asynchronously: publish
     * until one arrives. An unsubscribed topic must never arrive. */
    smq_event_t ev;
    bool got = false;
    for (uint64_t seq = 1; seq < 300 && !got; seq++) {
        zmsg_t *other = smq_event_new(SMQ_TOPIC_CATEGORY, "test-pub", seq, "{}");
        zmsg_send(&other, pub);
        zmsg_t *msg = smq_event_new(SMQ_TOPIC_STOCK, "test-pub", seq, "{\"stock\":4}");
        zmsg_send(&msg, pub);
        if (zpoller_wait(poller, 10)) {
            zmsg_t *in = zmsg_recv(sub);
            assert_int_equal(smq_event_decode(in, &ev), 0);
            zmsg_destroy(&in);
            assert_string_equal(ev.topic, SMQ_TOPIC_STOCK);
            assert_string_equal(ev.publisher, "test-pub");
            assert_string_equal(ev.payload, "{\"stock\":4}");
            smq_event_clear(&ev);
            got = true;
        }
    }
    assert_true(got);
    zpoller_destroy(&poller);
    zsock_destroy(&pub);
    zsock_destroy(&sub);
}

static void test_garbage_does_not_crash(void **state)
{
    zsock_t *g = zsock_new_dealer(harness_broker_endpoint(h));
    zsock_set_linger(g, 0);
    unsigned seed = 4242;
    static const char *prefixes[] = {SMQ_CLIENT, SMQ_WORKER, "SMQC99", "", NULL};
    byte buf[512];
    for (int i = 0; i < 3000; i++) {
        zmsg_t *msg = zmsg_new();
        const char *prefix = prefixes[i % 5];
        if (prefix)
            zmsg_addstr(msg, prefix);
        int frames = rand_r(&seed) % 8;
        for (int f = 0; f < frames; f++) {
            size_t len = (size_t)rand_r(&seed) % (f == 0 ? 3 : sizeof buf);
            for (size_t k = 0; k < len; k++)
                buf[k] = (byte)rand_r(&seed);
            /* Worker commands: sometimes a real command byte with junk after. */
            if (f == 0 && prefix == prefixes[1] && len > 0)
                buf[0] = (byte)(1 + rand_r(&seed) % 5);
            zmsg_addmem(msg, buf, len);
        }
        if (zmsg_size(msg) == 0)
            zmsg_addmem(msg, "", 0);
        zmsg_send(&msg, g);
    }
    /* Near-valid: a request with a bad status-like ctl, a REPLY with a bad
     * status, a request for a 40-char service, a 6-byte ctl. */
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, SMQ_CLIENT);
    zmsg_addstr(m, "0123456789012345678901234567890123456789");
    zmsg_addstr(m, "r");
    zmsg_addmem(m, "\0\0\0\x10\0\0", 6);
    zmsg_addstr(m, "{}");
    zmsg_addstr(m, "");
    zmsg_send(&m, g);
    zclock_sleep(300);
    zsock_destroy(&g);

    pid_t pid = harness_pid(h, "broker");
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), 0);
    /* And it still works. */
    zsock_t *c = client_new();
    json_t *st = broker_status(c);
    assert_true(status_int(st, "broker", "dropped_malformed", NULL) > 100);
    json_decref(st);
    fake_worker_t *w = worker_new("t-after", NULL);
    wait_workers(c, "t-after", 1);
    client_send(c, "t-after", "after", 3000, 0, "{}", "");
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w, 2000, &wm), 0);
    worker_reply(w, &wm, 200, "{}");
    smq_worker_msg_clear(&wm);
    smq_reply_t rep;
    assert_int_equal(client_recv(c, 2000, &rep), 0);
    assert_int_equal(rep.status, 200);
    smq_reply_clear(&rep);
    worker_destroy(&w, true);
    zsock_destroy(&c);
}

/* SIGTERM: workers are told to DISCONNECT and the broker exits 0. Last,
 * because it stops the broker. */
static void test_sigterm_disconnects_workers(void **state)
{
    zsock_t *c = client_new();
    fake_worker_t *w = worker_new("t-term", NULL);
    wait_workers(c, "t-term", 1);
    assert_int_equal(harness_kill(h, "broker", SIGTERM), 0);
    smq_worker_msg_t wm;
    assert_int_equal(worker_recv(w, 2000, &wm), 0);
    assert_int_equal(wm.command, SMQ_DISCONNECT);
    smq_worker_msg_clear(&wm);
    worker_destroy(&w, false);
    zsock_destroy(&c);
}

static int setup(void **state)
{
    static const char *const env[] = {"ECOM_HEARTBEAT_MS=200", "ECOM_QUEUE_GRACE_MS=500", NULL};
    harness_opts_t opts = {.no_catalog = true,
                           .no_order = true,
                           .no_customer = true,
                           .no_redis = true,
                           .no_gateway = true,
                           .env = env};
    h = harness_start(&opts);
    return h ? 0 : -1;
}

static int teardown(void **state)
{
    harness_stop(&h);
    return 0;
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_reply),
        cmocka_unit_test(test_lru_dispatch),
        cmocka_unit_test(test_dead_worker_idempotent_redispatched_once),
        cmocka_unit_test(test_dead_worker_not_idempotent_502),
        cmocka_unit_test(test_reply_from_unknown_worker),
        cmocka_unit_test(test_message_before_ready_disconnects),
        cmocka_unit_test(test_no_worker_503_after_grace),
        cmocka_unit_test(test_expired_queued_request_dropped),
        cmocka_unit_test(test_broker_status),
        cmocka_unit_test(test_event_proxy),
        cmocka_unit_test(test_garbage_does_not_crash),
        cmocka_unit_test(test_sigterm_disconnects_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
