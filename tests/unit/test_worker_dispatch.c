/* The service runtime: route dispatch and reply helpers, then the whole
 * worker loop against a fake broker (a ROUTER socket in the test): READY,
 * request/reply, expired requests, heartbeats with status, reconnect after
 * broker silence and after DISCONNECT, and a clean stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "shopmq_proto.h"
#include "validate.h"
#include "worker.h"

/* ---- handlers ---- */

static void h_echo(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    json_t *o = json_object();
    json_object_set_new(o, "op", json_string(req->op));
    json_object_set_new(o, "rid", json_string(req->rid));
    json_object_set(o, "params", req->params);
    json_object_set(o, "query", req->query);
    json_object_set_new(o, "body", json_stringn(req->body, req->body_len));
    json_object_set_new(o, "idem", req->idem_key ? json_string(req->idem_key) : json_null());
    json_object_set_new(o, "budget_left", json_integer(req->deadline_ms - clock_mono_ms()));
    json_object_set_new(o, "app", json_string(app ? (const char *)app : ""));
    json_object_set_new(o, "price", json_real(29.99));
    svc_reply_json(rep, 200, o);
}

static void h_nostatus(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    rep->body = strdup("{\"leak\":\"check\"}"); /* must be freed by dispatch */
}

static void h_badstatus(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    svc_reply_copy(rep, 42, "{}");
}

static void h_nocontent(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    svc_reply_raw(rep, 204, NULL);
}

static void h_invalid(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    json_t *errs = json_array();
    v_error(errs, "body", "name", "Field required", "missing");
    svc_reply_errors(rep, errs);
    json_decref(errs);
}

static void h_slow(void *app, const svc_request_t *req, svc_reply_t *rep)
{
    zclock_sleep(700); /* seven heartbeat intervals in test_runtime */
    svc_reply_copy(rep, 200, "{\"slow\":true}");
}

static const svc_route_t routes[] = {
    {"test.slow", h_slow},
    {"test.echo", h_echo},          {"test.nostatus", h_nostatus},
    {"test.badstatus", h_badstatus}, {"test.nocontent", h_nocontent},
    {"test.invalid", h_invalid},    {NULL, NULL},
};

static void status_fn(void *app, json_t *out)
{
    json_object_set_new(out, "database", json_true());
    json_object_set_new(out, "custom", json_integer(7));
}

static config_t cfg;
static svc_def_t def = {.service = "testsvc", .routes = routes, .app = "the-app",
                        .status = status_fn, .cfg = &cfg};

static void dispatch(const char *op, svc_reply_t *rep)
{
    json_t *params = json_object(), *query = json_object(), *meta = json_object();
    svc_request_t req = {.op = op, .rid = "r1", .meta = meta, .params = params, .query = query,
                         .body = "", .deadline_ms = clock_mono_ms() + 1000};
    worker_dispatch(&def, &req, rep);
    json_decref(params);
    json_decref(query);
    json_decref(meta);
}

static void test_dispatch(void **state)
{
    svc_reply_t rep;
    dispatch("test.unknown", &rep);
    assert_int_equal(rep.status, 404);
    assert_string_equal(rep.body, "{\"detail\":\"Not Found\"}");
    free(rep.body);

    dispatch("test.nostatus", &rep);
    assert_int_equal(rep.status, 500);
    assert_string_equal(rep.body, "{\"detail\":\"Internal server error\"}");
    free(rep.body);

    dispatch("test.badstatus", &rep);
    assert_int_equal(rep.status, 500);
    free(rep.body);

    dispatch("test.nocontent", &rep);
    assert_int_equal(rep.status, 204);
    assert_null(rep.body);

    dispatch("test.invalid", &rep);
    assert_int_equal(rep.status, 422);
    assert_string_equal(rep.body, "{\"detail\":[{\"loc\":[\"body\",\"name\"],\"msg\":\"Field "
                                  "required\",\"type\":\"missing\"}]}");
    free(rep.body);

    dispatch("test.echo", &rep);
    assert_int_equal(rep.status, 200);
    assert_non_null(strstr(rep.body, "\"app\":\"the-app\""));
    assert_non_null(strstr(rep.body, "\"price\":29.99")); /* not 29.989999999999998 */
    free(rep.body);

    dispatch(NULL, &rep);
    assert_int_equal(rep.status, 404);
    free(rep.body);

    svc_def_t empty = {.service = "x", .routes = NULL, .cfg = &cfg};
    json_t *o = json_object();
    svc_request_t req = {.op = "a", .rid = "r", .meta = o, .params = o, .query = o, .body = ""};
    worker_dispatch(&empty, &req, &rep);
    assert_int_equal(rep.status, 404);
    free(rep.body);
    json_decref(o);
}

