/* Product reads from catalog-svc's cache, in the gateway (see gwcache.h).
 *
 * Lookups in flight sit in a ring in the order they were sent; they all
 * share one timeout, so the ring is also in deadline order. hiredis gets
 * the lookup's sequence number as privdata: a reply for a lookup already
 * answered (its deadline passed) finds it done and is dropped. */
#include "gwcache.h"

#include <ctype.h>
#include <hiredis/async.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_keys.h"
#include "cache_value.h"
#include "catalog_query.h"
#include "clock.h"
#include "log.h"
#include "redis_link.h"
#include "validate.h"

#define RING_MIN 64
#define FLUSH_MS 200 /* hit counts go to Redis at most this often */

typedef struct {
    uint64_t token;
    int64_t deadline;
    bool done;
    bool list; /* a list page, else a product */
} pending_t;

struct gwcache {
    redis_link_t link;
    gwcache_cb *cb;
    void *arg;
    int timeout_ms;
    char prefix[64];
    char pgen_key[96];
    char gen_key[96];
    char list_pfx[96]; /* {prefix}plist: */
    char stats_key[96];
    pending_t *ring; /* ring[seq & (cap - 1)] for head <= seq < tail */
    size_t cap;
    uint64_t head, tail;
    unsigned long unflushed, list_unflushed; /* hits not yet sent to Redis */
    int64_t flush_at;
    bool error_logged;
};

gwcache_t *gwcache_new(const config_t *cfg, gwcache_cb *cb, void *arg)
{
    if (!cfg->redis_enabled)
        return NULL;
    gwcache_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cb = cb;
    self->arg = arg;
    self->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 100;
    const char *prefix = getenv(CACHE_PREFIX_ENV);
    snprintf(self->prefix, sizeof self->prefix, "%s", prefix ? prefix : "");
    snprintf(self->pgen_key, sizeof self->pgen_key, CACHE_PRODUCT_GEN_KEY_FMT, self->prefix);
    snprintf(self->gen_key, sizeof self->gen_key, CACHE_LIST_GEN_KEY_FMT, self->prefix);
    snprintf(self->list_pfx, sizeof self->list_pfx, "%s" CACHE_LIST_NS ":", self->prefix);
    snprintf(self->stats_key, sizeof self->stats_key, CACHE_GW_STATS_KEY_FMT, self->prefix);
    char err[256];
    const char *url = cfg->cache_redis_url[0] ? cfg->cache_redis_url : cfg->redis_url;
    if (!redis_link_open(&self->link, url, self->timeout_ms, "read cache",
                         "forwarding product reads", CACHE_GEN_GET_LUA, self, err, sizeof err)) {
        log_error(NULL, "read cache: %s", err);
        free(self);
        return NULL;
    }
    return self;
}

void gwcache_destroy(gwcache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gwcache_t *self = *self_p;
    redis_link_close(&self->link); /* pending replies see link.destroying */
    free(self->ring);
    free(self);
    *self_p = NULL;
}

/* catalog_cache_gen_get's rule, on the {gen, value or nil} reply. */
static gwcache_rc_t classify_list(const redisReply *r, const char **json, size_t *len)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[1]->len == 0)
        return GWCACHE_MISS;
    *json = r->element[1]->str;
    *len = r->element[1]->len;
    return GWCACHE_HIT;
}

/* catalog_cache_product_get's rule, on the MGET {pgen, value} reply. */
static gwcache_rc_t classify(const redisReply *r, const char **json, size_t *len)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return GWCACHE_MISS;
    const redisReply *g = r->element[0], *v = r->element[1];
    if (v->type != REDIS_REPLY_STRING)
        return GWCACHE_MISS;
    uint64_t gen = g->type == REDIS_REPLY_STRING ? cache_parse_u64(g->str, g->len) : 0;
    switch (cache_product_value(v->str, v->len, gen, json, len)) {
    case CACHE_VALUE_FOUND:
        return GWCACHE_HIT;
    case CACHE_VALUE_NOT_FOUND:
        return GWCACHE_NOT_FOUND;
    default:
        return GWCACHE_MISS;
    }
}

static void pop_done(gwcache_t *self)
{
    while (self->head < self->tail && self->ring[self->head & (self->cap - 1)].done)
        self->head++;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    gwcache_t *self = ((redis_link_t *)ac->data)->owner;
    uint64_t seq = (uint64_t)(uintptr_t)privdata;
    if (self->link.destroying || seq < self->head || seq >= self->tail)
        return;
    pending_t *p = &self->ring[seq & (self->cap - 1)];
    if (p->done)
        return; /* answered at its deadline */
    p->done = true;
    uint64_t token = p->token;
    bool list = p->list;
    const redisReply *reply = r;
    const char *json = NULL;
    size_t len = 0;
    gwcache_rc_t rc = GWCACHE_MISS;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        if (!self->error_logged)
            log_warn(NULL, "read cache: Redis error, forwarding: %.200s", reply->str);
        self->error_logged = true;
        /* SCRIPT FLUSH: a new connection loads the script again. */
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0 && redis_link_up(&self->link))
            redis_link_drop(&self->link, "script not loaded");
    } else if (reply) {
        self->error_logged = false;
        rc = list ? classify_list(reply, &json, &len) : classify(reply, &json, &len);
    }
    if (rc != GWCACHE_MISS)
        (*(list ? &self->list_unflushed : &self->unflushed))++;
    pop_done(self);
    self->cb(self->arg, token, rc, json, len);
}

