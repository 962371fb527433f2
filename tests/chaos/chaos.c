/* The chaos run (`make test-chaos`): the real stack under a bounded mixed
 * load while a fault script kills and restarts, in turn, catalog-svc,
 * order-svc, customer-svc, the broker, the gateway, Redis and PostgreSQL.
 *
 * What it proves, and fails (exit 1) on:
 *  - no hang: every request has a 10 s client timeout, and a timeout is a
 *    violation;
 *  - only faults fail requests: a failed request is a 502/503/504 or a
 *    connection error sent while the fault lasted (from the kill until
 *    shortly after the affected paths answered again); anything else (a
 *    500, an unexpected 4xx, a failure long after recovery or before the
 *    first fault) is a violation;
 *  - recovery: from the restart to the first good answer of every affected
 *    path takes at most 3 s (PostgreSQL: counted from when it accepts
 *    connections again, its own start time is printed beside it);
 *  - the ledger, through SQL and HTTP: every order a client saw created
 *    exists exactly once; no Idempotency-Key made two orders; for every
 *    product initial stock = stock + sum of its non-cancelled order lines;
 *    every product read through the gateway (the cache) equals the
 *    database.
 *
 * Clients retry an order with the same Idempotency-Key on 502/503/504, on
 * 409 ("still being processed") and on connection errors, a bounded number
 * of times; cancels are retried the same way (setting the current status
 * again is a no-op). Not a ctest test: it runs for about a minute. */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define N_PRODUCTS 20
#define N_CUSTOMERS 4
#define MAX_CLIENTS 64
#define INITIAL_STOCK 4000
#define CLIENT_TIMEOUT_MS 10000
#define PROBE_TIMEOUT_MS 2000
#define RECOVERY_LIMIT_MS 3000
#define RECOVERY_GIVE_UP_MS 30000
#define DOWN_MS 1000        /* how long a killed process stays down */
#define LOAD_BETWEEN_MS 5500 /* load between faults: longer than the gateway's 5 s deadline,
                              * so what a fault left in flight is answered in its phase */
#define GRACE_MS 1000       /* failures sent this long after recovery still count */
#define MAX_ATTEMPTS 12     /* per logical request */
#define MAX_RECORDS 400000
#define MAX_ORDERS 100000

/* ---- time ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static long long t_start;

/* ---- violations ---- */

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int s_violations;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s_lock);
    s_violations++;
    if (s_violations <= 60) {
        fprintf(stderr, "VIOLATION [%6.2fs] ", (now_ms() - t_start) / 1000.0);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&s_lock);
    va_end(ap);
}

/* ---- the stack ---- */

static harness_t *h;
static int s_port;
static char s_products[N_PRODUCTS][40];
static char s_customers[N_CUSTOMERS][40];

/* ---- every HTTP attempt, for the per-fault accounting ---- */

typedef enum { OUT_GOOD, OUT_TOLERATED, OUT_BAD } outcome_t;

typedef struct {
    long long sent, done;
    int status; /* 0: connection error (or timeout, then OUT_BAD) */
    char outcome;
    char what[24];
} record_t;

static record_t *s_records;
static int s_nrecords;

static void record(long long sent, long long done, int status, outcome_t out, const char *what)
{
    pthread_mutex_lock(&s_lock);
    if (s_nrecords < MAX_RECORDS) {
        record_t *r = &s_records[s_nrecords++];
        r->sent = sent;
        r->done = done;
        r->status = status;
        r->outcome = (char)out;
        snprintf(r->what, sizeof r->what, "%s", what);
    }
    pthread_mutex_unlock(&s_lock);
}

static bool tolerated_status(int status)
{
    return status == 502 || status == 503 || status == 504;
}

/* One attempt. Returns the status (0 for a connection error); a hang is a
 * violation. *resp is filled when the status is non-zero. */
static int attempt(const char *what, const char *method, const char *path, const char *body,
                   const char *const *headers, http_resp_t *resp)
{
    long long t0 = now_ms();
    int rc = http_request_timeout(s_port, method, path, body, body ? strlen(body) : 0, headers,
                                  CLIENT_TIMEOUT_MS, resp);
    long long t1 = now_ms();
    int status = rc == 0 ? resp->status : 0;
    if (status == 0 && t1 - t0 >= CLIENT_TIMEOUT_MS - 100) {
        violation("%s %s %s: no answer within %d ms (hang)", what, method, path,
                  CLIENT_TIMEOUT_MS);
        record(t0, t1, 0, OUT_BAD, what);
        return -1;
    }
    return status;
}

/* ---- the client threads ---- */

typedef struct {
    char id[40];
    char key[48];
    bool cancelled; /* a client saw the cancel answered 200 */
    bool cancelling;
} order_t;

