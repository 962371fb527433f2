/* Per-IP sliding-window rate limiting: Redis first, local window when Redis
 * is down or slow (see ratelimit.h, DESIGN §8).
 *
 * The connection is a redis_link (OFF with ECOM_REDIS_ENABLED=false: local
 * only); checks go to Redis while it is UP.
 *
 * While UP, checks are grouped by IP into batches (see "batches by IP"):
 * one EVALSHA per IP in flight, sent when the loop is about to poll
 * (ratelimit_pollitems), all of a pass written with one write(2). A batch
 * has a deadline; hiredis gets only (head slot, generation) as privdata, so
 * a reply that arrives after we answered locally finds a different
 * generation and is dropped. */
#include "ratelimit.h"

#include <hiredis/async.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "localwin.h"
#include "log.h"
#include "redis_link.h"

_Static_assert(sizeof(void *) >= sizeof(uint64_t), "slot tokens are passed as pointers");

#define LOCAL_MAX_IPS 100000
#define IP_MAX 48
/* A busy IP (its last batch carried more than one check) sends at most one
 * batch per HOLD_US: at thousands of requests a second from one address,
 * each Redis round trip then answers half a millisecond of checks instead
 * of two or three, for at most 0.5 ms of wait. An IP that sends one request
 * at a time never waits. Measured (one IP, wrk -c100, a cached product
 * answered by the gateway, limiting on vs off, medians of 3 interleaved
 * rounds): no hold 43.7k vs 43.3k req/s (noisy: Redis CPU per request
 * doubles), 0.5 ms 50.3k vs 59.4k, 2 ms 31.3k vs 54.5k (the wait itself
 * then bounds a closed loop). When a hit still crossed the broker and
 * catalog-svc, 2 ms was best; the request got cheaper, the hold shorter. */
#define HOLD_US 500

/* The sliding log, on Redis's clock so replicas with skewed clocks share one
 * timeline. KEYS[1] is a list of (ms, n) pairs in arrival order: n requests
 * were admitted at ms. KEYS[2] is a hash: n, the sum of the pairs (the
 * count in the window), and x, when the keys' expiry was last pushed back.
 * ARGV: max, window ms, requests asking now (one loop pass of one IP).
 * Returns {admitted, count before, reset_unix_ms, ms_until_reset}.
 *
 * A pair per batch instead of a sorted-set member per request: the log of
 * a busy IP used to hold every request of its window (400k members at
 * 7k req/s over 60 s) and ZADD/ZREMRANGEBYSCORE on it cost more than the
 * request they guarded. Pushes and pops at the ends of a list are O(1) and
 * the answer is the same to the millisecond: a pair leaves the window
 * exactly when its requests would have.
 * Each redis.call costs a microsecond or so on the one Redis thread, so the
 * common path makes five (TIME HMGET LINDEX RPUSH HINCRBY): the expiry is
 * pushed back at most once a second, to window + 2 s, which outlives every
 * pair pushed in that second. If one key expired before the other, the
 * log is dropped or the count rebuilt, never undercounted for long.
 * Needs Redis >= 6.2 (LPOP with a count). */
