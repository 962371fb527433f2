/* catalog_cache: Redis cache-aside with per-thread connections and backoff
 * (see catalog_cache.h for the key layout and the rules). */
#include "catalog_cache.h"
#include "cache_keys.h"
#include "cache_value.h"
#include "redis_sync.h"
#include "redis_url.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define RETRY_MS 1000    /* a thread retries a dead Redis at most once a second */
#define NEGATIVE_TTL_S 5 /* cached 404s */
#define MAX_KEY 1200

struct catalog_cache {
    bool enabled;
    redis_url_t url;
    int timeout_ms;
    int ttl_s;
    char prefix[64];
    char gen_key[96];  /* {prefix}catalog:gen */
    char pgen_key[96]; /* {prefix}catalog:pgen */
    pthread_key_t tkey;
    atomic_bool available;
    atomic_bool need_flush; /* an invalidation was lost: bump generations first */
    atomic_uint_fast64_t epoch;
    atomic_long hits, misses;           /* product detail reads (cache.stats) */
    atomic_long list_hits, list_misses; /* list pages and categories */
};

typedef struct {
    redisContext *c;
    int64_t retry_at;
    unsigned seed;
} tconn_t;

/* KEYS[1] product key, KEYS[2] pgen key; ARGV[1] pgen read before the
 * database query ("" = writer: use the current one), ARGV[2] version,
 * ARGV[3] json, ARGV[4] ttl. A value read under an older pgen is dropped;
 * a stored value of the same pgen and a newer version is kept. */
static const char product_set_lua[] =
    "local g = redis.call('GET', KEYS[2]) or '0' "
    "if ARGV[1] ~= '' and ARGV[1] ~= g then return 0 end "
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur then "
    "  local cg, cv = string.match(cur, '^(%d+):(%d+):') "
    "  if cg == g and tonumber(cv) > tonumber(ARGV[2]) then return 0 end "
    "end "
    "redis.call('SET', KEYS[1], g .. ':' .. ARGV[2] .. ':' .. ARGV[3], 'EX', ARGV[4]) "
    "return 1";

static void tconn_free(void *p)
{
    tconn_t *t = p;
    if (t->c)
        redisFree(t->c);
    free(t);
}


catalog_cache_t *catalog_cache_new(const config_t *cfg)
{
    catalog_cache_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->enabled = cfg->redis_enabled;
    self->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 100;
    self->ttl_s = cfg->redis_cache_ttl > 0 ? cfg->redis_cache_ttl : 300;
    const char *prefix = getenv(CACHE_PREFIX_ENV);
    snprintf(self->prefix, sizeof self->prefix, "%s", prefix ? prefix : "");
    snprintf(self->gen_key, sizeof self->gen_key, CACHE_LIST_GEN_KEY_FMT, self->prefix);
    snprintf(self->pgen_key, sizeof self->pgen_key, CACHE_PRODUCT_GEN_KEY_FMT, self->prefix);
    char err[160];
    if (self->enabled &&
        redis_url_parse(cfg->redis_url, &self->url, err, sizeof err) != 0) {
        log_error(NULL, "%s; cache disabled", err);
        self->enabled = false;
    }
    pthread_key_create(&self->tkey, tconn_free);
    return self;
}

void catalog_cache_destroy(catalog_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    catalog_cache_t *self = *self_p;
    /* The calling thread's connection; worker threads freed theirs on exit. */
    tconn_t *t = pthread_getspecific(self->tkey);
    if (t) {
        pthread_setspecific(self->tkey, NULL);
        tconn_free(t);
    }
    pthread_key_delete(self->tkey);
    free(self);
    *self_p = NULL;
}

bool catalog_cache_enabled(catalog_cache_t *self)
{
    return self->enabled;
}

static tconn_t *tconn(catalog_cache_t *self)
{
    tconn_t *t = pthread_getspecific(self->tkey);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            return NULL;
        t->seed = (unsigned)clock_wall_ms() ^ (unsigned)(uintptr_t)t;
        pthread_setspecific(self->tkey, t);
    }
    return t;
}

static void conn_drop(catalog_cache_t *self, tconn_t *t, const char *why)
{
    if (t->c) {
        log_warn(NULL, "redis: %s: %s; retrying in %d ms", why, t->c->err ? t->c->errstr : "error",
                 RETRY_MS);
        redisFree(t->c);
        t->c = NULL;
    }
    t->retry_at = clock_mono_ms() + RETRY_MS;
    atomic_store(&self->available, false);
}

static bool reply_ok(redisReply *r)
{
    return r && r->type != REDIS_REPLY_ERROR;
}