static order_t *s_orders;
static int s_norders;
static volatile int s_stop;
/* CHAOS_CLIENTS (default 4) and CHAOS_PAUSE_MS (default 3, between one
 * client's requests) make the load heavier for a manual run. */
static int s_clients = 4, s_pause_ms = 3;

typedef struct {
    int idx;
    unsigned seed;
    long ops, orders_created, orders_given_up, cancels, insufficient;
    long orders_retried; /* created (201) only after a failed attempt with the same key */
} client_t;

/* A request retried on tolerated failures. good_extra: further statuses
 * that are a fine answer (e.g. 400 for insufficient stock); retry_extra:
 * statuses retried but not a violation (409 "still processing"). Returns
 * the final status (or 0 when every attempt failed); *out gets the final
 * response. */
static int request_retrying(client_t *c, const char *what, const char *method, const char *path,
                            const char *body, const char *const *headers, int good_extra,
                            int retry_extra, http_resp_t *out, int *attempts)
{
    memset(out, 0, sizeof *out);
    for (int a = 0; a < MAX_ATTEMPTS; a++) {
        if (attempts)
            *attempts = a + 1;
        http_resp_t r;
        long long t0 = now_ms();
        int st = attempt(what, method, path, body, headers, &r);
        long long t1 = now_ms();
        if (st < 0) { /* hang: recorded */
            http_resp_clear(&r);
        } else if ((st >= 200 && st < 300) || st == good_extra) {
            record(t0, t1, st, OUT_GOOD, what);
            if (t1 - t0 > 1000 && getenv("CHAOS_VERBOSE"))
                fprintf(stderr, "# [%6.2fs] %s %s -> %d after %lld ms (slow)\n",
                        (t0 - t_start) / 1000.0, what, path, st, t1 - t0);
            http_resp_clear(out);
            *out = r;
            return st;
        } else if (st == 0 || tolerated_status(st) || st == retry_extra) {
            record(t0, t1, st, OUT_TOLERATED, what);
            if (getenv("CHAOS_VERBOSE"))
                fprintf(stderr, "# [%6.2fs] %s %s -> %d after %lld ms\n",
                        (t0 - t_start) / 1000.0, what, path, st, t1 - t0);
            http_resp_clear(&r);
        } else {
            record(t0, t1, st, OUT_BAD, what);
            violation("%s %s %s: unexpected %d %.200s", what, method, path, st,
                      r.body ? r.body : "");
            http_resp_clear(out);
            *out = r;
            return st;
        }
        if (s_stop && a >= 2)
            break;
        sleep_ms(50 + 100 * a < 1000 ? 50 + 100 * a : 1000);
    }
    return 0;
}

static const char *pick_product(client_t *c)
{
    return s_products[rand_r(&c->seed) % N_PRODUCTS];
}

static void op_get_product(client_t *c)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/products/%s", pick_product(c));
    http_resp_t r;
    request_retrying(c, "product.get", "GET", path, NULL, NULL, 0, 0, &r, NULL);
    if (r.status == 200 && !json_is_integer(json_object_get(r.json, "stock")))
        violation("GET %s: 200 without an integer stock: %.200s", path, r.body);
    http_resp_clear(&r);
}

static void op_list_products(client_t *c)
{
    static const char *const queries[] = {
        "?page=1&page_size=10", "?page=2&page_size=10", "?in_stock=true",
        "?search=chaos&page_size=5", "?min_price=5&max_price=50",
    };
    char path[160];
    snprintf(path, sizeof path, "/api/v1/products%s",
             queries[rand_r(&c->seed) % (sizeof queries / sizeof queries[0])]);
    http_resp_t r;
    request_retrying(c, "product.list", "GET", path, NULL, NULL, 0, 0, &r, NULL);
    http_resp_clear(&r);
}

static void op_get_customer(client_t *c)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/customers/%s",
             s_customers[rand_r(&c->seed) % N_CUSTOMERS]);
    http_resp_t r;
    request_retrying(c, "customer.get", "GET", path, NULL, NULL, 0, 0, &r, NULL);
    http_resp_clear(&r);
}

static void op_get_order(client_t *c)
{
    char path[128];
    pthread_mutex_lock(&s_lock);
    int n = s_norders;
    if (n > 0)
        snprintf(path, sizeof path, "/api/v1/orders/%s", s_orders[rand_r(&c->seed) % n].id);
    pthread_mutex_unlock(&s_lock);
    if (n == 0)
        snprintf(path, sizeof path, "/api/v1/orders?page_size=5");
    http_resp_t r;
    request_retrying(c, "order.get", "GET", path, NULL, NULL, 0, 0, &r, NULL);
    http_resp_clear(&r);
}