static const char LIMIT_SCRIPT[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local log, cnt = KEYS[1], KEYS[2]\n"
    "local max, window, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local c = redis.call('HMGET', cnt, 'n', 'x')\n"
    "local total, refreshed = tonumber(c[1]), tonumber(c[2])\n"
    "if not total then\n"
    "  redis.call('UNLINK', log)\n"
    "  total = 0\n"
    "end\n"
    "local oldest = total > 0 and tonumber(redis.call('LINDEX', log, 0))\n"
    "local gone = 0\n"
    "while oldest and oldest <= now - window do\n"
    "  local pair = redis.call('LPOP', log, 2)\n"
    "  gone = gone + (tonumber(pair[2]) or 0)\n"
    "  oldest = tonumber(redis.call('LINDEX', log, 0))\n"
    "end\n"
    "if not oldest then gone = total end\n"
    "total = total - gone\n"
    "if total < 0 then gone = gone + total total = 0 end\n"
    "local admit = max - total\n"
    "if admit > want then admit = want end\n"
    "if admit < 0 then admit = 0 end\n"
    "if admit > 0 then\n"
    "  redis.call('RPUSH', log, now, admit)\n"
    "  oldest = oldest or now\n"
    "end\n"
    "if admit ~= gone then redis.call('HINCRBY', cnt, 'n', admit - gone) end\n"
    "if admit > 0 and (not refreshed or now - refreshed >= 1000) then\n"
    "  redis.call('HSET', cnt, 'x', now)\n"
    "  redis.call('PEXPIRE', log, window + 2000)\n"
    "  redis.call('PEXPIRE', cnt, window + 2000)\n"
    "end\n"
    "local reset = (oldest or now) + window\n"
    "return {admit, total, reset, reset - now}\n";

/* A request waiting for Redis. The checks one IP makes in one loop pass form
 * a batch: a chain of slots from its head, answered by one EVALSHA in
 * arrival order as if each had been its own command. The head's token
 * names the batch (reply privdata, deadline); every slot of a batch stays
 * busy until the batch is answered. */
typedef struct {
    uint32_t gen;
    bool busy;
    int32_t next_free;
    int32_t next; /* next check of the batch, -1 at the tail */
    ratelimit_cb *cb;
    void *arg;
    /* head only */
    bool sent;
    bool retried; /* already re-sent with EVAL after NOSCRIPT */
    int32_t tail;
    uint32_t n;
    char ip[IP_MAX];
} slot_t;

typedef struct {
    uint64_t token;
    int64_t deadline;
} deadline_t;

/* Tokens of an IP's batches (0: none; generations start at 1). */
typedef struct {
    uint64_t flying; /* sent, waiting for Redis */
    uint64_t open;   /* not sent yet: checks join it */
    int64_t sent_us; /* when the last batch went */
    uint32_t sent_n; /* and how many checks it carried */
} ipq_t;

/* What Redis said for a batch (see LIMIT_SCRIPT). */
typedef struct {
    long long admitted, count_before, reset_ms, wait_ms;
} batch_reply_t;

struct ratelimit {
    bool enabled;
    int max;
    int64_t window_ms;
    int timeout_ms;
    int64_t hold_us; /* HOLD_US, or less with a very short timeout_ms */
    localwin_t *local;

    redis_link_t link;  /* state LINK_OFF when Redis is not configured */
    bool error_logged;  /* an error reply was logged since the last success */

    slot_t *slots;
    uint32_t nslots;
    int32_t free_head;
    /* Deadlines in check order (all share one timeout, so the ring is
     * sorted); entries for batches already answered are skipped lazily. */
    deadline_t *ring;
    size_t ring_cap, ring_head, ring_len;
    /* Per IP: the batch in flight and the one filling up behind it, in an
     * open-addressing table (linear probing; an entry whose batches are
     * both answered is a tombstone, reused by inserts, dropped by rebuilds). */
    ipq_t *ipq;
    size_t ipq_cap, ipq_used; /* cap: a power of two; used: non-empty cells */
    /* Open batches that may go now (their IP has none in flight). */
    uint64_t *ready;
    size_t nready, ready_cap;

    ratelimit_stats_t stats;
};

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
    s->next = -1;
    s->sent = s->retried = false;
    s->tail = idx;
    s->n = 1;
    return idx;
}

static void slot_release(ratelimit_t *self, int32_t idx)
{
    slot_t *s = &self->slots[idx];
    s->busy = false;
    s->gen++;
    s->cb = NULL;
    s->arg = NULL;
    s->next_free = self->free_head;
    self->free_head = idx;
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

/* ---- batches by IP ----
 * One command per IP in flight at a time: checks that arrive meanwhile
 * join the IP's open batch, which goes when the reply comes (and, for a
 * busy IP, HOLD_US after the last one went). An idle IP's check goes at the
 * end of the pass it arrived in, so a quiet gateway adds no wait, and a
 * busy one sends fewer, fuller batches instead of more commands: on this
 * kind of machine a round trip costs Redis more than the script it runs. */

static size_t ip_hash(const char *ip)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)ip; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* The IP of a cell, from whichever of its batches is live, or NULL. */
static const char *ipq_ip(ratelimit_t *self, const ipq_t *q)
{
    slot_t *s = slot_lookup(self, q->flying);
    if (!s)
        s = slot_lookup(self, q->open);
    return s ? s->ip : NULL;
}

