/* shopmq wire protocol: encoders and validating decoders.
 *
 * Decoders never trust a frame: every size, count and byte is checked before
 * it is copied, and on failure the output struct is left cleared so the
 * caller can drop the message without further care. See PROTOCOL.md. */
#include "shopmq_proto.h"

#include <stdlib.h>
#include <string.h>

/* Event payloads are JSON objects; bounded so a bad publisher cannot make
 * every subscriber allocate without limit. */
#define SMQ_MAX_EVENT_PAYLOAD (1024 * 1024)

/* ---- small helpers ---- */

static bool frame_is(zframe_t *frame, const char *text)
{
    size_t len = strlen(text);
    return frame && zframe_size(frame) == len && memcmp(zframe_data(frame), text, len) == 0;
}

/* A JSON object at a glance: first and last non-blank bytes are braces and
 * there is no NUL inside. Full parsing is the consumer's job; this only
 * keeps obvious garbage off the wire cheaply. */
static bool looks_like_object(const char *data, size_t len)
{
    if (memchr(data, '\0', len))
        return false;
    size_t a = 0, b = len;
    while (a < b && (data[a] == ' ' || data[a] == '\t' || data[a] == '\r' || data[a] == '\n'))
        a++;
    while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\t' || data[b - 1] == '\r' ||
                     data[b - 1] == '\n'))
        b--;
    return b - a >= 2 && data[a] == '{' && data[b - 1] == '}';
}

static int frame_json_object(zframe_t *frame, size_t max, char **out)
{
    size_t len;
    if (!frame || zframe_size(frame) == 0 ||
        !looks_like_object((const char *)zframe_data(frame), zframe_size(frame)))
        return -1;
    return smq_frame_dup(frame, max, out, &len);
}

/* Status is exactly three ASCII digits, 100..599. */
static int frame_status(zframe_t *frame, int *status)
{
    if (!frame || zframe_size(frame) != 3)
        return -1;
    const byte *d = zframe_data(frame);
    for (int i = 0; i < 3; i++)
        if (d[i] < '0' || d[i] > '9')
            return -1;
    int v = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    if (v < 100 || v > 599)
        return -1;
    *status = v;
    return 0;
}

static int frame_client_id(zframe_t *frame)
{
    size_t n = frame ? zframe_size(frame) : 0;
    return n >= 1 && n <= SMQ_MAX_CLIENT_ID ? 0 : -1;
}

static void add_status(zmsg_t *msg, int status)
{
    char buf[4];
    if (status < 100 || status > 599)
        status = 500; /* never put an invalid status on the wire */
    buf[0] = (char)('0' + status / 100);
    buf[1] = (char)('0' + status / 10 % 10);
    buf[2] = (char)('0' + status % 10);
    buf[3] = '\0';
    zmsg_addmem(msg, buf, 3);
}

static void add_command(zmsg_t *msg, int command)
{
    byte c = (byte)command;
    zmsg_addmem(msg, &c, 1);
}

/* ---- shared validators ---- */

int smq_frame_token(zframe_t *frame, char *out, size_t cap)
{
    if (!frame || !out || cap == 0)
        return -1;
    size_t n = zframe_size(frame);
    if (n == 0 || n >= cap)
        return -1;
    const byte *d = zframe_data(frame);
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x21 || d[i] > 0x7e)
            return -1;
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
}

