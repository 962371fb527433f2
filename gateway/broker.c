/* The broker: request routing between gateways and workers, and the event
 * proxy. Single-threaded; everything below runs in broker_run's loop.
 *
 * Hot path (one request): the message's frames are moved into a request_t
 * (taken from a free list), sent to the worker with ZFRAME_REUSE so the
 * broker keeps its copy for re-dispatch without copying bodies, and the
 * reply's frames are forwarded unchanged. Constant frames go straight to
 * zmq_send. */
#include "broker.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "broker_int.h"
#include "clock.h"
#include "log.h"
#include "shopmq_proto.h"

/* Sweeps (deadlines, dead workers, grace) run at most this often. */
#define BROKER_TICK_MS 25
/* Bounds that keep a misbehaving peer from growing the broker without limit. */
#define BROKER_MAX_SERVICES 1024
#define BROKER_MAX_QUEUED 100000
#define BROKER_FREE_REQUESTS 1024
/* An unknown service with no workers and nothing queued is forgotten after this. */
#define BROKER_SERVICE_IDLE_MS 60000
#define BROKER_HWM 100000
/* Largest frame a peer may send: the body cap plus room. */
#define BROKER_MAX_FRAME ((int64_t)SMQ_MAX_BODY + 64 * 1024)

static const char *const core_services[] = {SMQ_SVC_CATALOG, SMQ_SVC_ORDER, SMQ_SVC_CUSTOMER};

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

/* ---- sending ---- */

static void send_const(broker_t *self, const void *data, size_t len, bool more)
{
    zmq_send(self->router_h, data, len, more ? ZMQ_SNDMORE : 0);
}

static void send_frame(broker_t *self, zframe_t *frame, bool more)
{
    zframe_send(&frame, self->router_h, ZFRAME_REUSE | (more ? ZFRAME_MORE : 0));
}

static void send_worker_command(broker_t *self, zframe_t *identity, byte command)
{
    send_frame(self, identity, true);
    send_const(self, SMQ_WORKER, 6, true);
    send_const(self, &command, 1, false);
}

/* A reply the broker makes itself: [client][SMQC01][rid][status][body]. */
static void reply_to_client(broker_t *self, request_t *req, int status, const char *body)
{
    char code[4];
    snprintf(code, sizeof code, "%03d", status);
    send_frame(self, req->client, true);
    send_const(self, SMQ_CLIENT, 6, true);
    send_frame(self, req->rid, true);
    send_const(self, code, 3, true);
    send_const(self, body, strlen(body), false);
}

/* The client's X-Request-Id (meta "trace") into buf, "" when absent. Parsed
 * only for the broker's own decisions below, never on the hot path. */
static const char *request_trace(const request_t *req, char *buf, size_t cap)
{
    buf[0] = '\0';
    json_t *meta = req->meta ? json_loadb((const char *)zframe_data(req->meta),
                                          zframe_size(req->meta), 0, NULL)
                             : NULL;
    const char *t = json_string_value(json_object_get(meta, "trace"));
    if (t)
        snprintf(buf, cap, "%s", t);
    json_decref(meta);
    return buf;
}

static void reply_unavailable(broker_t *self, request_t *req)
{
    char trace[256];
    log_info(request_trace(req, trace, sizeof trace), "no live worker: answered 503");
    self->stats.unavailable++;
    reply_to_client(self, req, 503, "{\"detail\":\"Service unavailable\"}");
}

static void reply_bad_gateway(broker_t *self, request_t *req)
{
    char trace[256];
    log_info(request_trace(req, trace, sizeof trace), "worker died holding it: answered 502");
    self->stats.bad_gateway++;
    reply_to_client(self, req, 502, "{\"detail\":\"Bad gateway\"}");
}

/* ---- requests ---- */

static request_t *request_new(broker_t *self)
{
    request_t *req = self->free_requests;
    if (req) {
        self->free_requests = req->next;
        self->free_count--;
    } else {
        req = malloc(sizeof *req);
        if (!req)
            return NULL;
    }
    memset(req, 0, sizeof *req);
    return req;
}

static void request_free(broker_t *self, request_t *req)
{
    zframe_destroy(&req->client);
    zframe_destroy(&req->rid);
    zframe_destroy(&req->meta);
    zframe_destroy(&req->body);
    if (self->free_count < BROKER_FREE_REQUESTS) {
        req->next = self->free_requests;
        self->free_requests = req;
        self->free_count++;
    } else
        free(req);
}

