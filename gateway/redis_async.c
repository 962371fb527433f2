/* hiredis async on zmq_poll (see redis_async.h). */
#include "redis_async.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void ev_add_read(void *p)
{
    ((redis_async_t *)p)->reading = true;
}

static void ev_del_read(void *p)
{
    ((redis_async_t *)p)->reading = false;
}

static void ev_add_write(void *p)
{
    ((redis_async_t *)p)->writing = true;
}

static void ev_del_write(void *p)
{
    ((redis_async_t *)p)->writing = false;
}

static void ev_cleanup(void *p)
{
    redis_async_t *self = p;
    snprintf(self->error, sizeof self->error, "%s",
             self->ac && self->ac->err && self->ac->errstr ? self->ac->errstr : "");
    self->ac = NULL;
    self->reading = self->writing = false;
    if (self->on_cleanup)
        self->on_cleanup(self->arg);
}

int redis_async_attach(redis_async_t *self, redisAsyncContext *ac)
{
    if (ac->ev.data)
        return -1;
    self->ac = ac;
    self->reading = false;
    /* A non-blocking connect completes when the socket becomes writable;
     * hiredis asks for that only once a command is queued, so ask now. */
    self->writing = true;
    ac->ev.data = self;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

int redis_async_pollitem(redis_async_t *self, zmq_pollitem_t *item)
{
    if (!self->ac || self->ac->c.fd < 0 || !(self->reading || self->writing))
        return 0;
    *item = (zmq_pollitem_t){.socket = NULL,
                             .fd = self->ac->c.fd,
                             .events = (short)((self->reading ? ZMQ_POLLIN : 0) |
                                               (self->writing ? ZMQ_POLLOUT : 0))};
    return 1;
}

void redis_async_handle(redis_async_t *self, const zmq_pollitem_t *item)
{
    if (!self->ac || item->fd != self->ac->c.fd)
        return;
    /* An error condition is reported by a read attempt. */
    if (item->revents & (ZMQ_POLLIN | ZMQ_POLLERR))
        redisAsyncHandleRead(self->ac);
    /* The read may have freed the context (self->ac is then NULL). */
    if (self->ac && (item->revents & ZMQ_POLLOUT))
        redisAsyncHandleWrite(self->ac);
}
