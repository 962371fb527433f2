/* gateway: the HTTP front of shopmq (see gateway.h). */
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "gateway.h"
#include "log.h"

static gateway_t *s_gateway;

static void on_signal(int sig)
{
    (void)sig;
    if (s_gateway)
        gateway_stop(s_gateway);
}

/* 1,000+ connections need more descriptors than the usual soft limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn(NULL, "cannot raise the open files limit: %s", strerror(errno));
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    config_t cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "gateway: %s\n", err);
        return 2;
    }
    log_init("gateway", cfg.log_level);
    raise_nofile();
    /* czmq must not install its own SIGINT handler: we stop on our own flag. */
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);

    s_gateway = gateway_new(&cfg);
    if (!s_gateway)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = gateway_run(s_gateway);
    gateway_destroy(&s_gateway);
    log_info(NULL, "gateway stopped");
    return rc;
}
