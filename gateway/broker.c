/* The broker: request routing between gateways and workers (requests,
 * service queues, workers, dispatch), the event proxy and the loop.
 * Single-threaded; everything runs in broker_run's loop. Messages reach the
 * routing here only after broker_messages.c has checked them; the timers
 * are in broker_sweep.c, the broker.status report in broker_status.c.
 *
 * Hot path (one request): the message's frames are moved into a request_t
 * (taken from a free list), sent to the worker with ZFRAME_REUSE so the
 * broker keeps its copy for re-dispatch without copying bodies, and the
 * reply's frames are forwarded unchanged. Constant frames go straight to
 * zmq_send. */
#include "broker.h"

#include <czmq.h>
#include <errno.h>
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
#define BROKER_HWM 100000
/* Largest frame a peer may send: the body cap plus room. */
#define BROKER_MAX_FRAME ((int64_t)SMQ_MAX_BODY + 64 * 1024)

static const char *const core_services[] = {SMQ_SVC_CATALOG, SMQ_SVC_ORDER, SMQ_SVC_CUSTOMER};

bool broker_is_core_service(const char *name)
{
    for (size_t i = 0; i < sizeof core_services / sizeof *core_services; i++)
        if (strcmp(name, core_services[i]) == 0)
            return true;
    return false;
}

/* ---- sending ---- */

void broker_send_const(broker_t *self, const void *data, size_t len, bool more)
{
    zmq_send(self->router_h, data, len, more ? ZMQ_SNDMORE : 0);
}

void broker_send_frame(broker_t *self, zframe_t *frame, bool more)
{
    zframe_send(&frame, self->router_h, ZFRAME_REUSE | (more ? ZFRAME_MORE : 0));
}

void broker_send_command(broker_t *self, zframe_t *identity, byte command)
{
    broker_send_frame(self, identity, true);
    broker_send_const(self, SMQ_WORKER, 6, true);
    broker_send_const(self, &command, 1, false);
}

/* A reply the broker makes itself: [client][SMQC01][rid][status][body]. */
void broker_reply(broker_t *self, request_t *req, int status, const char *body)
{
    char code[4];
    snprintf(code, sizeof code, "%03d", status);
    broker_send_frame(self, req->client, true);
    broker_send_const(self, SMQ_CLIENT, 6, true);
    broker_send_frame(self, req->rid, true);
    broker_send_const(self, code, 3, true);
    broker_send_const(self, body, strlen(body), false);
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

void broker_reply_unavailable(broker_t *self, request_t *req)
{
    char trace[256];
    log_info(request_trace(req, trace, sizeof trace), "no live worker: answered 503");
    self->stats.unavailable++;
    broker_reply(self, req, 503, "{\"detail\":\"Service unavailable\"}");
}

static void reply_bad_gateway(broker_t *self, request_t *req)
{
    char trace[256];
    log_info(request_trace(req, trace, sizeof trace), "worker died holding it: answered 502");
    self->stats.bad_gateway++;
    broker_reply(self, req, 502, "{\"detail\":\"Bad gateway\"}");
}

/* ---- requests ---- */

request_t *broker_request_new(broker_t *self)
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

void broker_request_free(broker_t *self, request_t *req)
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

void broker_queue_unlink(broker_t *self, service_t *svc, request_t *req)
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

void broker_idle_unlink(service_t *svc, worker_t *w)
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
    broker_send_frame(self, w->identity, true);
    broker_send_const(self, SMQ_WORKER, 6, true);
    broker_send_const(self, &command, 1, true);
    broker_send_frame(self, req->client, true);
    broker_send_frame(self, req->rid, true);
    broker_send_const(self, ctl_bytes, SMQ_CTL_SIZE, true);
    broker_send_frame(self, req->meta, true);
    broker_send_frame(self, req->body, false);
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
        broker_queue_unlink(self, svc, req);
        if (now >= req->deadline) {
            /* The gateway has already answered 504. */
            self->stats.expired++;
            broker_request_free(self, req);
            continue;
        }
        worker_t *w = svc->ihead;
        broker_idle_unlink(svc, w);
        worker_send_request(self, w, req, now);
    }
}

/* Forgets a worker. A held request is re-dispatched once when idempotent,
 * otherwise its client gets 502 (the worker may have acted on it). */
void broker_worker_delete(broker_t *self, worker_t *w, bool send_disconnect, const char *why)
{
    service_t *svc = w->service;
    log_info(NULL, "worker %s (%s) removed: %s", w->key, svc->name, why);
    if (send_disconnect)
        broker_send_command(self, w->identity, SMQ_DISCONNECT);
    request_t *req = w->held;
    w->held = NULL;
    broker_idle_unlink(svc, w);
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
            broker_request_free(self, req);
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

/* A worker said READY for service (already checked). */
void broker_worker_ready(broker_t *self, zframe_t *identity, const char *key, const char *service)
{
    worker_t *old = zhashx_lookup(self->workers, key);
    if (old) /* the same identity again: whatever it held is lost */
        broker_worker_delete(self, old, false, "READY again");
    service_t *svc = service_require(self, service);
    worker_t *w = svc ? calloc(1, sizeof *w) : NULL;
    if (!w) {
        log_warn(NULL, "refusing worker %s for %s: broker full", key, service);
        broker_send_command(self, identity, SMQ_DISCONNECT);
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

/* The worker's reply has been forwarded: it is free for the next request. */
void broker_worker_replied(broker_t *self, worker_t *w)
{
    if (w->held) {
        broker_request_free(self, w->held);
        w->held = NULL;
    }
    if (!w->idle)
        idle_push(w->service, w);
    dispatch(self, w->service);
}

/* Queues a checked request for service and dispatches what it can; a
 * request the broker has no room for is answered 503. */
void broker_submit(broker_t *self, const char *service, const char *rid, request_t *req)
{
    service_t *svc = service_require(self, service);
    if (!svc || self->queued_total >= BROKER_MAX_QUEUED) {
        log_warn(rid, "refusing request for %s: broker full", service);
        broker_reply_unavailable(self, req);
        broker_request_free(self, req);
        return;
    }
    queue_push(svc, req, false);
    self->queued_total++;
    dispatch(self, svc);
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
        broker_send_command(self, w->identity, SMQ_DISCONNECT);
        if (w->held) {
            reply_bad_gateway(self, w->held);
            broker_request_free(self, w->held);
            w->held = NULL;
        }
    }
    for (service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services))
        while (svc->qhead) {
            request_t *req = svc->qhead;
            broker_queue_unlink(self, svc, req);
            broker_reply_unavailable(self, req);
            broker_request_free(self, req);
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
                broker_router_message(self, msg);
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
            broker_send_heartbeats(self);
            next_heartbeat = now + self->cfg->heartbeat_ms;
        }
        if (now >= next_tick) {
            broker_sweep(self, now);
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
                broker_request_free(self, w->held);
                w->held = NULL;
            }
    if (self->services)
        for (service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services))
            while (svc->qhead) {
                request_t *req = svc->qhead;
                broker_queue_unlink(self, svc, req);
                broker_request_free(self, req);
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
