/* PostgreSQL connection pool.
 *
 * Slots hold connections; idle ones sit on a LIFO stack so hot connections
 * are reused and cold ones age out (recycle). The lock only guards the
 * bookkeeping: connecting, pinging and rolling back happen outside it, on
 * a slot the calling thread has reserved. */
#include "pgpool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

typedef enum { SLOT_FREE, SLOT_IDLE, SLOT_BUSY } slot_state_t;

typedef struct {
    PGconn *conn;
    slot_state_t state;
    int64_t opened_ms;    /* when connected, for recycle */
    int64_t last_used_ms; /* when last released, for pre-ping */
} slot_t;

struct pgpool {
    char *url;
    const pgpool_stmt_t *stmts;
    int size, max_open;
    int timeout_ms;
    int statement_timeout_ms; /* ECOM_REQUEST_TIMEOUT_MS; 0: none */
    int64_t recycle_ms;   /* 0: never */
    int64_t preping_idle_ms;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    slot_t *slots;        /* max_open */
    int *idle;            /* stack of slot indexes, top = most recently used */
    int idle_count;
    int open;             /* IDLE + BUSY slots */
    int in_use;
    int waiting;
    long timeouts;
    bool healthy;
    bool ever_healthy;
    int64_t last_probe_ms;
    int64_t last_fail_log_ms; /* connect failures are logged at most every 5 s */
    bool probing;
};

pgpool_t *pgpool_new(const config_t *cfg, const pgpool_stmt_t *stmts)
{
    pgpool_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->url = strdup(cfg->database_url);
    self->stmts = stmts;
    self->size = cfg->db_pool_size > 0 ? cfg->db_pool_size : 1;
    self->max_open = self->size + (cfg->db_max_overflow > 0 ? cfg->db_max_overflow : 0);
    self->timeout_ms = cfg->db_pool_timeout_s * 1000;
    self->statement_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 0;
    self->recycle_ms = (int64_t)cfg->db_pool_recycle_s * 1000;
    self->preping_idle_ms = cfg->db_preping_idle_ms;
    self->slots = calloc((size_t)self->max_open, sizeof(slot_t));
    self->idle = calloc((size_t)self->max_open, sizeof(int));
    if (!self->url || !self->slots || !self->idle) {
        free(self->url);
        free(self->slots);
        free(self->idle);
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cond, &attr);
    pthread_condattr_destroy(&attr);
    return self;
}

void pgpool_destroy(pgpool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pgpool_t *self = *self_p;
    if (self->in_use > 0)
        log_warn(NULL, "pgpool destroyed with %d connections still lent out", self->in_use);
    for (int i = 0; i < self->max_open; i++)
        if (self->slots[i].conn)
            PQfinish(self->slots[i].conn);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->lock);
    free(self->slots);
    free(self->idle);
    free(self->url);
    free(self);
    *self_p = NULL;
}

/* Lock held. Says when the database goes from reachable to not (and back):
 * /health follows this flag. */
static void healthy_set_locked(pgpool_t *self, bool ok, const char *why)
{
    if (self->healthy && !ok)
        log_info(NULL, "database marked unavailable: %s", why);
    else if (!self->healthy && ok && self->ever_healthy)
        log_info(NULL, "database available again");
    self->healthy = ok;
    self->ever_healthy |= ok;
}

static void set_healthy(pgpool_t *self, bool ok, const char *why)
{
    pthread_mutex_lock(&self->lock);
    healthy_set_locked(self, ok, why);
    pthread_mutex_unlock(&self->lock);
}

/* libpq messages end with a newline; logs want one line. */
static const char *one_line(const char *msg, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", msg ? msg : "");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
    return buf;
}

/* libpq prints server notices as plain text on stderr; keep the log JSON. */
static void notice_to_log(void *arg, const char *message)
{
    char line[512];
    log_debug(NULL, "postgres notice: %s", one_line(message, line, sizeof(line)));
}

