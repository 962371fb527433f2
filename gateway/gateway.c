/* The gateway's event loops: sockets, polling and lifecycle; see gateway.h.
 * What happens to a request is in gwhttp.c. */
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "docs.h"
#include "gwloop.h"
#include "log.h"

#define POLL_CAP_MS 200 /* how late a loop may notice gateway_stop() */
#define MAX_RL_ITEMS 8

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_warn(NULL, "libmicrohttpd: %s", buf);
}

static void add_origin(const char *item, void *arg)
{
    gateway_t *gw = arg;
    if (strcmp(item, "*") == 0)
        gw->cors_any = true;
    else if (gw->norigins < GW_MAX_ORIGINS)
        snprintf(gw->origins[gw->norigins++], sizeof gw->origins[0], "%s", item);
}

typedef struct {
    gw_loop_t *loop;
    int failed;
} connect_ctx_t;

static void connect_broker(const char *endpoint, void *arg)
{
    connect_ctx_t *c = arg;
    if (zsock_connect(c->loop->dealer, "%s", endpoint) != 0) {
        log_error(NULL, "cannot connect to broker %s (ECOM_BROKER_ENDPOINTS)", endpoint);
        c->failed++;
    }
}

static int loop_init(gateway_t *gw, gw_loop_t *L, int index, const struct sockaddr *addr,
                     unsigned conn_limit)
{
    const config_t *cfg = gw->cfg;
    L->gw = gw;
    L->index = index;
    L->epoll_fd = -1;
    L->nslots = conn_limit + 16;
    L->free_head = L->nslots;
    /* calloc'd pages are only touched as slots get used (high-water mark). */
    L->slots = calloc(L->nslots, sizeof(slot_t));
    L->meta = malloc(SMQ_MAX_META);
    L->metrics = gwmetrics_new();
    L->trace_state = (uint64_t)clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^
                     ((uint64_t)index * 0x9E3779B97F4A7C15ull);
    if (!L->slots || !L->meta || !L->metrics)
        return -1;

    L->rl = ratelimit_new(cfg);
    if (!L->rl)
        return -1;
    L->rl_on = ratelimit_enabled(L->rl);
    L->cache = gwcache_new(cfg, gwhttp_on_cache, L);
    if (cfg->redis_enabled && !L->cache)
        return -1;

    L->dealer = zsock_new(ZMQ_DEALER);
    if (!L->dealer)
        return -1;
    zsock_set_immediate(L->dealer, 1);
    zsock_set_sndtimeo(L->dealer, 0);
    zsock_set_rcvtimeo(L->dealer, 0);
    zsock_set_sndhwm(L->dealer, 100000);
    zsock_set_rcvhwm(L->dealer, 100000);
    zsock_set_linger(L->dealer, 0);
    /* With two brokers, one that dies without closing its connections (a
     * hung process, a lost host) would keep getting its share of requests
     * until TCP gave up, minutes later. ZMTP heartbeats close the
     * connection after three silent intervals, and ZMQ_IMMEDIATE then
     * leaves that broker out of the round robin until it is back. */
    int hb = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : 500;
    zsock_set_heartbeat_ivl(L->dealer, hb);
    zsock_set_heartbeat_timeout(L->dealer, 3 * hb);
    connect_ctx_t c = {L, 0};
    if (config_each_item(cfg->broker_endpoints, connect_broker, &c) == 0 || c.failed)
        return -1;

    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    if (addr->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* SO_REUSEPORT only when our own loops share the port: a single loop
     * must fail loudly when something else already listens there. The
     * option is left out for one loop rather than passed as 0: MHD maps 0
     * to "disallow", which also drops its default SO_REUSEADDR, and then a
     * gateway restarted after a crash cannot bind while the dead one's
     * connections sit in TIME_WAIT. SO_REUSEADDR alone still refuses a
     * port another socket listens on. */
    struct MHD_OptionItem reuse[] = {
        {gw->cfg->gateway_threads > 1 ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_END, 1,
         NULL},
        {MHD_OPTION_END, 0, NULL}};
    L->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, gwhttp_on_request, L, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_ARRAY, reuse, MHD_OPTION_URI_LOG_CALLBACK,
        gwhttp_on_uri, L, MHD_OPTION_NOTIFY_COMPLETED, gwhttp_on_completed, L,
        MHD_OPTION_NOTIFY_CONNECTION, gwconn_notify, L,
        MHD_OPTION_CONNECTION_LIMIT, conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)32768, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
        MHD_OPTION_END);
    if (!L->daemon) {
        log_error(NULL, "cannot listen on %s:%d (ECOM_HOST/ECOM_PORT): %s", cfg->host, cfg->port,
                  strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(L->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di)
        return -1;
    L->epoll_fd = di->epoll_fd;
    return 0;
}

static void loop_destroy(gw_loop_t *L)
{
    if (L->daemon)
        MHD_stop_daemon(L->daemon);
    L->daemon = NULL;
    gwconn_free_all(L);
    zsock_destroy(&L->dealer);
    ratelimit_destroy(&L->rl);
    gwcache_destroy(&L->cache);
    if (L->slots) {
        for (uint32_t i = 0; i < L->used_slots; i++) {
            free(L->slots[i].ubuf);
            free(L->slots[i].body);
        }
    }
    free(L->slots);
    L->slots = NULL;
    free(L->meta);
    L->meta = NULL;
    /* metrics are destroyed by the gateway (other loops may still read them) */
}

gateway_t *gateway_new(const config_t *cfg)
{
    gateway_t *gw = calloc(1, sizeof *gw);
    if (!gw)
        return NULL;
    gw->cfg = cfg;
    gw->start_ms = clock_mono_ms();
    char err[256] = "";
    gw->trusted = cidr_list_parse(cfg->trusted_proxies, err, sizeof err);
    if (!gw->trusted) {
        log_error(NULL, "ECOM_TRUSTED_PROXIES: %s", err);
        free(gw);
        return NULL;
    }
    config_each_item(cfg->cors_origins, add_origin, gw);
    adminauth_init(&gw->admin, cfg->admin_token);
    if (!gw->admin.on)
        log_warn(NULL, "ECOM_ADMIN_TOKEN is not set: catalog writes and order status changes "
                       "are open to every client");
    docs_init();

    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int rc = getaddrinfo(cfg->host[0] ? cfg->host : NULL, port, &hints, &ai);
    if (rc != 0 || !ai) {
        log_error(NULL, "ECOM_HOST %s: %s", cfg->host, gai_strerror(rc));
        cidr_list_destroy(&gw->trusted);
        free(gw);
        return NULL;
    }
    struct sockaddr_storage addr;
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);

    gw->nloops = cfg->gateway_threads > 0 ? cfg->gateway_threads : 1;
    gw->loops = calloc((size_t)gw->nloops, sizeof(gw_loop_t));
    gw->metrics = calloc((size_t)gw->nloops, sizeof(gwmetrics_t *));
    int maxc = cfg->max_connections > 0 ? cfg->max_connections : 10000;
    unsigned limit = (unsigned)((maxc + gw->nloops - 1) / gw->nloops);
    for (int i = 0; gw->loops && gw->metrics && i < gw->nloops; i++) {
        if (loop_init(gw, &gw->loops[i], i, (struct sockaddr *)&addr, limit) != 0) {
            gw->nloops = i + 1;
            gateway_destroy(&gw);
            return NULL;
        }
        gw->metrics[i] = gw->loops[i].metrics;
        if (i == 0) {
            /* With port 0, every further loop must share the port the first got. */
            const union MHD_DaemonInfo *di =
                MHD_get_daemon_info(gw->loops[0].daemon, MHD_DAEMON_INFO_BIND_PORT);
            gw->port = di ? di->port : (uint16_t)cfg->port;
            if (addr.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&addr)->sin6_port = htons(gw->port);
            else
                ((struct sockaddr_in *)&addr)->sin_port = htons(gw->port);
        }
    }
    if (!gw->loops || !gw->metrics) {
        gateway_destroy(&gw);
        return NULL;
    }
    return gw;
}

