/* Wire protocol: every encoder round-trips through its decoder, and every
 * decoder rejects malformed messages (and random garbage) without crashing
 * or leaking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shopmq_proto.h"

/* Builds a message from (pointer, length) pairs; length -1 means strlen. */
static zmsg_t *msg_of(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < n; i++) {
        const void *p = va_arg(ap, const void *);
        int len = va_arg(ap, int);
        zmsg_addmem(msg, p, len < 0 ? strlen(p) : (size_t)len);
    }
    va_end(ap);
    return msg;
}

static const uint8_t CTL_OK[5] = {0, 0, 0x13, 0x88, SMQ_FLAG_IDEMPOTENT};
static const uint8_t CMD_READY = SMQ_READY, CMD_REQUEST = SMQ_REQUEST, CMD_REPLY = SMQ_REPLY,
                     CMD_HB = SMQ_HEARTBEAT, CMD_DISC = SMQ_DISCONNECT, CMD_BAD = 0x09;
static const uint8_t SEQ8[8] = {0, 0, 0, 0, 0, 0, 1, 2};
static const uint8_t SEQ9[9] = {0, 0, 0, 0, 0, 0, 0, 1, 2};

/* ---- round trips ---- */

static void test_ctl_round_trip(void **state)
{
    smq_ctl_t in = {.budget_ms = 0xDEADBEEF, .flags = 0x81}, out;
    uint8_t buf[SMQ_CTL_SIZE];
    smq_ctl_encode(&in, buf);
    assert_int_equal(buf[0], 0xDE);
    assert_int_equal(buf[3], 0xEF);
    zframe_t *f = zframe_new(buf, sizeof buf);
    assert_int_equal(smq_ctl_decode(f, &out), 0);
    assert_int_equal(out.budget_ms, 0xDEADBEEF);
    assert_int_equal(out.flags, 0x81);
    zframe_destroy(&f);
}

static void test_client_request_round_trip(void **state)
{
    smq_ctl_t ctl = {.budget_ms = 5000, .flags = SMQ_FLAG_IDEMPOTENT};
    const char *meta = "{\"op\":\"customers.get\"}";
    const char body[] = "{\"a\":1}\0tail"; /* bodies are bytes: NUL survives */
    zmsg_t *msg = smq_client_request_new("customer", "rid-1", &ctl, meta, strlen(meta), body,
                                         sizeof body - 1);
    assert_int_equal(zmsg_size(msg), 6);
    smq_request_t req;
    assert_int_equal(smq_client_request_decode(msg, &req), 0);
    assert_string_equal(req.service, "customer");
    assert_string_equal(req.rid, "rid-1");
    assert_int_equal(req.ctl.budget_ms, 5000);
    assert_int_equal(req.ctl.flags, SMQ_FLAG_IDEMPOTENT);
    assert_string_equal(req.meta, meta);
    assert_int_equal(req.body_len, sizeof body - 1);
    assert_memory_equal(req.body, body, sizeof body - 1);
    assert_int_equal(req.body[req.body_len], '\0');
    smq_request_clear(&req);
    assert_null(req.meta);
    zmsg_destroy(&msg);

    /* Empty body and NULL meta ("{}") are valid. */
    msg = smq_client_request_new("catalog", "r", &ctl, NULL, 0, NULL, 0);
    assert_int_equal(smq_client_request_decode(msg, &req), 0);
    assert_string_equal(req.meta, "{}");
    assert_string_equal(req.body, "");
    assert_int_equal(req.body_len, 0);
    smq_request_clear(&req);
    zmsg_destroy(&msg);
}

static void test_client_reply_round_trip(void **state)
{
    int statuses[] = {100, 200, 201, 204, 404, 422, 503, 599};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        zmsg_t *msg = smq_client_reply_new("rid-2", statuses[i], "{\"x\":true}", 10);
        smq_reply_t rep;
        assert_int_equal(smq_client_reply_decode(msg, &rep), 0);
        assert_string_equal(rep.rid, "rid-2");
        assert_int_equal(rep.status, statuses[i]);
        assert_string_equal(rep.body, "{\"x\":true}");
        assert_int_equal(rep.body_len, 10);
        smq_reply_clear(&rep);
        zmsg_destroy(&msg);
    }
    /* An out-of-range status is never put on the wire as such. */
    zmsg_t *msg = smq_client_reply_new("r", 42, NULL, 0);
    smq_reply_t rep;
    assert_int_equal(smq_client_reply_decode(msg, &rep), 0);
    assert_int_equal(rep.status, 500);
    assert_string_equal(rep.body, "");
    smq_reply_clear(&rep);
    zmsg_destroy(&msg);
}

