/* Per-IP sliding-window rate limiting: Redis first, local window when Redis
 * is down or slow (see ratelimit.h, DESIGN §8).
 *
 * Redis states: OFF (ECOM_REDIS_ENABLED=false) -> local only; DOWN (waiting
 * for the reconnect timer); CONNECTING (socket + AUTH/SELECT/SCRIPT LOAD in
 * flight, under a deadline); UP (checks go to Redis). Every check sent to
 * Redis has a slot with a deadline; hiredis gets only (slot, generation) as
 * privdata, so a reply that arrives after we answered locally finds a
 * different generation and is dropped. */
#include "ratelimit.h"

#include <hiredis/async.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "localwin.h"
#include "log.h"
#include "redis_async.h"

_Static_assert(sizeof(void *) >= sizeof(uint64_t), "slot tokens are passed as pointers");

#define LOCAL_MAX_IPS 100000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MIN_MS 1000
#define IP_MAX 48

/* Trim, count, maybe add, all on Redis's clock so replicas with skewed
 * clocks share one timeline. Members are "<ms>:<gateway prefix>-<counter>",
 * unique even for two requests in the same millisecond. Returns
 * {allowed, remaining, reset_unix_ms, ms_until_reset}.
 * Every redis.call costs about a microsecond of Lua glue on top of the
 * command, on the one Redis thread every request passes through: a refused
 * request adds nothing, so it needs no PEXPIRE, and the first member of a
 * window is its own oldest, so it needs no ZRANGE. */
