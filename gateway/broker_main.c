/* broker: routes requests between gateways and service workers and proxies
 * events. Configuration from the environment (common/config.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(void)
{
    static config_t cfg; /* large; the broker keeps a pointer to it */
    char err[512];
    if (config_load(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "broker: %s\n", err);
        return 2;
    }
    log_init("broker", cfg.log_level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    broker_t *broker = broker_new(&cfg);
    if (!broker)
        return 1;
    broker_run(broker, &stop_requested);
    broker_destroy(&broker);
    log_info(NULL, "broker stopped");
    return 0;
}