static void queue_push(service_t *svc, request_t *req, bool front)
{
    req->prev = req->next = NULL;
    if (front) {
        req->next = svc->qhead;
        if (svc->qhead)
            svc->qhead->prev = req;
        else
            svc->qtail = req;
        svc->qhead = req;
    } else {
        req->prev = svc->qtail;
        if (svc->qtail)
            svc->qtail->next = req;
        else
            svc->qhead = req;
        svc->qtail = req;
    }
    svc->queued++;
}

static void queue_unlink(broker_t *self, service_t *svc, request_t *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        svc->qhead = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        svc->qtail = req->prev;
    req->prev = req->next = NULL;
    svc->queued--;
    self->queued_total--;
}

/* ---- services and workers ---- */

static void service_free(void **item)
{
    free(*item);
    *item = NULL;
}

static service_t *service_require(broker_t *self, const char *name)
{
    service_t *svc = zhashx_lookup(self->services, name);
    if (svc)
        return svc;
    if (zhashx_size(self->services) >= BROKER_MAX_SERVICES)
        return NULL;
    svc = calloc(1, sizeof *svc);
    if (!svc)
        return NULL;
    snprintf(svc->name, sizeof svc->name, "%s", name);
    svc->empty_since = clock_mono_ms();
    zhashx_insert(self->services, name, svc);
    return svc;
}

static void idle_push(service_t *svc, worker_t *w)
{
    w->prev = svc->itail;
    w->next = NULL;
    if (svc->itail)
        svc->itail->next = w;
    else
        svc->ihead = w;
    svc->itail = w;
    w->idle = true;
}

static void idle_unlink(service_t *svc, worker_t *w)
{
    if (!w->idle)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        svc->ihead = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        svc->itail = w->prev;
    w->prev = w->next = NULL;
    w->idle = false;
}

static void dispatch(broker_t *self, service_t *svc);

/* Sends the request to an idle worker with the budget that is left. */
static void worker_send_request(broker_t *self, worker_t *w, request_t *req, int64_t now)
{
    static const byte command = SMQ_REQUEST;
    smq_ctl_t ctl = {.budget_ms = (uint32_t)(req->deadline - now), .flags = req->ctl.flags};
    uint8_t ctl_bytes[SMQ_CTL_SIZE];
    smq_ctl_encode(&ctl, ctl_bytes);
    send_frame(self, w->identity, true);
    send_const(self, SMQ_WORKER, 6, true);
    send_const(self, &command, 1, true);
    send_frame(self, req->client, true);
    send_frame(self, req->rid, true);
    send_const(self, ctl_bytes, SMQ_CTL_SIZE, true);
    send_frame(self, req->meta, true);
    send_frame(self, req->body, false);
    w->held = req;
    self->stats.dispatched++;
}

static void dispatch(broker_t *self, service_t *svc)
{
    if (!svc->qhead || !svc->ihead)
        return;
    int64_t now = clock_mono_ms();
    while (svc->qhead && svc->ihead) {
        request_t *req = svc->qhead;
        queue_unlink(self, svc, req);
        if (now >= req->deadline) {
            /* The gateway has already answered 504. */
            self->stats.expired++;
            request_free(self, req);
            continue;
        }
        worker_t *w = svc->ihead;
        idle_unlink(svc, w);
        worker_send_request(self, w, req, now);
    }
}

/* Forgets a worker. A held request is re-dispatched once when idempotent,
 * otherwise its client gets 502 (the worker may have acted on it). */
static void worker_delete(broker_t *self, worker_t *w, bool send_disconnect, const char *why)
{
    service_t *svc = w->service;
    log_info(NULL, "worker %s (%s) removed: %s", w->key, svc->name, why);
    if (send_disconnect)
        send_worker_command(self, w->identity, SMQ_DISCONNECT);
    request_t *req = w->held;
    w->held = NULL;
    idle_unlink(svc, w);
    if (--svc->workers == 0)
        svc->empty_since = clock_mono_ms();
    if (req) {
        if ((req->ctl.flags & SMQ_FLAG_IDEMPOTENT) && !req->redispatched) {
            req->redispatched = true;
            self->stats.redispatched++;
            char trace[256];
            log_info(request_trace(req, trace, sizeof trace),
                     "worker died holding it: dispatched again");
            queue_push(svc, req, true);
            self->queued_total++;
        } else {
            reply_bad_gateway(self, req);
            request_free(self, req);
        }
    }
    zhashx_delete(self->workers, w->key); /* frees w via worker_free */
    dispatch(self, svc);
}

static void worker_free(void **item)
{
    worker_t *w = *item;
    if (!w)
        return;
    zframe_destroy(&w->identity);
    json_decref(w->status);
    free(w);
    *item = NULL;
}

/* ---- messages from clients ---- */

