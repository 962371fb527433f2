#include "outbox_relay.h"

#include <czmq.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "order_sql.h"
#include "shopmq_proto.h"
#include "worker.h"

#define RELAY_PASS_MS 100 /* database pass interval */
#define RELAY_HEARTBEAT_MS 1000
#define RELAY_JOIN_MS 300 /* let subscriptions arrive before the first event */
#define RELAY_RECONNECT_MS 1000
#define RELAY_COUNT_MS 1000
#define RELAY_SWEEP_MS 60000
#define RELAY_BATCH 500        /* must match the LIMIT of order_sql_outbox_claim */
#define RELAY_FAST_KEEP_MS 60000 /* forget fast-published ids never claimed here */

/* An event handed over by a request thread, published ahead of the pass. */
typedef struct {
    int64_t id;
    char topic[32];
    char *payload;
} fast_event_t;

/* An id published by the fast path, skipped when the pass claims it. */
typedef struct {
    int64_t id;
    int64_t at_ms;
} fast_id_t;

struct outbox_relay {
    const config_t *cfg;
    char publisher[SMQ_MAX_RID + 1];
    pthread_t thread;

    pthread_mutex_t lock; /* guards everything up to the next comment */
    pthread_cond_t wake;  /* relay thread: work queued or stop */
    pthread_cond_t sent;  /* request threads: ticket_sent advanced */
    bool stop;
    fast_event_t *queue;
    size_t queue_len, queue_cap;
    uint64_t ticket_next, ticket_sent;

    /* Owned by the relay thread. */
    zsock_t *pub;
    PGconn *db;
    uint64_t seq;
    int64_t last_send_ms;
    fast_id_t *fast_ids;
    size_t fast_len, fast_cap;

    /* Read by outbox_relay_stats from other threads. */
    atomic_uint_fast64_t seq_seen;
    atomic_long published;
    atomic_long pending;
    atomic_long db_errors;
    atomic_bool db_ok;
};

static void connect_endpoint(const char *endpoint, void *arg)
{
    if (zsock_connect((zsock_t *)arg, "%s", endpoint) != 0)
        log_error(NULL, "outbox relay: cannot connect to %s", endpoint);
}

static bool db_ready(outbox_relay_t *self)
{
    if (self->db && PQstatus(self->db) == CONNECTION_OK)
        return true;
    if (self->db) {
        PQfinish(self->db);
        self->db = NULL;
    }
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {self->cfg->database_url, "5", "order-svc-relay", NULL};
    self->db = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(self->db) != CONNECTION_OK) {
        if (atomic_exchange(&self->db_ok, false))
            log_warn(NULL, "outbox relay: database unreachable, retrying");
        PQfinish(self->db);
        self->db = NULL;
        return false;
    }
    /* Losing a "sent" mark in a crash only means publishing again. */
    PQclear(PQexec(self->db, "SET synchronous_commit = off"));
    if (!atomic_exchange(&self->db_ok, true))
        log_info(NULL, "outbox relay: database connected, publisher %s", self->publisher);
    return true;
}

static void db_failed(outbox_relay_t *self, PGresult *res, const char *what)
{
    atomic_fetch_add(&self->db_errors, 1);
    log_warn(NULL, "outbox relay: %s failed: %s", what,
             res ? PQresultErrorMessage(res) : PQerrorMessage(self->db));
    PQclear(res);
    /* Whatever state the connection is in, a fresh one is simpler. */
    PQfinish(self->db);
    self->db = NULL;
    atomic_store(&self->db_ok, false);
}

static void publish(outbox_relay_t *self, const char *topic, uint64_t seq, const char *payload)
{
    zmsg_t *msg = smq_event_new(topic, self->publisher, seq, payload);
    if (msg && zmsg_send(&msg, self->pub) != 0)
        zmsg_destroy(&msg);
    self->last_send_ms = clock_mono_ms();
}

static void publish_event(outbox_relay_t *self, const char *topic, const char *payload)
{
    publish(self, topic, ++self->seq, payload);
    atomic_store(&self->seq_seen, self->seq);
    atomic_fetch_add(&self->published, 1);
}