static ipq_t *ipq_find(ratelimit_t *self, const char *ip)
{
    if (!self->ipq_cap)
        return NULL;
    size_t mask = self->ipq_cap - 1;
    for (size_t i = ip_hash(ip) & mask; self->ipq[i].flying || self->ipq[i].open;
         i = (i + 1) & mask) {
        const char *cell_ip = ipq_ip(self, &self->ipq[i]);
        if (cell_ip && strcmp(cell_ip, ip) == 0)
            return &self->ipq[i];
    }
    return NULL;
}

/* Rebuilds the table at twice the live entries (at least 64 cells). */
static int ipq_rebuild(ratelimit_t *self, size_t live_extra)
{
    size_t live = live_extra;
    for (size_t i = 0; i < self->ipq_cap; i++)
        live += ipq_ip(self, &self->ipq[i]) != NULL;
    size_t cap = 64;
    while (cap < 4 * live)
        cap *= 2;
    ipq_t *nt = calloc(cap, sizeof *nt);
    if (!nt)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < self->ipq_cap; i++) {
        const char *ip = ipq_ip(self, &self->ipq[i]);
        if (!ip)
            continue;
        size_t j = ip_hash(ip) & (cap - 1);
        while (nt[j].flying || nt[j].open)
            j = (j + 1) & (cap - 1);
        nt[j] = self->ipq[i];
        used++;
    }
    free(self->ipq);
    self->ipq = nt;
    self->ipq_cap = cap;
    self->ipq_used = used;
    return 0;
}

/* A cell for ip, which ipq_find did not find (a tombstone or a new cell). */
static ipq_t *ipq_insert(ratelimit_t *self, const char *ip)
{
    if ((self->ipq_used + 1) * 2 > self->ipq_cap && ipq_rebuild(self, 1) != 0)
        return NULL;
    size_t mask = self->ipq_cap - 1;
    size_t i = ip_hash(ip) & mask;
    while ((self->ipq[i].flying || self->ipq[i].open) && ipq_ip(self, &self->ipq[i]))
        i = (i + 1) & mask;
    if (!self->ipq[i].flying && !self->ipq[i].open)
        self->ipq_used++;
    /* A tombstone keeps its dead tokens (see batch_landed), not the pace
     * of the IP it belonged to. */
    self->ipq[i].sent_us = 0;
    self->ipq[i].sent_n = 0;
    return &self->ipq[i];
}

static int ready_push(ratelimit_t *self, uint64_t token)
{
    if (self->nready == self->ready_cap) {
        size_t n = self->ready_cap ? self->ready_cap * 2 : 64;
        uint64_t *nr = realloc(self->ready, n * sizeof *nr);
        if (!nr)
            return -1;
        self->ready = nr;
        self->ready_cap = n;
    }
    self->ready[self->nready++] = token;
    return 0;
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

static void batch_answer(ratelimit_t *self, int32_t idx, const batch_reply_t *rep);

/* The IP's batch in flight is done: the open one may go. */
static void batch_landed(ratelimit_t *self, slot_t *head, uint64_t token)
{
    ipq_t *q = ipq_find(self, head->ip);
    if (!q || q->flying != token)
        return;
    /* q->flying stays: a cell with only answered batches is a tombstone,
     * an empty one would cut the probe chains through it. */
    if (slot_lookup(self, q->open) && ready_push(self, q->open) != 0)
        batch_answer(self, (int32_t)(uint32_t)q->open, NULL);
}

/* Answers every check of the batch at idx exactly once, in arrival order,
 * from Redis's reply or (rep NULL) from the local window. Each slot is
 * released before its callback, which may start new checks. */
static void batch_answer(ratelimit_t *self, int32_t idx, const batch_reply_t *rep)
{
    char ip[IP_MAX];
    memcpy(ip, self->slots[idx].ip, sizeof ip);
    batch_landed(self, &self->slots[idx], slot_token(self, idx));
    for (long long i = 0; idx >= 0; i++) {
        slot_t *s = &self->slots[idx];
        int32_t next = s->next;
        ratelimit_cb *cb = s->cb;
        void *arg = s->arg;
        slot_release(self, idx);
        idx = next;
        ratelimit_result_t res;
        if (rep) {
            bool ok = i < rep->admitted;
            long long used = rep->count_before + (ok ? i + 1 : rep->admitted);
            res.allowed = ok;
            res.limit = self->max;
            res.remaining = used >= self->max ? 0 : (int)(self->max - used);
            res.reset_s = (long)((rep->reset_ms + 999) / 1000);
            res.retry_after_s = ok ? 0 : (int)((rep->wait_ms + 999) / 1000);
            if (!ok && res.retry_after_s < 1)
                res.retry_after_s = 1;
            if (ok) /* keeps the fallback warm for an outage */
                localwin_record(self->local, ip, clock_mono_ms());
        } else {
            decide_local(self, ip, &res);
        }
        if (self->link.destroying)
            continue; /* the loop is going away: nobody to answer */
        count_result(self, &res);
        cb(arg, &res);
    }
}

/* ---- checks against Redis ---- */

static void on_batch_reply(redisAsyncContext *ac, void *r, void *privdata);

static int send_batch(ratelimit_t *self, uint64_t token, bool with_source)
{
    slot_t *s = slot_lookup(self, token);
    char log_key[IP_MAX + 8], count_key[IP_MAX + 8], max[16], window[24], n[16];
    snprintf(log_key, sizeof log_key, "rl:%s", s->ip);
    snprintf(count_key, sizeof count_key, "rl:%s:n", s->ip);
    snprintf(max, sizeof max, "%d", self->max);
    snprintf(window, sizeof window, "%lld", (long long)self->window_ms);
    snprintf(n, sizeof n, "%u", s->n);
    const char *argv[] = {with_source ? "EVAL" : "EVALSHA", with_source ? LIMIT_SCRIPT : self->link.sha,
                          "2", log_key, count_key, max, window, n};
    return redisAsyncCommandArgv(self->link.ra.ac, on_batch_reply, (void *)(uintptr_t)token, 8, argv,
                                 NULL) == REDIS_OK
               ? 0
               : -1;
}

static bool parse_batch_reply(const redisReply *reply, batch_reply_t *out)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return false;
    out->admitted = reply->element[0]->integer;
    out->count_before = reply->element[1]->integer;
    out->reset_ms = reply->element[2]->integer;
    out->wait_ms = reply->element[3]->integer;
    return true;
}