static void broker_self_request(broker_t *self, request_t *req)
{
    json_error_t err;
    json_t *meta =
        json_loadb((const char *)zframe_data(req->meta), zframe_size(req->meta), 0, &err);
    const char *op = json_string_value(json_object_get(meta, "op"));
    if (!meta)
        reply_to_client(self, req, 400, "{\"detail\":\"Invalid request metadata\"}");
    else if (op && strcmp(op, "broker.status") == 0) {
        char *body = broker_status_json(self);
        if (body)
            reply_to_client(self, req, 200, body);
        else
            reply_to_client(self, req, 500, "{\"detail\":\"Internal server error\"}");
        free(body);
    } else
        reply_to_client(self, req, 404, "{\"detail\":\"Not Found\"}");
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
    request_t *req = request_new(self);
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
        request_free(self, req);
        return;
    }
    if (ctl.budget_ms == 0) {
        self->stats.expired++;
        request_free(self, req);
        return;
    }
    service_t *svc = service_require(self, service);
    if (!svc || self->queued_total >= BROKER_MAX_QUEUED) {
        log_warn(rid, "refusing request for %s: broker full", service);
        reply_unavailable(self, req);
        request_free(self, req);
        return;
    }
    queue_push(svc, req, false);
    self->queued_total++;
    dispatch(self, svc);
}

/* ---- messages from workers ---- */

static void worker_ready(broker_t *self, zframe_t *identity, const char *key, zmsg_t *msg)
{
    char service[SMQ_MAX_SERVICE + 1];
    zframe_t *f = zmsg_next(msg);
    if (smq_frame_token(f, service, sizeof service) < 0 || strcmp(service, SMQ_SVC_BROKER) == 0) {
        drop_malformed(self, "worker READY (service)");
        send_worker_command(self, identity, SMQ_DISCONNECT);
        return;
    }
    worker_t *old = zhashx_lookup(self->workers, key);
    if (old) /* the same identity again: whatever it held is lost */
        worker_delete(self, old, false, "READY again");
    service_t *svc = service_require(self, service);
    worker_t *w = svc ? calloc(1, sizeof *w) : NULL;
    if (!w) {
        log_warn(NULL, "refusing worker %s for %s: broker full", key, service);
        send_worker_command(self, identity, SMQ_DISCONNECT);
        return;
    }
    w->identity = zframe_dup(identity);
    snprintf(w->key, sizeof w->key, "%s", key);
    w->service = svc;
    w->expiry = clock_mono_ms() + self->liveness_ms;
    zhashx_insert(self->workers, key, w);
    svc->workers++;
    idle_push(svc, w);
    log_info(NULL, "worker %s ready for %s (%zu live)", key, service, svc->workers);
    dispatch(self, svc);
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
    send_frame(self, client, true);
    send_const(self, SMQ_CLIENT, 6, true);
    send_frame(self, rid, true);
    send_frame(self, status, true);
    send_frame(self, body, false);
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
            send_worker_command(self, identity, SMQ_DISCONNECT);
        return;
    case SMQ_REPLY:
        if (worker_forward_reply(self, msg) < 0) {
            drop_malformed(self, "worker REPLY");
            /* A worker that garbles replies would otherwise keep its
             * request (and its slot) forever. */
            if (w)
                worker_delete(self, w, true, "malformed REPLY");
            return;
        }
        if (!w) {
            /* Declared dead but alive after all: make it start over. */
            send_worker_command(self, identity, SMQ_DISCONNECT);
            return;
        }
        if (w->held) {
            request_free(self, w->held);
            w->held = NULL;
        }
        if (!w->idle)
            idle_push(w->service, w);
        dispatch(self, w->service);
        return;
    case SMQ_DISCONNECT:
        if (w)
            worker_delete(self, w, false, "DISCONNECT");
        return;
    default:
        drop_malformed(self, "worker message (unknown command)");
        if (!w)
            send_worker_command(self, identity, SMQ_DISCONNECT);
        return;
    }
}

static bool frame_is(zframe_t *f, const char *text)
{
    return f && zframe_size(f) == strlen(text) && memcmp(zframe_data(f), text, strlen(text)) == 0;
}

static void router_message(broker_t *self, zmsg_t *msg)
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

/* ---- timers ---- */