/* Publishes what request threads queued and wakes them. */
static void drain_fast(outbox_relay_t *self)
{
    pthread_mutex_lock(&self->lock);
    fast_event_t *queue = self->queue;
    size_t len = self->queue_len;
    uint64_t ticket = self->ticket_next;
    self->queue = NULL;
    self->queue_len = self->queue_cap = 0;
    pthread_mutex_unlock(&self->lock);
    if (len == 0) {
        free(queue);
        return;
    }

    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < len; i++) {
        publish_event(self, queue[i].topic, queue[i].payload);
        free(queue[i].payload);
        if (self->fast_len == self->fast_cap) {
            size_t cap = self->fast_cap ? self->fast_cap * 2 : 256;
            fast_id_t *ids = realloc(self->fast_ids, cap * sizeof *ids);
            if (!ids)
                continue; /* not remembered: the pass publishes it again, harmless */
            self->fast_ids = ids;
            self->fast_cap = cap;
        }
        self->fast_ids[self->fast_len++] = (fast_id_t){queue[i].id, now};
    }
    free(queue);

    pthread_mutex_lock(&self->lock);
    self->ticket_sent = ticket;
    pthread_cond_broadcast(&self->sent);
    pthread_mutex_unlock(&self->lock);
}

/* true (and forgets it) when id went out through the fast path. */
static bool fast_take(outbox_relay_t *self, int64_t id)
{
    for (size_t i = 0; i < self->fast_len; i++)
        if (self->fast_ids[i].id == id) {
            self->fast_ids[i] = self->fast_ids[--self->fast_len];
            return true;
        }
    return false;
}

static void fast_expire(outbox_relay_t *self, int64_t now)
{
    for (size_t i = 0; i < self->fast_len;)
        if (now - self->fast_ids[i].at_ms > RELAY_FAST_KEEP_MS)
            self->fast_ids[i] = self->fast_ids[--self->fast_len];
        else
            i++;
}

/* One claim-publish-commit pass. Returns rows claimed, or -1. */
static int relay_pass(outbox_relay_t *self)
{
    PGresult *res = PQexec(self->db, "BEGIN");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_failed(self, res, "BEGIN");
        return -1;
    }
    PQclear(res);
    res = PQexec(self->db, order_sql_outbox_claim);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_failed(self, res, "claim");
        return -1;
    }
    /* Events committed just before the claim may still sit in the queue:
     * send them first so their rows are recognised below, not sent twice. */
    drain_fast(self);
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        int64_t id = atoll(PQgetvalue(res, i, 0));
        if (!fast_take(self, id))
            publish_event(self, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    }
    PQclear(res);
    /* Published before the commit: a crash in between republishes (at
     * least once); subscribers only invalidate, so duplicates are harmless. */
    res = PQexec(self->db, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_failed(self, res, "COMMIT");
        return -1;
    }
    PQclear(res);
    return n;
}

static void count_pending(outbox_relay_t *self)
{
    PGresult *res = PQexec(self->db, order_sql_outbox_pending);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_failed(self, res, "count");
        return;
    }
    atomic_store(&self->pending, atol(PQgetvalue(res, 0, 0)));
    PQclear(res);
}

static void sweep(outbox_relay_t *self)
{
    PGresult *res = PQexec(self->db, order_sql_sweep);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_failed(self, res, "sweep");
        return;
    }
    PQclear(res);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Sleeps until events are queued, stop is asked, or ms elapsed. */
static void wait_for_work(outbox_relay_t *self, int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&self->lock);
    while (self->queue_len == 0 && !self->stop && !worker_stop)
        if (pthread_cond_timedwait(&self->wake, &self->lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&self->lock);
}

static bool stopping(outbox_relay_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool stop = self->stop;
    pthread_mutex_unlock(&self->lock);
    return stop || worker_stop;
}

/* The database side of the loop: one pass, the pending count, the sweep. */
static int db_work(outbox_relay_t *self, int64_t now, int64_t *last_count, int64_t *last_sweep)
{
    if (!db_ready(self))
        return -1;
    int n = relay_pass(self);
    if (self->db && now - *last_count >= RELAY_COUNT_MS) {
        count_pending(self);
        *last_count = now;
    }
    if (self->db && now - *last_sweep >= RELAY_SWEEP_MS) {
        sweep(self);
        fast_expire(self, now);
        *last_sweep = now;
    }
    return self->db ? n : -1;
}

