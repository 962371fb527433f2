/* Internal to the gateway: one event loop's state and the per-request slot
 * table, shared by gateway.c (loop, sockets, lifecycle) and gwhttp.c (what
 * happens to a request). Not a public interface. */
#ifndef SHOPMQ_GWLOOP_H
#define SHOPMQ_GWLOOP_H

#include <czmq.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "adminauth.h"
#include "clientip.h"
#include "config.h"
#include "gwcache.h"
#include "gwmetrics.h"
#include "gwreq.h"
#include "ratelimit.h"
#include "shopmq_proto.h"

typedef struct gw_loop gw_loop_t;
typedef struct gateway gateway_t;

typedef enum {
    SLOT_FREE = 0,
    SLOT_HEADERS, /* URI seen, waiting for the first handler call */
    SLOT_BODY,    /* reading the body */
    SLOT_RATE,    /* suspended: waiting for the rate limiter */
    SLOT_CACHE,   /* suspended: waiting for the read cache */
    SLOT_WAIT,    /* suspended: forwarded, waiting for a reply or the deadline */
    SLOT_READY,   /* resumed with a response to queue */
    SLOT_DONE,    /* response queued */
} slot_state_t;

typedef enum { WAIT_PROXY = 0, WAIT_HEALTH, WAIT_METRICS, WAIT_CACHE_STATS } wait_kind_t;

/* How the response body is held (maps to MHD_ResponseMemoryMode). */
typedef enum { BODY_STATIC = 0, BODY_COPY, BODY_FREE } body_mode_t;

/* One request. Slots live in a fixed table per loop, found again from the
 * reply's request id "<loop>.<index>.<gen>" by index, with gen guarding
 * against a late reply for a slot that has been reused. Buffers are kept
 * across reuse so a steady stream of requests allocates nothing. */
typedef struct slot {
    gw_loop_t *loop;
    uint32_t index;
    uint32_t gen;
    uint32_t next_free;
    slot_state_t state;
    struct MHD_Connection *conn;
    bool suspended;
    int64_t start_us;
    int64_t answered_us; /* when the response was queued */

    /* deadline list (sorted, earliest first) */
    int64_t deadline_ms;
    struct slot *dl_prev, *dl_next;
    bool in_deadlines;
    wait_kind_t wait;

    /* request */
    const char *method; /* MHD's, valid until the request completes */
    char *ubuf;         /* raw URI, then gwreq scratch */
    size_t ubuf_cap;
    size_t uri_len;
    bool uri_too_long;
    bool too_large; /* body over the cap: being discarded */
    char *body;
    size_t body_len, body_cap;
    gwreq_t req;
    char ip[64];
    char trace[GWREQ_MAX_TRACE + 1];
    const char *idem_key; /* header values: MHD's, valid until completion */
    const char *origin;
    const char *acr_headers;
    const char *authz;    /* Authorization, for admin routes (authz_len bytes) */
    size_t authz_len;
    const char *ctype_in; /* the request's Content-Type */
    bool limited; /* the rate limiter decided on this request */
    ratelimit_result_t rl;
    char rid[40];

    /* response */
    int status;
    const char *resp;
    size_t resp_len;
    body_mode_t resp_mode;
    const char *ctype; /* NULL: JSON (none for 204) */
    const char *allow;
    int retry_after;
    bool preflight;
    bool www_auth; /* 401: add WWW-Authenticate */
    char small[320]; /* short error bodies */
} slot_t;

/* One HTTP connection, for the read deadline (gwconn.c). */
typedef struct gw_conn {
    struct gw_conn *prev, *next;
    int fd;
    int64_t since_ms; /* when the wait for the current request began */
    bool reading;     /* on the read-deadline list (else the busy one) */
} gw_conn_t;

struct gw_loop {
    gateway_t *gw;
    int index;
    struct MHD_Daemon *daemon;
    int epoll_fd;
    zsock_t *dealer;
    ratelimit_t *rl;
    bool rl_on;
    gwcache_t *cache; /* NULL: product reads are always forwarded */
    gwmetrics_t *metrics;
    slot_t *slots;
    uint32_t nslots, used_slots, free_head; /* free_head == nslots: empty list */
    slot_t *dl_head, *dl_tail;
    char *meta; /* SMQ_MAX_META scratch for the meta frame */
    uint64_t trace_state;
    bool stopping;
    bool resumed; /* a connection was resumed: run MHD without waiting */
    gw_conn_t *rd_head, *rd_tail;     /* reading a request, oldest first */
    gw_conn_t *busy_head, *busy_tail; /* request read: off the deadline */
    pthread_t thread;
};

#define GW_MAX_ORIGINS 32

struct gateway {
    const config_t *cfg;
    cidr_list_t *trusted;
    int nloops;
    gw_loop_t *loops;
    gwmetrics_t **metrics; /* one per loop, for /metrics */
    int64_t start_ms;
    volatile int stop;
    uint16_t port;
    bool cors_any;
    int norigins;
    char origins[GW_MAX_ORIGINS][256];
    adminauth_t admin; /* ECOM_ADMIN_TOKEN */
};

/* gwhttp.c: the MHD callbacks and what the loop feeds back. */
void *gwhttp_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result gwhttp_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls);
void gwhttp_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
/* A decoded reply from the broker (rid checked here; unknown ones dropped). */
void gwhttp_on_reply(gw_loop_t *loop, smq_reply_t *rep);
/* What the read cache found for the slot named by token (gwcache.h). */
void gwhttp_on_cache(void *loop, uint64_t token, gwcache_rc_t rc, const char *json, size_t len);
/* Answers every request whose deadline passed; returns ms to the next one
 * (-1: none). */
long gwhttp_deadlines(gw_loop_t *loop, int64_t now_ms);
/* Answers everything in flight with 503 (stopping). */
void gwhttp_shutdown(gw_loop_t *loop);

/* gwconn.c: every connection must deliver a whole request within
 * ECOM_CONNECTION_TIMEOUT of connecting or of its previous answer. */
void gwconn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                   enum MHD_ConnectionNotificationCode toe);
/* The request on conn has been read (or is answered early). */
void gwconn_request_read(gw_loop_t *loop, struct MHD_Connection *conn);
/* Its answer is done: the wait for the next request starts. */
void gwconn_request_done(gw_loop_t *loop, struct MHD_Connection *conn);
/* Shuts down connections past the deadline; returns how many. */
int gwconn_expire(gw_loop_t *loop, int64_t now_ms);
/* After MHD_stop_daemon: frees what is left. */
void gwconn_free_all(gw_loop_t *loop);

#endif
