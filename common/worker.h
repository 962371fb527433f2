/* The service runtime: every service process is a set of worker threads,
 * each a DEALER connected to every broker in cfg->broker_endpoints, that
 * says READY(service), receives one request at a time, runs the handler
 * named by the request's "op", and replies. Heartbeats go both ways every
 * cfg->heartbeat_ms; a broker silent for 3 intervals is reconnected with
 * exponential backoff (up to 5 s). SIGINT/SIGTERM stop every thread
 * after its current request (DISCONNECT is sent). */
#ifndef SHOPMQ_WORKER_H
#define SHOPMQ_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* One request as a handler sees it. Everything is borrowed for the call. */
typedef struct {
    const char *op;       /* meta.op, e.g. "customers.get" */
    const char *rid;      /* meta.trace: the X-Request-Id, for logs */
    json_t *meta;         /* the whole meta object */
    json_t *params;       /* path parameters object (never NULL) */
    json_t *query;        /* query parameters object of strings (never NULL) */
    const char *body;     /* NUL-terminated, "" when none */
    size_t body_len;
    const char *idem_key; /* Idempotency-Key header or NULL */
    int64_t deadline_ms;  /* clock_mono_ms() after which the gateway gave up */
} svc_request_t;

/* What a handler fills in. body is malloc'd JSON text (or NULL for none). */
typedef struct {
    int status;
    char *body;
} svc_reply_t;

typedef void (*svc_handler_fn)(void *app, const svc_request_t *req, svc_reply_t *rep);

typedef struct {
    const char *op;
    svc_handler_fn fn;
} svc_route_t;

typedef struct {
    const char *service;       /* SMQ_SVC_* */
    const svc_route_t *routes; /* terminated by {NULL, NULL} */
    void *app;                 /* passed to handlers and status */
    /* Fills the heartbeat status object; called from worker threads, must
     * be thread-safe. The runtime adds "instance". Conventional keys:
     * "database": bool, "cache": bool (catalog), "metrics": {name: number}. */
    void (*status)(void *app, json_t *out);
    const config_t *cfg;
} svc_def_t;

/* Runs cfg->workers threads until SIGINT/SIGTERM. 0 on clean stop. */
int worker_run(const svc_def_t *def);

/* Set by the runtime's signal handler; background threads poll it. */
extern volatile int worker_stop;

/* Reply helpers. */
void svc_reply_raw(svc_reply_t *rep, int status, char *body_malloced);
void svc_reply_copy(svc_reply_t *rep, int status, const char *body);
void svc_reply_json(svc_reply_t *rep, int status, json_t *steal);
void svc_reply_detail(svc_reply_t *rep, int status, const char *detail);
void svc_reply_errors(svc_reply_t *rep, json_t *errs); /* 422 */

/* Exposed for unit tests: dispatch one request through a route table.
 * Unknown op -> 404 {"detail":"Not Found"}; a handler that sets no status
 * -> 500 {"detail":"Internal server error"}. */
void worker_dispatch(const svc_def_t *def, const svc_request_t *req, svc_reply_t *rep);

#endif
