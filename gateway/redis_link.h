/* One asynchronous Redis connection of a gateway event loop, kept up:
 * connect, handshake (AUTH, SELECT, SCRIPT LOAD of the owner's script),
 * reconnect with backoff, and one log line when it goes away and one when
 * it is back. The rate limiter and the read cache each hold one.
 *
 * States: OFF (not configured); DOWN (waiting for the reconnect timer);
 * CONNECTING (socket and handshake in flight, under a deadline); UP.
 * Commands go through link->ra.ac while UP; hiredis answers every pending
 * command with a NULL reply when the connection goes away. ac->data is the
 * link; link->owner is the caller's. */
#ifndef SHOPMQ_REDIS_LINK_H
#define SHOPMQ_REDIS_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "redis_async.h"
#include "redis_url.h"

typedef enum { LINK_OFF = 0, LINK_DOWN, LINK_CONNECTING, LINK_UP } link_state_t;

typedef struct {
    const char *who;      /* log prefix, e.g. "rate limiter" */
    const char *fallback; /* what happens meanwhile, e.g. "using local window" */
    const char *script;   /* loaded at connect (sha below), or NULL */
    void *owner;
    redis_url_t url;
    int timeout_ms;
    link_state_t state;
    redis_async_t ra;
    int64_t reconnect_at, connect_deadline, backoff_ms;
    bool outage; /* the "unavailable" warning was logged */
    bool destroying;
    char last_error[128];
    char sha[41];
} redis_link_t;

/* Parses url (false with err filled on a bad one) and starts connecting. */
bool redis_link_open(redis_link_t *self, const char *url, int timeout_ms, const char *who,
                     const char *fallback, const char *script, void *owner, char *err,
                     size_t errlen);
/* Frees the connection; pending commands get NULL replies. */
void redis_link_close(redis_link_t *self);

static inline bool redis_link_up(const redis_link_t *self)
{
    return self->state == LINK_UP && self->ra.ac;
}

/* Closes the connection (a timeout, a protocol error) and schedules a
 * reconnect; why is logged once per outage. */
void redis_link_drop(redis_link_t *self, const char *why);

/* The monotonic ms at which redis_link_timeout must run (INT64_MAX: none). */
int64_t redis_link_deadline(const redis_link_t *self);
/* Handshake deadline and reconnect timer. */
void redis_link_timeout(redis_link_t *self, int64_t now_ms);

#endif