static void op_place_order(client_t *c)
{
    /* 1..3 distinct products, 1..3 each. */
    int lines = 1 + (int)(rand_r(&c->seed) % 3);
    int chosen[3];
    char body[1024];
    int off = snprintf(body, sizeof body, "{\"customer_id\":\"%s\",\"items\":[",
                       s_customers[rand_r(&c->seed) % N_CUSTOMERS]);
    for (int i = 0; i < lines; i++) {
        int p;
        bool dup;
        do {
            p = (int)(rand_r(&c->seed) % N_PRODUCTS);
            dup = false;
            for (int j = 0; j < i; j++)
                dup = dup || chosen[j] == p;
        } while (dup);
        chosen[i] = p;
        off += snprintf(body + off, sizeof body - (size_t)off,
                        "%s{\"product_id\":\"%s\",\"quantity\":%d}", i ? "," : "",
                        s_products[p], 1 + (int)(rand_r(&c->seed) % 3));
    }
    snprintf(body + off, sizeof body - (size_t)off, "]}");
    char key[48], hdr[80];
    snprintf(key, sizeof key, "chaos-%d-%ld", c->idx, c->ops);
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
    const char *headers[] = {hdr, NULL};
    http_resp_t r;
    int tries = 0;
    int st = request_retrying(c, "order.create", "POST", "/api/v1/orders", body, headers, 400,
                              409, &r, &tries);
    if (st == 201) {
        const char *id = json_string_value(json_object_get(r.json, "id"));
        if (!id) {
            violation("POST /api/v1/orders: 201 without an id: %.200s", r.body);
        } else {
            pthread_mutex_lock(&s_lock);
            if (s_norders < MAX_ORDERS) {
                order_t *o = &s_orders[s_norders++];
                snprintf(o->id, sizeof o->id, "%s", id);
                snprintf(o->key, sizeof o->key, "%s", key);
            }
            pthread_mutex_unlock(&s_lock);
            c->orders_created++;
            c->orders_retried += tries > 1;
        }
    } else if (st == 400) {
        c->insufficient++;
    } else if (st == 0) {
        c->orders_given_up++; /* the ledger still accounts for it */
    }
    http_resp_clear(&r);
}

static void op_cancel(client_t *c)
{
    order_t *o = NULL;
    pthread_mutex_lock(&s_lock);
    for (int tries = 0; tries < 4 && s_norders > 0 && !o; tries++) {
        order_t *cand = &s_orders[rand_r(&c->seed) % s_norders];
        if (!cand->cancelled && !cand->cancelling) {
            cand->cancelling = true;
            o = cand;
        }
    }
    pthread_mutex_unlock(&s_lock);
    if (!o)
        return;
    char path[160];
    snprintf(path, sizeof path, "/api/v1/orders/%s/status?status=cancelled", o->id);
    http_resp_t r;
    int st = request_retrying(c, "order.cancel", "PATCH", path, NULL, NULL, 0, 0, &r, NULL);
    if (st == 200) {
        const char *s = json_string_value(json_object_get(r.json, "status"));
        if (!s || strcmp(s, "cancelled") != 0)
            violation("PATCH %s: 200 but status %s", path, s ? s : "(none)");
        c->cancels++;
    }
    pthread_mutex_lock(&s_lock);
    o->cancelling = false;
    o->cancelled = o->cancelled || st == 200;
    pthread_mutex_unlock(&s_lock);
    http_resp_clear(&r);
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    while (!s_stop) {
        int r = (int)(rand_r(&c->seed) % 100);
        if (r < 35)
            op_get_product(c);
        else if (r < 50)
            op_list_products(c);
        else if (r < 57)
            op_get_customer(c);
        else if (r < 64)
            op_get_order(c);
        else if (r < 92)
            op_place_order(c);
        else
            op_cancel(c);
        c->ops++;
        if (s_pause_ms > 0)
            sleep_ms(s_pause_ms); /* bounded: a few hundred requests a second in all */
    }
    return NULL;
}

/* ---- recovery probes ---- */

enum { P_CATALOG = 1, P_ORDER = 2, P_CUSTOMER = 4, P_CACHE = 8, P_CATALOG_DB = 16 };