static void sweep_service_queue(broker_t *self, service_t *svc, int64_t now)
{
    request_t *req = svc->qhead;
    while (req) {
        request_t *next = req->next;
        if (svc->workers == 0) {
            int64_t since = req->received > svc->empty_since ? req->received : svc->empty_since;
            int64_t limit = since + self->cfg->queue_grace_ms;
            if (req->deadline < limit)
                limit = req->deadline;
            if (now >= limit) {
                queue_unlink(self, svc, req);
                reply_unavailable(self, req);
                request_free(self, req);
            }
        } else if (now >= req->deadline) {
            queue_unlink(self, svc, req);
            self->stats.expired++;
            request_free(self, req);
        }
        req = next;
    }
}

static bool is_core_service(const char *name)
{
    for (size_t i = 0; i < sizeof core_services / sizeof *core_services; i++)
        if (strcmp(name, core_services[i]) == 0)
            return true;
    return false;
}

static void sweep(broker_t *self, int64_t now)
{
    /* Dead workers first, so their requests are re-queued before the
     * queue sweep looks at them. Deleting while iterating a zhashx is not
     * allowed, so the dead are chained and handled after. */
    worker_t *dead = NULL;
    for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        w->doomed = now >= w->expiry;
        if (w->doomed) {
            w->dead_next = dead;
            dead = w;
        }
    }
    /* The worker threads of one process die together, but their timeouts
     * expire a little apart: a request re-dispatched from the first to a
     * sibling that is just as dead would use up its only retry. Siblings
     * already silent for two intervals go with it. */
    int64_t suspect = self->liveness_ms / 3;
    for (worker_t *d = dead; d; d = d->dead_next) {
        const char *inst = json_string_value(json_object_get(d->status, "instance"));
        if (!inst)
            continue;
        for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
            if (w->doomed || w->service != d->service || w->expiry - now > suspect)
                continue;
            const char *wi = json_string_value(json_object_get(w->status, "instance"));
            if (wi && strcmp(wi, inst) == 0) {
                w->doomed = true;
                w->dead_next = d->dead_next; /* visited later in this same walk */
                d->dead_next = w;
            }
        }
    }
    /* None of them may be handed a re-dispatched request while the others
     * are being deleted. */
    for (worker_t *d = dead; d; d = d->dead_next)
        idle_unlink(d->service, d);
    while (dead) {
        worker_t *next = dead->dead_next;
        worker_delete(self, dead, true, "heartbeat timeout");
        dead = next;
    }
    service_t *forget = NULL;
    for (service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services)) {
        sweep_service_queue(self, svc, now);
        if (svc->workers == 0 && svc->queued == 0 && !is_core_service(svc->name) &&
            now - svc->empty_since > BROKER_SERVICE_IDLE_MS) {
            svc->forget_next = forget;
            forget = svc;
        }
    }
    while (forget) {
        service_t *next = forget->forget_next;
        zhashx_delete(self->services, forget->name);
        forget = next;
    }
}

static void send_heartbeats(broker_t *self)
{
    for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
        send_worker_command(self, w->identity, SMQ_HEARTBEAT);
}

/* ---- event proxy ---- */

/* Moves one whole multipart message; events are passed through untouched
 * (subscribers validate them), subscriptions flow the other way. */
static int proxy_forward(void *from, void *to)
{
    zmq_msg_t part;
    zmq_msg_init(&part);
    int rc = 0;
    for (;;) {
        if (zmq_msg_recv(&part, from, ZMQ_DONTWAIT) < 0) {
            rc = -1;
            break;
        }
        int more = zmq_msg_more(&part);
        zmq_msg_send(&part, to, more ? ZMQ_SNDMORE : 0);
        if (!more)
            break;
    }
    zmq_msg_close(&part);
    return rc;
}

/* ---- lifecycle ---- */

static zsock_t *socket_bound(int type, const char *endpoint, const char *what)
{
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    zsock_set_sndhwm(sock, BROKER_HWM);
    zsock_set_rcvhwm(sock, BROKER_HWM);
    zsock_set_linger(sock, 0);
    zsock_set_maxmsgsize(sock, BROKER_MAX_FRAME);
    if (type == ZMQ_ROUTER) {
        zsock_set_router_mandatory(sock, 0);
        zsock_set_router_handover(sock, 1);
        zsock_set_immediate(sock, 0);
    }
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        log_error(NULL, "cannot bind %s to %s: %s", what, endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
    }
    return sock;
}

