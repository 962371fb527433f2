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
/* czmq pulls in <syslog.h>, whose LOG_DEBUG/LOG_INFO macros shadow log.h's
 * enum constants. */
#undef LOG_DEBUG
#undef LOG_INFO
#include "log.h"
#include "order_sql.h"
#include "shopmq_proto.h"
#include "worker.h"

#define RELAY_IDLE_MS 100      /* poll interval without pokes */
#define RELAY_MIN_GAP_MS 5     /* pokes within this are batched into one pass */
#define RELAY_HEARTBEAT_MS 1000
#define RELAY_JOIN_MS 300      /* let subscriptions arrive before the first event */
#define RELAY_RECONNECT_MS 1000
#define RELAY_COUNT_MS 1000
#define RELAY_SWEEP_MS 60000
#define RELAY_BATCH 100

struct outbox_relay {
    const config_t *cfg;
    char publisher[SMQ_MAX_RID + 1];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool poked;
    bool stop;
    /* Owned by the relay thread. */
    zsock_t *pub;
    PGconn *db;
    uint64_t seq;
    int64_t last_send_ms;
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
    if (!atomic_exchange(&self->db_ok, true))
        log_info(NULL, "outbox relay: connected as publisher %s", self->publisher);
    return true;
}

static void db_failed(outbox_relay_t *self, PGresult *res, const char *what)
{
    atomic_fetch_add(&self->db_errors, 1);
    log_warn(NULL, "outbox relay: %s failed: %s", what,
             res ? PQresultErrorMessage(res) : PQerrorMessage(self->db));
    PQclear(res);
    /* Drop the connection: whatever state it is in, a fresh one is simpler. */
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

/* One claim-publish-commit pass. Returns rows published, or -1. */
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
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        publish(self, PQgetvalue(res, i, 1), ++self->seq, PQgetvalue(res, i, 2));
    PQclear(res);
    atomic_store(&self->seq_seen, self->seq);
    /* Published before the commit: a crash in between republishes (at
     * least once); subscribers only invalidate, so duplicates are harmless. */
    res = PQexec(self->db, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_failed(self, res, "COMMIT");
        return -1;
    }
    PQclear(res);
    atomic_fetch_add(&self->published, n);
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

/* Sleeps until poked, stopped, or ms elapsed. */
static void wait_for_work(outbox_relay_t *self, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&self->lock);
    while (!self->poked && !self->stop && !worker_stop) {
        if (pthread_cond_timedwait(&self->cond, &self->lock, &ts) == ETIMEDOUT)
            break;
    }
    self->poked = false;
    pthread_mutex_unlock(&self->lock);
}

static bool stopping(outbox_relay_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool stop = self->stop;
    pthread_mutex_unlock(&self->lock);
    return stop || worker_stop;
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
    config_each_item(self->cfg->events_pub_endpoints, connect_endpoint, self->pub);
    /* ZeroMQ's slow joiner: the proxy forwards subscriptions only once the
     * connection is up; publishing earlier would drop the first events. */
    wait_for_work(self, RELAY_JOIN_MS);

    int64_t next_db_try = 0, last_count = 0, last_sweep = 0;
    self->last_send_ms = clock_mono_ms();
    while (!stopping(self)) {
        int64_t now = clock_mono_ms();
        int n = 0;
        if (now >= next_db_try) {
            if (db_ready(self)) {
                n = relay_pass(self);
                if (self->db && now - last_count >= RELAY_COUNT_MS) {
                    count_pending(self);
                    last_count = now;
                }
                if (self->db && now - last_sweep >= RELAY_SWEEP_MS) {
                    sweep(self);
                    last_sweep = now;
                }
            }
            if (!self->db)
                next_db_try = now + RELAY_RECONNECT_MS;
        }
        if (n == RELAY_BATCH)
            continue; /* more rows are waiting */
        if (clock_mono_ms() - self->last_send_ms >= RELAY_HEARTBEAT_MS)
            publish(self, SMQ_TOPIC_HEARTBEAT, self->seq, "{}");
        if (n > 0)
            usleep(RELAY_MIN_GAP_MS * 1000);
        wait_for_work(self, RELAY_IDLE_MS);
    }
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
    pthread_cond_init(&self->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&self->lock, NULL);
    if (pthread_create(&self->thread, NULL, relay_main, self) != 0) {
        pthread_cond_destroy(&self->cond);
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
    pthread_cond_signal(&self->cond);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void outbox_relay_poke(outbox_relay_t *self)
{
    pthread_mutex_lock(&self->lock);
    if (!self->poked) {
        self->poked = true;
        pthread_cond_signal(&self->cond);
    }
    pthread_mutex_unlock(&self->lock);
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