static void test_worker_round_trips(void **state)
{
    smq_worker_msg_t wm;

    zmsg_t *msg = smq_worker_ready_new("order");
    assert_int_equal(smq_worker_msg_decode(msg, &wm), 0);
    assert_int_equal(wm.command, SMQ_READY);
    assert_string_equal(wm.service, "order");
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&msg);

    msg = smq_worker_heartbeat_new("{\"instance\":\"h-1\"}");
    assert_int_equal(smq_worker_msg_decode(msg, &wm), 0);
    assert_int_equal(wm.command, SMQ_HEARTBEAT);
    assert_string_equal(wm.status_json, "{\"instance\":\"h-1\"}");
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&msg);

    msg = smq_worker_heartbeat_new(NULL);
    assert_int_equal(zmsg_size(msg), 2);
    assert_int_equal(smq_worker_msg_decode(msg, &wm), 0);
    assert_int_equal(wm.command, SMQ_HEARTBEAT);
    assert_null(wm.status_json);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&msg);

    msg = smq_worker_disconnect_new();
    assert_int_equal(smq_worker_msg_decode(msg, &wm), 0);
    assert_int_equal(wm.command, SMQ_DISCONNECT);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&msg);

    /* REQUEST carries the client's routing identity (binary) unchanged. */
    byte ident[5] = {0, 0x80, 0, 0x41, 0xa7};
    zframe_t *client = zframe_new(ident, sizeof ident);
    smq_request_t req = {.rid = "rid-3", .ctl = {.budget_ms = 1234, .flags = 0}};
    req.meta = strdup("{\"op\":\"orders.get\"}");
    req.body = strdup("");
    msg = smq_worker_request_new(client, &req);
    assert_int_equal(zmsg_size(msg), 7);
    assert_int_equal(smq_worker_msg_decode(msg, &wm), 0);
    assert_int_equal(wm.command, SMQ_REQUEST);
    assert_true(zframe_eq(wm.client, client));
    assert_string_equal(wm.req.rid, "rid-3");
    assert_int_equal(wm.req.ctl.budget_ms, 1234);
    assert_string_equal(wm.req.meta, "{\"op\":\"orders.get\"}");
    assert_int_equal(wm.req.body_len, 0);
    smq_worker_msg_clear(&wm);
    assert_null(wm.client);
    zmsg_destroy(&msg);
    smq_request_clear(&req);

    msg = smq_worker_reply_new(client, "rid-3", 201, "{}", 2);
    assert_int_equal(zmsg_size(msg), 6);
    assert_int_equal(smq_worker_msg_decode(msg, &wm), 0);
    assert_int_equal(wm.command, SMQ_REPLY);
    assert_true(zframe_eq(wm.client, client));
    assert_string_equal(wm.rep.rid, "rid-3");
    assert_int_equal(wm.rep.status, 201);
    assert_string_equal(wm.rep.body, "{}");
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&msg);
    zframe_destroy(&client);
}

static void test_event_round_trip(void **state)
{
    zmsg_t *msg = smq_event_new(SMQ_TOPIC_STOCK, "order-svc-1", 0x0102030405060708ULL,
                                "{\"product_id\":\"p\",\"stock\":3}");
    assert_int_equal(zmsg_size(msg), 5);
    smq_event_t ev;
    assert_int_equal(smq_event_decode(msg, &ev), 0);
    assert_string_equal(ev.topic, SMQ_TOPIC_STOCK);
    assert_string_equal(ev.publisher, "order-svc-1");
    assert_true(ev.seq == 0x0102030405060708ULL);
    assert_string_equal(ev.payload, "{\"product_id\":\"p\",\"stock\":3}");
    smq_event_clear(&ev);
    zmsg_destroy(&msg);

    msg = smq_event_new(SMQ_TOPIC_HEARTBEAT, "p", 7, NULL);
    assert_int_equal(smq_event_decode(msg, &ev), 0);
    assert_string_equal(ev.payload, "{}");
    assert_true(ev.seq == 7);
    smq_event_clear(&ev);
    zmsg_destroy(&msg);
}

