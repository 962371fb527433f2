/* catalog_events: SUB-socket consumer thread (see catalog_events.h). */
#include "catalog_events.h"

#include <czmq.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "catalog_query.h"
#include "catalog_seq.h"
#include "catalog_sql.h"
#include "clock.h"
#include "pgpool.h"
#include "log.h"
#include "shopmq_proto.h"
#include "worker.h"

#define POLL_MS 200
#define MAX_IDS 1000
#define REFRESH_MAX_IDS 16      /* larger batches are only invalidated */
#define REFRESH_BACKOFF_MS 5000 /* after a failed refresh query */

struct catalog_events {
    const config_t *cfg;
    catalog_cache_t *cache;
    pthread_t thread;
    atomic_bool stop;
    bool started;
    pgpool_t *pool; /* the refresh's own, opened on first use */
    int64_t refresh_after_ms;
};

int catalog_events_product_ids(const char *payload, char **ids, int max)
{
    json_t *doc = json_loads(payload, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return -1;
    }
    int n = 0;
    char norm[37];
    json_t *arr = json_object_get(doc, "product_ids");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (n < max && catalog_uuid_normalize(json_string_value(v), norm))
            ids[n++] = strdup(norm);
    }
    const char *single[] = {"product_id", "id"};
    for (int k = 0; k < 2; k++) {
        const char *s = json_string_value(json_object_get(doc, single[k]));
        if (s && n < max && catalog_uuid_normalize(s, norm))
            ids[n++] = strdup(norm);
    }
    json_decref(doc);
    /* strdup failures leave NULLs: compact them away */
    int m = 0;
    for (int j = 0; j < n; j++)
        if (ids[j])
            ids[m++] = ids[j];
    return m;
}

static void connect_one(const char *endpoint, void *arg)
{
    if (zsock_connect((zsock_t *)arg, "%s", endpoint) != 0)
        log_error(NULL, "events: cannot connect SUB to %s", endpoint);
}

/* After an order changed their stock, products are read again and stored,
 * so the shop's hottest products stay cache hits while they sell (deleting
 * alone made every read after each sale a miss: in the Locust mix, where
 * stock changes outnumber detail reads, the hit rate fell to ~25%). The
 * keys were deleted first, so a read racing this one simply misses, and the
 * store is version-guarded like any fill. Best effort: a failed query
 * leaves the keys deleted and pauses refreshing for a while, so a sick
 * database cannot hold up the invalidations behind it. */
static void refresh(catalog_events_t *self, char **ids, int n)
{
    int64_t now = clock_mono_ms();
    if (n > REFRESH_MAX_IDS || now < self->refresh_after_ms)
        return;
    if (!self->pool)
        self->pool = pgpool_new(self->cfg, catalog_sql_statements());
    if (!self->pool)
        return;
    for (int i = 0; i < n; i++) {
        const char *values[] = {ids[i]};
        catalog_sql_result_t res;
        int rc = catalog_sql_run(self->pool, "events", CATALOG_SQL_PRODUCT_GET, 1, values, true,
                                 &res);
        if (rc == CATALOG_SQL_OK)
            catalog_cache_product_refreshed(self->cache, ids[i], res.version, res.json);
        catalog_sql_result_clear(&res);
        if (rc != CATALOG_SQL_OK && rc != CATALOG_SQL_EMPTY) {
            self->refresh_after_ms = clock_mono_ms() + REFRESH_BACKOFF_MS;
            return;
        }
    }
}

static void apply(catalog_events_t *self, const smq_event_t *ev)
{
    if (strcmp(ev->topic, SMQ_TOPIC_CATEGORY) == 0) {
        catalog_cache_lists_changed(self->cache);
        return;
    }
    char *ids[MAX_IDS];
    int n = catalog_events_product_ids(ev->payload ? ev->payload : "", ids, MAX_IDS);
    if (n < 0 || n == MAX_IDS) { /* unreadable or too many to name: trust nothing */
        log_warn(NULL, "events: %s from %s seq %llu: payload not usable, invalidating all",
                 ev->topic, ev->publisher, (unsigned long long)ev->seq);
        catalog_cache_invalidate_all(self->cache);
    } else {
        catalog_cache_products_changed(self->cache, (const char *const *)ids, n);
        if (strcmp(ev->topic, SMQ_TOPIC_STOCK) == 0)
            refresh(self, ids, n);
    }
    for (int i = 0; i < n; i++)
        free(ids[i]);
}