static bool probe_once(int which)
{
    char path[160];
    static unsigned probe_seq;
    switch (which) {
    case P_CATALOG:
        snprintf(path, sizeof path, "/api/v1/products/%s", s_products[0]);
        break;
    case P_CATALOG_DB: /* a list nobody asked for before: not in the cache */
        snprintf(path, sizeof path, "/api/v1/products?search=probe%u", ++probe_seq);
        break;
    case P_ORDER:
        snprintf(path, sizeof path, "/api/v1/orders?page_size=1");
        break;
    case P_CUSTOMER:
        snprintf(path, sizeof path, "/api/v1/customers/%s", s_customers[0]);
        break;
    case P_CACHE:
        snprintf(path, sizeof path, "/api/v1/cache/stats");
        break;
    default:
        return false;
    }
    http_resp_t r;
    bool good = false;
    if (http_request_timeout(s_port, "GET", path, NULL, 0, NULL, PROBE_TIMEOUT_MS, &r) == 0) {
        if (which == P_CACHE)
            good = r.status == 200 && json_is_true(json_object_get(r.json, "available"));
        else
            good = r.status == 200;
    }
    http_resp_clear(&r);
    return good;
}

/* Polls every affected path until it answers well; returns the time of the
 * last first-good answer, or -1 after RECOVERY_GIVE_UP_MS. */
static long long wait_recovered(int paths, long long from)
{
    int left = paths;
    long long last = from;
    while (left) {
        for (int bit = 1; bit <= P_CATALOG_DB; bit <<= 1)
            if ((left & bit) && probe_once(bit)) {
                left &= ~bit;
                last = now_ms();
            }
        if (!left)
            break;
        if (now_ms() - from > RECOVERY_GIVE_UP_MS)
            return -1;
        sleep_ms(10);
    }
    return last;
}

/* ---- the fault script ---- */

typedef struct {
    const char *name;  /* table label */
    const char *proc;  /* harness process name */
    int sig;
    int paths;         /* what must answer again */
    const char *svc;   /* worker pool to wait for, or NULL */
    bool strict;       /* nothing may fail (the stack must not depend on it) */
    /* filled in */
    long long t_kill, t_restart, t_ready, t_recovered, t_end;
    long sent, failed, bad;
    long long max_ms; /* slowest answer given in the phase */
    char codes[96];
} fault_t;

static fault_t s_faults[] = {
    {.name = "kill -9 catalog-svc", .proc = "catalog-svc", .sig = SIGKILL, .paths = P_CATALOG,
     .svc = "catalog"},
    {.name = "kill -9 order-svc", .proc = "order-svc", .sig = SIGKILL, .paths = P_ORDER,
     .svc = "order"},
    {.name = "kill -9 customer-svc", .proc = "customer-svc", .sig = SIGKILL,
     .paths = P_CUSTOMER, .svc = "customer"},
    {.name = "kill -9 broker", .proc = "broker", .sig = SIGKILL,
     .paths = P_CATALOG | P_ORDER | P_CUSTOMER},
    {.name = "kill -9 gateway", .proc = "gateway", .sig = SIGKILL,
     .paths = P_CATALOG | P_ORDER | P_CUSTOMER},
    {.name = "stop redis", .proc = "redis", .sig = SIGTERM, .paths = P_CACHE, .strict = true},
    {.name = "kill -9 postgres", .proc = "postgres", .sig = SIGKILL,
     .paths = P_CATALOG_DB | P_ORDER | P_CUSTOMER},
};
#define N_FAULTS ((int)(sizeof s_faults / sizeof s_faults[0]))

static bool pg_accepts(void)
{
    return PQping(harness_database_url(h)) == PQPING_OK;
}

static void run_fault(fault_t *f)
{
    printf("# %6.2fs  %s ...\n", (now_ms() - t_start) / 1000.0, f->name);
    fflush(stdout);
    f->t_kill = now_ms();
    if (harness_kill(h, f->proc, f->sig) != 0)
        violation("%s: could not kill %s", f->name, f->proc);
    sleep_ms(DOWN_MS);
    if (harness_restart(h, f->proc) != 0)
        violation("%s: could not restart %s", f->name, f->proc);
    f->t_restart = now_ms();
    f->t_ready = f->t_restart;
    if (strcmp(f->proc, "postgres") == 0) {
        while (!pg_accepts() && now_ms() - f->t_restart < RECOVERY_GIVE_UP_MS)
            sleep_ms(10);
        f->t_ready = now_ms();
    }
    f->t_recovered = wait_recovered(f->paths, f->t_ready);
    if (f->t_recovered < 0)
        violation("%s: the affected paths did not answer within %d s", f->name,
                  RECOVERY_GIVE_UP_MS / 1000);
    else if (f->t_recovered - f->t_ready > RECOVERY_LIMIT_MS)
        violation("%s: recovery took %lld ms (limit %d)", f->name,
                  f->t_recovered - f->t_ready, RECOVERY_LIMIT_MS);
    /* Every service ends up with exactly its 2 workers again: the new
     * process's registered, the dead one's dropped (after a broker or
     * PostgreSQL fault too, where nothing was restarted on their side). */
    static const char *const svcs[] = {"catalog", "order", "customer"};
    long long t0 = now_ms();
    int n[3] = {-1, -1, -1};
    for (;;) {
        http_resp_t r;
        if (http_request_timeout(s_port, "GET", "/health", NULL, 0, NULL, PROBE_TIMEOUT_MS, &r) ==
            0) {
            json_t *sv = json_object_get(r.json, "services");
            for (int i = 0; i < 3; i++) {
                json_t *v = json_object_get(sv, svcs[i]);
                n[i] = json_is_integer(v)  ? (int)json_integer_value(v)
                       : json_is_object(v) ? (int)json_integer_value(json_object_get(v, "workers"))
                                           : -1;
            }
        }
        http_resp_clear(&r);
        if ((n[0] == 2 && n[1] == 2 && n[2] == 2) || now_ms() - t0 > 10000)
            break;
        sleep_ms(50);
    }
    if (!(n[0] == 2 && n[1] == 2 && n[2] == 2))
        violation("%s: workers catalog %d, order %d, customer %d 10 s after recovery (want 2 each)",
                  f->name, n[0], n[1], n[2]);
}