/* Newer peers may append optional frames: decoders ignore them. */
static void test_trailing_frames_allowed(void **state)
{
    smq_ctl_t ctl = {.budget_ms = 10, .flags = 0};
    zmsg_t *msg = smq_client_request_new("customer", "r", &ctl, "{}", 2, "", 0);
    zmsg_addstr(msg, "future");
    smq_request_t req;
    assert_int_equal(smq_client_request_decode(msg, &req), 0);
    smq_request_clear(&req);
    zmsg_destroy(&msg);

    msg = smq_client_reply_new("r", 200, "{}", 2);
    zmsg_addstr(msg, "future");
    smq_reply_t rep;
    assert_int_equal(smq_client_reply_decode(msg, &rep), 0);
    smq_reply_clear(&rep);
    zmsg_destroy(&msg);
}

/* ---- malformed messages ---- */

static void expect_client_request_bad(zmsg_t *msg, const char *why)
{
    smq_request_t req;
    memset(&req, 0x5a, sizeof req); /* decoder must not rely on a clean struct */
    int rc = smq_client_request_decode(msg, &req);
    if (rc != -1)
        fail_msg("client request accepted: %s", why);
    assert_null(req.meta);
    assert_null(req.body);
    zmsg_destroy(&msg);
}

static void test_client_request_malformed(void **state)
{
    char long_service[SMQ_MAX_SERVICE + 2], long_rid[SMQ_MAX_RID + 2];
    memset(long_service, 'a', sizeof long_service - 1);
    long_service[sizeof long_service - 1] = '\0';
    memset(long_rid, 'r', sizeof long_rid - 1);
    long_rid[sizeof long_rid - 1] = '\0';

    expect_client_request_bad(zmsg_new(), "empty message");
    expect_client_request_bad(msg_of(5, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 5, "{}", -1),
                              "five frames");
    expect_client_request_bad(
        msg_of(6, "SMQC02", -1, "customer", -1, "r", -1, CTL_OK, 5, "{}", -1, "", 0),
        "unknown protocol version");
    expect_client_request_bad(
        msg_of(6, "SMQW01", -1, "customer", -1, "r", -1, CTL_OK, 5, "{}", -1, "", 0),
        "worker protocol on client socket");
    expect_client_request_bad(msg_of(6, "SMQC01", -1, "", 0, "r", -1, CTL_OK, 5, "{}", -1, "", 0),
                              "empty service");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, long_service, -1, "r", -1, CTL_OK, 5, "{}", -1, "", 0),
        "service too long");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "cust omer", -1, "r", -1, CTL_OK, 5, "{}", -1, "", 0),
        "space in service");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "cust\nomer", -1, "r", -1, CTL_OK, 5, "{}", -1, "", 0),
        "control byte in service");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "c\xc3\xa9", -1, "r", -1, CTL_OK, 5, "{}", -1, "", 0),
        "non-ASCII service");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "customer", -1, "", 0, CTL_OK, 5, "{}", -1, "", 0), "empty rid");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "customer", -1, long_rid, -1, CTL_OK, 5, "{}", -1, "", 0),
        "rid too long");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 4, "{}", -1, "", 0),
        "ctl 4 bytes");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, "\0\0\0\0\0\0", 6, "{}", -1, "", 0),
        "ctl 6 bytes");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 5, "", 0, "", 0), "empty meta");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 5, "[1]", -1, "", 0),
        "meta not an object");
    expect_client_request_bad(
        msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 5, "{\0}", 3, "", 0),
        "NUL in meta");

    char *big_meta = malloc(SMQ_MAX_META + 2);
    memset(big_meta, ' ', SMQ_MAX_META + 1);
    big_meta[0] = '{';
    big_meta[SMQ_MAX_META] = '}';
    expect_client_request_bad(msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 5, big_meta,
                                     SMQ_MAX_META + 1, "", 0),
                              "meta over limit");
    /* Exactly at the limit is fine. */
    smq_request_t req;
    zmsg_t *ok = msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 5, big_meta + 1,
                        SMQ_MAX_META, "", 0);
    zframe_t *meta = zmsg_first(ok);
    for (int i = 0; i < 4; i++)
        meta = zmsg_next(ok);
    zframe_data(meta)[0] = '{';
    assert_int_equal(smq_client_request_decode(ok, &req), 0);
    smq_request_clear(&req);
    zmsg_destroy(&ok);
    free(big_meta);

    char *big_body = calloc(1, SMQ_MAX_BODY + 1);
    expect_client_request_bad(msg_of(6, "SMQC01", -1, "customer", -1, "r", -1, CTL_OK, 5, "{}", -1,
                                     big_body, SMQ_MAX_BODY + 1),
                              "body over limit");
    free(big_body);
}