void gateway_destroy(gateway_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gateway_t *gw = *self_p;
    for (int i = 0; gw->loops && i < gw->nloops; i++)
        loop_destroy(&gw->loops[i]);
    for (int i = 0; gw->loops && i < gw->nloops; i++)
        gwmetrics_destroy(&gw->loops[i].metrics);
    /* The daemons are stopped: no response points into the docs any more. */
    docs_destroy();
    free(gw->loops);
    free(gw->metrics);
    cidr_list_destroy(&gw->trusted);
    free(gw);
    *self_p = NULL;
}

uint16_t gateway_port(gateway_t *self)
{
    return self->port;
}

void gateway_stop(gateway_t *self)
{
    __atomic_store_n(&self->stop, 1, __ATOMIC_RELAXED);
}

/* The DEALER has a zero receive timeout: zmsg_recv returns NULL once it is
 * empty. (Asking ZMQ_EVENTS first would cost a poll(2) and a getpid(2) per
 * message: libzmq checks its command mailbox on every such query.) */
static void drain_replies(gw_loop_t *L)
{
    for (;;) {
        zmsg_t *msg = zmsg_recv(L->dealer);
        if (!msg)
            break;
        smq_reply_t rep;
        memset(&rep, 0, sizeof rep);
        if (smq_client_reply_decode(msg, &rep) == 0)
            gwhttp_on_reply(L, &rep);
        else
            log_warn(NULL, "dropped a malformed reply from the broker");
        smq_reply_clear(&rep);
        zmsg_destroy(&msg);
    }
}

