/* Gateway metrics; see gwmetrics.h. */
#include "gwmetrics.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

#define MAX_ROUTES 40 /* routes_count() + 1 for "unmatched" must fit */
#define NSTATUS 600
static const double s_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,   0.25,   0.5,   1.0,  2.5,   5.0, 10.0};
#define NBUCKETS ((int)(sizeof s_bounds / sizeof s_bounds[0]))

struct gwmetrics {
    uint64_t status[MAX_ROUTES][NSTATUS];
    uint64_t bucket[MAX_ROUTES][NBUCKETS + 1]; /* not cumulative; last is +Inf */
    uint64_t sum_us[MAX_ROUTES];
    int64_t inflight;
    uint64_t rl_allowed, rl_rejected, rl_local, rl_errors, rl_up;
};

/* Single writer: a relaxed load + store is enough and costs no lock. */
#define BUMP(p, v) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define SET(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define GET(p) __atomic_load_n((p), __ATOMIC_RELAXED)

gwmetrics_t *gwmetrics_new(void)
{
    return calloc(1, sizeof(gwmetrics_t));
}

void gwmetrics_destroy(gwmetrics_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

static int route_slot(int route)
{
    int n = routes_count();
    return route >= 0 && route < n && route < MAX_ROUTES - 1 ? route : n;
}

void gwmetrics_observe(gwmetrics_t *self, int route, int status, int64_t latency_us)
{
    int r = route_slot(route);
    if (status < 0 || status >= NSTATUS)
        status = 0;
    BUMP(&self->status[r][status], 1);
    double s = (double)latency_us / 1e6;
    int b = 0;
    while (b < NBUCKETS && s > s_bounds[b])
        b++;
    BUMP(&self->bucket[r][b], 1);
    BUMP(&self->sum_us[r], latency_us > 0 ? (uint64_t)latency_us : 0);
}

void gwmetrics_inflight(gwmetrics_t *self, int delta)
{
    BUMP(&self->inflight, delta);
}

void gwmetrics_ratelimit(gwmetrics_t *self, const ratelimit_stats_t *st)
{
    SET(&self->rl_allowed, st->allowed);
    SET(&self->rl_rejected, st->rejected);
    SET(&self->rl_local, st->local_decisions);
    SET(&self->rl_errors, st->redis_errors);
    SET(&self->rl_up, st->redis_up ? 1 : 0);
}

/* Growable text buffer; the render is off the hot path. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} text_t;

static void text_add(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text_t *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = (t->cap + (size_t)n + 1) * 2;
        char *np = realloc(t->p, ncap);
        if (!np) {
            t->oom = true;
            return;
        }
        t->p = np;
        t->cap = ncap;
    }
}

/* Prometheus label values escape backslash, quote and newline. */
static void label_value(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (; *in && o + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static void route_labels(int r, char *out, size_t cap)
{
    const route_t *rt = routes_at(r);
    if (rt)
        snprintf(out, cap, "method=\"%s\",route=\"%s\"", rt->method, rt->pattern);
    else
        snprintf(out, cap, "method=\"\",route=\"unmatched\"");
}

typedef struct {
    char name[128];
    char service[64];
    char instance[128];
    double value;
} sample_t;

static int sample_cmp(const void *a, const void *b)
{
    const sample_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (!c)
        c = strcmp(x->service, y->service);
    if (!c)
        c = strcmp(x->instance, y->instance);
    return c;
}

/* One gauge per service from a field of its broker.status entry: a number,
 * or an object whose entries are counted ("instances"). */
static void service_gauge(text_t *t, json_t *services, const char *name, const char *help,
                          const char *field)
{
    text_add(t, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    const char *svc;
    json_t *info;
    char sv[64];
    json_object_foreach(services, svc, info)
    {
        label_value(sv, sizeof sv, svc);
        json_t *v = json_object_get(info, field);
        long long n = json_is_object(v) ? (long long)json_object_size(v)
                                        : (long long)json_integer_value(v);
        text_add(t, "%s{service=\"%s\"} %lld\n", name, sv, n);
    }
}

static void render_broker(text_t *t, const char *broker_status)
{
    json_t *root = broker_status ? json_loads(broker_status, 0, NULL) : NULL;
    json_t *services = json_object_get(root, "services");
    text_add(t, "# HELP shopmq_broker_up Whether the broker answered this scrape.\n"
                "# TYPE shopmq_broker_up gauge\nshopmq_broker_up %d\n",
             json_is_object(services) ? 1 : 0);
    if (!json_is_object(services)) {
        json_decref(root);
        return;
    }
    service_gauge(t, services, "shopmq_broker_workers", "Live workers per service.", "workers");
    service_gauge(t, services, "shopmq_broker_queued",
                  "Requests waiting for a worker per service.", "queued");
    service_gauge(t, services, "shopmq_service_instances",
                  "Live service processes (replicas) per service.", "instances");
    /* The broker's own counters (since it started). */
    static const struct {
        const char *key, *help;
    } counters[] = {
        {"dispatched", "Requests handed to a worker."},
        {"redispatched", "Idempotent requests sent again after their worker died."},
        {"expired", "Requests dropped at their deadline while queued."},
        {"unavailable", "Requests answered 503: no live worker within the grace."},
        {"bad_gateway", "Requests answered 502: their worker died holding them."},
        {"dropped_malformed", "Malformed messages dropped."},
    };
    json_t *bs = json_object_get(root, "broker");
    /* Labelled by broker: with two, scrapes alternate between them, and
     * one series per broker keeps each counter monotonic. */
    char bid[160] = "";
    const char *id = json_string_value(json_object_get(bs, "id"));
    label_value(bid, sizeof bid, id ? id : "");
    for (size_t i = 0; json_is_object(bs) && i < sizeof counters / sizeof counters[0]; i++) {
        json_t *v = json_object_get(bs, counters[i].key);
        if (json_is_integer(v))
            text_add(t,
                     "# HELP shopmq_broker_%s_total %s\n# TYPE shopmq_broker_%s_total counter\n"
                     "shopmq_broker_%s_total{broker=\"%s\"} %lld\n",
                     counters[i].key, counters[i].help, counters[i].key, counters[i].key, bid,
                     (long long)json_integer_value(v));
    }

    /* Service metrics: group by name, as the text format wants one block each. */
    size_t n = 0, cap = 64;
    sample_t *s = malloc(cap * sizeof *s);
    const char *svc;
    json_t *info;
    json_object_foreach(services, svc, info)
    {
        const char *inst;
        json_t *st;
        json_object_foreach(json_object_get(info, "instances"), inst, st)
        {
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(st, "metrics"), key, v)
            {
                if (!json_is_number(v) || !s)
                    continue;
                if (n == cap) {
                    sample_t *ns = realloc(s, cap * 2 * sizeof *s);
                    if (!ns)
                        continue;
                    s = ns;
                    cap *= 2;
                }
                sample_t *x = &s[n++];
                size_t k = 0;
                for (; key[k] && k + 1 < sizeof x->name; k++) {
                    char c = key[k];
                    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '_';
                    x->name[k] = ok ? c : '_';
                }
                x->name[k] = '\0';
                label_value(x->service, sizeof x->service, svc);
                label_value(x->instance, sizeof x->instance, inst);
                x->value = json_number_value(v);
            }
        }
    }
    if (s) {
        qsort(s, n, sizeof *s, sample_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i == 0 || strcmp(s[i].name, s[i - 1].name) != 0)
                text_add(t,
                         "# HELP shopmq_service_%s Reported by service instances in their "
                         "heartbeat status.\n# TYPE shopmq_service_%s gauge\n",
                         s[i].name, s[i].name);
            text_add(t, "shopmq_service_%s{service=\"%s\",instance=\"%s\"} %.17g\n", s[i].name,
                     s[i].service, s[i].instance, s[i].value);
        }
        free(s);
    }
    json_decref(root);
}

char *gwmetrics_render(gwmetrics_t *const *all, int n, const char *broker_status, long uptime_s)
{
    text_t t = {malloc(16384), 0, 16384, false};
    if (!t.p)
        return NULL;
    t.p[0] = '\0';
    int nr = routes_count() + 1;
    char labels[160];

    text_add(&t, "# HELP shopmq_gateway_uptime_seconds Seconds since the gateway started.\n"
                 "# TYPE shopmq_gateway_uptime_seconds gauge\nshopmq_gateway_uptime_seconds %ld\n",
             uptime_s);
    text_add(&t, "# HELP shopmq_http_requests_total HTTP requests answered, by route and status.\n"
                 "# TYPE shopmq_http_requests_total counter\n");
    for (int r = 0; r < nr; r++) {
        route_labels(r, labels, sizeof labels);
        for (int st = 0; st < NSTATUS; st++) {
            uint64_t c = 0;
            for (int i = 0; i < n; i++)
                c += GET(&all[i]->status[r][st]);
            if (c)
                text_add(&t, "shopmq_http_requests_total{%s,status=\"%d\"} %llu\n", labels, st,
                         (unsigned long long)c);
        }
    }
    text_add(&t, "# HELP shopmq_http_request_duration_seconds Time to answer, by route.\n"
                 "# TYPE shopmq_http_request_duration_seconds histogram\n");
    for (int r = 0; r < nr; r++) {
        uint64_t b[NBUCKETS + 1] = {0};
        uint64_t sum = 0, count = 0;
        for (int i = 0; i < n; i++) {
            for (int k = 0; k <= NBUCKETS; k++)
                b[k] += GET(&all[i]->bucket[r][k]);
            sum += GET(&all[i]->sum_us[r]);
        }
        for (int k = 0; k <= NBUCKETS; k++)
            count += b[k];
        if (!count)
            continue;
        route_labels(r, labels, sizeof labels);
        uint64_t cum = 0;
        for (int k = 0; k < NBUCKETS; k++) {
            cum += b[k];
            text_add(&t, "shopmq_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", labels,
                     s_bounds[k], (unsigned long long)cum);
        }
        text_add(&t, "shopmq_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", labels,
                 (unsigned long long)count);
        text_add(&t, "shopmq_http_request_duration_seconds_sum{%s} %.6f\n", labels,
                 (double)sum / 1e6);
        text_add(&t, "shopmq_http_request_duration_seconds_count{%s} %llu\n", labels,
                 (unsigned long long)count);
    }
    int64_t inflight = 0;
    uint64_t rl[5] = {0};
    for (int i = 0; i < n; i++) {
        inflight += GET(&all[i]->inflight);
        rl[0] += GET(&all[i]->rl_allowed);
        rl[1] += GET(&all[i]->rl_rejected);
        rl[2] += GET(&all[i]->rl_local);
        rl[3] += GET(&all[i]->rl_errors);
        rl[4] += GET(&all[i]->rl_up);
    }
    text_add(&t,
             "# HELP shopmq_http_requests_in_flight Requests waiting for a service or the rate "
             "limiter.\n# TYPE shopmq_http_requests_in_flight gauge\n"
             "shopmq_http_requests_in_flight %lld\n",
             (long long)inflight);
    text_add(&t,
             "# HELP shopmq_ratelimit_allowed_total Requests the rate limiter let through.\n"
             "# TYPE shopmq_ratelimit_allowed_total counter\nshopmq_ratelimit_allowed_total %llu\n"
             "# HELP shopmq_ratelimit_rejected_total Requests answered 429.\n"
             "# TYPE shopmq_ratelimit_rejected_total counter\nshopmq_ratelimit_rejected_total %llu\n"
             "# HELP shopmq_ratelimit_local_decisions_total Decisions made by the in-process "
             "window (Redis down or slow).\n"
             "# TYPE shopmq_ratelimit_local_decisions_total counter\n"
             "shopmq_ratelimit_local_decisions_total %llu\n"
             "# HELP shopmq_ratelimit_redis_errors_total Redis errors and timeouts.\n"
             "# TYPE shopmq_ratelimit_redis_errors_total counter\n"
             "shopmq_ratelimit_redis_errors_total %llu\n"
             "# HELP shopmq_ratelimit_redis_up Event loops whose rate limiter reaches Redis.\n"
             "# TYPE shopmq_ratelimit_redis_up gauge\nshopmq_ratelimit_redis_up %llu\n",
             (unsigned long long)rl[0], (unsigned long long)rl[1], (unsigned long long)rl[2],
             (unsigned long long)rl[3], (unsigned long long)rl[4]);
    render_broker(&t, broker_status);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p;
}