static void expect_client_reply_bad(zmsg_t *msg, const char *why)
{
    smq_reply_t rep;
    memset(&rep, 0x5a, sizeof rep);
    if (smq_client_reply_decode(msg, &rep) != -1)
        fail_msg("client reply accepted: %s", why);
    assert_null(rep.body);
    zmsg_destroy(&msg);
}

static void test_client_reply_malformed(void **state)
{
    expect_client_reply_bad(msg_of(3, "SMQC01", -1, "r", -1, "200", -1), "three frames");
    expect_client_reply_bad(msg_of(4, "SMQC00", -1, "r", -1, "200", -1, "", 0), "bad version");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "", 0, "200", -1, "", 0), "empty rid");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "099", -1, "", 0), "status 99");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "600", -1, "", 0), "status 600");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "20", -1, "", 0), "2 digits");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "2000", -1, "", 0), "4 digits");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "2a0", -1, "", 0), "not digits");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "+20", -1, "", 0), "sign");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "\xc8\0\0", 3, "", 0), "binary");
    expect_client_reply_bad(msg_of(4, "SMQC01", -1, "r", -1, "", 0, "", 0), "empty status");
}

static void expect_worker_bad(zmsg_t *msg, const char *why)
{
    smq_worker_msg_t wm;
    memset(&wm, 0x5a, sizeof wm);
    if (smq_worker_msg_decode(msg, &wm) != -1)
        fail_msg("worker message accepted: %s", why);
    assert_null(wm.client);
    assert_null(wm.status_json);
    assert_null(wm.req.meta);
    assert_null(wm.rep.body);
    zmsg_destroy(&msg);
}