static void test_reply_helpers(void **state)
{
    svc_reply_t rep = {0, NULL};
    svc_reply_copy(&rep, 201, "{\"id\":1}");
    assert_int_equal(rep.status, 201);
    assert_string_equal(rep.body, "{\"id\":1}");
    svc_reply_detail(&rep, 409, "Email already registered"); /* replaces, frees the old body */
    assert_int_equal(rep.status, 409);
    assert_string_equal(rep.body, "{\"detail\":\"Email already registered\"}");
    svc_reply_json(&rep, 200, json_pack("[i,s]", 1, "a"));
    assert_string_equal(rep.body, "[1,\"a\"]");
    svc_reply_json(&rep, 200, NULL);
    assert_int_equal(rep.status, 500);
    svc_reply_raw(&rep, 204, NULL);
    assert_null(rep.body);
}

/* ---- the runtime against a fake broker ---- */

typedef struct {
    zsock_t *router;
    char ids[16][64]; /* identities seen in READY, as hex */
    zframe_t *frames[16];
    int nids;
    bool keepalive;
    int muted_below; /* identities [0, muted_below) get no heartbeats */
    zframe_t *watch; /* HEARTBEATs from this identity are counted */
    int watch_beats;
    int64_t last_beat;
} fake_broker_t;

static void id_hex(zframe_t *f, char out[64])
{
    char *hex = zframe_strhex(f);
    snprintf(out, 64, "%s", hex);
    free(hex);
}

static void send_cmd(fake_broker_t *b, zframe_t *identity, int command)
{
    zmsg_t *m = zmsg_new();
    zmsg_add(m, zframe_dup(identity));
    zmsg_addstr(m, SMQ_WORKER);
    unsigned char c = (unsigned char)command;
    zmsg_addmem(m, &c, 1);
    zmsg_send(&m, b->router);
}

/* Waits for the next message with this command (others are noted and
 * skipped). Returns the sender identity (caller destroys) or NULL. */
static zframe_t *expect_cmd(fake_broker_t *b, int command, int timeout_ms, smq_worker_msg_t *out)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    zpoller_t *poller = zpoller_new(b->router, NULL);
    zframe_t *found = NULL;
    while (!found && clock_mono_ms() < deadline) {
        if (b->keepalive && clock_mono_ms() - b->last_beat >= 50) {
            for (int i = b->muted_below; i < b->nids; i++)
                send_cmd(b, b->frames[i], SMQ_HEARTBEAT);
            b->last_beat = clock_mono_ms();
        }
        if (!zpoller_wait(poller, 20))
            continue;
        zmsg_t *m = zmsg_recv(b->router);
        zframe_t *id = zmsg_pop(m);
        smq_worker_msg_t wm;
        assert_int_equal(smq_worker_msg_decode(m, &wm), 0);
        zmsg_destroy(&m);
        if (wm.command == SMQ_HEARTBEAT && b->watch && zframe_eq(id, b->watch))
            b->watch_beats++;
        if (wm.command == SMQ_READY) {
            assert_string_equal(wm.service, "testsvc");
            assert_true(b->nids < 16);
            id_hex(id, b->ids[b->nids]);
            b->frames[b->nids++] = zframe_dup(id);
        }
        if (wm.command == command) {
            found = id;
            if (out)
                *out = wm;
            else
                smq_worker_msg_clear(&wm);
        } else {
            zframe_destroy(&id);
            smq_worker_msg_clear(&wm);
        }
    }
    zpoller_destroy(&poller);
    return found;
}

static void send_request(fake_broker_t *b, zframe_t *to, const char *rid, const char *meta,
                         const char *body, uint32_t budget)
{
    smq_request_t req;
    memset(&req, 0, sizeof(req));
    snprintf(req.service, sizeof(req.service), "testsvc");
    snprintf(req.rid, sizeof(req.rid), "%s", rid);
    req.ctl.budget_ms = budget;
    req.meta = (char *)meta;
    req.body = (char *)body;
    req.body_len = strlen(body);
    zframe_t *client = zframe_new("gw-1", 4);
    zmsg_t *m = smq_worker_request_new(client, &req);
    zframe_destroy(&client);
    zmsg_push(m, zframe_dup(to));
    zmsg_send(&m, b->router);
}

