/* customer-svc: owns the customers table and answers the customer API
 * through the broker. Configuration: common/config.h (ECOM_*). */
#include "shopmq_proto.h"

#include "customers.h"
#include "log.h"
#include "service.h"

/* Generated at build time from the files in customer-svc/sql/ (CMakeLists.txt). */
extern const migration_t customer_svc_migrations[];

static void *customer_start(const config_t *cfg, pgpool_t *pool)
{
    customers_t *app = customers_new(pool, cfg);
    if (!app)
        log_error(NULL, "out of memory at start-up");
    return app;
}

static void customer_stop(void *app)
{
    customers_t *customers = app;
    customers_destroy(&customers);
}

int main(void)
{
    const service_def_t def = {
        .name = "customer-svc",
        .service = SMQ_SVC_CUSTOMER,
        .migrations = customer_svc_migrations,
        .statements = customers_statements,
        .routes = customers_routes,
        .status = customers_status,
        .start = customer_start,
        .stop = customer_stop,
    };
    return service_main(&def);
}
