/* broker.status: what the gateway's /health and /metrics read. */
#include <string.h>

#include "broker_int.h"
#include "clock.h"

static const char *const reported_services[] = {SMQ_SVC_CATALOG, SMQ_SVC_ORDER, SMQ_SVC_CUSTOMER};

static json_t *service_object(service_t *svc)
{
    return json_pack("{s:I, s:I, s:{}}", "workers", (json_int_t)(svc ? svc->workers : 0), "queued",
                     (json_int_t)(svc ? svc->queued : 0), "instances");
}

char *broker_status_json(broker_t *self)
{
    json_t *services = json_object();
    for (size_t i = 0; i < sizeof reported_services / sizeof *reported_services; i++)
        json_object_set_new(services, reported_services[i],
                            service_object(zhashx_lookup(self->services, reported_services[i])));
    for (service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services))
        if (!json_object_get(services, svc->name))
            json_object_set_new(services, svc->name, service_object(svc));

    /* The worker threads of one process share its instance name and report
     * the same process-wide status: one entry per process (the newest
     * report), so replicas are counted and metrics summed once each. */
    json_t *reported_at = json_object(); /* "<service>/<instance>" -> ms */
    for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        json_t *instances =
            json_object_get(json_object_get(services, w->service->name), "instances");
        const char *instance = json_string_value(json_object_get(w->status, "instance"));
        char key[256 + BROKER_KEY_SIZE], seen[SMQ_MAX_SERVICE + 2 + sizeof key];
        if (!instance || !*instance)
            snprintf(key, sizeof key, "%s", w->key);
        else
            snprintf(key, sizeof key, "%.255s", instance);
        snprintf(seen, sizeof seen, "%s/%s", w->service->name, key);
        json_t *at = json_object_get(reported_at, seen);
        if (at && json_integer_value(at) >= w->status_at)
            continue;
        json_object_set_new(reported_at, seen, json_integer(w->status_at));
        json_object_set_new(instances, key, w->status ? json_incref(w->status) : json_object());
    }
    json_decref(reported_at);

    const broker_stats_t *s = &self->stats;
    /* "id" tells two brokers' counters apart in /metrics (a scrape is
     * answered by whichever broker the gateway asks). */
    json_t *root = json_pack(
        "{s:o, s:{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "services", services, "broker",
        "id", self->cfg->instance_id, "dispatched", (json_int_t)s->dispatched, "redispatched",
        (json_int_t)s->redispatched, "expired", (json_int_t)s->expired, "dropped_malformed",
        (json_int_t)s->dropped_malformed, "unavailable", (json_int_t)s->unavailable, "bad_gateway",
        (json_int_t)s->bad_gateway, "workers", (json_int_t)zhashx_size(self->workers), "uptime_ms",
        (json_int_t)(clock_mono_ms() - self->started));
    if (!root)
        return NULL;
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}
