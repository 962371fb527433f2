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

    for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        json_t *instances =
            json_object_get(json_object_get(services, w->service->name), "instances");
        const char *instance = json_string_value(json_object_get(w->status, "instance"));
        char key[256 + BROKER_KEY_SIZE];
        if (!instance || !*instance)
            snprintf(key, sizeof key, "%s", w->key);
        else if (json_object_get(instances, instance))
            /* The worker threads of one process share its instance name and
             * report the same process-wide status: one entry per process,
             * so replicas are counted and metrics summed once each. */
            continue;
        else
            snprintf(key, sizeof key, "%s", instance);
        json_object_set_new(instances, key, w->status ? json_incref(w->status) : json_object());
    }

    const broker_stats_t *s = &self->stats;
    json_t *root = json_pack(
        "{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "services", services, "broker",
        "dispatched", (json_int_t)s->dispatched, "redispatched", (json_int_t)s->redispatched,
        "expired", (json_int_t)s->expired, "dropped_malformed", (json_int_t)s->dropped_malformed,
        "unavailable", (json_int_t)s->unavailable, "bad_gateway", (json_int_t)s->bad_gateway,
        "workers", (json_int_t)zhashx_size(self->workers), "uptime_ms",
        (json_int_t)(clock_mono_ms() - self->started));
    if (!root)
        return NULL;
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}
