/* Fuzz target: every wire-protocol decoder of proto/shopmq_proto.h.
 *
 * The input is a list of frames (fuzz_util.h framing: 2-byte length +
 * bytes each). The message goes through the client request/reply, worker
 * and event decoders; whatever one of them accepts is encoded again with
 * the matching encoder and decoded a second time, and both decodes must
 * agree field by field. */
#include <czmq.h>

#include "fuzz_util.h"
#include "shopmq_proto.h"

static void proto_same_request(const smq_request_t *a, const smq_request_t *b)
{
    FUZZ_CHECK(strcmp(a->rid, b->rid) == 0);
    FUZZ_CHECK(a->ctl.budget_ms == b->ctl.budget_ms && a->ctl.flags == b->ctl.flags);
    FUZZ_CHECK(strcmp(a->meta, b->meta) == 0);
    FUZZ_CHECK(a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0);
    FUZZ_CHECK(b->body[b->body_len] == '\0');
}

static void proto_same_reply(const smq_reply_t *a, const smq_reply_t *b)
{
    FUZZ_CHECK(strcmp(a->rid, b->rid) == 0);
    FUZZ_CHECK(a->status == b->status && a->status >= 100 && a->status <= 599);
    FUZZ_CHECK(a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0);
}

static void proto_client_request(zmsg_t *msg)
{
    smq_request_t req, again;
    if (smq_client_request_decode(msg, &req) != 0) {
        /* a refused message leaves the struct cleared */
        FUZZ_CHECK(req.meta == NULL && req.body == NULL);
        return;
    }
    zmsg_t *enc = smq_client_request_new(req.service, req.rid, &req.ctl, req.meta,
                                         strlen(req.meta), req.body, req.body_len);
    FUZZ_CHECK(enc && smq_client_request_decode(enc, &again) == 0);
    FUZZ_CHECK(strcmp(req.service, again.service) == 0);
    proto_same_request(&req, &again);
    /* The broker forwards it to a worker: that encoding must decode too. */
    zframe_t *client = zframe_new("gw-1", 4);
    zmsg_t *fwd = smq_worker_request_new(client, &req);
    smq_worker_msg_t wm;
    FUZZ_CHECK(fwd && smq_worker_msg_decode(fwd, &wm) == 0 && wm.command == SMQ_REQUEST);
    FUZZ_CHECK(zframe_eq(wm.client, client));
    proto_same_request(&req, &wm.req);
    smq_worker_msg_clear(&wm);
    zmsg_destroy(&fwd);
    zframe_destroy(&client);
    zmsg_destroy(&enc);
    smq_request_clear(&again);
    smq_request_clear(&req);
}

static void proto_client_reply(zmsg_t *msg)
{
    smq_reply_t rep, again;
    if (smq_client_reply_decode(msg, &rep) != 0) {
        FUZZ_CHECK(rep.body == NULL);
        return;
    }
    zmsg_t *enc = smq_client_reply_new(rep.rid, rep.status, rep.body, rep.body_len);
    FUZZ_CHECK(enc && smq_client_reply_decode(enc, &again) == 0);
    proto_same_reply(&rep, &again);
    zmsg_destroy(&enc);
    smq_reply_clear(&again);
    smq_reply_clear(&rep);
}

static void proto_worker(zmsg_t *msg)
{
    smq_worker_msg_t wm, again;
    if (smq_worker_msg_decode(msg, &wm) != 0) {
        FUZZ_CHECK(wm.client == NULL && wm.status_json == NULL && wm.req.meta == NULL);
        return;
    }
    zmsg_t *enc = NULL;
    switch (wm.command) {
    case SMQ_READY:
        enc = smq_worker_ready_new(wm.service);
        break;
    case SMQ_REQUEST:
        enc = smq_worker_request_new(wm.client, &wm.req);
        break;
    case SMQ_REPLY:
        enc = smq_worker_reply_new(wm.client, wm.rep.rid, wm.rep.status, wm.rep.body,
                                   wm.rep.body_len);
        break;
    case SMQ_HEARTBEAT:
        enc = smq_worker_heartbeat_new(wm.status_json);
        break;
    case SMQ_DISCONNECT:
        enc = smq_worker_disconnect_new();
        break;
    default:
        FUZZ_CHECK(!"decoder accepted an unknown command");
    }
    FUZZ_CHECK(enc && smq_worker_msg_decode(enc, &again) == 0);
    FUZZ_CHECK(again.command == wm.command);
    switch (wm.command) {
    case SMQ_READY:
        FUZZ_CHECK(strcmp(wm.service, again.service) == 0);
        break;
    case SMQ_REQUEST:
        FUZZ_CHECK(zframe_eq(wm.client, again.client));
        proto_same_request(&wm.req, &again.req);
        break;
    case SMQ_REPLY:
        FUZZ_CHECK(zframe_eq(wm.client, again.client));
        proto_same_reply(&wm.rep, &again.rep);
        break;
    case SMQ_HEARTBEAT:
        FUZZ_CHECK((wm.status_json == NULL) == (again.status_json == NULL));
        FUZZ_CHECK(!wm.status_json || strcmp(wm.status_json, again.status_json) == 0);
        break;
    default:
        break;
    }
    zmsg_destroy(&enc);
    smq_worker_msg_clear(&again);
    smq_worker_msg_clear(&wm);
}

static void proto_event(zmsg_t *msg)
{
    smq_event_t ev, again;
    if (smq_event_decode(msg, &ev) != 0) {
        FUZZ_CHECK(ev.payload == NULL);
        return;
    }
    zmsg_t *enc = smq_event_new(ev.topic, ev.publisher, ev.seq, ev.payload);
    FUZZ_CHECK(enc && smq_event_decode(enc, &again) == 0);
    FUZZ_CHECK(strcmp(ev.topic, again.topic) == 0);
    FUZZ_CHECK(strcmp(ev.publisher, again.publisher) == 0);
    FUZZ_CHECK(ev.seq == again.seq);
    FUZZ_CHECK(strcmp(ev.payload, again.payload) == 0);
    zmsg_destroy(&enc);
    smq_event_clear(&again);
    smq_event_clear(&ev);
}

/* The single-frame helpers on the first frame. */
static void proto_frame_helpers(zmsg_t *msg)
{
    zframe_t *f = zmsg_first(msg);
    if (!f)
        return;
    smq_ctl_t ctl;
    if (smq_ctl_decode(f, &ctl) == 0) {
        uint8_t buf[SMQ_CTL_SIZE];
        smq_ctl_encode(&ctl, buf);
        FUZZ_CHECK(memcmp(buf, zframe_data(f), SMQ_CTL_SIZE) == 0);
    }
    char tok[SMQ_MAX_RID + 1];
    if (smq_frame_token(f, tok, sizeof tok) == 0)
        FUZZ_CHECK(strlen(tok) == zframe_size(f));
}

int fuzz_proto_one(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_reader_init(&r, data, size);
    zmsg_t *msg = zmsg_new();
    const uint8_t *p;
    size_t n;
    while (fuzz_next(&r, &p, &n) == 0 && zmsg_size(msg) < 64)
        zmsg_addmem(msg, p, n);
    proto_client_request(msg);
    proto_client_reply(msg);
    proto_worker(msg);
    proto_event(msg);
    proto_frame_helpers(msg);
    zmsg_destroy(&msg);
    return 0;
}

#ifdef SHOPMQ_FUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_proto_one(data, size);
}
#endif
