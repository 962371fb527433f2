/* The service runtime: cfg->workers threads, each owning one DEALER per
 * broker. A thread handles one request at a time, so a reply always goes
 * back on the socket the request came from, and the sockets never cross
 * threads (ZeroMQ sockets are not thread-safe). */
#include "worker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "shopmq_proto.h"
#include "validate.h"

volatile int worker_stop = 0;

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define POLL_CAP_MS 100   /* how quickly a thread notices worker_stop */
#define LINGER_MS 200     /* time DISCONNECT gets to leave at shutdown */

/* ---- replies ---- */

void svc_reply_raw(svc_reply_t *rep, int status, char *body_malloced)
{
    free(rep->body);
    rep->status = status;
    rep->body = body_malloced;
}

void svc_reply_copy(svc_reply_t *rep, int status, const char *body)
{
    char *copy = body ? strdup(body) : NULL;
    if (body && !copy) {
        svc_reply_raw(rep, 500, NULL);
        return;
    }
    svc_reply_raw(rep, status, copy);
}

void svc_reply_json(svc_reply_t *rep, int status, json_t *steal)
{
    /* 15 significant digits print 29.99 as 29.99 (17 would give
     * 29.989999999999998); NUMERIC(12,2) never needs more. */
    char *text = steal ? json_dumps(steal, JSON_COMPACT | JSON_REAL_PRECISION(15) |
                                               JSON_ENCODE_ANY)
                       : NULL;
    json_decref(steal);
    if (!text) {
        svc_reply_raw(rep, 500, v_detail_body("Internal server error"));
        return;
    }
    svc_reply_raw(rep, status, text);
}

void svc_reply_detail(svc_reply_t *rep, int status, const char *detail)
{
    svc_reply_raw(rep, status, v_detail_body(detail));
}

void svc_reply_errors(svc_reply_t *rep, json_t *errs)
{
    svc_reply_raw(rep, 422, v_errors_body(errs));
}

void worker_dispatch(const svc_def_t *def, const svc_request_t *req, svc_reply_t *rep)
{
    rep->status = 0;
    rep->body = NULL;
    const svc_route_t *route = NULL;
    for (const svc_route_t *r = def ? def->routes : NULL; r && r->op; r++) {
        if (req->op && strcmp(r->op, req->op) == 0) {
            route = r;
            break;
        }
    }
    if (!route || !route->fn) {
        svc_reply_detail(rep, 404, "Not Found");
        return;
    }
    route->fn(def->app, req, rep);
    if (rep->status < 100 || rep->status > 599) {
        if (rep->status != 0)
            log_error(req->rid, "%s: handler set invalid status %d", req->op, rep->status);
        else
            log_error(req->rid, "%s: handler set no status", req->op);
        svc_reply_detail(rep, 500, "Internal server error");
    }
}

/* ---- one worker thread ---- */

typedef struct {
    char *endpoint;
    zsock_t *sock;         /* NULL while waiting to reconnect */
    int64_t last_recv_ms;  /* any message from the broker */
    int64_t reconnect_at;  /* when sock is NULL */
    int64_t connected_at;
    int backoff_ms;
    bool heard; /* the broker has sent something since link_open */
} link_t;

typedef struct {
    const svc_def_t *def;
    int index;
    link_t *links;
    size_t nlinks;
    int rc;
    /* The sockets belong to whoever holds sock_lock: the worker thread,
     * except while a handler runs, when the keeper thread may borrow them
     * to send heartbeats (ZeroMQ allows moving a socket between threads
     * across a full memory barrier; the mutex is that barrier). */
    pthread_mutex_t sock_lock;
    int64_t busy_since;   /* atomic; 0 when no handler is running */
    int64_t last_beat_ms; /* under sock_lock */
    char *last_status;    /* under sock_lock: what the keeper repeats */
} worker_t;

static void add_link(const char *endpoint, void *arg)
{
    worker_t *w = arg;
    link_t *links = realloc(w->links, (w->nlinks + 1) * sizeof(*links));
    if (!links)
        return;
    w->links = links;
    link_t *l = &w->links[w->nlinks];
    memset(l, 0, sizeof(*l));
    l->endpoint = strdup(endpoint);
    if (!l->endpoint)
        return;
    l->backoff_ms = BACKOFF_MIN_MS;
    w->nlinks++;
}

static void send_msg(link_t *l, zmsg_t **msg)
{
    if (!*msg)
        return;
    if (zmsg_send(msg, l->sock) != 0)
        zmsg_destroy(msg);
}

