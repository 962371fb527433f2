/* The broker's input side: every message from the ROUTER is checked frame
 * by frame here (envelope, protocol, sizes, tokens, JSON shapes) and only
 * then handed to the routing core in broker.c as a request or a worker
 * event. Whatever is malformed is dropped and counted. */
#include <czmq.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "broker_int.h"
#include "clock.h"
#include "log.h"
#include "shopmq_proto.h"

/* ---- small helpers ---- */

static void identity_key(zframe_t *identity, char out[BROKER_KEY_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = zframe_size(identity);
    if (n > SMQ_MAX_CLIENT_ID)
        n = SMQ_MAX_CLIENT_ID;
    const byte *d = zframe_data(identity);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool frame_looks_like_object(zframe_t *frame, size_t max)
{
    size_t n = frame ? zframe_size(frame) : 0;
    if (n < 2 || n > max)
        return false;
    const char *d = (const char *)zframe_data(frame);
    if (memchr(d, '\0', n))
        return false;
    size_t a = 0, b = n;
    while (a < b && strchr(" \t\r\n", d[a]))
        a++;
    while (b > a && strchr(" \t\r\n", d[b - 1]))
        b--;
    return b - a >= 2 && d[a] == '{' && d[b - 1] == '}';
}

static bool frame_status_ok(zframe_t *frame)
{
    if (!frame || zframe_size(frame) != 3)
        return false;
    const byte *d = zframe_data(frame);
    return d[0] >= '1' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9';
}

/* Rate-limited: a flood of garbage must not become a flood of log lines. */
static void drop_malformed(broker_t *self, const char *what)
{
    self->stats.dropped_malformed++;
    int64_t now = clock_mono_ms();
    if (now - self->malformed_logged_at < 1000) {
        self->malformed_suppressed++;
        return;
    }
    log_warn(NULL, "dropped malformed %s (%" PRIu64 " more suppressed)", what,
             self->malformed_suppressed);
    self->malformed_logged_at = now;
    self->malformed_suppressed = 0;
}

/* ---- messages from clients ---- */

static void broker_self_request(broker_t *self, request_t *req)
{
    json_error_t err;
    json_t *meta =
        json_loadb((const char *)zframe_data(req->meta), zframe_size(req->meta), 0, &err);
    const char *op = json_string_value(json_object_get(meta, "op"));
    if (!meta)
        broker_reply(self, req, 400, "{\"detail\":\"Invalid request metadata\"}");
    else if (op && strcmp(op, "broker.status") == 0) {
        char *body = broker_status_json(self);
        if (body)
            broker_reply(self, req, 200, body);
        else
            broker_reply(self, req, 500, "{\"detail\":\"Internal server error\"}");
        free(body);
    } else
        broker_reply(self, req, 404, "{\"detail\":\"Not Found\"}");
    json_decref(meta);
}

/* [SMQC01][service][rid][ctl][meta][body] with the protocol frame already
 * checked; takes the client identity frame. */
static void client_message(broker_t *self, zframe_t *client, zmsg_t *msg)
{
    char service[SMQ_MAX_SERVICE + 1], rid[SMQ_MAX_RID + 1];
    smq_ctl_t ctl;
    if (zmsg_size(msg) < 6 || zframe_size(client) == 0) {
        drop_malformed(self, "client message (frames)");
        zframe_destroy(&client);
        return;
    }
    zframe_t *proto = zmsg_pop(msg);
    zframe_destroy(&proto);
    zframe_t *f_service = zmsg_pop(msg);
    zframe_t *f_rid = zmsg_pop(msg);
    zframe_t *f_ctl = zmsg_pop(msg);
    zframe_t *f_meta = zmsg_pop(msg);
    zframe_t *f_body = zmsg_pop(msg);
    const char *bad = NULL;
    if (smq_frame_token(f_service, service, sizeof service) < 0)
        bad = "client request (service)";
    else if (smq_frame_token(f_rid, rid, sizeof rid) < 0)
        bad = "client request (rid)";
    else if (smq_ctl_decode(f_ctl, &ctl) < 0)
        bad = "client request (ctl)";
    else if (!frame_looks_like_object(f_meta, SMQ_MAX_META))
        bad = "client request (meta)";
    else if (zframe_size(f_body) > SMQ_MAX_BODY)
        bad = "client request (body)";
    zframe_destroy(&f_service);
    zframe_destroy(&f_ctl);
    if (bad) {
        drop_malformed(self, bad);
        zframe_destroy(&client);
        zframe_destroy(&f_rid);
        zframe_destroy(&f_meta);
        zframe_destroy(&f_body);
        return;
    }
    int64_t now = clock_mono_ms();
    request_t *req = broker_request_new(self);
    if (!req) {
        zframe_destroy(&client);
        zframe_destroy(&f_rid);
        zframe_destroy(&f_meta);
        zframe_destroy(&f_body);
        return;
    }
    req->client = client;
    req->rid = f_rid;
    req->meta = f_meta;
    req->body = f_body;
    req->ctl = ctl;
    req->received = now;
    req->deadline = now + ctl.budget_ms;

    if (strcmp(service, SMQ_SVC_BROKER) == 0) {
        broker_self_request(self, req);
        broker_request_free(self, req);
        return;
    }
    if (ctl.budget_ms == 0) {
        self->stats.expired++;
        broker_request_free(self, req);
        return;
    }
    broker_submit(self, service, rid, req);
}

/* ---- messages from workers ---- */

static void worker_ready(broker_t *self, zframe_t *identity, const char *key, zmsg_t *msg)
{
    char service[SMQ_MAX_SERVICE + 1];
    zframe_t *f = zmsg_next(msg);
    if (smq_frame_token(f, service, sizeof service) < 0 || strcmp(service, SMQ_SVC_BROKER) == 0) {
        drop_malformed(self, "worker READY (service)");
        broker_send_command(self, identity, SMQ_DISCONNECT);
        return;
    }
    broker_worker_ready(self, identity, key, service);
}

static void worker_heartbeat(broker_t *self, worker_t *w, zmsg_t *msg)
{
    zframe_t *f = zmsg_next(msg);
    if (!f || zframe_size(f) == 0)
        return;
    json_t *status = NULL;
    if (frame_looks_like_object(f, SMQ_MAX_STATUS_JSON))
        status = json_loadb((const char *)zframe_data(f), zframe_size(f), 0, NULL);
    if (!json_is_object(status)) {
        json_decref(status);
        drop_malformed(self, "worker HEARTBEAT (status)");
        return;
    }
    json_decref(w->status);
    w->status = status;
    w->status_at = clock_mono_ms();
}

/* [client][rid][status][body]: forwarded to the client as
 * [client][SMQC01][rid][status][body]. Returns -1 when malformed. */
static int worker_forward_reply(broker_t *self, zmsg_t *msg)
{
    if (zmsg_size(msg) < 6)
        return -1;
    zframe_t *client = zmsg_next(msg);
    zframe_t *rid = zmsg_next(msg);
    zframe_t *status = zmsg_next(msg);
    zframe_t *body = zmsg_next(msg);
    char rid_text[SMQ_MAX_RID + 1];
    if (zframe_size(client) < 1 || zframe_size(client) > SMQ_MAX_CLIENT_ID ||
        smq_frame_token(rid, rid_text, sizeof rid_text) < 0 || !frame_status_ok(status) ||
        zframe_size(body) > SMQ_MAX_BODY)
        return -1;
    broker_send_frame(self, client, true);
    broker_send_const(self, SMQ_CLIENT, 6, true);
    broker_send_frame(self, rid, true);
    broker_send_frame(self, status, true);
    broker_send_frame(self, body, false);
    return 0;
}

static void worker_message(broker_t *self, zframe_t *identity, zmsg_t *msg)
{
    char key[BROKER_KEY_SIZE];
    identity_key(identity, key);
    worker_t *w = zhashx_lookup(self->workers, key);
    if (w)
        w->expiry = clock_mono_ms() + self->liveness_ms; /* any message counts */

    zmsg_first(msg); /* protocol frame, already checked */
    zframe_t *cmd = zmsg_next(msg);
    if (!cmd || zframe_size(cmd) != 1) {
        drop_malformed(self, "worker message (command)");
        return;
    }
    switch (*zframe_data(cmd)) {
    case SMQ_READY:
        worker_ready(self, identity, key, msg);
        return;
    case SMQ_HEARTBEAT:
        if (w)
            worker_heartbeat(self, w, msg);
        else
            broker_send_command(self, identity, SMQ_DISCONNECT);
        return;
    case SMQ_REPLY:
        if (worker_forward_reply(self, msg) < 0) {
            drop_malformed(self, "worker REPLY");
            /* A worker that garbles replies would otherwise keep its
             * request (and its slot) forever. */
            if (w)
                broker_worker_delete(self, w, true, "malformed REPLY");
            return;
        }
        if (!w) {
            /* Declared dead but alive after all: make it start over. */
            broker_send_command(self, identity, SMQ_DISCONNECT);
            return;
        }
        broker_worker_replied(self, w);
        return;
    case SMQ_DISCONNECT:
        if (w)
            broker_worker_delete(self, w, false, "DISCONNECT");
        return;
    default:
        drop_malformed(self, "worker message (unknown command)");
        if (!w)
            broker_send_command(self, identity, SMQ_DISCONNECT);
        return;
    }
}

static bool frame_is(zframe_t *f, const char *text)
{
    return f && zframe_size(f) == strlen(text) && memcmp(zframe_data(f), text, strlen(text)) == 0;
}

void broker_router_message(broker_t *self, zmsg_t *msg)
{
    zframe_t *identity = zmsg_pop(msg);
    zframe_t *proto = zmsg_first(msg);
    if (!identity || zframe_size(identity) == 0 || zframe_size(identity) > SMQ_MAX_CLIENT_ID ||
        !proto) {
        drop_malformed(self, "message (envelope)");
        zframe_destroy(&identity);
    } else if (frame_is(proto, SMQ_CLIENT)) {
        client_message(self, identity, msg); /* takes identity */
    } else if (frame_is(proto, SMQ_WORKER)) {
        worker_message(self, identity, msg);
        zframe_destroy(&identity);
    } else {
        /* Unknown protocol or version: never guess what it means. */
        drop_malformed(self, "message (unknown protocol)");
        zframe_destroy(&identity);
    }
}