static void test_worker_malformed(void **state)
{
    char long_client[SMQ_MAX_CLIENT_ID + 1];
    memset(long_client, 7, sizeof long_client);

    expect_worker_bad(zmsg_new(), "empty");
    expect_worker_bad(msg_of(1, "SMQW01", -1), "no command");
    expect_worker_bad(msg_of(2, "SMQW02", -1, &CMD_HB, 1), "unknown version");
    expect_worker_bad(msg_of(2, "SMQC01", -1, &CMD_HB, 1), "client protocol");
    expect_worker_bad(msg_of(2, "SMQW01", -1, "", 0), "empty command");
    expect_worker_bad(msg_of(2, "SMQW01", -1, "\x04\x04", 2), "2-byte command");
    expect_worker_bad(msg_of(2, "SMQW01", -1, &CMD_BAD, 1), "unknown command");
    expect_worker_bad(msg_of(2, "SMQW01", -1, "\0", 1), "command 0");
    expect_worker_bad(msg_of(2, "SMQW01", -1, &CMD_READY, 1), "READY without service");
    expect_worker_bad(msg_of(3, "SMQW01", -1, &CMD_READY, 1, "", 0), "READY empty service");
    expect_worker_bad(msg_of(3, "SMQW01", -1, &CMD_READY, 1, "a b", -1), "READY bad service");
    expect_worker_bad(msg_of(3, "SMQW01", -1, &CMD_HB, 1, "not json", -1), "HB status junk");
    expect_worker_bad(msg_of(3, "SMQW01", -1, &CMD_HB, 1, "{\0}", 3), "HB status NUL");
    expect_worker_bad(msg_of(5, "SMQW01", -1, &CMD_REPLY, 1, "id", -1, "r", -1, "200", -1),
                      "REPLY 5 frames");
    expect_worker_bad(msg_of(6, "SMQW01", -1, &CMD_REPLY, 1, "", 0, "r", -1, "200", -1, "", 0),
                      "REPLY empty client");
    expect_worker_bad(msg_of(6, "SMQW01", -1, &CMD_REPLY, 1, long_client, (int)sizeof long_client,
                             "r", -1, "200", -1, "", 0),
                      "REPLY client id too long");
    expect_worker_bad(msg_of(6, "SMQW01", -1, &CMD_REPLY, 1, "id", -1, "r", -1, "700", -1, "", 0),
                      "REPLY status 700");
    expect_worker_bad(msg_of(6, "SMQW01", -1, &CMD_REPLY, 1, "id", -1, "r r", -1, "200", -1, "", 0),
                      "REPLY rid with space");
    expect_worker_bad(
        msg_of(6, "SMQW01", -1, &CMD_REQUEST, 1, "id", -1, "r", -1, CTL_OK, 5, "{}", -1),
        "REQUEST 6 frames");
    expect_worker_bad(
        msg_of(7, "SMQW01", -1, &CMD_REQUEST, 1, "id", -1, "r", -1, CTL_OK, 3, "{}", -1, "", 0),
        "REQUEST short ctl");
    expect_worker_bad(
        msg_of(7, "SMQW01", -1, &CMD_REQUEST, 1, "id", -1, "r", -1, CTL_OK, 5, "nope", -1, "", 0),
        "REQUEST meta not JSON");
    /* A good one next to the bad ones, so the table is known to be sharp. */
    smq_worker_msg_t wm;
    zmsg_t *ok =
        msg_of(7, "SMQW01", -1, &CMD_REQUEST, 1, "id", -1, "r", -1, CTL_OK, 5, " {} ", -1, "", 0);
    assert_int_equal(smq_worker_msg_decode(ok, &wm), 0);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&ok);
    ok = msg_of(2, "SMQW01", -1, &CMD_DISC, 1);
    assert_int_equal(smq_worker_msg_decode(ok, &wm), 0);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&ok);
    ok = msg_of(3, "SMQW01", -1, &CMD_HB, 1, "", 0);
    assert_int_equal(smq_worker_msg_decode(ok, &wm), 0);
    assert_null(wm.status_json);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&ok);
}

static void expect_event_bad(zmsg_t *msg, const char *why)
{
    smq_event_t ev;
    memset(&ev, 0x5a, sizeof ev);
    if (smq_event_decode(msg, &ev) != -1)
        fail_msg("event accepted: %s", why);
    assert_null(ev.payload);
    zmsg_destroy(&msg);
}

static void test_event_malformed(void **state)
{
    expect_event_bad(msg_of(4, "stock.changed", -1, "SMQE01", -1, "p", -1, SEQ8, 8), "4 frames");
    expect_event_bad(msg_of(5, "stock.changed", -1, "SMQE02", -1, "p", -1, SEQ8, 8, "{}", -1),
                     "version");
    expect_event_bad(msg_of(5, "", 0, "SMQE01", -1, "p", -1, SEQ8, 8, "{}", -1), "empty topic");
    expect_event_bad(msg_of(5, "a-very-long-topic-name-over-31-chars", -1, "SMQE01", -1, "p", -1,
                            SEQ8, 8, "{}", -1),
                     "long topic");
    expect_event_bad(msg_of(5, "stock.changed", -1, "SMQE01", -1, "", 0, SEQ8, 8, "{}", -1),
                     "empty publisher");
    expect_event_bad(msg_of(5, "stock.changed", -1, "SMQE01", -1, "p", -1, SEQ8, 7, "{}", -1),
                     "seq 7 bytes");
    expect_event_bad(msg_of(5, "stock.changed", -1, "SMQE01", -1, "p", -1, SEQ9, 9, "{}", -1),
                     "seq 9 bytes");
    expect_event_bad(msg_of(5, "stock.changed", -1, "SMQE01", -1, "p", -1, SEQ8, 8, "", 0),
                     "empty payload");
    expect_event_bad(msg_of(5, "stock.changed", -1, "SMQE01", -1, "p", -1, SEQ8, 8, "[]", -1),
                     "payload array");
}

/* ---- garbage ---- */

/* Random frame counts, sizes and bytes, plus mutations of valid messages
 * (one frame replaced by junk): decoders must return without crashing and,
 * on failure, leave nothing allocated (ASan/LSan in CI checks the latter). */
