/* order-svc: orders, stock decrements and restores, the outbox relay. */
#include "shopmq_proto.h"

#include "log.h"
#include "order_sql.h"
#include "orders.h"
#include "outbox_relay.h"
#include "service.h"

extern const migration_t order_svc_migrations[];

static outbox_relay_t *relay;

static void *order_start(const config_t *cfg, pgpool_t *pool)
{
    relay = outbox_relay_new(cfg);
    if (!relay) {
        log_error(NULL, "cannot start the outbox relay");
        return NULL;
    }
    orders_t *app = orders_new(pool, cfg, relay);
    if (!app) {
        log_error(NULL, "out of memory at start-up");
        outbox_relay_destroy(&relay);
        return NULL;
    }
    log_info(NULL, "outbox relay: publisher %s", outbox_relay_publisher(relay));
    return app;
}

/* Workers are done, so nothing hands the relay events any more. */
static void order_stop(void *app)
{
    orders_t *orders = app;
    orders_destroy(&orders);
    outbox_relay_destroy(&relay);
}

int main(void)
{
    /* orders and order_items reference products (catalog-svc) and customers
     * (customer-svc): wait for their migrations, whoever starts first. */
    static const char *const requires[] = {"products", "customers", NULL};
    const service_def_t def = {
        .name = "order-svc",
        .service = SMQ_SVC_ORDER,
        .migrations = order_svc_migrations,
        .requires = requires,
        .statements = order_statements,
        .routes = orders_routes,
        .status = orders_status,
        .start = order_start,
        .stop = order_stop,
    };
    return service_main(&def);
}
