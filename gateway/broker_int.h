/* Broker internals shared by broker.c (routing core, loop), broker_messages.c
 * (checking what arrives), broker_sweep.c (timers) and broker_status.c (the
 * broker.status report). Not an API: only broker*.c include it. */
#ifndef SHOPMQ_BROKER_INT_H
#define SHOPMQ_BROKER_INT_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker.h"
#include "shopmq_proto.h"

/* Hex of a ROUTER identity (at most 255 bytes) plus NUL. */
#define BROKER_KEY_SIZE (2 * SMQ_MAX_CLIENT_ID + 1)

typedef struct service service_t;

/* A request the broker holds: queued, or in the hands of one worker. The
 * frames are the ones received from the gateway, kept for re-dispatch. */
typedef struct request {
    struct request *next, *prev; /* service queue, or the free list */
    zframe_t *client;            /* gateway ROUTER identity */
    zframe_t *rid, *meta, *body;
    smq_ctl_t ctl;
    int64_t received, deadline; /* clock_mono_ms */
    bool redispatched;
} request_t;

typedef struct worker {
    struct worker *next, *prev; /* service idle list (LRU: head is oldest) */
    struct worker *dead_next;   /* scratch chain used by the sweep */
    bool idle;
    bool doomed; /* scratch flag used by the sweep */
    zframe_t *identity;
    char key[BROKER_KEY_SIZE];
    service_t *service;
    int64_t expiry;  /* dead when the clock passes this without a message */
    request_t *held; /* at most one request at a time */
    json_t *status;  /* latest heartbeat status object, or NULL */
    int64_t status_at; /* when it arrived (monotonic ms) */
} worker_t;

struct service {
    char name[SMQ_MAX_SERVICE + 1];
    request_t *qhead, *qtail; /* FIFO; re-dispatched requests go first */
    size_t queued;
    worker_t *ihead, *itail;
    size_t workers;      /* live workers, idle or busy */
    int64_t empty_since; /* when workers last dropped to 0 (grace start) */
    service_t *forget_next;
};

typedef struct {
    uint64_t dispatched, redispatched, expired, dropped_malformed;
    uint64_t unavailable, bad_gateway; /* 503 / 502 answered by the broker */
} broker_stats_t;

struct broker {
    const config_t *cfg;
    zsock_t *router, *xsub, *xpub;
    void *router_h;     /* raw handle for zmq_send of constant frames */
    zhashx_t *services; /* name -> service_t */
    zhashx_t *workers;  /* identity hex -> worker_t */
    request_t *free_requests;
    size_t free_count, queued_total;
    int64_t liveness_ms, started;
    int64_t malformed_logged_at;
    uint64_t malformed_suppressed;
    broker_stats_t stats;
};

/* broker.c: sending on the ROUTER. broker_reply answers a request itself:
 * [client][SMQC01][rid][status][body]. */
void broker_send_const(broker_t *self, const void *data, size_t len, bool more);
void broker_send_frame(broker_t *self, zframe_t *frame, bool more);
void broker_send_command(broker_t *self, zframe_t *identity, byte command);
void broker_reply(broker_t *self, request_t *req, int status, const char *body);
void broker_reply_unavailable(broker_t *self, request_t *req); /* 503, counted */

/* broker.c: requests, queues and workers. */
request_t *broker_request_new(broker_t *self);
void broker_request_free(broker_t *self, request_t *req);
void broker_queue_unlink(broker_t *self, service_t *svc, request_t *req);
void broker_idle_unlink(service_t *svc, worker_t *w);
bool broker_is_core_service(const char *name);
/* Queues a checked request (its frames now belong to the broker) and
 * dispatches; answers 503 when the broker is full. */
void broker_submit(broker_t *self, const char *service, const char *rid, request_t *req);
void broker_worker_ready(broker_t *self, zframe_t *identity, const char *key, const char *service);
void broker_worker_replied(broker_t *self, worker_t *w);
/* A held request is re-dispatched once when idempotent, else answered 502. */
void broker_worker_delete(broker_t *self, worker_t *w, bool send_disconnect, const char *why);

/* broker_messages.c: one message from the ROUTER (identity first). */
void broker_router_message(broker_t *self, zmsg_t *msg);

/* broker_sweep.c: run from broker_run's timers. */
void broker_sweep(broker_t *self, int64_t now);
void broker_send_heartbeats(broker_t *self);

/* The broker.status reply body (malloc'd JSON), or NULL. */
char *broker_status_json(broker_t *self);

#endif