static void *run(void *arg)
{
    catalog_events_t *self = arg;
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub) {
        log_error(NULL, "events: cannot create SUB socket; cache relies on TTLs");
        return NULL;
    }
    const char *topics[] = {SMQ_TOPIC_STOCK, SMQ_TOPIC_PRODUCT, SMQ_TOPIC_CATEGORY,
                            SMQ_TOPIC_HEARTBEAT};
    for (int i = 0; i < 4; i++)
        zsock_set_subscribe(sub, topics[i]);
    zsock_set_rcvtimeo(sub, POLL_MS);
    int hb = self->cfg->heartbeat_ms > 0 ? self->cfg->heartbeat_ms : 1000;
    /* With two brokers, a connection to one that hung or lost its host
     * would stay half-open and that path would never come back (and a hung
     * one would deliver stale events when it resumes): ZMTP heartbeats
     * close it after three silent intervals, and ZeroMQ reconnects. */
    zsock_set_heartbeat_ivl(sub, hb);
    zsock_set_heartbeat_timeout(sub, 3 * hb);
    config_each_item(self->cfg->events_sub_endpoints, connect_one, sub);
    catalog_seq_t *seq = catalog_seq_new(3 * (int64_t)hb);
    log_info(NULL, "events: subscribed to %s", self->cfg->events_sub_endpoints);

    while (!atomic_load(&self->stop) && !worker_stop && seq) {
        zmsg_t *msg = zmsg_recv(sub);
        int64_t now = clock_mono_ms();
        if (msg) {
            smq_event_t ev;
            memset(&ev, 0, sizeof ev);
            if (smq_event_decode(msg, &ev) != 0) {
                log_warn(NULL, "events: malformed event dropped");
            } else {
                bool heartbeat = strcmp(ev.topic, SMQ_TOPIC_HEARTBEAT) == 0;
                catalog_seq_verdict_t v =
                    catalog_seq_observe(seq, ev.publisher, ev.seq, heartbeat, now);
                if (catalog_seq_must_flush(v)) {
                    static const char *why[] = {"", "", "new publisher", "sequence gap",
                                                "publisher restart"};
                    log_info(NULL, "events: %s %s (seq %llu): invalidating all cached products",
                             why[v], ev.publisher, (unsigned long long)ev.seq);
                    catalog_cache_invalidate_all(self->cache);
                }
                if (!heartbeat && v != CATALOG_SEQ_DUPLICATE && !catalog_seq_must_flush(v))
                    apply(self, &ev);
                smq_event_clear(&ev);
            }
            zmsg_destroy(&msg);
        }
        int gone = catalog_seq_expire(seq, now);
        if (gone > 0) {
            log_warn(NULL, "events: %d publisher(s) silent for 3 heartbeats: invalidating all",
                     gone);
            catalog_cache_invalidate_all(self->cache);
        }
    }
    catalog_seq_destroy(&seq);
    zsock_destroy(&sub);
    pgpool_destroy(&self->pool);
    return NULL;
}

catalog_events_t *catalog_events_new(const config_t *cfg, catalog_cache_t *cache)
{
    catalog_events_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->cache = cache;
    if (pthread_create(&self->thread, NULL, run, self) != 0) {
        log_error(NULL, "events: cannot start the consumer thread");
        free(self);
        return NULL;
    }
    self->started = true;
    return self;
}

void catalog_events_destroy(catalog_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    catalog_events_t *self = *self_p;
    atomic_store(&self->stop, true);
    if (self->started)
        pthread_join(self->thread, NULL);
    free(self);
    *self_p = NULL;
}