static const char LIMIT_SCRIPT[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local key = KEYS[1]\n"
    "local max = tonumber(ARGV[1])\n"
    "local window = tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)\n"
    "local count = redis.call('ZCARD', key)\n"
    "local allowed = 0\n"
    "if count < max then\n"
    "  redis.call('ZADD', key, now, now .. ':' .. ARGV[3])\n"
    "  redis.call('PEXPIRE', key, window)\n"
    "  count = count + 1\n"
    "  allowed = 1\n"
    "  if count == 1 then return {1, max - 1, now + window, window} end\n"
    "end\n"
    "local reset = now + window\n"
    "local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')\n"
    "if oldest[2] then reset = tonumber(oldest[2]) + window end\n"
    "return {allowed, max - count, reset, reset - now}\n";

enum rl_state { RL_OFF, RL_DOWN, RL_CONNECTING, RL_UP };

typedef struct {
    uint32_t gen;
    bool busy;
    bool retried; /* already re-sent with EVAL after NOSCRIPT */
    int32_t next_free;
    ratelimit_cb *cb;
    void *arg;
    char ip[IP_MAX];
} slot_t;

typedef struct {
    uint64_t token;
    int64_t deadline;
} deadline_t;

struct ratelimit {
    bool enabled;
    int max;
    int64_t window_ms;
    int timeout_ms;
    localwin_t *local;

    enum rl_state state;
    redis_url_t url;
    redis_async_t ra;
    int64_t reconnect_at, connect_deadline, backoff_ms;
    bool outage;        /* the "unavailable" warning was logged */
    bool error_logged;  /* an error reply was logged since the last success */
    bool destroying;
    char last_error[128];
    char sha[41];
    char member_prefix[20];
    uint64_t member_seq;

    slot_t *slots;
    uint32_t nslots;
    int32_t free_head;
    /* Deadlines in send order (all share one timeout, so the ring is
     * sorted); entries for slots already answered are skipped lazily. */
    deadline_t *ring;
    size_t ring_cap, ring_head, ring_len;

    ratelimit_stats_t stats;
};

static void redis_connect(ratelimit_t *self);

/* ---- slots ---- */

static uint64_t slot_token(ratelimit_t *self, int32_t idx)
{
    return ((uint64_t)self->slots[idx].gen << 32) | (uint32_t)idx;
}

static slot_t *slot_lookup(ratelimit_t *self, uint64_t token)
{
    uint32_t idx = (uint32_t)token;
    if (idx >= self->nslots)
        return NULL;
    slot_t *s = &self->slots[idx];
    return s->busy && s->gen == (uint32_t)(token >> 32) ? s : NULL;
}

static int32_t slot_alloc(ratelimit_t *self)
{
    if (self->free_head < 0) {
        uint32_t n = self->nslots ? self->nslots * 2 : 64;
        slot_t *ns = realloc(self->slots, n * sizeof *ns);
        if (!ns)
            return -1;
        for (uint32_t i = self->nslots; i < n; i++) {
            ns[i] = (slot_t){.gen = 1, .next_free = i + 1 < n ? (int32_t)(i + 1) : -1};
        }
        self->slots = ns;
        self->free_head = (int32_t)self->nslots;
        self->nslots = n;
    }
    int32_t idx = self->free_head;
    slot_t *s = &self->slots[idx];
    self->free_head = s->next_free;
    s->busy = true;
    s->retried = false;
    return idx;
}

static void slot_release(ratelimit_t *self, slot_t *s)
{
    s->busy = false;
    s->gen++;
    s->cb = NULL;
    s->arg = NULL;
    s->next_free = self->free_head;
    self->free_head = (int32_t)(s - self->slots);
}

static int ring_push(ratelimit_t *self, uint64_t token, int64_t deadline)
{
    if (self->ring_len == self->ring_cap) {
        size_t n = self->ring_cap ? self->ring_cap * 2 : 64;
        deadline_t *nr = malloc(n * sizeof *nr);
        if (!nr)
            return -1;
        for (size_t i = 0; i < self->ring_len; i++)
            nr[i] = self->ring[(self->ring_head + i) % self->ring_cap];
        free(self->ring);
        self->ring = nr;
        self->ring_cap = n;
        self->ring_head = 0;
    }
    self->ring[(self->ring_head + self->ring_len) % self->ring_cap] =
        (deadline_t){.token = token, .deadline = deadline};
    self->ring_len++;
    return 0;
}

static void ring_pop(ratelimit_t *self)
{
    self->ring_head = (self->ring_head + 1) % self->ring_cap;
    self->ring_len--;
}

/* Drops answered entries from the front; the front is then live or empty. */
static void ring_purge(ratelimit_t *self)
{
    while (self->ring_len && !slot_lookup(self, self->ring[self->ring_head].token))
        ring_pop(self);
}

/* ---- decisions ---- */

static void decide_local(ratelimit_t *self, const char *ip, ratelimit_result_t *res)
{
    localwin_result_t lr;
    localwin_check(self->local, ip, clock_mono_ms(), &lr);
    int64_t reset_ms = clock_wall_ms() + lr.wait_ms;
    res->allowed = lr.allowed;
    res->limit = self->max;
    res->remaining = lr.remaining;
    res->reset_s = (long)((reset_ms + 999) / 1000);
    res->retry_after_s = lr.allowed ? 0 : (int)((lr.wait_ms + 999) / 1000);
    if (!lr.allowed && res->retry_after_s < 1)
        res->retry_after_s = 1;
    self->stats.local_decisions++;
}

static void count_result(ratelimit_t *self, const ratelimit_result_t *res)
{
    if (res->allowed)
        self->stats.allowed++;
    else
        self->stats.rejected++;
}

/* Answers a pending slot exactly once. The slot is released before the
 * callback so the callback may start new checks. */
static void slot_answer(ratelimit_t *self, slot_t *s, const ratelimit_result_t *redis_res)
{
    ratelimit_cb *cb = s->cb;
    void *arg = s->arg;
    ratelimit_result_t res;
    if (redis_res) {
        res = *redis_res;
        if (res.allowed)
            localwin_record(self->local, s->ip, clock_mono_ms());
    } else {
        decide_local(self, s->ip, &res);
    }
    slot_release(self, s);
    if (self->destroying)
        return; /* the loop is going away: nobody to answer */
    count_result(self, &res);
    cb(arg, &res);
}

/* ---- Redis connection ---- */

static void redis_outage(ratelimit_t *self, const char *why)
{
    if (self->outage)
        return;
    self->outage = true;
    log_warn(NULL, "rate limiter: Redis unavailable, using local window (%s)", why);
}

/* hiredis is freeing the context (our drop, a socket error or EOF): every
 * pending check has been answered locally by now via NULL replies. */
static void on_redis_gone(void *arg)
{
    ratelimit_t *self = arg;
    self->stats.redis_up = false;
    if (self->destroying)
        return;
    redis_outage(self, self->last_error[0] ? self->last_error
                       : self->ra.error[0]  ? self->ra.error
                                            : "connection closed");
    self->state = RL_DOWN;
    self->reconnect_at = clock_mono_ms() + self->backoff_ms;
    self->backoff_ms = self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
}

static void redis_drop(ratelimit_t *self, const char *why)
{
    snprintf(self->last_error, sizeof self->last_error, "%s", why);
    if (self->ra.ac)
        redisAsyncFree(self->ra.ac); /* deferred by hiredis inside its callbacks */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    ratelimit_t *self = ac->data;
    if (status != REDIS_OK)
        snprintf(self->last_error, sizeof self->last_error, "connect: %s",
                 ac->errstr ? ac->errstr : "failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    ratelimit_t *self = ac->data;
    if (status != REDIS_OK && !self->last_error[0])
        snprintf(self->last_error, sizeof self->last_error, "%s",
                 ac->errstr ? ac->errstr : "disconnected");
}

static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ratelimit_t *self = ac->data;
    redisReply *reply = r;
    const char *step = privdata;
    if (!reply || self->state != RL_CONNECTING)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[128];
        snprintf(why, sizeof why, "%s: %.100s", step, reply->str);
        redis_drop(self, why);
        return;
    }
    if (strcmp(step, "SCRIPT LOAD") != 0)
        return;
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        redis_drop(self, "SCRIPT LOAD: unexpected reply");
        return;
    }
    memcpy(self->sha, reply->str, 40);
    self->sha[40] = '\0';
    self->state = RL_UP;
    self->stats.redis_up = true;
    self->backoff_ms = BACKOFF_MIN_MS;
    self->last_error[0] = '\0';
    self->error_logged = false;
    if (self->outage) {
        self->outage = false;
        log_info(NULL, "rate limiter: Redis available again, using Redis");
    }
}