/* Opens a connection and prepares every statement; NULL on failure. */
static PGconn *conn_open(pgpool_t *self)
{
    char appname[64];
    snprintf(appname, sizeof(appname), "shopmq-%s", program_invocation_short_name);
    /* dbname first so the URL is expanded, then our settings override it. */
    /* Keepalives bound how long a ping can hang on a peer that vanished. */
    const char *keys[] = {"dbname",          "connect_timeout",     "application_name",
                          "keepalives",      "keepalives_idle",     "keepalives_interval",
                          "keepalives_count", NULL};
    const char *vals[] = {self->url, "3", appname, "1", "10", "5", "3", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    char line[512];
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        /* Every request tries while the server is down: say it every 5 s,
         * not once per request. */
        pthread_mutex_lock(&self->lock);
        int64_t now = clock_mono_ms();
        bool say = self->last_fail_log_ms == 0 || now - self->last_fail_log_ms >= 5000;
        if (say)
            self->last_fail_log_ms = now;
        pthread_mutex_unlock(&self->lock);
        if (say)
            log_warn(NULL, "database connect failed: %s",
                     one_line(conn ? PQerrorMessage(conn) : "out of memory", line, sizeof(line)));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
    /* No statement may outlive the request it serves: by then the gateway
     * has answered 504, and a wait on a lock (or a runaway plan) would hold
     * the worker thread and the connection for as long as it lasts. SET,
     * not an "options" connect parameter, which would replace any the URL
     * carries. */
    if (self->statement_timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SET statement_timeout = %d", self->statement_timeout_ms);
        PGresult *res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            log_error(NULL, "setting statement_timeout failed: %s",
                      one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(conn), line,
                               sizeof(line)));
            PQclear(res);
            PQfinish(conn);
            return NULL;
        }
        PQclear(res);
    }
    for (const pgpool_stmt_t *st = self->stmts; st && st->name; st++) {
        PGresult *res = PQprepare(conn, st->name, st->sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            log_error(NULL, "prepare of statement %s failed (sqlstate %s): %s", st->name,
                      res && pgpool_sqlstate(res)[0] ? pgpool_sqlstate(res) : "none",
                      one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(conn), line,
                               sizeof(line)));
            PQclear(res);
            PQfinish(conn);
            return NULL;
        }
        PQclear(res);
    }
    return conn;
}

/* Cheap check before lending a recently used connection: an idle
 * connection must have nothing to read. After a server restart or
 * pg_terminate_backend the server has sent a FATAL message and closed the
 * socket, so it is readable; anything readable earns a real ping. */
static bool conn_quiet(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
        return false;
    struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
    if (pfd.fd < 0)
        return false;
    int r;
    do
        r = poll(&pfd, 1, 0);
    while (r < 0 && errno == EINTR);
    return r == 0;
}

static bool conn_ping(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return false;
    PGresult *res = PQexec(conn, "");
    bool ok = res && PQresultStatus(res) == PGRES_EMPTY_QUERY;
    PQclear(res);
    return ok && PQstatus(conn) == CONNECTION_OK &&
           PQtransactionStatus(conn) == PQTRANS_IDLE;
}

/* Gives a reserved slot back without a connection. Lock held. */
static void slot_free_locked(pgpool_t *self, int i)
{
    slot_t *s = &self->slots[i];
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    if (s->state == SLOT_BUSY)
        self->in_use--;
    s->state = SLOT_FREE;
    self->open--;
    pthread_cond_signal(&self->cond);
}

/* Reserves a slot for the caller: an idle connection (*fresh = false) or a
 * free slot to connect (*fresh = true). -1 on timeout. */
static int slot_reserve(pgpool_t *self, int timeout_ms, bool count_timeout, bool *fresh)
{
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&self->lock);
    int found = -1;
    for (;;) {
        if (self->idle_count > 0) {
            found = self->idle[--self->idle_count];
            *fresh = false;
            break;
        }
        if (self->open < self->max_open) {
            for (int i = 0; i < self->max_open; i++) {
                if (self->slots[i].state == SLOT_FREE) {
                    found = i;
                    break;
                }
            }
            self->open++;
            *fresh = true;
            break;
        }
        int64_t now = clock_mono_ms();
        if (now >= deadline) {
            if (count_timeout)
                self->timeouts++;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = deadline - now;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        self->waiting++;
        pthread_cond_timedwait(&self->cond, &self->lock, &ts);
        self->waiting--;
    }
    if (found >= 0) {
        self->slots[found].state = SLOT_BUSY;
        self->in_use++;
    }
    pthread_mutex_unlock(&self->lock);
    return found;
}

static PGconn *acquire(pgpool_t *self, int timeout_ms, bool count_timeout)
{
    if (!self)
        return NULL;
    if (timeout_ms < 0)
        timeout_ms = self->timeout_ms;
    bool fresh;
    int i = slot_reserve(self, timeout_ms, count_timeout, &fresh);
    if (i < 0)
        return NULL;
    slot_t *s = &self->slots[i];
    int64_t now = clock_mono_ms();

    if (!fresh) {
        bool replace = false;
        if (self->recycle_ms > 0 && now - s->opened_ms >= self->recycle_ms) {
            replace = true;
        } else if (!conn_quiet(s->conn) || now - s->last_used_ms >= self->preping_idle_ms) {
            bool ok = conn_ping(s->conn);
            set_healthy(self, ok, "a pooled connection failed its ping");
            if (!ok) {
                log_info(NULL, "pooled database connection is broken; reconnecting");
                replace = true;
            }
        }
        if (!replace)
            return s->conn;
        pthread_mutex_lock(&self->lock);
        PGconn *old = s->conn;
        s->conn = NULL;
        pthread_mutex_unlock(&self->lock);
        PQfinish(old);
    }

    PGconn *conn = conn_open(self);
    pthread_mutex_lock(&self->lock);
    healthy_set_locked(self, conn != NULL, "a new connection failed");
    if (!conn) {
        slot_free_locked(self, i);
        pthread_mutex_unlock(&self->lock);
        return NULL;
    }
    s->conn = conn;
    s->opened_ms = clock_mono_ms();
    pthread_mutex_unlock(&self->lock);
    return conn;
}