/* ---- setup ---- */

static char *post_created(const char *path, const char *body)
{
    http_resp_t r;
    char *id = NULL;
    if (http_request_timeout(s_port, "POST", path, body, strlen(body), NULL, CLIENT_TIMEOUT_MS,
                             &r) == 0 &&
        r.status == 201 && json_string_value(json_object_get(r.json, "id")))
        id = strdup(json_string_value(json_object_get(r.json, "id")));
    else
        fprintf(stderr, "chaos: POST %s -> %d %.200s\n", path, r.status, r.body ? r.body : "");
    http_resp_clear(&r);
    return id;
}

static int seed_data(void)
{
    for (int i = 0; i < N_CUSTOMERS; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"email\":\"chaos%d@example.com\",\"name\":\"Chaos %d\"}", i,
                 i);
        char *id = post_created("/api/v1/customers", body);
        if (!id)
            return -1;
        snprintf(s_customers[i], sizeof s_customers[i], "%s", id);
        free(id);
    }
    for (int i = 0; i < N_PRODUCTS; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"name\":\"Chaos item %02d\",\"price\":%d.%02d,\"stock\":%d,"
                 "\"sku\":\"CHAOS-%02d\"}",
                 i, 1 + i * 3, i * 7 % 100, INITIAL_STOCK, i);
        char *id = post_created("/api/v1/products", body);
        if (!id)
            return -1;
        snprintf(s_products[i], sizeof s_products[i], "%s", id);
        free(id);
    }
    return 0;
}

/* ---- the ledger ---- */

static PGconn *s_db;

static PGresult *q(const char *sql)
{
    if (!s_db || PQstatus(s_db) != CONNECTION_OK) {
        if (s_db)
            PQfinish(s_db);
        s_db = PQconnectdb(harness_database_url(h));
    }
    PGresult *res = PQexec(s_db, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        violation("SQL failed: %s: %s", PQerrorMessage(s_db), sql);
        PQclear(res);
        return NULL;
    }
    return res;
}