static void redis_connect(ratelimit_t *self)
{
    self->last_error[0] = '\0';
    redisAsyncContext *ac = redisAsyncConnect(self->url.host, self->url.port);
    if (!ac || ac->err) {
        snprintf(self->last_error, sizeof self->last_error, "connect: %s",
                 ac && ac->errstr ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        self->ra.ac = NULL;
        on_redis_gone(self);
        return;
    }
    ac->data = self;
    redis_async_attach(&self->ra, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    self->state = RL_CONNECTING;
    int t = self->timeout_ms * 10;
    self->connect_deadline = clock_mono_ms() + (t < CONNECT_TIMEOUT_MIN_MS ? CONNECT_TIMEOUT_MIN_MS : t);

    /* Pipelined: AUTH and SELECT errors arrive before SCRIPT LOAD's reply
     * and drop the connection, so a success on SCRIPT LOAD means all passed. */
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
    redisAsyncCommand(ac, on_handshake_reply, "SCRIPT LOAD", "SCRIPT LOAD %s", LIMIT_SCRIPT);
}

/* ---- checks against Redis ---- */

static void on_check_reply(redisAsyncContext *ac, void *r, void *privdata);

static int send_check(ratelimit_t *self, uint64_t token, bool with_source)
{
    slot_t *s = slot_lookup(self, token);
    char key[IP_MAX + 8], max[16], window[24], member[48];
    snprintf(key, sizeof key, "rl:%s", s->ip);
    snprintf(max, sizeof max, "%d", self->max);
    snprintf(window, sizeof window, "%lld", (long long)self->window_ms);
    snprintf(member, sizeof member, "%s-%llx", self->member_prefix,
             (unsigned long long)++self->member_seq);
    const char *argv[] = {with_source ? "EVAL" : "EVALSHA", with_source ? LIMIT_SCRIPT : self->sha,
                          "1", key, max, window, member};
    return redisAsyncCommandArgv(self->ra.ac, on_check_reply, (void *)(uintptr_t)token, 7, argv,
                                 NULL) == REDIS_OK
               ? 0
               : -1;
}

static bool parse_check_reply(const redisReply *reply, ratelimit_t *self, ratelimit_result_t *res)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return false;
    long long wait = reply->element[3]->integer;
    res->allowed = reply->element[0]->integer == 1;
    res->limit = self->max;
    res->remaining = reply->element[1]->integer < 0 ? 0 : (int)reply->element[1]->integer;
    res->reset_s = (long)((reply->element[2]->integer + 999) / 1000);
    res->retry_after_s = res->allowed ? 0 : (int)((wait + 999) / 1000);
    if (!res->allowed && res->retry_after_s < 1)
        res->retry_after_s = 1;
    return true;
}

static void on_check_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ratelimit_t *self = ac->data;
    uint64_t token = (uint64_t)(uintptr_t)privdata;
    slot_t *s = slot_lookup(self, token);
    if (!s)
        return; /* answered locally after its deadline; Redis counted it anyway */
    redisReply *reply = r;
    if (!reply) { /* connection going away */
        slot_answer(self, s, NULL);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !s->retried && !(ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING))) {
        /* Redis restarted or SCRIPT FLUSH: EVAL re-caches it for EVALSHA. */
        s->retried = true;
        if (send_check(self, token, true) == 0)
            return;
    }
    ratelimit_result_t res;
    if (reply->type != REDIS_REPLY_ERROR && parse_check_reply(reply, self, &res)) {
        self->error_logged = false;
        slot_answer(self, s, &res);
        return;
    }
    self->stats.redis_errors++;
    if (!self->error_logged) {
        self->error_logged = true;
        log_warn(NULL, "rate limiter: Redis error, answering locally: %.200s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    }
    slot_answer(self, s, NULL);
}

/* ---- public API ---- */

ratelimit_t *ratelimit_new(const config_t *cfg)
{
    if (cfg->rate_limit_max < 0 || cfg->rate_limit_window < 1) {
        log_error(NULL, "rate limiter: ECOM_REDIS_RATE_LIMIT_MAX must be >= 0 and "
                        "ECOM_REDIS_RATE_LIMIT_WINDOW >= 1");
        return NULL;
    }
    ratelimit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->free_head = -1;
    self->enabled = cfg->rate_limit_max > 0;
    self->max = cfg->rate_limit_max;
    self->window_ms = (int64_t)cfg->rate_limit_window * 1000;
    self->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 100;
    self->backoff_ms = BACKOFF_MIN_MS;
    self->state = RL_OFF;
    if (!self->enabled)
        return self;

    self->local = localwin_new(self->max, self->window_ms, LOCAL_MAX_IPS);
    if (!self->local) {
        free(self);
        return NULL;
    }
    if (!cfg->redis_enabled)
        return self;

    char err[256];
    if (redis_url_parse(cfg->redis_url, &self->url, err, sizeof err) != 0) {
        log_error(NULL, "rate limiter: %s", err);
        ratelimit_destroy(&self);
        return NULL;
    }
    /* hiredis writes with write(2): a Redis that dies must not SIGPIPE us. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);

    uint8_t rnd[6];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) {
        uint64_t x = (uint64_t)clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)self;
        memcpy(rnd, &x, sizeof rnd);
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(self->member_prefix + 2 * i, 3, "%02x", rnd[i]);
    self->ra.on_cleanup = on_redis_gone;
    self->ra.arg = self;
    redis_connect(self);
    return self;
}

void ratelimit_destroy(ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ratelimit_t *self = *self_p;
    self->destroying = true;
    if (self->ra.ac)
        redisAsyncFree(self->ra.ac);
    localwin_destroy(&self->local);
    free(self->slots);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

bool ratelimit_enabled(ratelimit_t *self)
{
    return self && self->enabled;
}

int ratelimit_check(ratelimit_t *self, const char *ip, ratelimit_result_t *res, ratelimit_cb *cb,
                    void *arg)
{
    if (!self->enabled) {
        *res = (ratelimit_result_t){.allowed = true};
        return RATELIMIT_DONE;
    }
    if (self->state == RL_UP && self->ra.ac) {
        int32_t idx = slot_alloc(self);
        if (idx >= 0) {
            slot_t *s = &self->slots[idx];
            s->cb = cb;
            s->arg = arg;
            snprintf(s->ip, sizeof s->ip, "%s", ip);
            uint64_t token = slot_token(self, idx);
            if (send_check(self, token, false) == 0) {
                if (ring_push(self, token, clock_mono_ms() + self->timeout_ms) == 0)
                    return RATELIMIT_PENDING;
                /* No room to track its deadline: the reply may still come
                 * and is then ignored, since we answer now. */
            }
            slot_release(self, s);
        }
    }
    decide_local(self, ip, res);
    count_result(self, res);
    return RATELIMIT_DONE;
}

