/* The outbox relay: one thread per order-svc process that publishes the
 * rows order transactions wrote to `outbox` as events on a PUB socket
 * connected to every cfg->events_pub_endpoints (the brokers' XSUB), then
 * marks them sent. Rows are claimed with FOR UPDATE SKIP LOCKED, so any
 * number of replicas relay side by side; a row is marked sent in the same
 * transaction that claimed it, committed after the publish: at-least-once.
 *
 * The publisher id is cfg->instance_id plus a random suffix, so every
 * process start is a new publisher to subscribers; seq starts at 1 and
 * grows by one per event. An idle relay sends "heartbeat" with its current
 * seq once a second. Rows committed by this process are published at once
 * (outbox_relay_publish_now); the database pass every 100 ms picks up the
 * rest (other processes' leftovers, anything published before a crash). */
#ifndef OUTBOX_RELAY_H
#define OUTBOX_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct outbox_relay outbox_relay_t;

/* Starts the thread (connects lazily; never fails on a down database or
 * broker). NULL only when the thread cannot be created. */
outbox_relay_t *outbox_relay_new(const config_t *cfg);
/* Stops the thread after its current batch and frees everything. */
void outbox_relay_destroy(outbox_relay_t **self_p);

/* Publishes an outbox row this process has just committed ahead of the
 * relay's database pass (which then skips that row), and waits up to
 * wait_ms until it is on the wire: a client that reads the product right
 * after its order then finds the cache already invalidated. 0 when sent,
 * -1 on timeout (the row still goes out with a later pass). */
int outbox_relay_publish_now(outbox_relay_t *self, int64_t outbox_id, const char *topic,
                             const char *payload, int wait_ms);

typedef struct {
    uint64_t seq;        /* last sequence number used */
    long published;      /* events published since start */
    long pending;        /* unsent rows at the last count (-1: unknown) */
    long db_errors;      /* failed passes */
    bool db_ok;          /* relay connection healthy */
} outbox_relay_stats_t;
void outbox_relay_stats(outbox_relay_t *self, outbox_relay_stats_t *out);

/* This process's publisher id (owned by the relay). */
const char *outbox_relay_publisher(outbox_relay_t *self);

#endif