static char *status_json(const svc_def_t *def)
{
    json_t *st = json_object();
    if (def->status)
        def->status(def->app, st);
    json_object_set_new(st, "instance", json_string(def->cfg->instance_id));
    char *text = json_dumps(st, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(st);
    return text;
}

static void link_open(worker_t *w, link_t *l)
{
    int64_t now = clock_mono_ms();
    l->sock = zsock_new(ZMQ_DEALER);
    if (!l->sock || zsock_connect(l->sock, "%s", l->endpoint) != 0) {
        log_error(NULL, "worker %d: cannot connect to %s", w->index, l->endpoint);
        zsock_destroy(&l->sock);
        l->reconnect_at = now + l->backoff_ms;
        l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
        return;
    }
    zsock_set_linger(l->sock, LINGER_MS);
    /* A DEALER queues while its peer is away; a send only fails when the
     * queue is full, and then dropping beats blocking the thread. */
    zsock_set_sndtimeo(l->sock, 0);
    zsock_set_rcvtimeo(l->sock, 0); /* link_read never blocks */
    l->last_recv_ms = now;
    l->connected_at = now;
    l->heard = false;
    zmsg_t *ready = smq_worker_ready_new(w->def->service);
    send_msg(l, &ready);
    /* Status right away, so /health knows about the database from the
     * moment this worker counts as live, not one interval later. */
    char *status = status_json(w->def);
    zmsg_t *beat = smq_worker_heartbeat_new(status);
    free(status);
    send_msg(l, &beat);
}

/* Closes the link and schedules a reconnect after the current backoff. */
static void link_drop(link_t *l, bool say_goodbye)
{
    if (!l->sock)
        return;
    if (say_goodbye) {
        zmsg_t *bye = smq_worker_disconnect_new();
        send_msg(l, &bye);
    } else {
        zsock_set_linger(l->sock, 0);
    }
    zsock_destroy(&l->sock);
    l->reconnect_at = clock_mono_ms() + l->backoff_ms;
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}


static json_t *object_or_empty(json_t *meta, const char *key)
{
    json_t *v = json_object_get(meta, key);
    return json_is_object(v) ? json_incref(v) : json_object();
}

static const char *string_or(json_t *meta, const char *key, const char *def)
{
    json_t *v = json_object_get(meta, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

static void handle_request(worker_t *w, link_t *l, smq_worker_msg_t *wm)
{
    if (wm->req.ctl.budget_ms == 0) {
        log_debug(wm->req.rid, "request arrived after its deadline; dropped");
        return;
    }
    int64_t started = clock_mono_ms();
    json_error_t jerr;
    json_t *meta = json_loads(wm->req.meta ? wm->req.meta : "", 0, &jerr);
    if (!json_is_object(meta)) {
        json_decref(meta);
        meta = json_object();
    }
    svc_request_t req = {
        .op = string_or(meta, "op", ""),
        .rid = string_or(meta, "trace", wm->req.rid),
        .meta = meta,
        .params = object_or_empty(meta, "params"),
        .query = object_or_empty(meta, "query"),
        .body = wm->req.body ? wm->req.body : "",
        .body_len = wm->req.body ? wm->req.body_len : 0,
        .idem_key = string_or(meta, "idem_key", NULL),
        .deadline_ms = started + wm->req.ctl.budget_ms,
    };
    svc_reply_t rep = {0, NULL};
    /* A slow handler must not look like a dead worker to the broker: while
     * it runs, the keeper thread may heartbeat on our sockets. */
    __atomic_store_n(&w->busy_since, started, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&w->sock_lock);
    worker_dispatch(w->def, &req, &rep);
    pthread_mutex_lock(&w->sock_lock);
    __atomic_store_n(&w->busy_since, 0, __ATOMIC_RELEASE);

    int64_t took = clock_mono_ms() - started;
    /* rid is the client's X-Request-Id (meta "trace"): every outcome but a
     * success is at info or above, so a failed request can be followed from
     * the gateway's log into the service's. */
    if (rep.status >= 500)
        log_error(req.rid, "%s -> %d in %lld ms", req.op, rep.status, (long long)took);
    else if (rep.status >= 300)
        log_info(req.rid, "%s -> %d in %lld ms", req.op, rep.status, (long long)took);
    else
        log_debug(req.rid, "%s -> %d in %lld ms", req.op, rep.status, (long long)took);

    zmsg_t *reply = smq_worker_reply_new(wm->client, wm->req.rid, rep.status,
                                         rep.body ? rep.body : "",
                                         rep.body ? strlen(rep.body) : 0);
    if (l->sock)
        send_msg(l, &reply);
    zmsg_destroy(&reply);
    free(rep.body);
    json_decref(req.params);
    json_decref(req.query);
    json_decref(meta);
}

/* Container health checks look at this file's age: it is touched each time
 * a broker heartbeat arrives (ECOM_HEALTH_FILE, unset = off). */
static void worker_touch_health_file(void)
{
    static __thread int64_t last_ms;
    const char *path = getenv("ECOM_HEALTH_FILE");
    int64_t now = clock_mono_ms();
    if (!path || !*path || now - last_ms < 1000)
        return;
    last_ms = now;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        futimens(fd, NULL);
        close(fd);
    }
}

/* Handles one message; false when there was none (the socket has a zero
 * receive timeout). */
static bool link_read(worker_t *w, link_t *l)
{
    zmsg_t *msg = zmsg_recv(l->sock);
    if (!msg)
        return false;
    int64_t now = clock_mono_ms();
    l->last_recv_ms = now;
    l->heard = true;
    smq_worker_msg_t wm;
    if (smq_worker_msg_decode(msg, &wm) != 0) {
        log_warn(NULL, "worker %d: malformed message from %s dropped", w->index, l->endpoint);
        zmsg_destroy(&msg);
        return true;
    }
    zmsg_destroy(&msg);
    if (wm.command != SMQ_DISCONNECT)
        l->backoff_ms = BACKOFF_MIN_MS; /* the broker is alive and knows us */
    switch (wm.command) {
    case SMQ_REQUEST:
        handle_request(w, l, &wm);
        break;
    case SMQ_HEARTBEAT:
        worker_touch_health_file();
        break;
    case SMQ_DISCONNECT:
        /* The broker forgot us (restart, or we were silent too long):
         * register again at once, unless it keeps happening. */
        log_info(NULL, "worker %d: %s asked us to reconnect", w->index, l->endpoint);
        if (now - l->connected_at > 5000)
            l->backoff_ms = 0;
        link_drop(l, false);
        if (l->backoff_ms < BACKOFF_MIN_MS)
            l->backoff_ms = BACKOFF_MIN_MS;
        break;
    default:
        log_warn(NULL, "worker %d: unexpected command %d from %s", w->index, wm.command,
                 l->endpoint);
        break;
    }
    smq_worker_msg_clear(&wm);
    return true;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    pthread_mutex_lock(&w->sock_lock);
    const config_t *cfg = w->def->cfg;
    int hb = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : 1000;
    int64_t liveness = 3 * (int64_t)hb;

    for (size_t i = 0; i < w->nlinks; i++)
        link_open(w, &w->links[i]);
    int64_t next_hb = clock_mono_ms() + hb;
    zmq_pollitem_t *items = calloc(w->nlinks, sizeof(*items));
    link_t **owners = calloc(w->nlinks, sizeof(*owners));
    if (!items || !owners) {
        w->rc = -1;
        worker_stop = 1;
    }

    while (!worker_stop) {
        int64_t now = clock_mono_ms();
        int n = 0;
        int64_t wake = next_hb;
        for (size_t i = 0; i < w->nlinks; i++) {
            link_t *l = &w->links[i];
            if (l->sock) {
                items[n] = (zmq_pollitem_t){.socket = zsock_resolve(l->sock), .events = ZMQ_POLLIN};
                owners[n++] = l;
            } else if (l->reconnect_at < wake) {
                wake = l->reconnect_at;
            }
        }
        long timeout = wake - now;
        if (timeout < 0)
            timeout = 0;
        if (timeout > POLL_CAP_MS)
            timeout = POLL_CAP_MS;
        int rc = zmq_poll(items, n, timeout);
        if (rc < 0 && errno != EINTR) {
            log_error(NULL, "worker %d: zmq_poll: %s", w->index, zmq_strerror(errno));
            w->rc = -1;
            break;
        }
        for (int i = 0; rc > 0 && i < n && !worker_stop; i++) {
            /* Drain what is there: a long request leaves heartbeats queued,
             * and they must count before the liveness check below. Reading
             * until the zero-timeout recv comes back empty, rather than
             * asking ZMQ_EVENTS before each message, saves a poll(2) and a
             * getpid(2) per request. */
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            while (owners[i]->sock && link_read(w, owners[i]) && !worker_stop)
                ;
        }
        if (worker_stop)
            break;

        now = clock_mono_ms();
        if (now >= next_hb) {
            char *status = status_json(w->def);
            for (size_t i = 0; i < w->nlinks; i++) {
                if (!w->links[i].sock)
                    continue;
                zmsg_t *beat = smq_worker_heartbeat_new(status);
                send_msg(&w->links[i], &beat);
            }
            free(w->last_status);
            w->last_status = status;
            w->last_beat_ms = now;
            next_hb = now + hb;
        }
        for (size_t i = 0; i < w->nlinks; i++) {
            link_t *l = &w->links[i];
            /* A link that has not heard from its broker since it opened
             * stays as it is: ZeroMQ keeps reconnecting, and the READY
             * queued in it reaches the broker the moment it is back, so a
             * restarted broker (the second of two, say) gets its workers
             * at once. Recycled, the link could also leave a broker that
             * came up just then with our READY and a socket that is gone. */
            if (l->sock && l->heard && now - l->last_recv_ms > liveness) {
                log_warn(NULL, "worker %d: no message from %s for %lld ms; reconnecting in %d ms",
                         w->index, l->endpoint, (long long)(now - l->last_recv_ms),
                         l->backoff_ms);
                /* Goodbye, in case the broker only hung: when it resumes it
                 * reads that rather than dispatching to a socket that is
                 * gone (for a liveness period, answering 502s). */
                link_drop(l, true);
            } else if (!l->sock && now >= l->reconnect_at) {
                link_open(w, l);
            }
        }
    }

    for (size_t i = 0; i < w->nlinks; i++)
        link_drop(&w->links[i], true);
    free(items);
    free(owners);
    pthread_mutex_unlock(&w->sock_lock);
    return NULL;
}

typedef struct {
    worker_t *workers;
    int count;
    int hb;
} keeper_t;

/* Heartbeats on behalf of workers whose handler has run for a heartbeat
 * interval or more. It only sends; the broker's messages wait in the
 * socket for the worker thread. */
static void *keeper_main(void *arg)
{
    keeper_t *k = arg;
    int step = k->hb / 4 > 0 ? k->hb / 4 : 1;
    while (!worker_stop) {
        zclock_sleep(step < POLL_CAP_MS ? step : POLL_CAP_MS);
        int64_t now = clock_mono_ms();
        for (int i = 0; i < k->count; i++) {
            worker_t *w = &k->workers[i];
            int64_t busy = __atomic_load_n(&w->busy_since, __ATOMIC_ACQUIRE);
            if (busy == 0 || now - busy < k->hb)
                continue;
            if (pthread_mutex_trylock(&w->sock_lock) != 0)
                continue;
            /* Still busy (the handler may have just returned). */
            if (__atomic_load_n(&w->busy_since, __ATOMIC_ACQUIRE) != 0 &&
                now - w->last_beat_ms >= k->hb) {
                for (size_t l = 0; l < w->nlinks; l++) {
                    if (!w->links[l].sock)
                        continue;
                    zmsg_t *beat = smq_worker_heartbeat_new(w->last_status);
                    send_msg(&w->links[l], &beat);
                }
                w->last_beat_ms = now;
            }
            pthread_mutex_unlock(&w->sock_lock);
        }
    }
    return NULL;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    worker_stop = 1;
}

int worker_run(const svc_def_t *def)
{
    if (!def || !def->cfg || !def->service)
        return -1;
    /* czmq installs its own SIGINT/SIGTERM handler on first use unless
     * told not to; ours must be the one that runs. */
    zsys_handler_set(NULL);
    zsys_init();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int count = def->cfg->workers > 0 ? def->cfg->workers : 1;
    worker_t *workers = calloc((size_t)count, sizeof(*workers));
    pthread_t *threads = calloc((size_t)count, sizeof(*threads));
    if (!workers || !threads) {
        free(workers);
        free(threads);
        return -1;
    }
    int started = 0, rc = 0;
    for (int i = 0; i < count; i++)
        pthread_mutex_init(&workers[i].sock_lock, NULL);
    for (int i = 0; i < count; i++) {
        workers[i].def = def;
        workers[i].index = i;
        config_each_item(def->cfg->broker_endpoints, add_link, &workers[i]);
        if (workers[i].nlinks == 0) {
            log_error(NULL, "no broker endpoints in ECOM_BROKER_ENDPOINTS");
            rc = -1;
            break;
        }
        if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) != 0) {
            log_error(NULL, "cannot start worker thread %d", i);
            rc = -1;
            break;
        }
        started++;
    }
    if (rc != 0)
        worker_stop = 1;
    keeper_t keeper = {.workers = workers, .count = started,
                       .hb = def->cfg->heartbeat_ms > 0 ? def->cfg->heartbeat_ms : 1000};
    pthread_t keeper_thread;
    bool keeper_started =
        started > 0 && pthread_create(&keeper_thread, NULL, keeper_main, &keeper) == 0;
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].rc != 0)
            rc = -1;
    }
    if (keeper_started)
        pthread_join(keeper_thread, NULL);
    for (int i = 0; i < count; i++) {
        for (size_t k = 0; k < workers[i].nlinks; k++)
            free(workers[i].links[k].endpoint);
        free(workers[i].links);
        free(workers[i].last_status);
        pthread_mutex_destroy(&workers[i].sock_lock);
    }
    free(workers);
    free(threads);
    return rc;
}