/* Bumps both generations on c. 0 or -1 (connection failed). */
static int flush_on(redisContext *c, const catalog_cache_t *self)
{
    const char *a1[] = {"INCR", self->gen_key};
    const char *a2[] = {"INCR", self->pgen_key};
    if (redisAppendCommandArgv(c, 2, a1, NULL) != REDIS_OK ||
        redisAppendCommandArgv(c, 2, a2, NULL) != REDIS_OK)
        return -1;
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK)
            return -1;
        if (!reply_ok(r))
            rc = -1;
        freeReplyObject(r);
    }
    return rc;
}

/* This thread's connection, connecting if the backoff allows; NULL when
 * the cache is disabled or Redis is unreachable. */
static redisContext *conn_get(catalog_cache_t *self, tconn_t **tp)
{
    if (!self->enabled)
        return NULL;
    tconn_t *t = tconn(self);
    *tp = t;
    if (!t)
        return NULL;
    if (!t->c) {
        if (clock_mono_ms() < t->retry_at)
            return NULL;
        char err[320];
        redis_sync_rc_t rc =
            redis_sync_connect(&self->url, self->timeout_ms, &t->c, err, sizeof err);
        if (rc != REDIS_SYNC_OK) {
            /* An unreachable Redis is logged when it goes away, not once a
             * second per thread; a refused AUTH or SELECT (misconfiguration)
             * is logged on every attempt. */
            if (rc == REDIS_SYNC_REJECTED)
                log_warn(NULL, "redis: %s; retrying in %d ms", err, RETRY_MS);
            else if (atomic_load(&self->available) || t->retry_at == 0)
                log_warn(NULL, "redis: %s", err);
            t->retry_at = clock_mono_ms() + RETRY_MS;
            atomic_store(&self->available, false);
            return NULL;
        }
        if (!atomic_load(&self->available))
            log_info(NULL, "redis: connected to %s:%d/%d", self->url.host, self->url.port, self->url.db);
    }
    if (atomic_load(&self->need_flush)) {
        if (flush_on(t->c, self) != 0) {
            conn_drop(self, t, "flush failed");
            return NULL;
        }
        atomic_store(&self->need_flush, false);
        atomic_fetch_add(&self->epoch, 1);
        log_info(NULL, "redis: generations bumped after a lost invalidation");
    }
    atomic_store(&self->available, true);
    return t->c;
}

/* Sends n commands in one round trip. replies[i] receive the replies
 * (caller frees). -1 when Redis is unavailable (replies all NULL). */
typedef struct {
    int argc;
    const char **argv;
    const size_t *lens;
} cmd_t;

static int pipeline(catalog_cache_t *self, int n, const cmd_t *cmds, redisReply **replies)
{
    for (int i = 0; i < n; i++)
        replies[i] = NULL;
    tconn_t *t = NULL;
    redisContext *c = conn_get(self, &t);
    if (!c)
        return -1;
    for (int i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv, cmds[i].lens) != REDIS_OK) {
            conn_drop(self, t, "append failed");
            return -1;
        }
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK) {
            for (int j = 0; j < i; j++) {
                freeReplyObject(replies[j]);
                replies[j] = NULL;
            }
            conn_drop(self, t, "command failed");
            return -1;
        }
        replies[i] = r;
    }
    return 0;
}

static int ttl_jitter(catalog_cache_t *self, int ttl)
{
    tconn_t *t = tconn(self);
    unsigned seed = t ? t->seed : 1;
    int span = ttl / 5; /* ±10% */
    int out = ttl;
    if (span > 0)
        out = ttl - span / 2 + (int)(rand_r(&seed) % (unsigned)(span + 1));
    if (t)
        t->seed = seed;
    return out > 0 ? out : 1;
}

static void count(catalog_cache_t *self, bool hit)
{
    atomic_fetch_add(hit ? &self->hits : &self->misses, 1);
}

/* Lists are counted apart: every stock change bumps their generation by
 * design, so mixing them in would hide how well product reads are served. */
static void count_list(catalog_cache_t *self, bool hit)
{
    atomic_fetch_add(hit ? &self->list_hits : &self->list_misses, 1);
}

