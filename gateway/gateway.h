/* The HTTP gateway: libmicrohttpd in external epoll mode, one event loop
 * per cfg->gateway_threads, each owning an MHD daemon on the shared port
 * (SO_REUSEPORT), a DEALER to every broker and a rate limiter. A complete
 * request is suspended, forwarded, and resumed by the reply, its deadline
 * (504) or an error; no loop ever waits on a service. */
#ifndef SHOPMQ_GATEWAY_H
#define SHOPMQ_GATEWAY_H

#include <stdint.h>

#include "config.h"

typedef struct gateway gateway_t;

/* Binds the port and connects to the brokers. NULL (logged) on failure.
 * cfg must outlive the gateway. */
gateway_t *gateway_new(const config_t *cfg);
void gateway_destroy(gateway_t **self_p);

/* The bound port (useful with ECOM_PORT=0). */
uint16_t gateway_port(gateway_t *self);

/* Runs every loop (the calling thread runs the first) until gateway_stop(),
 * then answers what is in flight with 503 and returns 0. */
int gateway_run(gateway_t *self);

/* Async-signal-safe. */
void gateway_stop(gateway_t *self);

#endif
