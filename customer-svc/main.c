/* customer-svc: owns the customers table and answers the customer API
 * through the broker. Configuration: common/config.h (ECOM_*). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "shopmq_proto.h"

#include "config.h"
#include "customers.h"
#include "log.h"
#include "migrate.h"
#include "pgpool.h"
#include "worker.h"

/* Generated at build time from the files in customer-svc/sql/ (CMakeLists.txt). */
extern const migration_t customer_svc_migrations[];

static void on_signal(int sig)
{
    (void)sig;
    worker_stop = 1;
}

int main(void)
{
    config_t cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "customer-svc: %s\n", err);
        return 2;
    }
    log_init("customer-svc", cfg.log_level);

    /* Until worker_run installs its own handlers, a stop request must still
     * end the wait for the database in migrate_startup. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (migrate_startup(cfg.database_url, "customer", customer_svc_migrations, NULL,
                        &worker_stop) != 0) {
        if (worker_stop)
            return 0;
        log_error(NULL, "migrations failed; not starting");
        return 1;
    }
    if (worker_stop)
        return 0;

    pgpool_t *pool = pgpool_new(&cfg, customers_statements);
    customers_t *app = pool ? customers_new(pool, &cfg) : NULL;
    if (!app) {
        log_error(NULL, "out of memory at start-up");
        pgpool_destroy(&pool);
        return 1;
    }
    svc_def_t def = {
        .service = SMQ_SVC_CUSTOMER,
        .routes = customers_routes,
        .app = app,
        .status = customers_status,
        .cfg = &cfg,
    };
    log_info(NULL, "customer-svc started: %d workers, brokers %s", cfg.workers,
             cfg.broker_endpoints);
    int rc = worker_run(&def);
    customers_destroy(&app);
    pgpool_destroy(&pool);
    log_info(NULL, "customer-svc stopped");
    return rc == 0 ? 0 : 1;
}