static zmsg_t *random_msg(unsigned *seed)
{
    zmsg_t *msg = zmsg_new();
    int frames = rand_r(seed) % 9;
    for (int i = 0; i < frames; i++) {
        size_t len = (size_t)(rand_r(seed) % 4 == 0 ? rand_r(seed) % 600 : rand_r(seed) % 10);
        byte buf[600];
        for (size_t j = 0; j < len; j++)
            buf[j] = (byte)rand_r(seed);
        zmsg_addmem(msg, buf, len);
    }
    return msg;
}

static zmsg_t *mutated_valid(unsigned *seed)
{
    smq_ctl_t ctl = {.budget_ms = 100, .flags = 1};
    zframe_t *client = zframe_new("abc", 3);
    zmsg_t *msg;
    switch (rand_r(seed) % 5) {
    case 0:
        msg = smq_client_request_new("catalog", "rid", &ctl, "{}", 2, "{}", 2);
        break;
    case 1:
        msg = smq_client_reply_new("rid", 200, "{}", 2);
        break;
    case 2:
        msg = smq_worker_reply_new(client, "rid", 200, "{}", 2);
        break;
    case 3:
        msg = smq_event_new("stock.changed", "p", 1, "{}");
        break;
    default:
        msg = smq_worker_ready_new("order");
        break;
    }
    zframe_destroy(&client);
    /* Replace one frame's first byte, or drop the last frame. */
    if (rand_r(seed) % 3 == 0) {
        zframe_t *last = zmsg_last(msg);
        zmsg_remove(msg, last);
        zframe_destroy(&last);
    } else {
        size_t k = (size_t)rand_r(seed) % zmsg_size(msg);
        zframe_t *f = zmsg_first(msg);
        while (k--)
            f = zmsg_next(msg);
        if (zframe_size(f) > 0)
            zframe_data(f)[0] = (byte)rand_r(seed);
    }
    return msg;
}

static void test_garbage_never_crashes(void **state)
{
    unsigned seed = 12345;
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        zmsg_t *msg = i % 2 ? random_msg(&seed) : mutated_valid(&seed);
        smq_request_t req;
        smq_reply_t rep;
        smq_worker_msg_t wm;
        smq_event_t ev;
        if (smq_client_request_decode(msg, &req) == 0) {
            accepted++;
            smq_request_clear(&req);
        } else
            assert_null(req.body);
        if (smq_client_reply_decode(msg, &rep) == 0) {
            accepted++;
            assert_in_range(rep.status, 100, 599);
            smq_reply_clear(&rep);
        } else
            assert_null(rep.body);
        if (smq_worker_msg_decode(msg, &wm) == 0) {
            accepted++;
            smq_worker_msg_clear(&wm);
        } else
            assert_null(wm.client);
        if (smq_event_decode(msg, &ev) == 0) {
            accepted++;
            smq_event_clear(&ev);
        } else
            assert_null(ev.payload);
        smq_ctl_t ctl;
        smq_ctl_decode(zmsg_first(msg), &ctl);
        zmsg_destroy(&msg);
    }
    /* Mutations that hit a byte the protocol does not check still decode;
     * if nothing ever did, the generator would be broken. */
    assert_true(accepted > 0);
    /* NULL inputs are rejected, not dereferenced. */
    assert_int_equal(smq_client_request_decode(NULL, &(smq_request_t){0}), -1);
    assert_int_equal(smq_worker_msg_decode(NULL, &(smq_worker_msg_t){0}), -1);
    assert_int_equal(smq_ctl_decode(NULL, &(smq_ctl_t){0}), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_round_trip),
        cmocka_unit_test(test_client_request_round_trip),
        cmocka_unit_test(test_client_reply_round_trip),
        cmocka_unit_test(test_worker_round_trips),
        cmocka_unit_test(test_event_round_trip),
        cmocka_unit_test(test_trailing_frames_allowed),
        cmocka_unit_test(test_client_request_malformed),
        cmocka_unit_test(test_client_reply_malformed),
        cmocka_unit_test(test_worker_malformed),
        cmocka_unit_test(test_event_malformed),
        cmocka_unit_test(test_garbage_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
