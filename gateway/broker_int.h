/* Broker internals shared by broker.c (routing) and broker_status.c
 * (the broker.status report). Not an API: only broker*.c include it. */
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

/* The broker.status reply body (malloc'd JSON), or NULL. */
char *broker_status_json(broker_t *self);

#endif