int ratelimit_pollitems(ratelimit_t *self, zmq_pollitem_t *items, int max)
{
    if (max < 1 || !self->enabled)
        return 0;
    return redis_async_pollitem(&self->ra, &items[0]);
}

void ratelimit_process(ratelimit_t *self, zmq_pollitem_t *items, int n)
{
    if (n >= 1 && items[0].revents)
        redis_async_handle(&self->ra, &items[0]);
}

long ratelimit_next_timeout_ms(ratelimit_t *self)
{
    int64_t at = INT64_MAX;
    switch (self->state) {
    case RL_DOWN:
        at = self->reconnect_at;
        break;
    case RL_CONNECTING:
        at = self->connect_deadline;
        break;
    default:
        break;
    }
    ring_purge(self);
    if (self->ring_len && self->ring[self->ring_head].deadline < at)
        at = self->ring[self->ring_head].deadline;
    if (at == INT64_MAX)
        return -1;
    int64_t now = clock_mono_ms();
    return at <= now ? 0 : (long)(at - now);
}

void ratelimit_timeout(ratelimit_t *self)
{
    int64_t now = clock_mono_ms();
    bool late = false;
    for (ring_purge(self); self->ring_len && self->ring[self->ring_head].deadline <= now;
         ring_purge(self)) {
        slot_t *s = slot_lookup(self, self->ring[self->ring_head].token);
        ring_pop(self);
        late = true;
        self->stats.redis_errors++; /* a timeout counts as an error */
        slot_answer(self, s, NULL);
    }
    if (late && self->state == RL_UP) {
        char why[64];
        snprintf(why, sizeof why, "no reply within %d ms", self->timeout_ms);
        redis_drop(self, why);
    }
    if (self->state == RL_CONNECTING && now >= self->connect_deadline)
        redis_drop(self, "connect/handshake timed out");
    if (self->state == RL_DOWN && now >= self->reconnect_at)
        redis_connect(self);
}

void ratelimit_stats(ratelimit_t *self, ratelimit_stats_t *out)
{
    *out = self->stats;
}