static void on_batch_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ratelimit_t *self = ((redis_link_t *)ac->data)->owner;
    uint64_t token = (uint64_t)(uintptr_t)privdata;
    slot_t *head = slot_lookup(self, token);
    if (!head)
        return; /* answered locally after its deadline; Redis counted it anyway */
    int32_t idx = (int32_t)(uint32_t)token;
    redisReply *reply = r;

    if (!reply) { /* connection going away */
        batch_answer(self, idx, NULL);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !head->retried && !(ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING))) {
        /* Redis restarted or SCRIPT FLUSH: EVAL re-caches it for EVALSHA. */
        head->retried = true;
        if (send_batch(self, token, true) == 0)
            return;
    }
    batch_reply_t rep;
    if (reply->type != REDIS_REPLY_ERROR && parse_batch_reply(reply, &rep)) {
        self->error_logged = false;
        batch_answer(self, idx, &rep);
        return;
    }
    self->stats.redis_errors++;
    if (!self->error_logged) {
        self->error_logged = true;
        log_warn(NULL, "rate limiter: Redis error, answering locally: %.200s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    }
    batch_answer(self, idx, NULL);
}

/* Sends the batches that may go, and writes them at once rather than after
 * another poll. A busy IP's batch that must wait stays in the list. */
static void flush_ready(ratelimit_t *self)
{
    int64_t now = clock_mono_us();
    size_t keep = 0;
    for (size_t i = 0; i < self->nready; i++) {
        uint64_t token = self->ready[i];
        slot_t *head = slot_lookup(self, token);
        if (!head || head->sent)
            continue; /* answered at its deadline, or already sent */
        ipq_t *q = ipq_find(self, head->ip);
        if (q && slot_lookup(self, q->flying))
            continue; /* goes when that one lands */
        if (q && q->sent_n > 1 && now - q->sent_us < self->hold_us &&
            redis_link_up(&self->link)) {
            self->ready[keep++] = token;
            continue;
        }
        head->sent = true;
        if (q && q->open == token) {
            q->open = 0;
            q->flying = token;
            q->sent_us = now;
            q->sent_n = head->n;
        }
        if (!redis_link_up(&self->link) || send_batch(self, token, false) != 0)
            batch_answer(self, (int32_t)(uint32_t)token, NULL);
    }
    self->nready = keep;
    if (self->link.ra.ac && self->link.ra.writing)
        redisAsyncHandleWrite(self->link.ra.ac);
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
    /* A held batch's deadline runs while it waits: keep the wait a small
     * part of the timeout. */
    self->hold_us = (int64_t)self->timeout_ms * 1000 / 4;
    if (self->hold_us > HOLD_US)
        self->hold_us = HOLD_US;
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
    if (!redis_link_open(&self->link, cfg->redis_url, self->timeout_ms, "rate limiter",
                         "using local window", LIMIT_SCRIPT, self, err, sizeof err)) {
        log_error(NULL, "rate limiter: %s", err);
        ratelimit_destroy(&self);
        return NULL;
    }
    return self;
}

void ratelimit_destroy(ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ratelimit_t *self = *self_p;
    redis_link_close(&self->link);
    localwin_destroy(&self->local);
    free(self->slots);
    free(self->ring);
    free(self->ipq);
    free(self->ready);
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
    if (redis_link_up(&self->link) && strlen(ip) < IP_MAX) {
        ipq_t *q = ipq_find(self, ip);
        slot_t *open = q ? slot_lookup(self, q->open) : NULL;
        int32_t oidx = open ? (int32_t)(open - self->slots) : -1;
        int32_t idx = slot_alloc(self); /* may move the slots */
        if (idx >= 0) {
            slot_t *s = &self->slots[idx];
            s->cb = cb;
            s->arg = arg;
            if (oidx >= 0) {
                open = &self->slots[oidx];
                self->slots[open->tail].next = idx;
                open->tail = idx;
                open->n++;
                return RATELIMIT_PENDING;
            }
            memcpy(s->ip, ip, strlen(ip) + 1);
            uint64_t token = slot_token(self, idx);
            if (!q)
                q = ipq_insert(self, ip); /* may rebuild the table */
            bool idle = q && !slot_lookup(self, q->flying);
            if (q && ring_push(self, token, clock_mono_ms() + self->timeout_ms) == 0) {
                if (!idle || ready_push(self, token) == 0) {
                    q->open = token;
                    return RATELIMIT_PENDING;
                }
                self->ring_len--; /* the entry just pushed */
            }
            slot_release(self, idx);
        }
    }
    decide_local(self, ip, res);
    count_result(self, res);
    return RATELIMIT_DONE;
}

int ratelimit_pollitems(ratelimit_t *self, zmq_pollitem_t *items, int max)
{
    if (!self->enabled)
        return 0;
    flush_ready(self);
    if (max < 1)
        return 0;
    return redis_async_pollitem(&self->link.ra, &items[0]);
}

void ratelimit_process(ratelimit_t *self, zmq_pollitem_t *items, int n)
{
    if (n >= 1 && items[0].revents)
        redis_async_handle(&self->link.ra, &items[0]);
}

long ratelimit_next_timeout_ms(ratelimit_t *self)
{
    int64_t at = redis_link_deadline(&self->link);
    ring_purge(self);
    if (self->ring_len && self->ring[self->ring_head].deadline < at)
        at = self->ring[self->ring_head].deadline;
    int64_t now = clock_mono_ms();
    if (self->nready && now + 1 < at)
        at = now + 1; /* a held batch goes within HOLD_US */
    if (at == INT64_MAX)
        return -1;
    return at <= now ? 0 : (long)(at - now);
}

void ratelimit_timeout(ratelimit_t *self)
{
    int64_t now = clock_mono_ms();
    bool late = false;
    for (ring_purge(self); self->ring_len && self->ring[self->ring_head].deadline <= now;
         ring_purge(self)) {
        int32_t idx = (int32_t)(uint32_t)self->ring[self->ring_head].token;
        ring_pop(self);
        late = true;
        self->stats.redis_errors++; /* a timeout counts as an error */
        batch_answer(self, idx, NULL);
    }
    if (late && redis_link_up(&self->link)) {
        char why[64];
        snprintf(why, sizeof why, "no reply within %d ms", self->timeout_ms);
        redis_link_drop(&self->link, why);
    }
    redis_link_timeout(&self->link, now);
}

void ratelimit_stats(ratelimit_t *self, ratelimit_stats_t *out)
{
    *out = self->stats;
    out->redis_up = redis_link_up(&self->link);
}
