/* The start-up and shutdown every service process shares:
 *
 *   config_load (exit 2 on a bad ECOM_* value), log_init, SIGINT/SIGTERM
 *   stop the wait for the database, migrate_startup, zsys_init, the
 *   PostgreSQL pool, def->start, worker_run, def->stop, pool destroyed.
 *
 * A service's main.c is its descriptor and, where it has background
 * threads (catalog's event consumer, order's outbox relay), two hooks. */
#ifndef SHOPMQ_SERVICE_H
#define SHOPMQ_SERVICE_H

#include <jansson.h>

#include "config.h"
#include "migrate.h"
#include "pgpool.h"
#include "worker.h"

typedef struct {
    const char *name;                /* "catalog-svc": log tag, prefix of a config error */
    const char *service;             /* SMQ_SVC_*: broker service and migrations key */
    const migration_t *migrations;   /* <svc>_migrations[] */
    const char *const *requires;     /* other services' tables to wait for, NULL-ended, or NULL */
    const pgpool_stmt_t *statements; /* prepared on every pool connection */
    const svc_route_t *routes;
    void (*status)(void *app, json_t *out); /* see svc_def_t */
    /* Builds the app handlers see. Runs after the migrations and after
     * zsys_init, so it may start threads that open sockets. The pool is
     * borrowed: it outlives stop. NULL ends the process with 1; the hook
     * logs why. */
    void *(*start)(const config_t *cfg, pgpool_t *pool);
    /* Destroys the app once every worker has stopped (worker_stop is set,
     * so background threads are on their way out). */
    void (*stop)(void *app);
} service_def_t;

/* Runs the service until SIGINT/SIGTERM; returns main's exit code:
 * 0 clean stop (also when stopped during start-up), 1 failure, 2 bad
 * configuration. Call once per process. */
int service_main(const service_def_t *def);

/* For status callbacks: what every service reports about its pool, i.e.
 * out.database (last connect/ping succeeded) and the db_pool_* counters in
 * out.metrics (created when absent). */
void service_db_status(pgpool_t *pool, json_t *out);

#endif