catalog_cache_rc_t catalog_cache_product_get(catalog_cache_t *self, const char *id, char **json,
                                             uint64_t *gen)
{
    *json = NULL;
    *gen = 0;
    if (!self->enabled)
        return CATALOG_CACHE_DOWN;
    char key[MAX_KEY];
    snprintf(key, sizeof key, CACHE_PRODUCT_KEY_FMT, self->prefix, id);
    const char *argv[] = {"MGET", self->pgen_key, key};
    cmd_t cmd = {3, argv, NULL};
    redisReply *r;
    if (pipeline(self, 1, &cmd, &r) != 0) {
        count(self, false);
        return CATALOG_CACHE_DOWN;
    }
    catalog_cache_rc_t rc = CATALOG_CACHE_MISS;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        redisReply *g = r->element[0], *v = r->element[1];
        *gen = g->type == REDIS_REPLY_STRING ? cache_parse_u64(g->str, g->len) : 0;
        const char *body;
        size_t len;
        cache_value_t cv = v->type == REDIS_REPLY_STRING
                               ? cache_product_value(v->str, v->len, *gen, &body, &len)
                               : CACHE_VALUE_STALE;
        if (cv == CACHE_VALUE_NOT_FOUND)
            rc = CATALOG_CACHE_NEGATIVE;
        else if (cv == CACHE_VALUE_FOUND && (*json = strndup(body, len)))
            rc = CATALOG_CACHE_HIT;
    } else {
        rc = CATALOG_CACHE_DOWN;
    }
    freeReplyObject(r);
    count(self, rc == CATALOG_CACHE_HIT || rc == CATALOG_CACHE_NEGATIVE);
    return rc;
}

static void product_set(catalog_cache_t *self, const char *id, const char *gen, long version,
                        const char *json, bool bump_lists)
{
    char key[MAX_KEY], ver[24], ttl[16];
    snprintf(key, sizeof key, CACHE_PRODUCT_KEY_FMT, self->prefix, id);
    snprintf(ver, sizeof ver, "%ld", json ? version : 0L);
    snprintf(ttl, sizeof ttl, "%d", json ? ttl_jitter(self, self->ttl_s) : NEGATIVE_TTL_S);
    const char *argv[] = {"EVAL", product_set_lua,  "2", key, self->pgen_key, gen,
                          ver,    json ? json : "", ttl};
    const char *incr[] = {"INCR", self->gen_key};
    cmd_t cmds[2] = {{9, argv, NULL}, {2, incr, NULL}};
    redisReply *r[2];
    int n = bump_lists ? 2 : 1;
    if (pipeline(self, n, cmds, r) != 0) {
        if (bump_lists)
            atomic_store(&self->need_flush, true);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (!reply_ok(r[i])) {
            log_warn(NULL, "redis: %s", r[i]->str);
            if (bump_lists)
                atomic_store(&self->need_flush, true);
        }
        freeReplyObject(r[i]);
    }
}

void catalog_cache_product_put(catalog_cache_t *self, const char *id, uint64_t gen, long version,
                               const char *json)
{
    if (!self->enabled)
        return;
    char g[24];
    snprintf(g, sizeof g, "%llu", (unsigned long long)gen);
    product_set(self, id, g, version, json, false);
}

void catalog_cache_product_written(catalog_cache_t *self, const char *id, long version,
                                   const char *json)
{
    if (!self->enabled)
        return;
    atomic_fetch_add(&self->epoch, 1);
    product_set(self, id, "", version, json, true);
}

catalog_cache_rc_t catalog_cache_gen_get(catalog_cache_t *self, const char *ns, const char *suffix,
                                         bool counted, char **json, uint64_t *gen)
{
    *json = NULL;
    *gen = 0;
    if (!self->enabled)
        return CATALOG_CACHE_DOWN;
    char pfx[160];
    snprintf(pfx, sizeof pfx, "%s%s:", self->prefix, ns);
    const char *argv[] = {"EVAL", CACHE_GEN_GET_LUA, "1", self->gen_key, pfx, suffix};
    cmd_t cmd = {6, argv, NULL};
    redisReply *r;
    if (pipeline(self, 1, &cmd, &r) != 0) {
        if (counted)
            count_list(self, false);
        return CATALOG_CACHE_DOWN;
    }
    catalog_cache_rc_t rc = CATALOG_CACHE_DOWN;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        *gen = cache_parse_u64(r->element[0]->str, r->element[0]->len);
        rc = CATALOG_CACHE_MISS;
        if (r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING &&
            (*json = strndup(r->element[1]->str, r->element[1]->len)))
            rc = CATALOG_CACHE_HIT;
    } else if (r->type == REDIS_REPLY_ERROR) {
        log_warn(NULL, "redis: %s", r->str);
    }
    freeReplyObject(r);
    if (counted)
        count_list(self, rc == CATALOG_CACHE_HIT);
    return rc;
}