static long min_timeout(long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* One pass: wait for anything (sockets, MHD, Redis, a deadline), then serve it. */
static void loop_once(gw_loop_t *L, int cap_ms)
{
    zmq_pollitem_t items[3 + MAX_RL_ITEMS];
    items[0] = (zmq_pollitem_t){.socket = zsock_resolve(L->dealer), .events = ZMQ_POLLIN};
    items[1] = (zmq_pollitem_t){.fd = L->epoll_fd, .events = ZMQ_POLLIN};
    int nc = L->cache ? gwcache_pollitems(L->cache, items + 2, 1) : 0;
    int nrl = ratelimit_pollitems(L->rl, items + 2 + nc, MAX_RL_ITEMS);
    if (nrl < 0)
        nrl = 0;

    long timeout = cap_ms;
    MHD_UNSIGNED_LONG_LONG mhd_ms;
    if (MHD_get_timeout(L->daemon, &mhd_ms) == MHD_YES)
        timeout = min_timeout(timeout, mhd_ms > (MHD_UNSIGNED_LONG_LONG)cap_ms ? cap_ms : (long)mhd_ms);
    timeout = min_timeout(timeout, gwhttp_deadlines(L, clock_mono_ms()));
    timeout = min_timeout(timeout, ratelimit_next_timeout_ms(L->rl));
    if (L->cache)
        timeout = min_timeout(timeout, gwcache_next_timeout_ms(L->cache));
    if (L->resumed)
        timeout = 0; /* resumed connections are served by the next MHD_run */

    int rc = zmq_poll(items, 2 + nc + nrl, timeout);
    if (rc < 0 && errno != EINTR)
        log_warn(NULL, "zmq_poll: %s", zmq_strerror(errno));
    if (nrl)
        ratelimit_process(L->rl, items + 2 + nc, nrl);
    if (ratelimit_next_timeout_ms(L->rl) == 0)
        ratelimit_timeout(L->rl);
    if (nc)
        gwcache_process(L->cache, items + 2, nc);
    if (L->cache && gwcache_next_timeout_ms(L->cache) == 0)
        gwcache_timeout(L->cache);
    if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
        drain_replies(L);
    gwhttp_deadlines(L, clock_mono_ms());
    gwconn_expire(L, clock_mono_ms());
    L->resumed = false;
    MHD_run(L->daemon);

    ratelimit_stats_t st;
    ratelimit_stats(L->rl, &st);
    gwmetrics_ratelimit(L->metrics, &st);
}

static void *loop_run(void *arg)
{
    gw_loop_t *L = arg;
    gateway_t *gw = L->gw;
    while (!__atomic_load_n(&gw->stop, __ATOMIC_RELAXED))
        loop_once(L, POLL_CAP_MS);

    /* Stop accepting, answer what is in flight, give MHD a moment to write it. */
    MHD_socket lsock = MHD_quiesce_daemon(L->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    gwhttp_shutdown(L);
    int64_t until = clock_mono_ms() + 300;
    while (clock_mono_ms() < until) {
        bool busy = false;
        for (uint32_t i = 0; i < L->used_slots && !busy; i++)
            busy = L->slots[i].state == SLOT_READY || L->slots[i].suspended;
        if (!busy)
            break;
        loop_once(L, 20);
        gwhttp_shutdown(L); /* anything that arrived meanwhile */
    }
    return NULL;
}

int gateway_run(gateway_t *self)
{
    /* Signals go to the calling thread, whose poll then returns at once. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int started = 1;
    for (int i = 1; i < self->nloops; i++) {
        if (pthread_create(&self->loops[i].thread, NULL, loop_run, &self->loops[i]) != 0) {
            log_error(NULL, "cannot start event loop %d", i);
            gateway_stop(self);
            break;
        }
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    log_info(NULL, "gateway listening on %s:%u with %d event loop(s)", self->cfg->host,
             (unsigned)self->port, self->nloops);
    loop_run(&self->loops[0]);
    for (int i = 1; i < started; i++)
        pthread_join(self->loops[i].thread, NULL);
    return 0;
}
