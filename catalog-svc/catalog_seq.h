/* catalog_seq: what the event consumer may trust. Tracks, per publisher,
 * the last sequence number and when it was last heard, and says when the
 * cache must be invalidated wholesale because events may have been missed.
 *
 * Pure logic, no I/O, no clock of its own (callers pass now_ms): unit
 * tested in tests/unit/test_catalog_seq.c. Not thread-safe (one consumer
 * thread owns it). */
#ifndef CATALOG_SEQ_H
#define CATALOG_SEQ_H

#include <stdbool.h>
#include <stdint.h>

typedef struct catalog_seq catalog_seq_t;

typedef enum {
    CATALOG_SEQ_OK,        /* in order: apply the event */
    CATALOG_SEQ_DUPLICATE, /* a seq seen in the last 500 ms, again
                              (redelivery, or its copy through a second
                              broker): nothing to do */
    CATALOG_SEQ_NEW,       /* first sight of this publisher: we may have missed
                              what it sent before we subscribed */
    CATALOG_SEQ_GAP,       /* seq jumped forward: events were lost */
    CATALOG_SEQ_RESTART    /* seq went back to one not seen lately: the
                              publisher restarted (or a broker delivered a
                              stale copy); the last seq stays as it was */
} catalog_seq_verdict_t;

/* A verdict that means "invalidate everything". */
static inline bool catalog_seq_must_flush(catalog_seq_verdict_t v)
{
    return v == CATALOG_SEQ_NEW || v == CATALOG_SEQ_GAP || v == CATALOG_SEQ_RESTART;
}

/* silence_ms: a publisher not heard from for longer than this is presumed
 * gone (3 heartbeat intervals). */
catalog_seq_t *catalog_seq_new(int64_t silence_ms);
void catalog_seq_destroy(catalog_seq_t **self_p);

/* Records one message. Events carry the publisher's next seq (last + 1);
 * heartbeats carry its current seq (the last one it published), so a
 * heartbeat with seq == last is in order and one with seq > last means
 * events in between were lost. */
catalog_seq_verdict_t catalog_seq_observe(catalog_seq_t *self, const char *publisher, uint64_t seq,
                                          bool heartbeat, int64_t now_ms);

/* Forgets publishers silent for longer than silence_ms and returns how many
 * (> 0 means "invalidate everything"). A forgotten publisher that comes
 * back is NEW again. */
int catalog_seq_expire(catalog_seq_t *self, int64_t now_ms);

/* Number of publishers currently tracked. */
int catalog_seq_size(catalog_seq_t *self);

#endif
