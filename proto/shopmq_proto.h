/* shopmq wire protocol: constants and frame encode/decode helpers.
 *
 * Every program that speaks to the broker includes this header; PROTOCOL.md
 * is the prose version. All decoders validate every frame and return -1 on
 * anything malformed; the caller logs and drops the message. */
#ifndef SHOPMQ_PROTO_H
#define SHOPMQ_PROTO_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

/* First frame of every message: names the peer kind and protocol version. */
#define SMQ_CLIENT "SMQC01" /* gateway <-> broker */
#define SMQ_WORKER "SMQW01" /* worker  <-> broker */
#define SMQ_EVENT "SMQE01"  /* event publisher -> proxy -> subscribers */

/* Worker commands (second frame of a worker message, one byte). */
enum smq_command {
    SMQ_READY = 0x01,      /* W->B  [service]                          */
    SMQ_REQUEST = 0x02,    /* B->W  [client][rid][ctl][meta][body]     */
    SMQ_REPLY = 0x03,      /* W->B  [client][rid][status][body]        */
    SMQ_HEARTBEAT = 0x04,  /* both  [status JSON] (W->B only, optional) */
    SMQ_DISCONNECT = 0x05, /* both  (no payload)                        */
};

/* Service names a worker can register as. "broker" is answered by the broker. */
#define SMQ_SVC_CATALOG "catalog"
#define SMQ_SVC_ORDER "order"
#define SMQ_SVC_CUSTOMER "customer"
#define SMQ_SVC_BROKER "broker"

/* Event topics (first frame of an event message). */
#define SMQ_TOPIC_STOCK "stock.changed"
#define SMQ_TOPIC_PRODUCT "product.changed"
#define SMQ_TOPIC_CATEGORY "category.changed"
#define SMQ_TOPIC_HEARTBEAT "heartbeat"

/* Limits enforced by every decoder. */
#define SMQ_MAX_SERVICE 31
#define SMQ_MAX_RID 63
#define SMQ_MAX_CLIENT_ID 255 /* ROUTER identities are at most 255 bytes */
#define SMQ_MAX_META (64 * 1024)
#define SMQ_MAX_BODY (16 * 1024 * 1024)
#define SMQ_MAX_STATUS_JSON (256 * 1024)

/* ctl frame: 5 bytes: u32 big-endian remaining budget in ms, u8 flags. */
#define SMQ_CTL_SIZE 5
#define SMQ_FLAG_IDEMPOTENT 0x01 /* safe to re-dispatch after a worker dies */

typedef struct {
    uint32_t budget_ms; /* time left before the gateway answers 504 */
    uint8_t flags;
} smq_ctl_t;

/* A request as carried gateway -> broker -> worker. Strings are views into
 * the frames of the zmsg they were decoded from (NUL-terminated copies are
 * made by the decoder, owned by the struct, freed by smq_request_clear). */
typedef struct {
    char service[SMQ_MAX_SERVICE + 1];
    char rid[SMQ_MAX_RID + 1];
    smq_ctl_t ctl;
    char *meta;      /* JSON object text, NUL-terminated, owned */
    char *body;      /* request body, NUL-terminated, owned (may be "") */
    size_t body_len; /* body length without the terminator */
} smq_request_t;

/* A reply as carried worker -> broker -> gateway. */
typedef struct {
    char rid[SMQ_MAX_RID + 1];
    int status;      /* HTTP status, 100..599 */
    char *body;      /* owned, NUL-terminated, may be "" */
    size_t body_len;
} smq_reply_t;

void smq_request_clear(smq_request_t *req);
void smq_reply_clear(smq_reply_t *rep);

void smq_ctl_encode(const smq_ctl_t *ctl, uint8_t out[SMQ_CTL_SIZE]);
int smq_ctl_decode(zframe_t *frame, smq_ctl_t *ctl);

/* Frame validators shared by decoders: text frames must be short, non-empty
 * and printable ASCII. Return 0 and copy into out, or -1. */