void catalog_cache_gen_put(catalog_cache_t *self, const char *ns, uint64_t gen, const char *suffix,
                           const char *json)
{
    if (!self->enabled)
        return;
    char key[MAX_KEY], ttl[16];
    snprintf(key, sizeof key, "%s%s:%llu:%s", self->prefix, ns, (unsigned long long)gen, suffix);
    snprintf(ttl, sizeof ttl, "%d", ttl_jitter(self, self->ttl_s));
    const char *argv[] = {"SET", key, json, "EX", ttl};
    cmd_t cmd = {5, argv, NULL};
    redisReply *r;
    if (pipeline(self, 1, &cmd, &r) == 0)
        freeReplyObject(r);
}

/* Runs invalidation commands; any failure makes the next reachable thread
 * bump both generations. */
static void invalidate(catalog_cache_t *self, int n, const cmd_t *cmds)
{
    if (!self->enabled)
        return;
    atomic_fetch_add(&self->epoch, 1);
    redisReply *r[4];
    if (pipeline(self, n, cmds, r) != 0) {
        atomic_store(&self->need_flush, true);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (!reply_ok(r[i]))
            atomic_store(&self->need_flush, true);
        freeReplyObject(r[i]);
    }
}

void catalog_cache_product_refreshed(catalog_cache_t *self, const char *id, long version,
                                     const char *json)
{
    if (!self->enabled || !json)
        return;
    product_set(self, id, "", version, json, false);
}

void catalog_cache_products_changed(catalog_cache_t *self, const char *const *ids, int n)
{
    if (!self->enabled)
        return;
    const char *incr[] = {"INCR", self->gen_key};
    if (n <= 0) {
        cmd_t cmd = {2, incr, NULL};
        invalidate(self, 1, &cmd);
        return;
    }
    const char **argv = calloc((size_t)n + 1, sizeof *argv);
    char **keys = calloc((size_t)n, sizeof *keys);
    if (!argv || !keys) {
        free(argv);
        free(keys);
        atomic_store(&self->need_flush, true);
        return;
    }
    argv[0] = "DEL";
    int ok = 1;
    for (int i = 0; i < n; i++) {
        if (asprintf(&keys[i], CACHE_PRODUCT_KEY_FMT, self->prefix, ids[i]) < 0) {
            keys[i] = NULL;
            ok = 0;
            break;
        }
        argv[i + 1] = keys[i];
    }
    if (ok) {
        cmd_t cmds[2] = {{n + 1, argv, NULL}, {2, incr, NULL}};
        invalidate(self, 2, cmds);
    } else {
        atomic_store(&self->need_flush, true);
    }
    for (int i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(argv);
}

void catalog_cache_lists_changed(catalog_cache_t *self)
{
    const char *incr[] = {"INCR", self->gen_key};
    cmd_t cmd = {2, incr, NULL};
    invalidate(self, 1, &cmd);
}

void catalog_cache_invalidate_all(catalog_cache_t *self)
{
    const char *a1[] = {"INCR", self->gen_key};
    const char *a2[] = {"INCR", self->pgen_key};
    cmd_t cmds[2] = {{2, a1, NULL}, {2, a2, NULL}};
    invalidate(self, 2, cmds);
}

uint64_t catalog_cache_epoch(catalog_cache_t *self)
{
    return atomic_load(&self->epoch);
}

bool catalog_cache_probe_gateway_hits(catalog_cache_t *self, long *hits, long *list_hits)
{
    *hits = *list_hits = 0;
    if (!self->enabled)
        return false;
    char key[160];
    snprintf(key, sizeof key, CACHE_GW_STATS_KEY_FMT, self->prefix);
    const char *argv[] = {"HMGET", key, "hits", "list_hits"};
    cmd_t cmd = {4, argv, NULL};
    redisReply *r;
    if (pipeline(self, 1, &cmd, &r) != 0)
        return false;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            *hits = (long)cache_parse_u64(r->element[0]->str, r->element[0]->len);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            *list_hits = (long)cache_parse_u64(r->element[1]->str, r->element[1]->len);
    }
    freeReplyObject(r);
    return true;
}

bool catalog_cache_available(catalog_cache_t *self)
{
    return self->enabled && atomic_load(&self->available);
}

void catalog_cache_list_counters(catalog_cache_t *self, long *hits, long *misses)
{
    *hits = atomic_load(&self->list_hits);
    *misses = atomic_load(&self->list_misses);
}

void catalog_cache_counters(catalog_cache_t *self, long *hits, long *misses)
{
    *hits = atomic_load(&self->hits);
    *misses = atomic_load(&self->misses);
}
