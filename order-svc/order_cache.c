/* See order_cache.h. */
#include "order_cache.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_keys.h"
#include "clock.h"
#include "log.h"
#include "redis_sync.h"
#include "redis_url.h"
#include "validate.h"

#define MAX_IDS 1000
#define RETRY_MS 1000 /* after a failure, leave Redis alone this long (per thread) */

struct order_cache {
    bool enabled;
    redis_url_t url;
    char prefix[64];
    int timeout_ms;
    pthread_key_t tkey;
};

typedef struct {
    redisContext *c;
    int64_t retry_at;
} tconn_t;

static void tconn_free(void *p)
{
    tconn_t *t = p;
    if (t && t->c)
        redisFree(t->c);
    free(t);
}

order_cache_t *order_cache_new(const config_t *cfg)
{
    order_cache_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->enabled = cfg->redis_enabled;
    self->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 100;
    const char *prefix = getenv(CACHE_PREFIX_ENV);
    snprintf(self->prefix, sizeof self->prefix, "%s", prefix ? prefix : "");
    char err[160];
    if (self->enabled && redis_url_parse(cfg->redis_url, &self->url, err, sizeof err) != 0) {
        log_error(NULL, "%s; orders will not invalidate the catalog cache directly", err);
        self->enabled = false;
    }
    pthread_key_create(&self->tkey, tconn_free);
    return self;
}

void order_cache_destroy(order_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    order_cache_t *self = *self_p;
    tconn_free(pthread_getspecific(self->tkey));
    pthread_key_delete(self->tkey);
    free(self);
    *self_p = NULL;
}

/* The thread's connection, or NULL while Redis is failing. */
static redisContext *thread_conn(order_cache_t *self, tconn_t **tp)
{
    tconn_t *t = pthread_getspecific(self->tkey);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || pthread_setspecific(self->tkey, t) != 0) {
            free(t);
            return NULL;
        }
    }
    *tp = t;
    if (!t->c && clock_mono_ms() >= t->retry_at) {
        if (redis_sync_connect(&self->url, self->timeout_ms, &t->c, NULL, 0) != REDIS_SYNC_OK)
            t->retry_at = clock_mono_ms() + RETRY_MS;
    }
    return t->c;
}

void order_cache_invalidate(order_cache_t *self, const char *payload)
{
    if (!self || !self->enabled || !payload)
        return;
    json_t *ev = json_loads(payload, 0, NULL);
    json_t *ids = json_object_get(ev, "product_ids");
    size_t n = json_array_size(ids);
    tconn_t *t = NULL;
    redisContext *c = n > 0 && n <= MAX_IDS ? thread_conn(self, &t) : NULL;
    if (!c) {
        json_decref(ev);
        return;
    }
    /* One pipelined round trip: a DEL per product and one INCR. */
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (!id || !v_is_uuid(id))
            continue;
        char key[160];
        snprintf(key, sizeof key, CACHE_PRODUCT_KEY_FMT, self->prefix, id);
        redisAppendCommand(c, "DEL %s", key);
        sent++;
    }
    char gen[96];
    snprintf(gen, sizeof gen, CACHE_LIST_GEN_KEY_FMT, self->prefix);
    redisAppendCommand(c, "INCR %s", gen);
    sent++;
    bool ok = true;
    for (size_t i = 0; i < sent && ok; i++) {
        redisReply *r = NULL;
        ok = redisGetReply(c, (void **)&r) == REDIS_OK && r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    if (!ok) {
        /* A broken or slow connection is not reused: replies could be out of step. */
        redisFree(c);
        t->c = NULL;
        t->retry_at = clock_mono_ms() + RETRY_MS;
    }
    json_decref(ev);
}