static int run_rc = -99;
static void *runner(void *arg)
{
    run_rc = worker_run(&def);
    return NULL;
}

static void test_runtime(void **state)
{
    char err[256];
    assert_int_equal(config_load_from(&cfg, NULL, err, sizeof(err)), 0);
    fake_broker_t b = {.keepalive = true};
    b.router = zsock_new(ZMQ_ROUTER);
    int port = zsock_bind(b.router, "tcp://127.0.0.1:*"); /* a free port */
    assert_true(port > 0);
    snprintf(cfg.broker_endpoints, sizeof(cfg.broker_endpoints), " tcp://127.0.0.1:%d ", port);
    snprintf(cfg.instance_id, sizeof(cfg.instance_id), "inst-1");
    cfg.workers = 2;
    cfg.heartbeat_ms = 100;


    worker_stop = 0;
    pthread_t t;
    pthread_create(&t, NULL, runner, NULL);

    /* Both workers say READY. */
    zframe_t *w1 = expect_cmd(&b, SMQ_READY, 2000, NULL);
    zframe_t *w2 = expect_cmd(&b, SMQ_READY, 2000, NULL);
    assert_non_null(w1);
    assert_non_null(w2);
    assert_false(zframe_eq(w1, w2));

    /* A request is answered on the same socket, with the meta unpacked. */
    send_request(&b, w1, "rid-1",
                 "{\"op\":\"test.echo\",\"params\":{\"id\":\"42\"},\"query\":{\"q\":\"x\"},"
                 "\"trace\":\"trace-1\",\"idem_key\":\"k1\"}",
                 "{\"a\":1}", 2000);
    smq_worker_msg_t wm;
    zframe_t *from = expect_cmd(&b, SMQ_REPLY, 2000, &wm);
    assert_non_null(from);
    assert_true(zframe_eq(from, w1));
    zframe_destroy(&from);
    assert_string_equal(wm.rep.rid, "rid-1");
    assert_int_equal(wm.rep.status, 200);
    assert_true(zframe_streq(wm.client, "gw-1"));
    json_t *body = json_loads(wm.rep.body, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "op")), "test.echo");
    assert_string_equal(json_string_value(json_object_get(body, "rid")), "trace-1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "params"), "id")), "42");
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "query"), "q")),
                        "x");
    assert_string_equal(json_string_value(json_object_get(body, "body")), "{\"a\":1}");
    assert_string_equal(json_string_value(json_object_get(body, "idem")), "k1");
    json_int_t left = json_integer_value(json_object_get(body, "budget_left"));
    assert_true(left > 1000 && left <= 2000);
    json_decref(body);
    smq_worker_msg_clear(&wm);

    /* Missing params/query become empty objects; unknown op is 404. */
    send_request(&b, w2, "rid-2", "{\"op\":\"test.echo\"}", "", 1000);
    from = expect_cmd(&b, SMQ_REPLY, 2000, &wm);
    assert_true(zframe_eq(from, w2));
    zframe_destroy(&from);
    assert_non_null(strstr(wm.rep.body, "\"params\":{}"));
    assert_non_null(strstr(wm.rep.body, "\"query\":{}"));
    assert_non_null(strstr(wm.rep.body, "\"idem\":null"));
    assert_non_null(strstr(wm.rep.body, "\"rid\":\"rid-2\"")); /* no trace: the wire rid */
    smq_worker_msg_clear(&wm);
    send_request(&b, w2, "rid-3", "{\"op\":\"nope\"}", "", 1000);
    from = expect_cmd(&b, SMQ_REPLY, 2000, &wm);
    zframe_destroy(&from);
    assert_int_equal(wm.rep.status, 404);
    assert_string_equal(wm.rep.body, "{\"detail\":\"Not Found\"}");
    smq_worker_msg_clear(&wm);

    /* An expired request (budget 0) gets no reply; the next one does. */
    send_request(&b, w1, "rid-late", "{\"op\":\"test.echo\"}", "", 0);
    send_request(&b, w1, "rid-4", "{\"op\":\"test.nocontent\"}", "", 1000);
    from = expect_cmd(&b, SMQ_REPLY, 2000, &wm);
    zframe_destroy(&from);
    assert_string_equal(wm.rep.rid, "rid-4");
    assert_int_equal(wm.rep.status, 204);
    assert_int_equal(wm.rep.body_len, 0);
    smq_worker_msg_clear(&wm);

    /* A handler slower than the broker's liveness period: the worker keeps
     * heartbeating meanwhile, so the broker does not declare it dead. */
    b.watch = w2;
    b.watch_beats = 0;
    send_request(&b, w2, "rid-slow", "{\"op\":\"test.slow\"}", "", 2000);
    from = expect_cmd(&b, SMQ_REPLY, 2000, &wm);
    assert_non_null(from);
    zframe_destroy(&from);
    assert_string_equal(wm.rep.rid, "rid-slow");
    smq_worker_msg_clear(&wm);
    if (b.watch_beats < 4)
        fail_msg("only %d heartbeats during a 700 ms handler (interval 100 ms)", b.watch_beats);
    b.watch = NULL;

    /* Heartbeats carry the status object plus the instance. */
    from = expect_cmd(&b, SMQ_HEARTBEAT, 1000, &wm);
    assert_non_null(from);
    zframe_destroy(&from);
    json_t *st = json_loads(wm.status_json, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(st, "instance")), "inst-1");
    assert_int_equal(json_integer_value(json_object_get(st, "custom")), 7);
    assert_true(json_is_true(json_object_get(st, "database")));
    json_decref(st);
    smq_worker_msg_clear(&wm);

    /* DISCONNECT: that worker registers again at once, from a new socket. */
    int before = b.nids;
    int64_t t0 = clock_mono_ms();
    send_cmd(&b, w1, SMQ_DISCONNECT);
    zframe_t *w1b = expect_cmd(&b, SMQ_READY, 1000, NULL);
    assert_non_null(w1b);
    assert_true(clock_mono_ms() - t0 < 600);
    assert_false(zframe_eq(w1b, w1));
    assert_int_equal(b.nids, before + 1);

    /* Broker silence for more than 3 heartbeats: both reconnect (READY
     * again) after the liveness period plus the first backoff. The new
     * sockets get heartbeats again, so they stay. (A socket that never
     * heard from its broker is not recycled, it waits for the broker to
     * come up: so the re-registered one hears a heartbeat first.) */
    int64_t hb_until = clock_mono_ms() + 150;
    while (clock_mono_ms() < hb_until) {
        zframe_t *beat = expect_cmd(&b, SMQ_HEARTBEAT, 100, NULL);
        zframe_destroy(&beat);
    }
    b.muted_below = b.nids;
    t0 = clock_mono_ms();
    zframe_t *r1 = expect_cmd(&b, SMQ_READY, 3000, NULL);
    zframe_t *r2 = expect_cmd(&b, SMQ_READY, 3000, NULL);
    int64_t took = clock_mono_ms() - t0;
    assert_non_null(r1);
    assert_non_null(r2);
    assert_true(took >= 250 && took < 2500);
    assert_false(zframe_eq(r1, r2));

    /* The reconnected sockets serve requests. */
    send_request(&b, r2, "rid-5", "{\"op\":\"test.nostatus\"}", "", 1000);
    from = expect_cmd(&b, SMQ_REPLY, 2000, &wm);
    assert_true(zframe_eq(from, r2));
    zframe_destroy(&from);
    assert_int_equal(wm.rep.status, 500);
    smq_worker_msg_clear(&wm);

    /* Stop: every worker says DISCONNECT and worker_run returns 0. */
    worker_stop = 1;
    zframe_t *d1 = expect_cmd(&b, SMQ_DISCONNECT, 2000, NULL);
    zframe_t *d2 = expect_cmd(&b, SMQ_DISCONNECT, 2000, NULL);
    assert_non_null(d1);
    assert_non_null(d2);
    pthread_join(t, NULL);
    assert_int_equal(run_rc, 0);

    zframe_t *all[] = {w1, w2, w1b, r1, r2, d1, d2};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        zframe_destroy(&all[i]);
    for (int i = 0; i < b.nids; i++)
        zframe_destroy(&b.frames[i]);
    zsock_destroy(&b.router);
    worker_stop = 0;
}

int main(void)
{
    log_init("test_worker", getenv("TEST_LOG_LEVEL") ? getenv("TEST_LOG_LEVEL") : "error");
    char err[256];
    if (config_load_from(&cfg, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_reply_helpers),
        cmocka_unit_test(test_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
