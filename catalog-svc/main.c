/* catalog-svc: products and categories (API.md), served to the broker by
 * the worker runtime, with the Redis cache of DESIGN §7 and the event
 * consumer of DESIGN §6. */
#include <stdio.h>
#include <stdlib.h>

#include "catalog_app.h"
#include "catalog_events.h"
#include "catalog_sql.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "shopmq_proto.h"
#include "worker.h"

/* Generated from catalog-svc/sql/NNN_*.sql by CMake (scripts/embed_sql.cmake). */
extern const migration_t catalog_svc_migrations[];

int main(void)
{
    static config_t cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "catalog-svc: %s\n", err);
        return 2;
    }
    log_init("catalog-svc", cfg.log_level);
    if (migrate_startup(cfg.database_url, "catalog", catalog_svc_migrations, NULL, &worker_stop) !=
        0) {
        log_error(NULL, "migrations failed or start-up interrupted");
        return 1;
    }

    catalog_app_t app = {.cfg = &cfg};
    app.pool = pgpool_new(&cfg, catalog_sql_statements());
    app.cache = catalog_cache_new(&cfg);
    if (!app.pool || !app.cache) {
        log_error(NULL, "out of memory at start-up");
        return 1;
    }
    /* czmq's global state must be set up once, before the event thread opens
     * a socket: zsys_init racing between that thread and worker_run() trips
     * czmq's assertions. No czmq signal handler: the runtime installs its own. */
    zsys_handler_set(NULL);
    zsys_init();
    catalog_events_t *events = NULL;
    if (catalog_cache_enabled(app.cache)) {
        app.flight = catalog_flight_new();
        events = catalog_events_new(&cfg, app.cache);
    } else {
        log_info(NULL, "cache disabled (ECOM_REDIS_ENABLED=false): every read goes to PostgreSQL");
    }

    svc_def_t def = {
        .service = SMQ_SVC_CATALOG,
        .routes = catalog_routes,
        .app = &app,
        .status = catalog_app_status,
        .cfg = &cfg,
    };
    int rc = worker_run(&def);

    worker_stop = 1;
    catalog_events_destroy(&events);
    catalog_flight_destroy(&app.flight);
    catalog_cache_destroy(&app.cache);
    pgpool_destroy(&app.pool);
    log_info(NULL, "stopped");
    return rc == 0 ? 0 : 1;
}
