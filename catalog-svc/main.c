/* catalog-svc: products and categories (API.md), served to the broker by
 * the worker runtime, with the Redis cache of DESIGN §7 and the event
 * consumer of DESIGN §6. */
#include "catalog_app.h"
#include "catalog_events.h"
#include "catalog_sql.h"
#include "log.h"
#include "service.h"
#include "shopmq_proto.h"

/* Generated from catalog-svc/sql/NNN_*.sql by CMake (scripts/embed_sql.cmake). */
extern const migration_t catalog_svc_migrations[];

/* One per process; handlers share it through the worker runtime. */
static catalog_app_t app;
static catalog_events_t *events;

static void *catalog_start(const config_t *cfg, pgpool_t *pool)
{
    app.cfg = cfg;
    app.pool = pool;
    app.cache = catalog_cache_new(cfg);
    if (!app.cache) {
        log_error(NULL, "out of memory at start-up");
        return NULL;
    }
    if (catalog_cache_enabled(app.cache)) {
        app.flight = catalog_flight_new();
        events = catalog_events_new(cfg, app.cache);
    } else {
        log_info(NULL, "cache disabled (ECOM_REDIS_ENABLED=false): every read goes to PostgreSQL");
    }
    return &app;
}

static void catalog_stop(void *unused)
{
    (void)unused;
    catalog_events_destroy(&events);
    catalog_flight_destroy(&app.flight);
    catalog_cache_destroy(&app.cache);
}

int main(void)
{
    const service_def_t def = {
        .name = "catalog-svc",
        .service = SMQ_SVC_CATALOG,
        .migrations = catalog_svc_migrations,
        .statements = catalog_sql_statements(),
        .routes = catalog_routes,
        .status = catalog_app_status,
        .start = catalog_start,
        .stop = catalog_stop,
    };
    return service_main(&def);
}