static long q_long(const char *sql)
{
    PGresult *res = q(sql);
    long v = -1;
    if (res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Builds "'{a,b,...}'" arrays of the client-seen orders. */
static char *orders_array(bool keys)
{
    size_t cap = (size_t)s_norders * 50 + 16, off = 0;
    char *s = malloc(cap);
    off += (size_t)snprintf(s, cap, "'{");
    for (int i = 0; i < s_norders; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s%s", i ? "," : "",
                                keys ? s_orders[i].key : s_orders[i].id);
    snprintf(s + off, cap - off, "}'");
    return s;
}

static void check_ledger(void)
{
    char sql[4096];
    /* The outbox drains (events for every committed change go out). */
    long unsent = -1;
    for (long long t0 = now_ms(); now_ms() - t0 < 10000; sleep_ms(100))
        if ((unsent = q_long("SELECT count(*) FROM outbox WHERE sent_at IS NULL")) == 0)
            break;
    if (unsent != 0)
        violation("ledger: %ld outbox rows still unsent after 10 s", unsent);

    /* Every order a client saw created exists exactly once. */
    char *ids = orders_array(false), *keys = orders_array(true);
    size_t big = strlen(ids) + strlen(keys) + 1024;
    char *bsql = malloc(big);
    snprintf(bsql, big,
             "SELECT count(*) FROM unnest(%s::uuid[]) u(id)"
             " WHERE (SELECT count(*) FROM orders o WHERE o.id = u.id) <> 1",
             ids);
    long missing = q_long(bsql);
    if (missing != 0)
        violation("ledger: %ld of %d orders answered 201 are not in the database exactly once",
                  missing, s_norders);
    snprintf(bsql, big, "SELECT count(*) - count(DISTINCT id) FROM unnest(%s::uuid[]) u(id)", ids);
    if (q_long(bsql) != 0)
        violation("ledger: two client requests were answered with the same order id");
    /* The key each client used maps to the order it was given. */
    snprintf(bsql, big,
             "SELECT count(*) FROM unnest(%s::text[], %s::text[]) u(k, id)"
             " WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys i WHERE i.key = u.k"
             " AND i.status = 201 AND i.response::json->>'id' = u.id)",
             keys, ids);
    long unmatched = q_long(bsql);
    if (unmatched != 0)
        violation("ledger: %ld client orders do not match their Idempotency-Key's stored outcome",
                  unmatched);
    free(bsql);
    free(ids);
    free(keys);

    /* No key made two orders: orders and successful keys are a bijection
     * (every order here was placed with a key). */
    long n_orders = q_long("SELECT count(*) FROM orders");
    long n_keys = q_long("SELECT count(*) FROM idempotency_keys WHERE status = 201");
    long orphans = q_long("SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM"
                          " idempotency_keys i WHERE i.status = 201"
                          " AND i.response::json->>'id' = o.id::text)");
    long shared = q_long("SELECT count(*) FROM (SELECT response::json->>'id' FROM"
                         " idempotency_keys WHERE status = 201 GROUP BY 1 HAVING count(*) > 1) d");
    if (n_orders != n_keys || orphans != 0 || shared != 0)
        violation("ledger: %ld orders vs %ld keys with a 201; %ld orders without a key; %ld "
                  "orders behind two keys",
                  n_orders, n_keys, orphans, shared);
    long foreign = q_long("SELECT count(*) FROM idempotency_keys WHERE key NOT LIKE 'chaos-%'");
    if (foreign != 0)
        violation("ledger: %ld idempotency keys the clients never sent", foreign);

    /* Client-seen cancels are cancelled. */
    int seen_cancelled = 0;
    for (int i = 0; i < s_norders; i++)
        seen_cancelled += s_orders[i].cancelled;
    long db_cancelled = q_long("SELECT count(*) FROM orders WHERE status = 'cancelled'");
    if (db_cancelled < seen_cancelled)
        violation("ledger: clients saw %d cancels, the database has %ld cancelled orders",
                  seen_cancelled, db_cancelled);

    /* initial stock = stock + sum of non-cancelled order lines. */
    snprintf(sql, sizeof sql,
             "SELECT p.sku, p.stock, coalesce((SELECT sum(i.quantity) FROM order_items i"
             " JOIN orders o ON o.id = i.order_id WHERE i.product_id = p.id"
             " AND o.status <> 'cancelled'), 0) FROM products p ORDER BY p.sku");
    PGresult *res = q(sql);
    long sold_total = 0;
    for (int i = 0; res && i < PQntuples(res); i++) {
        long stock = atol(PQgetvalue(res, i, 1)), sold = atol(PQgetvalue(res, i, 2));
        sold_total += sold;
        if (stock + sold != INITIAL_STOCK)
            violation("ledger: %s: initial %d != stock %ld + ordered %ld", PQgetvalue(res, i, 0),
                      INITIAL_STOCK, stock, sold);
    }
    if (res && PQntuples(res) != N_PRODUCTS)
        violation("ledger: %d products in the database, expected %d", PQntuples(res),
                  N_PRODUCTS);
    PQclear(res);

    /* Every product read through the gateway (cache) equals the database. */
    int stale = 0;
    long long t0 = now_ms();
    for (int i = 0; i < N_PRODUCTS; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/products/%.39s", s_products[i]);
        snprintf(sql, sizeof sql, "SELECT stock FROM products WHERE id = '%.39s'", s_products[i]);
        long db = q_long(sql), api = -2;
        for (;;) {
            http_resp_t r;
            if (http_request_timeout(s_port, "GET", path, NULL, 0, NULL, CLIENT_TIMEOUT_MS, &r) ==
                    0 &&
                r.status == 200)
                api = (long)json_integer_value(json_object_get(r.json, "stock"));
            http_resp_clear(&r);
            if (api == db || now_ms() - t0 > 5000)
                break;
            sleep_ms(100);
        }
        if (api != db) {
            stale++;
            violation("ledger: product %d reads stock %ld through the gateway, %ld in the "
                      "database (after %lld ms)",
                      i, api, db, now_ms() - t0);
        }
    }
    printf("# ledger: %ld orders in the database (%d seen created by clients), %ld cancelled, "
           "%ld units sold, %d stale cache reads\n",
           n_orders, s_norders, db_cancelled, sold_total, stale);
}

/* ---- accounting per fault ---- */

/* The fault whose phase (its kill up to the next fault's kill) holds t,
 * among the first `started` faults, or -1 before the first fault. */
static int phase_of(long long t, int started)
{
    int i = started - 1;
    while (i >= 0 && s_faults[i].t_kill > t)
        i--;
    return i;
}

/* Tallies the records into the first `started` faults' phases; checks the
 * rules only when final (the clients have stopped). Returns the number of
 * attempts before the first fault. */
static long tally(int started, bool final)
{
    long base_sent = 0;
    pthread_mutex_lock(&s_lock);
    int n = s_nrecords; /* append-only: the first n are complete */
    pthread_mutex_unlock(&s_lock);
    for (int i = 0; i < started; i++) {
        fault_t *f = &s_faults[i];
        f->sent = f->failed = f->bad = 0;
        f->max_ms = 0;
        f->codes[0] = '\0';
        f->t_end = i + 1 < started ? s_faults[i + 1].t_kill : now_ms() + 1;
    }
    for (int k = 0; k < n; k++) {
        record_t *r = &s_records[k];
        /* Sent counts by when a request was sent; how long it took and
         * whether it failed, by when it was answered: a request in flight at
         * a kill belongs to that fault. */
        int ps = phase_of(r->sent, started), pd = phase_of(r->done, started);
        if (ps < 0)
            base_sent++;
        else
            s_faults[ps].sent++;
        if (pd >= 0 && r->done - r->sent > s_faults[pd].max_ms)
            s_faults[pd].max_ms = r->done - r->sent;
        if (r->outcome == OUT_GOOD)
            continue;
        if (pd < 0) {
            if (final && r->outcome == OUT_TOLERATED)
                violation("%s failed (%d) at %.2fs, before any fault", r->what, r->status,
                          (r->sent - t_start) / 1000.0);
            continue;
        }
        fault_t *f = &s_faults[pd];
        f->failed++;
        if (r->outcome == OUT_BAD)
            f->bad++;
        char code[16];
        snprintf(code, sizeof code, "%d", r->status);
        if (!strstr(f->codes, code) && strlen(f->codes) + strlen(code) + 2 < sizeof f->codes)
            snprintf(f->codes + strlen(f->codes), sizeof f->codes - strlen(f->codes), "%s%s",
                     f->codes[0] ? "," : "", code);
        if (!final || r->outcome != OUT_TOLERATED)
            continue;
        if (f->strict)
            violation("%s: %s failed (%d) sent at %.2fs: nothing may fail without Redis",
                      f->name, r->what, r->status, (r->sent - t_start) / 1000.0);
        /* Excused only when sent before the affected paths answered again
         * (plus a grace): in flight at the kill, or sent while it lasted. */
        long long recovered = f->t_recovered > 0 ? f->t_recovered : f->t_end;
        if (r->sent > recovered + GRACE_MS)
            violation("%s: %s failed (%d) sent at %.2fs, %lld ms after recovery, answered after "
                      "%lld ms",
                      f->name, r->what, r->status, (r->sent - t_start) / 1000.0,
                      r->sent - recovered, r->done - r->sent);
    }
    return base_sent;
}

static void print_header(void)
{
    printf("%-22s %7s %7s %-10s %9s %10s  %s\n", "fault", "sent", "failed", "failed as",
           "slowest", "recovery", "note");
}

static void print_row(const fault_t *f)
{
    char rec[32], slow[32], note[96] = "";
    if (f->t_recovered < 0)
        snprintf(rec, sizeof rec, "none");
    else
        snprintf(rec, sizeof rec, "%lld ms", f->t_recovered - f->t_ready);
    if (f->t_ready != f->t_restart)
        snprintf(note, sizeof note, "postgres itself took %lld ms to accept connections",
                 f->t_ready - f->t_restart);
    snprintf(slow, sizeof slow, "%lld ms", f->max_ms);
    printf("%-22s %7ld %7ld %-10s %9s %10s  %s%s\n", f->name, f->sent, f->failed,
           f->codes[0] ? f->codes : "-", slow, rec, note, f->bad ? " BAD ANSWERS" : "");
}

static void print_table(void)
{
    long base_sent = tally(N_FAULTS, true);
    printf("\n# chaos table (%ld requests before the first fault)\n", base_sent);
    print_header();
    for (int i = 0; i < N_FAULTS; i++)
        print_row(&s_faults[i]);
    printf("# sent: attempts sent from the kill to the next fault; failed: attempts answered\n"
           "# in that time that failed, 'failed as' their statuses (0 = connection refused or\n"
           "# reset); slowest: the longest wait for an answer given in that time (the client\n"
           "# gives up, a violation, after %d ms);\n",
           CLIENT_TIMEOUT_MS);
    printf("# recovery: from the restart (postgres: from accepting connections) to the first\n"
           "# good answer of every affected path; limit %d ms.\n",
           RECOVERY_LIMIT_MS);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    t_start = now_ms();
    if (getenv("CHAOS_CLIENTS"))
        s_clients = atoi(getenv("CHAOS_CLIENTS"));
    if (s_clients < 1 || s_clients > MAX_CLIENTS)
        s_clients = 4;
    if (getenv("CHAOS_PAUSE_MS"))
        s_pause_ms = atoi(getenv("CHAOS_PAUSE_MS"));
    static const char *const env[] = {"ECOM_REDIS_RATE_LIMIT_MAX=0", "ECOM_WORKERS=2", NULL};
    harness_opts_t opts = {.env = env};
    h = harness_start(&opts);
    if (!h) {
        fprintf(stderr, "chaos: the stack did not start\n");
        return 1;
    }
    s_port = harness_http_port(h);
    printf("# stack up in %.1f s (run dir %s)\n", (now_ms() - t_start) / 1000.0, harness_dir(h));
    /* A SIGKILLed postmaster must not take acknowledged commits with it,
     * but the harness starts postgres with synchronous_commit=off on its
     * command line (fast tests). A database setting outranks the command
     * line for new sessions; every service reconnects (its own kill and
     * restart) before postgres is killed. */
    if (harness_sql_exec(h, "ALTER DATABASE shopmq SET synchronous_commit = on") != 0) {
        fprintf(stderr, "chaos: could not turn synchronous_commit on\n");
        harness_stop(&h);
        return 1;
    }
    PGconn *check = PQconnectdb(harness_database_url(h));
    PGresult *sc = PQexec(check, "SHOW synchronous_commit");
    bool sync_on = PQresultStatus(sc) == PGRES_TUPLES_OK && PQntuples(sc) == 1 &&
                   strcmp(PQgetvalue(sc, 0, 0), "on") == 0;
    PQclear(sc);
    PQfinish(check);
    if (!sync_on) {
        fprintf(stderr, "chaos: synchronous_commit is still off for new sessions\n");
        harness_stop(&h);
        return 1;
    }
    if (seed_data() != 0) {
        fprintf(stderr, "chaos: seeding failed\n");
        harness_stop(&h);
        return 1;
    }
    s_records = calloc(MAX_RECORDS, sizeof *s_records);
    s_orders = calloc(MAX_ORDERS, sizeof *s_orders);

    client_t clients[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    for (int i = 0; i < s_clients; i++) {
        clients[i] = (client_t){.idx = i, .seed = 0x5eed + (unsigned)i * 7919};
        pthread_create(&th[i], NULL, client_main, &clients[i]);
    }
    sleep_ms(LOAD_BETWEEN_MS);
    print_header();
    for (int i = 0; i < N_FAULTS; i++) {
        run_fault(&s_faults[i]);
        sleep_ms(LOAD_BETWEEN_MS);
        tally(i + 1, false); /* the final table may still add what was in flight now */
        print_row(&s_faults[i]);
    }
    s_stop = 1;
    for (int i = 0; i < s_clients; i++)
        pthread_join(th[i], NULL);

    long ops = 0, created = 0, gave_up = 0, cancels = 0, insufficient = 0, retried = 0;
    for (int i = 0; i < s_clients; i++) {
        ops += clients[i].ops;
        created += clients[i].orders_created;
        gave_up += clients[i].orders_given_up;
        cancels += clients[i].cancels;
        insufficient += clients[i].insufficient;
        retried += clients[i].orders_retried;
    }
    printf("# load: %ld operations (%d attempts), %ld orders created (%ld of them on a retry with "
           "the same Idempotency-Key), %ld refused for stock, %ld given up after %d attempts, %ld "
           "cancels\n",
           ops, s_nrecords, created, retried, insufficient, gave_up, MAX_ATTEMPTS, cancels);

    check_ledger();
    print_table();
    if (s_db)
        PQfinish(s_db);

    int v = s_violations;
    printf("\n# chaos: %s (%d violation%s) in %.1f s\n", v ? "FAILED" : "passed", v,
           v == 1 ? "" : "s", (now_ms() - t_start) / 1000.0);
    harness_stop(&h);
    free(s_records);
    free(s_orders);
    return v ? 1 : 0;
}
