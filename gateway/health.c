/* /health body; see health.h. */
#include "health.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "shopmq_proto.h"

#ifndef SHOPMQ_VERSION
#define SHOPMQ_VERSION "0.0.0"
#endif

char *health_build(const char *broker_status, long uptime_s, int *http_status)
{
    json_t *root = broker_status ? json_loads(broker_status, 0, NULL) : NULL;
    json_t *services = root ? json_object_get(root, "services") : NULL;
    bool reachable = json_is_object(services);
    static const char *const names[] = {SMQ_SVC_CATALOG, SMQ_SVC_ORDER, SMQ_SVC_CUSTOMER};
    json_int_t workers[3] = {0, 0, 0};
    json_int_t replicas[3] = {0, 0, 0}; /* distinct service processes */
    bool db_up = false;
    bool short_of_workers = false;
    int catalog_instances = 0;
    bool cache_up = false;

    if (reachable) {
        const char *svc;
        json_t *info;
        json_object_foreach(services, svc, info)
        {
            if (strcmp(svc, SMQ_SVC_BROKER) == 0 || !json_is_object(info))
                continue;
            json_int_t n = json_integer_value(json_object_get(info, "workers"));
            if (n <= 0)
                short_of_workers = true; /* known to the broker, nobody serving it */
            json_t *instances = json_object_get(info, "instances");
            for (int i = 0; i < 3; i++)
                if (strcmp(svc, names[i]) == 0) {
                    workers[i] = n;
                    replicas[i] = (json_int_t)json_object_size(instances);
                }
            const char *inst;
            json_t *st;
            json_object_foreach(instances, inst, st)
            {
                if (json_is_true(json_object_get(st, "database")))
                    db_up = true;
                if (strcmp(svc, SMQ_SVC_CATALOG) == 0) {
                    catalog_instances++;
                    if (json_is_true(json_object_get(st, "cache")))
                        cache_up = true;
                }
            }
        }
    }

    const char *database = !reachable ? "unknown" : db_up ? "connected" : "disconnected";
    const char *cache = !reachable || catalog_instances == 0 ? "unknown"
                        : cache_up                         ? "connected"
                                                           : "unavailable";
    /* API.md: a whole core service unreachable is unhealthy (503), so a
     * load balancer stops sending traffic a gateway cannot serve. */
    bool service_down = false;
    for (int i = 0; i < 3; i++)
        if (workers[i] <= 0)
            service_down = true;
    const char *status;
    if (!reachable || !db_up || service_down)
        status = "unhealthy";
    else if (strcmp(cache, "unavailable") == 0 || short_of_workers)
        status = "degraded";
    else
        status = "healthy";
    *http_status = strcmp(status, "unhealthy") == 0 ? 503 : 200;

    json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}",
                            "status", status, "database", database, "cache", cache, "version",
                            SHOPMQ_VERSION, "uptime_seconds", (json_int_t)uptime_s, "services",
                            names[0], workers[0], names[1], workers[1], names[2], workers[2],
                            "replicas", names[0], replicas[0], names[1], replicas[1], names[2],
                            replicas[2]);
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    json_decref(root);
    return text;
}

char *health_cache_stats(const char *broker_status, int *http_status)
{
    json_t *root = broker_status ? json_loads(broker_status, 0, NULL) : NULL;
    json_t *instances =
        json_object_get(json_object_get(json_object_get(root, "services"), SMQ_SVC_CATALOG),
                        "instances");
    json_int_t hits = 0, misses = 0, gw_hits = 0;
    bool available = false;
    const char *inst;
    json_t *st;
    json_object_foreach(instances, inst, st)
    {
        json_t *m = json_object_get(st, "metrics");
        json_int_t h = json_integer_value(json_object_get(m, "cache_hits"));
        json_int_t x = json_integer_value(json_object_get(m, "cache_misses"));
        hits += h > 0 ? h : 0;
        misses += x > 0 ? x : 0;
        /* The gateways' hits: one counter in Redis that every replica
         * reads, so the freshest (largest) reading, not a sum. */
        json_int_t g = json_integer_value(json_object_get(m, "gateway_cache_hits"));
        if (g > gw_hits)
            gw_hits = g;
        if (json_is_true(json_object_get(st, "cache")))
            available = true;
    }
    hits += gw_hits;
    json_t *out;
    if (json_object_size(instances) == 0) {
        *http_status = 503;
        out = json_pack("{s:s}", "detail", "Service unavailable");
    } else {
        *http_status = 200;
        double rate = hits + misses > 0 ? (double)hits / (double)(hits + misses) : 0.0;
        out = json_pack("{s:b, s:I, s:I, s:f}", "available", available, "hits", hits, "misses",
                        misses, "hit_rate", (double)(long long)(rate * 10000.0 + 0.5) / 10000.0);
    }
    char *text = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(out);
    json_decref(root);
    return text;
}
