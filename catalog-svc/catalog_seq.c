/* catalog_seq: per-publisher sequence tracking (see catalog_seq.h). */
#include "catalog_seq.h"

#include <stdlib.h>
#include <string.h>

/* With two brokers every message arrives twice, once through each broker's
 * proxy, and one path may run a few messages behind the other: a seq at or
 * below the last one is then a late copy, not a restart, if we saw that
 * very seq in the last LATE_WINDOW_MS. A lower seq we never saw, or saw
 * too long ago, still counts as a restart. Late copies beyond the window
 * or the ring cost a flush, never a miss. */
#define LATE_RING 1024
#define LATE_WINDOW_MS 500

typedef struct {
    uint64_t seq;
    int64_t at_ms;
    bool used;
} sighting_t;

typedef struct publisher {
    char *id;
    uint64_t last_seq;
    int64_t last_heard_ms;
    struct publisher *next;
    sighting_t seen[LATE_RING]; /* by seq % LATE_RING */
} publisher_t;

static void saw(publisher_t *p, uint64_t seq, int64_t now_ms)
{
    p->seen[seq % LATE_RING] = (sighting_t){seq, now_ms, true};
}

static bool seen_lately(const publisher_t *p, uint64_t seq, int64_t now_ms)
{
    const sighting_t *s = &p->seen[seq % LATE_RING];
    return s->used && s->seq == seq && now_ms - s->at_ms <= LATE_WINDOW_MS;
}

struct catalog_seq {
    int64_t silence_ms;
    publisher_t *head; /* a handful of order-svc replicas: a list is enough */
    int count;
};

catalog_seq_t *catalog_seq_new(int64_t silence_ms)
{
    catalog_seq_t *self = calloc(1, sizeof *self);
    if (self)
        self->silence_ms = silence_ms;
    return self;
}

void catalog_seq_destroy(catalog_seq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    catalog_seq_t *self = *self_p;
    publisher_t *p = self->head;
    while (p) {
        publisher_t *next = p->next;
        free(p->id);
        free(p);
        p = next;
    }
    free(self);
    *self_p = NULL;
}

static publisher_t *find(catalog_seq_t *self, const char *id)
{
    for (publisher_t *p = self->head; p; p = p->next)
        if (strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

catalog_seq_verdict_t catalog_seq_observe(catalog_seq_t *self, const char *publisher, uint64_t seq,
                                          bool heartbeat, int64_t now_ms)
{
    publisher_t *p = find(self, publisher);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return CATALOG_SEQ_NEW; /* untracked, and every message flushes: safe */
        p->id = strdup(publisher);
        if (!p->id) {
            free(p);
            return CATALOG_SEQ_NEW;
        }
        p->last_seq = seq;
        p->last_heard_ms = now_ms;
        saw(p, seq, now_ms);
        p->next = self->head;
        self->head = p;
        self->count++;
        return CATALOG_SEQ_NEW;
    }
    p->last_heard_ms = now_ms;
    uint64_t expected = heartbeat ? p->last_seq : p->last_seq + 1;
    catalog_seq_verdict_t v;
    if (seq == expected)
        v = CATALOG_SEQ_OK;
    else if (seq > expected)
        v = CATALOG_SEQ_GAP;
    else if (seen_lately(p, seq, now_ms))
        v = CATALOG_SEQ_DUPLICATE; /* redelivery, or the copy through the other broker */
    else
        v = CATALOG_SEQ_RESTART;
    /* A restart flushes but leaves the high-water mark where it was: the
     * low seq may as well be a copy that went stale inside a broker (one
     * that hung, then resumed), and moving the mark back would take every
     * fresh event after it for a gap. A publisher that really restarted
     * under its old id then flushes until it passes the mark: costly, never
     * stale (the order relay takes a fresh id per process start anyway). */
    if (v == CATALOG_SEQ_OK || v == CATALOG_SEQ_GAP) {
        p->last_seq = seq;
        saw(p, seq, now_ms);
    }
    return v;
}

int catalog_seq_expire(catalog_seq_t *self, int64_t now_ms)
{
    int gone = 0;
    publisher_t **pp = &self->head;
    while (*pp) {
        publisher_t *p = *pp;
        if (now_ms - p->last_heard_ms > self->silence_ms) {
            *pp = p->next;
            free(p->id);
            free(p);
            self->count--;
            gone++;
        } else {
            pp = &p->next;
        }
    }
    return gone;
}

int catalog_seq_size(catalog_seq_t *self)
{
    return self->count;
}