PGconn *pgpool_acquire(pgpool_t *self, int timeout_ms)
{
    return acquire(self, timeout_ms, true);
}

void pgpool_release(pgpool_t *self, PGconn *conn)
{
    if (!self || !conn)
        return;
    bool keep = PQstatus(conn) == CONNECTION_OK;
    if (keep) {
        PGTransactionStatusType ts = PQtransactionStatus(conn);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            PGresult *res = PQexec(conn, "ROLLBACK");
            keep = res && PQresultStatus(res) == PGRES_COMMAND_OK &&
                   PQtransactionStatus(conn) == PQTRANS_IDLE;
            PQclear(res);
        } else if (ts != PQTRANS_IDLE) {
            keep = false; /* a query still active, or unknown: start over */
        }
    }

    pthread_mutex_lock(&self->lock);
    if (PQstatus(conn) != CONNECTION_OK)
        healthy_set_locked(self, false, "a connection came back broken");
    int i;
    for (i = 0; i < self->max_open; i++)
        if (self->slots[i].conn == conn && self->slots[i].state == SLOT_BUSY)
            break;
    if (i == self->max_open) {
        pthread_mutex_unlock(&self->lock);
        log_error(NULL, "pgpool_release: connection not lent by this pool; closing it");
        PQfinish(conn);
        return;
    }
    /* Overflow connections are closed rather than kept beyond size. */
    if (!keep || self->open > self->size) {
        slot_free_locked(self, i);
    } else {
        slot_t *s = &self->slots[i];
        s->state = SLOT_IDLE;
        s->last_used_ms = clock_mono_ms();
        self->in_use--;
        self->idle[self->idle_count++] = i;
        pthread_cond_signal(&self->cond);
    }
    pthread_mutex_unlock(&self->lock);
}

PGresult *pgpool_exec(PGconn *conn, const char *stmt, int nparams, const char *const *values)
{
    if (!conn)
        return NULL;
    return PQexecPrepared(conn, stmt, nparams, values, NULL, NULL, 0);
}

/* With no traffic the last result goes stale; one caller at a time
 * refreshes it (at most every 2 s) by borrowing a connection, which pings
 * it if idle long enough. An exhausted pool says nothing about health. */
bool pgpool_healthy(pgpool_t *self)
{
    if (!self)
        return false;
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&self->lock);
    bool probe = !self->probing && now - self->last_probe_ms >= 2000 && self->in_use == 0;
    if (probe)
        self->probing = true;
    pthread_mutex_unlock(&self->lock);
    if (probe) {
        PGconn *conn = acquire(self, 0, false);
        if (conn)
            pgpool_release(self, conn);
        pthread_mutex_lock(&self->lock);
        self->probing = false;
        self->last_probe_ms = clock_mono_ms();
        pthread_mutex_unlock(&self->lock);
    }
    pthread_mutex_lock(&self->lock);
    bool ok = self->healthy;
    pthread_mutex_unlock(&self->lock);
    return ok;
}

void pgpool_stats(pgpool_t *self, pgpool_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    out->size = self->size;
    out->open = self->open;
    out->in_use = self->in_use;
    out->waiting = self->waiting;
    out->timeouts = self->timeouts;
    pthread_mutex_unlock(&self->lock);
}

const char *pgpool_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

bool pgpool_is_retryable(const PGresult *res)
{
    const char *s = pgpool_sqlstate(res);
    return strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0;
}

bool pgpool_is_conn_error(PGconn *conn, const PGresult *res)
{
    if (!conn || PQstatus(conn) != CONNECTION_OK || !res)
        return true;
    const char *s = pgpool_sqlstate(res);
    /* 57014: statement_timeout (the request's deadline) fired. The gateway
     * has answered 504 already; for logs and metrics it is an unavailable
     * database (503), not a server bug (500). */
    return strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
           strcmp(s, "57P03") == 0 || strcmp(s, "57014") == 0;
}