broker_t *broker_new(const config_t *cfg)
{
    /* Our own signal handling; czmq's would swallow SIGINT silently. */
    zsys_handler_set(NULL);
    broker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->liveness_ms = 3 * (int64_t)cfg->heartbeat_ms;
    self->started = clock_mono_ms();
    self->services = zhashx_new();
    self->workers = zhashx_new();
    zhashx_set_destructor(self->services, service_free);
    zhashx_set_destructor(self->workers, worker_free);
    for (size_t i = 0; i < sizeof core_services / sizeof *core_services; i++)
        service_require(self, core_services[i]);
    self->router = socket_bound(ZMQ_ROUTER, cfg->broker_bind, "broker ROUTER");
    self->xsub = socket_bound(ZMQ_XSUB, cfg->events_xsub_bind, "events XSUB");
    self->xpub = socket_bound(ZMQ_XPUB, cfg->events_xpub_bind, "events XPUB");
    if (!self->router || !self->xsub || !self->xpub) {
        broker_destroy(&self);
        return NULL;
    }
    self->router_h = zsock_resolve(self->router);
    zsock_set_rcvtimeo(self->router, 0); /* broker_run drains it without blocking */
    log_info(NULL, "broker on %s, events %s -> %s, heartbeat %d ms, grace %d ms", cfg->broker_bind,
             cfg->events_xsub_bind, cfg->events_xpub_bind, cfg->heartbeat_ms, cfg->queue_grace_ms);
    return self;
}

static void drain(broker_t *self)
{
    for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        send_worker_command(self, w->identity, SMQ_DISCONNECT);
        if (w->held) {
            reply_bad_gateway(self, w->held);
            request_free(self, w->held);
            w->held = NULL;
        }
    }
    for (service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services))
        while (svc->qhead) {
            request_t *req = svc->qhead;
            queue_unlink(self, svc, req);
            reply_unavailable(self, req);
            request_free(self, req);
        }
    /* Give the goodbyes a moment to leave, but never hang on exit. */
    zsock_set_linger(self->router, 200);
}

int broker_run(broker_t *self, volatile sig_atomic_t *stop)
{
    void *xsub_h = zsock_resolve(self->xsub), *xpub_h = zsock_resolve(self->xpub);
    zmq_pollitem_t items[3] = {
        {self->router_h, 0, ZMQ_POLLIN, 0},
        {xsub_h, 0, ZMQ_POLLIN, 0},
        {xpub_h, 0, ZMQ_POLLIN, 0},
    };
    int64_t now = clock_mono_ms();
    int64_t next_tick = now + BROKER_TICK_MS, next_heartbeat = now + self->cfg->heartbeat_ms;
    while (!*stop) {
        int64_t wait = next_tick - now;
        if (wait < 0)
            wait = 0;
        int rc = zmq_poll(items, 3, (long)wait);
        if (rc < 0 && errno != EINTR) {
            log_error(NULL, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        /* Bounded batches keep one busy socket from starving the others.
         * The ROUTER has a zero receive timeout, so zmsg_recv returns NULL
         * once it is empty: asking ZMQ_EVENTS before each message would
         * cost a poll(2) and a getpid(2) per message (libzmq checks its
         * command mailbox on every ZMQ_EVENTS query). */
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            for (int i = 0; i < 256; i++) {
                zmsg_t *msg = zmsg_recv(self->router);
                if (!msg)
                    break;
                router_message(self, msg);
                zmsg_destroy(&msg);
            }
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
            for (int i = 0; i < 1024 && proxy_forward(xsub_h, xpub_h) == 0; i++)
                ;
        if (rc > 0 && (items[2].revents & ZMQ_POLLIN))
            for (int i = 0; i < 1024 && proxy_forward(xpub_h, xsub_h) == 0; i++)
                ;
        now = clock_mono_ms();
        if (now >= next_heartbeat) {
            send_heartbeats(self);
            next_heartbeat = now + self->cfg->heartbeat_ms;
        }
        if (now >= next_tick) {
            sweep(self, now);
            next_tick = now + BROKER_TICK_MS;
        }
    }
    log_info(NULL, "broker stopping: %zu workers told to disconnect", zhashx_size(self->workers));
    drain(self);
    return 0;
}

void broker_destroy(broker_t **self_p)
{
    broker_t *self = *self_p;
    if (!self)
        return;
    /* Normally drain() has answered everything; free what is left quietly. */
    if (self->workers)
        for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
            if (w->held) {
                request_free(self, w->held);
                w->held = NULL;
            }
    if (self->services)
        for (service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services))
            while (svc->qhead) {
                request_t *req = svc->qhead;
                queue_unlink(self, svc, req);
                request_free(self, req);
            }
    zhashx_destroy(&self->workers); /* before services: workers point at them */
    zhashx_destroy(&self->services);
    while (self->free_requests) {
        request_t *next = self->free_requests->next;
        free(self->free_requests);
        self->free_requests = next;
    }
    zsock_destroy(&self->router);
    zsock_destroy(&self->xsub);
    zsock_destroy(&self->xpub);
    free(self);
    *self_p = NULL;
}
