/* service_main: see service.h. */
#include "service.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Until worker_run installs its own handlers, a stop request must still end
 * the wait for the database (and other services' tables) in migrate_startup. */
static void on_signal(int sig)
{
    (void)sig;
    worker_stop = 1;
}

void service_db_status(pgpool_t *pool, json_t *out)
{
    json_object_set_new(out, "database", json_boolean(pgpool_healthy(pool)));
    json_t *m = json_object_get(out, "metrics");
    if (!m) {
        m = json_object();
        json_object_set_new(out, "metrics", m);
    }
    pgpool_stats_t st;
    pgpool_stats(pool, &st);
    json_object_set_new(m, "db_pool_size", json_integer(st.size));
    json_object_set_new(m, "db_pool_open", json_integer(st.open));
    json_object_set_new(m, "db_pool_in_use", json_integer(st.in_use));
    json_object_set_new(m, "db_pool_waiting", json_integer(st.waiting));
    json_object_set_new(m, "db_pool_timeouts", json_integer(st.timeouts));
}

int service_main(const service_def_t *def)
{
    /* Static: handlers and background threads keep pointers to it until exit. */
    static config_t cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", def->name, err);
        return 2;
    }
    log_init(def->name, cfg.log_level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (migrate_startup(cfg.database_url, def->service, def->migrations, def->requires,
                        &worker_stop) != 0) {
        if (worker_stop)
            return 0;
        log_error(NULL, "migrations failed; not starting");
        return 1;
    }
    if (worker_stop)
        return 0;

    /* czmq's global state must be set up once, by this thread, before a
     * start hook's thread opens a socket: zsys_init racing between that
     * thread and worker_run() trips czmq's assertions. No czmq signal
     * handler: the runtime installs its own. */
    zsys_handler_set(NULL);
    zsys_init();

    pgpool_t *pool = pgpool_new(&cfg, def->statements);
    if (!pool) {
        log_error(NULL, "out of memory at start-up");
        return 1;
    }
    /* One connection now, while the database is known to be up (the
     * migrations just ran): the workers' first status then says so, instead
     * of "disconnected" until a probe or a request opens one. */
    PGconn *warm = pgpool_acquire(pool, 0);
    if (warm)
        pgpool_release(pool, warm);
    void *app = def->start(&cfg, pool);
    if (!app) {
        pgpool_destroy(&pool);
        return 1;
    }
    svc_def_t svc = {
        .service = def->service,
        .routes = def->routes,
        .app = app,
        .status = def->status,
        .cfg = &cfg,
    };
    log_info(NULL, "started: %d workers, brokers %s", cfg.workers, cfg.broker_endpoints);
    int rc = worker_run(&svc);

    /* worker_run also returns on its own errors: background threads still
     * need the signal to stop. */
    worker_stop = 1;
    def->stop(app);
    pgpool_destroy(&pool);
    log_info(NULL, "stopped");
    return rc == 0 ? 0 : 1;
}