int smq_frame_dup(zframe_t *frame, size_t max, char **out, size_t *len)
{
    if (!frame || !out)
        return -1;
    size_t n = zframe_size(frame);
    if (n > max)
        return -1;
    char *buf = malloc(n + 1);
    if (!buf)
        return -1;
    if (n)
        memcpy(buf, zframe_data(frame), n);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

void smq_ctl_encode(const smq_ctl_t *ctl, uint8_t out[SMQ_CTL_SIZE])
{
    uint32_t b = ctl->budget_ms;
    out[0] = (uint8_t)(b >> 24);
    out[1] = (uint8_t)(b >> 16);
    out[2] = (uint8_t)(b >> 8);
    out[3] = (uint8_t)b;
    out[4] = ctl->flags;
}

int smq_ctl_decode(zframe_t *frame, smq_ctl_t *ctl)
{
    if (!frame || !ctl || zframe_size(frame) != SMQ_CTL_SIZE)
        return -1;
    const byte *d = zframe_data(frame);
    ctl->budget_ms = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
    /* Unknown flag bits are kept: newer peers may define them. */
    ctl->flags = d[4];
    return 0;
}

void smq_request_clear(smq_request_t *req)
{
    if (!req)
        return;
    free(req->meta);
    free(req->body);
    memset(req, 0, sizeof *req);
}

void smq_reply_clear(smq_reply_t *rep)
{
    if (!rep)
        return;
    free(rep->body);
    memset(rep, 0, sizeof *rep);
}

/* ---- request body frames shared by client and worker requests ---- */

/* Decodes [rid][ctl][meta][body] starting at the message cursor. */
static int decode_request_tail(zmsg_t *msg, smq_request_t *req)
{
    if (smq_frame_token(zmsg_next(msg), req->rid, sizeof req->rid) < 0)
        return -1;
    if (smq_ctl_decode(zmsg_next(msg), &req->ctl) < 0)
        return -1;
    if (frame_json_object(zmsg_next(msg), SMQ_MAX_META, &req->meta) < 0)
        return -1;
    zframe_t *body = zmsg_next(msg);
    if (smq_frame_dup(body, SMQ_MAX_BODY, &req->body, &req->body_len) < 0)
        return -1;
    return 0;
}

static void add_request_tail(zmsg_t *msg, const char *rid, const smq_ctl_t *ctl, const char *meta,
                             size_t meta_len, const char *body, size_t body_len)
{
    uint8_t c[SMQ_CTL_SIZE];
    smq_ctl_t zero = {0, 0};
    smq_ctl_encode(ctl ? ctl : &zero, c);
    zmsg_addstr(msg, rid ? rid : "");
    zmsg_addmem(msg, c, SMQ_CTL_SIZE);
    if (meta)
        zmsg_addmem(msg, meta, meta_len);
    else
        zmsg_addmem(msg, "{}", 2);
    zmsg_addmem(msg, body ? body : "", body ? body_len : 0);
}

/* ---- client side ---- */

zmsg_t *smq_client_request_new(const char *service, const char *rid, const smq_ctl_t *ctl,
                               const char *meta, size_t meta_len, const char *body, size_t body_len)
{
    zmsg_t *msg = zmsg_new();
    if (!msg)
        return NULL;
    zmsg_addstr(msg, SMQ_CLIENT);
    zmsg_addstr(msg, service ? service : "");
    add_request_tail(msg, rid, ctl, meta, meta_len, body, body_len);
    return msg;
}

int smq_client_request_decode(zmsg_t *msg, smq_request_t *req)
{
    if (!req)
        return -1;
    memset(req, 0, sizeof *req);
    /* Newer peers may append optional frames; fewer than ours is malformed. */
    if (!msg || zmsg_size(msg) < 6)
        return -1;
    if (!frame_is(zmsg_first(msg), SMQ_CLIENT) ||
        smq_frame_token(zmsg_next(msg), req->service, sizeof req->service) < 0 ||
        decode_request_tail(msg, req) < 0) {
        smq_request_clear(req);
        return -1;
    }
    return 0;
}

/* ---- reply frames shared by client and worker replies ---- */

/* Decodes [rid][status][body] starting at the message cursor. */
static int decode_reply_tail(zmsg_t *msg, smq_reply_t *rep)
{
    if (smq_frame_token(zmsg_next(msg), rep->rid, sizeof rep->rid) < 0)
        return -1;
    if (frame_status(zmsg_next(msg), &rep->status) < 0)
        return -1;
    if (smq_frame_dup(zmsg_next(msg), SMQ_MAX_BODY, &rep->body, &rep->body_len) < 0)
        return -1;
    return 0;
}

static void add_reply_tail(zmsg_t *msg, const char *rid, int status, const char *body,
                           size_t body_len)
{
    zmsg_addstr(msg, rid ? rid : "");
    add_status(msg, status);
    zmsg_addmem(msg, body ? body : "", body ? body_len : 0);
}

zmsg_t *smq_client_reply_new(const char *rid, int status, const char *body, size_t body_len)
{
    zmsg_t *msg = zmsg_new();
    if (!msg)
        return NULL;
    zmsg_addstr(msg, SMQ_CLIENT);
    add_reply_tail(msg, rid, status, body, body_len);
    return msg;
}

int smq_client_reply_decode(zmsg_t *msg, smq_reply_t *rep)
{
    if (!rep)
        return -1;
    memset(rep, 0, sizeof *rep);
    if (!msg || zmsg_size(msg) < 4)
        return -1;
    if (!frame_is(zmsg_first(msg), SMQ_CLIENT) || decode_reply_tail(msg, rep) < 0) {
        smq_reply_clear(rep);
        return -1;
    }
    return 0;
}

/* ---- worker side ---- */

static zmsg_t *worker_msg_new(int command)
{
    zmsg_t *msg = zmsg_new();
    if (!msg)
        return NULL;
    zmsg_addstr(msg, SMQ_WORKER);
    add_command(msg, command);
    return msg;
}

/* The broker's routing id of the client; empty when there is none. */
static void add_client(zmsg_t *msg, zframe_t *client)
{
    if (client)
        zmsg_add(msg, zframe_dup(client));
    else
        zmsg_addmem(msg, "", 0);
}

/* Decodes the client frame at the message cursor into wm->client. */
static int decode_client(zmsg_t *msg, smq_worker_msg_t *wm)
{
    zframe_t *client = zmsg_next(msg);
    if (frame_client_id(client) < 0)
        return -1;
    wm->client = zframe_dup(client);
    return 0;
}

zmsg_t *smq_worker_ready_new(const char *service)
{
    zmsg_t *msg = worker_msg_new(SMQ_READY);
    if (msg)
        zmsg_addstr(msg, service ? service : "");
    return msg;
}

zmsg_t *smq_worker_heartbeat_new(const char *status_json)
{
    zmsg_t *msg = worker_msg_new(SMQ_HEARTBEAT);
    if (msg && status_json)
        zmsg_addstr(msg, status_json);
    return msg;
}

zmsg_t *smq_worker_disconnect_new(void)
{
    return worker_msg_new(SMQ_DISCONNECT);
}

zmsg_t *smq_worker_reply_new(zframe_t *client, const char *rid, int status, const char *body,
                             size_t body_len)
{
    zmsg_t *msg = worker_msg_new(SMQ_REPLY);
    if (!msg)
        return NULL;
    add_client(msg, client);
    add_reply_tail(msg, rid, status, body, body_len);
    return msg;
}

zmsg_t *smq_worker_request_new(zframe_t *client, const smq_request_t *req)
{
    zmsg_t *msg = worker_msg_new(SMQ_REQUEST);
    if (!msg)
        return NULL;
    add_client(msg, client);
    add_request_tail(msg, req->rid, &req->ctl, req->meta, req->meta ? strlen(req->meta) : 0,
                     req->body, req->body_len);
    return msg;
}

void smq_worker_msg_clear(smq_worker_msg_t *wm)
{
    if (!wm)
        return;
    zframe_destroy(&wm->client);
    smq_request_clear(&wm->req);
    smq_reply_clear(&wm->rep);
    free(wm->status_json);
    memset(wm, 0, sizeof *wm);
}

static int decode_worker(zmsg_t *msg, smq_worker_msg_t *wm)
{
    size_t nframes = zmsg_size(msg);
    if (nframes < 2 || !frame_is(zmsg_first(msg), SMQ_WORKER))
        return -1;
    zframe_t *cmd = zmsg_next(msg);
    if (zframe_size(cmd) != 1)
        return -1;
    wm->command = *zframe_data(cmd);
    switch (wm->command) {
    case SMQ_READY:
        if (nframes < 3)
            return -1;
        return smq_frame_token(zmsg_next(msg), wm->service, sizeof wm->service);
    case SMQ_REQUEST:
        if (nframes < 7 || decode_client(msg, wm) < 0)
            return -1;
        return decode_request_tail(msg, &wm->req);
    case SMQ_REPLY:
        if (nframes < 6 || decode_client(msg, wm) < 0)
            return -1;
        return decode_reply_tail(msg, &wm->rep);
    case SMQ_HEARTBEAT: {
        zframe_t *status = zmsg_next(msg);
        /* The status frame is optional; an empty one means "none". */
        if (!status || zframe_size(status) == 0)
            return 0;
        return frame_json_object(status, SMQ_MAX_STATUS_JSON, &wm->status_json);
    }
    case SMQ_DISCONNECT:
        return 0;
    default:
        return -1;
    }
}

int smq_worker_msg_decode(zmsg_t *msg, smq_worker_msg_t *wm)
{
    if (!wm)
        return -1;
    memset(wm, 0, sizeof *wm);
    if (!msg || decode_worker(msg, wm) < 0) {
        smq_worker_msg_clear(wm);
        return -1;
    }
    return 0;
}

/* ---- events ---- */

zmsg_t *smq_event_new(const char *topic, const char *publisher, uint64_t seq, const char *payload)
{
    zmsg_t *msg = zmsg_new();
    if (!msg)
        return NULL;
    byte s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (byte)(seq >> (56 - 8 * i));
    zmsg_addstr(msg, topic ? topic : "");
    zmsg_addstr(msg, SMQ_EVENT);
    zmsg_addstr(msg, publisher ? publisher : "");
    zmsg_addmem(msg, s, 8);
    zmsg_addstr(msg, payload ? payload : "{}");
    return msg;
}

int smq_event_decode(zmsg_t *msg, smq_event_t *ev)
{
    if (!ev)
        return -1;
    memset(ev, 0, sizeof *ev);
    if (!msg || zmsg_size(msg) < 5)
        return -1;
    if (smq_frame_token(zmsg_first(msg), ev->topic, sizeof ev->topic) < 0 ||
        !frame_is(zmsg_next(msg), SMQ_EVENT) ||
        smq_frame_token(zmsg_next(msg), ev->publisher, sizeof ev->publisher) < 0)
        goto fail;
    zframe_t *seq = zmsg_next(msg);
    if (zframe_size(seq) != 8)
        goto fail;
    const byte *d = zframe_data(seq);
    for (int i = 0; i < 8; i++)
        ev->seq = ev->seq << 8 | d[i];
    if (frame_json_object(zmsg_next(msg), SMQ_MAX_EVENT_PAYLOAD, &ev->payload) < 0)
        goto fail;
    return 0;
fail:
    smq_event_clear(ev);
    return -1;
}

void smq_event_clear(smq_event_t *ev)
{
    if (!ev)
        return;
    free(ev->payload);
    memset(ev, 0, sizeof *ev);
}