int smq_frame_token(zframe_t *frame, char *out, size_t cap);
/* Copies a frame into a fresh NUL-terminated buffer; -1 if longer than max. */
int smq_frame_dup(zframe_t *frame, size_t max, char **out, size_t *len);

/* Client (gateway) side. */
zmsg_t *smq_client_request_new(const char *service, const char *rid, const smq_ctl_t *ctl,
                               const char *meta, size_t meta_len, const char *body, size_t body_len);
/* Decodes [SMQC01][service][rid][ctl][meta][body] (identity already popped). */
int smq_client_request_decode(zmsg_t *msg, smq_request_t *req);
/* Reply to a client: [SMQC01][rid][status][body]. */
zmsg_t *smq_client_reply_new(const char *rid, int status, const char *body, size_t body_len);
int smq_client_reply_decode(zmsg_t *msg, smq_reply_t *rep);

/* Worker side. Each returns a message starting at [SMQW01]. */
zmsg_t *smq_worker_ready_new(const char *service);
zmsg_t *smq_worker_heartbeat_new(const char *status_json);
zmsg_t *smq_worker_disconnect_new(void);
/* Reply: [SMQW01][REPLY][client][rid][status][body]. client is the ROUTER
 * identity frame of the gateway as received in the request. */
zmsg_t *smq_worker_reply_new(zframe_t *client, const char *rid, int status, const char *body,
                             size_t body_len);
/* Request broker -> worker: [SMQW01][REQUEST][client][rid][ctl][meta][body] */
zmsg_t *smq_worker_request_new(zframe_t *client, const smq_request_t *req);

/* Decoded worker-protocol message (either direction). */
typedef struct {
    int command;                        /* enum smq_command */
    char service[SMQ_MAX_SERVICE + 1];  /* READY */
    zframe_t *client;                   /* REQUEST / REPLY: owned */
    smq_request_t req;                  /* REQUEST */
    smq_reply_t rep;                    /* REPLY */
    char *status_json;                  /* HEARTBEAT: owned, may be NULL */
} smq_worker_msg_t;

/* Decodes a message that starts at the protocol frame (identity popped).
 * Destroys nothing; the caller still owns msg. 0 on success, -1 if
 * malformed (and wm is left cleared). */
int smq_worker_msg_decode(zmsg_t *msg, smq_worker_msg_t *wm);
void smq_worker_msg_clear(smq_worker_msg_t *wm);

/* Events: [topic][SMQE01][publisher-id][seq u64 BE][payload JSON].
 * Heartbeats use the topic "heartbeat" and an empty payload "{}". */
typedef struct {
    char topic[32];
    char publisher[SMQ_MAX_RID + 1];
    uint64_t seq;
    char *payload; /* owned */
} smq_event_t;

zmsg_t *smq_event_new(const char *topic, const char *publisher, uint64_t seq, const char *payload);
int smq_event_decode(zmsg_t *msg, smq_event_t *ev);
void smq_event_clear(smq_event_t *ev);

#endif

/* ---- meta JSON (request frame 4) ----
 * Built by the gateway, read by workers through svc_request_t:
 *   {"op": "products.get",            route name, see below
 *    "method": "GET", "path": "/api/v1/products/5b1e...",
 *    "params": {"id": "5b1e..."},     path parameters (strings)
 *    "query": {"page": "2"},          query string (strings; last value wins)
 *    "ip": "203.0.113.7",             client IP as the rate limiter saw it
 *    "trace": "X-Request-Id value",
 *    "idem_key": "..."}               Idempotency-Key header, when sent
 *
 * Ops, by service:
 *   catalog:  products.list products.get products.create products.update
 *             products.delete categories.list categories.get
 *             categories.create cache.stats
 *   customer: customers.list customers.get customers.create
 *   order:    orders.create orders.list orders.get orders.status
 *   broker:   broker.status  -> {"services": {"<svc>": {"workers": n,
 *             "queued": n, "instances": {"<instance>": <last heartbeat
 *             status object>}}}}
 *
 * Reply bodies are the exact HTTP response bodies (JSON text, or "" for
 * 204); the gateway adds headers. */
