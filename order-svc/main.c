/* order-svc: orders, stock decrements and restores, the outbox relay. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "shopmq_proto.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "orders.h"
#include "outbox_relay.h"
#include "worker.h"

extern const migration_t order_svc_migrations[];

/* Until worker_run installs its own handlers, a signal during start-up
 * (e.g. while waiting for catalog's and customer's tables) must still stop. */
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
        fprintf(stderr, "order-svc: %s\n", err);
        return 2;
    }
    log_init("order-svc", cfg.log_level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* orders and order_items reference products (catalog-svc) and customers
     * (customer-svc): wait for their migrations, whoever starts first. */
    static const char *const requires[] = {"products", "customers", NULL};
    if (migrate_startup(cfg.database_url, SMQ_SVC_ORDER, order_svc_migrations, requires,
                        &worker_stop) != 0) {
        log_error(NULL, "order-svc: start-up stopped before migrations completed");
        return worker_stop ? 0 : 1;
    }

    /* czmq's global state must be set up by one thread: the relay thread
     * creating its socket while worker_run() runs zsys_init() aborts in
     * czmq (thread-name-prefix assertion). Same handler choice as the
     * runtime: no czmq signal handler. */
    zsys_handler_set(NULL);
    zsys_init();

    outbox_relay_t *relay = outbox_relay_new(&cfg);
    if (!relay) {
        log_error(NULL, "order-svc: cannot start the outbox relay");
        return 1;
    }
    orders_t *app = orders_new(&cfg, relay);
    if (!app) {
        log_error(NULL, "order-svc: cannot create the database pool");
        outbox_relay_destroy(&relay);
        return 1;
    }
    log_info(NULL, "order-svc: %d workers, publisher %s", cfg.workers,
             outbox_relay_publisher(relay));

    svc_def_t def = {
        .service = SMQ_SVC_ORDER,
        .routes = orders_routes,
        .app = app,
        .status = orders_status,
        .cfg = &cfg,
    };
    int rc = worker_run(&def);

    /* Workers are done, so nothing hands the relay events any more. */
    orders_destroy(&app);
    outbox_relay_destroy(&relay);
    return rc == 0 ? 0 : 1;
}
