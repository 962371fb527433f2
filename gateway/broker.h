/* The broker: one ROUTER for gateways (SMQC01) and workers (SMQW01), plus
 * the event proxy (XSUB -> XPUB), all served by one zmq_poll loop.
 *
 * Per service: a FIFO of pending requests and an LRU list of idle workers.
 * Each worker holds at most one request; the broker keeps it so that a
 * worker's death can re-dispatch it (idempotent, once) or answer 502.
 * See proto/PROTOCOL.md for the frames and DESIGN.md §1-3 for why. */
#ifndef SHOPMQ_BROKER_H
#define SHOPMQ_BROKER_H

#include <signal.h>

#include "config.h"

typedef struct broker broker_t;

/* Creates the sockets and binds them. NULL (after logging why) when an
 * endpoint cannot be bound. cfg must outlive the broker. */
broker_t *broker_new(const config_t *cfg);

/* Serves until *stop becomes non-zero, then tells every worker to
 * DISCONNECT and answers what is still pending (queued 503, held 502).
 * Returns 0. */
int broker_run(broker_t *self, volatile sig_atomic_t *stop);

void broker_destroy(broker_t **self_p);

#endif
