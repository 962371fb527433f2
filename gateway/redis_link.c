/* A gateway loop's Redis connection, kept up (see redis_link.h). */
#include "redis_link.h"

#include <hiredis/async.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MIN_MS 1000

static void link_connect(redis_link_t *self);

static void outage(redis_link_t *self, const char *why)
{
    if (self->outage)
        return;
    self->outage = true;
    log_warn(NULL, "%s: Redis unavailable, %s (%s)", self->who, self->fallback, why);
}

/* hiredis is freeing the context (our drop, a socket error or EOF): every
 * pending command has had its NULL reply by now. */
static void on_gone(void *arg)
{
    redis_link_t *self = arg;
    if (self->destroying)
        return;
    outage(self, self->last_error[0] ? self->last_error
                 : self->ra.error[0] ? self->ra.error
                                     : "connection closed");
    self->state = LINK_DOWN;
    self->reconnect_at = clock_mono_ms() + self->backoff_ms;
    self->backoff_ms =
        self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
}

void redis_link_drop(redis_link_t *self, const char *why)
{
    snprintf(self->last_error, sizeof self->last_error, "%s", why);
    if (self->ra.ac)
        redisAsyncFree(self->ra.ac); /* deferred by hiredis inside its callbacks */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_link_t *self = ac->data;
    if (status != REDIS_OK)
        snprintf(self->last_error, sizeof self->last_error, "connect: %s",
                 ac->errstr ? ac->errstr : "failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_link_t *self = ac->data;
    if (status != REDIS_OK && !self->last_error[0])
        snprintf(self->last_error, sizeof self->last_error, "%s",
                 ac->errstr ? ac->errstr : "disconnected");
}

/* The handshake is pipelined: AUTH and SELECT errors arrive before the last
 * step's reply and drop the connection, so a success on the last step
 * (SCRIPT LOAD, or PING without a script) means all passed. */
static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_link_t *self = ac->data;
    redisReply *reply = r;
    const char *step = privdata;
    if (!reply || self->state != LINK_CONNECTING)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[128];
        snprintf(why, sizeof why, "%s: %.100s", step, reply->str);
        redis_link_drop(self, why);
        return;
    }
    if (strcmp(step, "SCRIPT LOAD") == 0) {
        if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
            redis_link_drop(self, "SCRIPT LOAD: unexpected reply");
            return;
        }
        memcpy(self->sha, reply->str, 40);
        self->sha[40] = '\0';
    } else if (strcmp(step, "PING") != 0) {
        return;
    }
    self->state = LINK_UP;
    self->backoff_ms = BACKOFF_MIN_MS;
    self->last_error[0] = '\0';
    if (self->outage) {
        self->outage = false;
        log_info(NULL, "%s: Redis available again", self->who);
    }
}

static void link_connect(redis_link_t *self)
{
    self->last_error[0] = '\0';
    redisAsyncContext *ac = redisAsyncConnect(self->url.host, self->url.port);
    if (!ac || ac->err) {
        snprintf(self->last_error, sizeof self->last_error, "connect: %s",
                 ac && ac->errstr ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        self->ra.ac = NULL;
        on_gone(self);
        return;
    }
    ac->data = self;
    redis_async_attach(&self->ra, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    self->state = LINK_CONNECTING;
    int t = self->timeout_ms * 10;
    self->connect_deadline =
        clock_mono_ms() + (t < CONNECT_TIMEOUT_MIN_MS ? CONNECT_TIMEOUT_MIN_MS : t);

    if (self->url.password[0]) {
        const char *argv[3] = {"AUTH", self->url.username, self->url.password};
        if (self->url.username[0])
            redisAsyncCommandArgv(ac, on_handshake_reply, "AUTH", 3, argv, NULL);
        else {
            argv[1] = self->url.password;
            redisAsyncCommandArgv(ac, on_handshake_reply, "AUTH", 2, argv, NULL);
        }
    }
    if (self->url.db)
        redisAsyncCommand(ac, on_handshake_reply, "SELECT", "SELECT %d", self->url.db);
    if (self->script)
        redisAsyncCommand(ac, on_handshake_reply, "SCRIPT LOAD", "SCRIPT LOAD %s", self->script);
    else
        redisAsyncCommand(ac, on_handshake_reply, "PING", "PING");
}

bool redis_link_open(redis_link_t *self, const char *url, int timeout_ms, const char *who,
                     const char *fallback, const char *script, void *owner, char *err,
                     size_t errlen)
{
    memset(self, 0, sizeof *self);
    self->who = who;
    self->fallback = fallback;
    self->script = script;
    self->owner = owner;
    self->timeout_ms = timeout_ms;
    self->backoff_ms = BACKOFF_MIN_MS;
    if (redis_url_parse(url, &self->url, err, errlen) != 0)
        return false;
    /* hiredis writes with write(2): a Redis that dies must not SIGPIPE us. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    self->ra.on_cleanup = on_gone;
    self->ra.arg = self;
    link_connect(self);
    return true;
}

void redis_link_close(redis_link_t *self)
{
    self->destroying = true;
    if (self->ra.ac)
        redisAsyncFree(self->ra.ac);
    self->state = LINK_OFF;
}

int64_t redis_link_deadline(const redis_link_t *self)
{
    switch (self->state) {
    case LINK_DOWN:
        return self->reconnect_at;
    case LINK_CONNECTING:
        return self->connect_deadline;
    default:
        return INT64_MAX;
    }
}

void redis_link_timeout(redis_link_t *self, int64_t now)
{
    if (self->state == LINK_CONNECTING && now >= self->connect_deadline)
        redis_link_drop(self, "connect/handshake timed out");
    if (self->state == LINK_DOWN && now >= self->reconnect_at)
        link_connect(self);
}