static int ring_push(gwcache_t *self, uint64_t token, bool list)
{
    if (self->tail - self->head == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : RING_MIN;
        pending_t *ring = malloc(cap * sizeof *ring);
        if (!ring)
            return -1;
        for (uint64_t seq = self->head; seq < self->tail; seq++)
            ring[seq & (cap - 1)] = self->ring[seq & (self->cap - 1)];
        free(self->ring);
        self->ring = ring;
        self->cap = cap;
    }
    self->ring[self->tail & (self->cap - 1)] =
        (pending_t){token, clock_mono_ms() + self->timeout_ms, false, list};
    self->tail++;
    return 0;
}

static int lookup_send(gwcache_t *self, uint64_t token, bool list, int argc, const char **argv)
{
    if (ring_push(self, token, list) != 0)
        return -1;
    uint64_t seq = self->tail - 1;
    if (redisAsyncCommandArgv(self->link.ra.ac, on_reply, (void *)(uintptr_t)seq, argc, argv,
                              NULL) != REDIS_OK) {
        self->tail--;
        return -1;
    }
    return 0;
}

int gwcache_product(gwcache_t *self, const char *id, uint64_t token)
{
    if (!redis_link_up(&self->link) || strlen(id) != 36 || !v_is_uuid(id))
        return -1;
    char key[160];
    int n = snprintf(key, sizeof key, CACHE_PRODUCT_KEY_FMT, self->prefix, id);
    if (n < 0 || (size_t)n >= sizeof key)
        return -1;
    for (char *c = key + n - 36; *c; c++) /* catalog-svc keys by the lower-case id */
        *c = (char)tolower((unsigned char)*c);
    const char *argv[] = {"MGET", self->pgen_key, key};
    return lookup_send(self, token, false, 3, argv);
}

int gwcache_list(gwcache_t *self, const query_kv_t *kv, int n, uint64_t token)
{
    if (!redis_link_up(&self->link))
        return -1;
    /* The object catalog-svc gets (the last of a repeated key wins). */
    json_t *query = json_object();
    for (int i = 0; query && i < n; i++)
        if (json_object_set_new(query, kv[i].key, json_string(kv[i].val)) != 0) {
            json_decref(query);
            query = NULL;
        }
    json_t *errs = json_array();
    catalog_list_query_t q;
    char key[2048];
    bool ok = query && errs && catalog_list_query_parse(query, &q, errs) &&
              catalog_list_query_key(&q, key, sizeof key) >= 0;
    json_decref(errs);
    json_decref(query);
    if (!ok)
        return -1;
    const char *argv[] = {"EVALSHA", self->link.sha, "1", self->gen_key, self->list_pfx, key};
    return lookup_send(self, token, true, 6, argv);
}

/* Sends the hit count when it is due; a count lost with the connection is
 * a few hits missing from cache.stats, never a wrong answer. */
static void flush_hits(gwcache_t *self, int64_t now)
{
    if (!(self->unflushed || self->list_unflushed) || now < self->flush_at ||
        !redis_link_up(&self->link))
        return;
    char n[24], ln[24];
    snprintf(n, sizeof n, "%lu", self->unflushed);
    snprintf(ln, sizeof ln, "%lu", self->list_unflushed);
    const char *argv[] = {"HINCRBY", self->stats_key, "hits", n};
    const char *largv[] = {"HINCRBY", self->stats_key, "list_hits", ln};
    if (self->unflushed &&
        redisAsyncCommandArgv(self->link.ra.ac, NULL, NULL, 4, argv, NULL) == REDIS_OK)
        self->unflushed = 0;
    if (self->list_unflushed &&
        redisAsyncCommandArgv(self->link.ra.ac, NULL, NULL, 4, largv, NULL) == REDIS_OK)
        self->list_unflushed = 0;
    self->flush_at = now + FLUSH_MS;
}

int gwcache_pollitems(gwcache_t *self, zmq_pollitem_t *items, int max)
{
    flush_hits(self, clock_mono_ms());
    /* What this pass queued goes out now, in one write, not after a poll. */
    if (self->link.ra.ac && self->link.ra.writing && self->link.state == LINK_UP)
        redisAsyncHandleWrite(self->link.ra.ac);
    if (max < 1)
        return 0;
    return redis_async_pollitem(&self->link.ra, &items[0]);
}

void gwcache_process(gwcache_t *self, zmq_pollitem_t *items, int n)
{
    if (n >= 1 && items[0].revents)
        redis_async_handle(&self->link.ra, &items[0]);
}

long gwcache_next_timeout_ms(gwcache_t *self)
{
    pop_done(self);
    int64_t at = redis_link_deadline(&self->link);
    if (self->head < self->tail && self->ring[self->head & (self->cap - 1)].deadline < at)
        at = self->ring[self->head & (self->cap - 1)].deadline;
    /* Counts wait for the connection: no timer for them while it is down,
     * or the loop would spin until the reconnect. */
    if ((self->unflushed || self->list_unflushed) && redis_link_up(&self->link) &&
        self->flush_at < at)
        at = self->flush_at;
    if (at == INT64_MAX)
        return -1;
    int64_t now = clock_mono_ms();
    return at <= now ? 0 : (long)(at - now);
}

void gwcache_timeout(gwcache_t *self)
{
    int64_t now = clock_mono_ms();
    bool late = false;
    for (pop_done(self); self->head < self->tail; pop_done(self)) {
        pending_t *p = &self->ring[self->head & (self->cap - 1)];
        if (p->deadline > now)
            break;
        p->done = true;
        uint64_t token = p->token;
        late = true;
        self->head++;
        self->cb(self->arg, token, GWCACHE_MISS, NULL, 0);
    }
    if (late && redis_link_up(&self->link)) {
        char why[64];
        snprintf(why, sizeof why, "no reply within %d ms", self->timeout_ms);
        redis_link_drop(&self->link, why);
    }
    redis_link_timeout(&self->link, now);
}
