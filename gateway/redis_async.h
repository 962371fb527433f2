/* hiredis's async API driven by a zmq_poll loop (hiredis 0.14 ships no
 * adapter for it), and the parsing of ECOM_REDIS_URL.
 *
 * The adapter only records what hiredis wants (read and/or write); the
 * loop turns that into one fd poll item and hands back what fired. */
#ifndef SHOPMQ_REDIS_ASYNC_H
#define SHOPMQ_REDIS_ASYNC_H

#include <hiredis/async.h>
#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#include "redis_url.h"

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis has freed the context */
    bool reading, writing;
    char error[128]; /* hiredis's error text when the context went away */
    void (*on_cleanup)(void *arg); /* hiredis is about to free ac */
    void *arg;
} redis_async_t;

/* Installs the event hooks on ac (ac->ev.data = self). When hiredis frees
 * the context (error, disconnect, redisAsyncFree) self->ac becomes NULL and
 * on_cleanup(arg) runs. Returns 0, or -1 if ac already has an event lib. */
int redis_async_attach(redis_async_t *self, redisAsyncContext *ac);

/* 1 and fills *item when there is a socket to poll, else 0. */
int redis_async_pollitem(redis_async_t *self, zmq_pollitem_t *item);
/* Hands what zmq_poll reported for that item to hiredis (read first). */
void redis_async_handle(redis_async_t *self, const zmq_pollitem_t *item);

#endif