static void *relay_main(void *arg)
{
    outbox_relay_t *self = arg;
    self->pub = zsock_new(ZMQ_PUB);
    if (!self->pub) {
        log_error(NULL, "outbox relay: cannot create PUB socket");
        return NULL;
    }
    zsock_set_sndhwm(self->pub, 100000);
    zsock_set_linger(self->pub, 1000);
    /* A broker that hung or lost its host would otherwise keep a half-open
     * connection (its path never comes back): ZMTP heartbeats close it
     * after three silent intervals. ZMQ_IMMEDIATE drops what was queued
     * for a broker that went away instead of delivering it, stale, when
     * the broker is back: subscribers got it through the other broker,
     * or (with one) see a gap or a new publisher and invalidate anyway. */
    int hb = self->cfg->heartbeat_ms > 0 ? self->cfg->heartbeat_ms : 1000;
    zsock_set_heartbeat_ivl(self->pub, hb);
    zsock_set_heartbeat_timeout(self->pub, 3 * hb);
    zsock_set_immediate(self->pub, 1);
    config_each_item(self->cfg->events_pub_endpoints, connect_endpoint, self->pub);
    /* ZeroMQ's slow joiner: the proxy forwards subscriptions only once the
     * connection is up; publishing earlier would drop the first events.
     * (Subscribers treat a new publisher as "invalidate all" anyway.) */
    usleep(RELAY_JOIN_MS * 1000);

    int64_t next_pass = 0, last_count = 0, last_sweep = 0;
    self->last_send_ms = clock_mono_ms();
    while (!stopping(self)) {
        drain_fast(self);
        int64_t now = clock_mono_ms();
        if (now >= next_pass) {
            int n = db_work(self, now, &last_count, &last_sweep);
            next_pass = n < 0 ? now + RELAY_RECONNECT_MS
                        : n == RELAY_BATCH ? now /* more rows are waiting */
                                           : now + RELAY_PASS_MS;
            continue; /* requests may have queued events meanwhile */
        }
        if (now - self->last_send_ms >= RELAY_HEARTBEAT_MS)
            publish(self, SMQ_TOPIC_HEARTBEAT, self->seq, "{}");
        wait_for_work(self, (int)(next_pass - now));
    }
    drain_fast(self);
    if (self->db) {
        PQfinish(self->db);
        self->db = NULL;
    }
    zsock_destroy(&self->pub);
    return NULL;
}

outbox_relay_t *outbox_relay_new(const config_t *cfg)
{
    outbox_relay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    atomic_store(&self->pending, -1);
    /* A fresh suffix per process start: subscribers see a restart as a new
     * publisher and invalidate, whatever they may have missed meanwhile. */
    uint32_t suffix = 0;
    if (getrandom(&suffix, sizeof suffix, 0) != (ssize_t)sizeof suffix)
        suffix = (uint32_t)(clock_wall_ms() ^ ((int64_t)getpid() << 16));
    snprintf(self->publisher, sizeof self->publisher, "%.50s-%08x", cfg->instance_id,
             (unsigned)suffix);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->wake, &ca);
    pthread_cond_init(&self->sent, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&self->lock, NULL);
    if (pthread_create(&self->thread, NULL, relay_main, self) != 0) {
        pthread_cond_destroy(&self->wake);
        pthread_cond_destroy(&self->sent);
        pthread_mutex_destroy(&self->lock);
        free(self);
        return NULL;
    }
    return self;
}

void outbox_relay_destroy(outbox_relay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    outbox_relay_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    for (size_t i = 0; i < self->queue_len; i++)
        free(self->queue[i].payload);
    free(self->queue);
    free(self->fast_ids);
    pthread_cond_destroy(&self->wake);
    pthread_cond_destroy(&self->sent);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int outbox_relay_publish_now(outbox_relay_t *self, int64_t outbox_id, const char *topic,
                             const char *payload, int wait_ms)
{
    fast_event_t ev = {.id = outbox_id, .payload = strdup(payload)};
    if (!ev.payload || strlen(topic) >= sizeof ev.topic) {
        free(ev.payload);
        return -1;
    }
    strcpy(ev.topic, topic);

    struct timespec ts;
    deadline_in(&ts, wait_ms);
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    if (self->queue_len == self->queue_cap) {
        size_t cap = self->queue_cap ? self->queue_cap * 2 : 16;
        fast_event_t *q = realloc(self->queue, cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&self->lock);
            free(ev.payload);
            return -1;
        }
        self->queue = q;
        self->queue_cap = cap;
    }
    self->queue[self->queue_len++] = ev;
    uint64_t ticket = ++self->ticket_next;
    pthread_cond_signal(&self->wake);
    while (!self->stop) {
        if (self->ticket_sent >= ticket) {
            rc = 0;
            break;
        }
        if (pthread_cond_timedwait(&self->sent, &self->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

void outbox_relay_stats(outbox_relay_t *self, outbox_relay_stats_t *out)
{
    out->seq = (uint64_t)atomic_load(&self->seq_seen);
    out->published = atomic_load(&self->published);
    out->pending = atomic_load(&self->pending);
    out->db_errors = atomic_load(&self->db_errors);
    out->db_ok = atomic_load(&self->db_ok);
}

const char *outbox_relay_publisher(outbox_relay_t *self)
{
    return self->publisher;
}
