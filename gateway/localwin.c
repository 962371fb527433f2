/* Sliding-window counter per IP with a bounded hash table (see localwin.h). */
#include "localwin.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IP_MAX 48         /* INET6_ADDRSTRLEN + slack */
#define EXPIRE_PER_CALL 4 /* idle entries reclaimed per call: amortised O(1) */

typedef struct entry {
    struct entry *hnext;              /* hash chain */
    struct entry *newer, *older;      /* LRU list, most recent at head */
    int64_t ws;                       /* start of the current fixed window */
    int64_t last;                     /* last time seen */
    uint32_t prev, cur;               /* counts in previous / current window */
    uint32_t hash;
    char ip[IP_MAX];
} entry_t;

struct localwin {
    int max;
    int64_t window;
    size_t cap, count;
    entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t max_buckets;
    entry_t *newest, *oldest;
};

static uint32_t hash_ip(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

localwin_t *localwin_new(int max, int64_t window_ms, size_t cap)
{
    if (max < 1 || window_ms < 1 || cap < 1)
        return NULL;
    localwin_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max;
    self->window = window_ms;
    self->cap = cap;
    self->max_buckets = 16;
    while (self->max_buckets < cap && self->max_buckets < ((size_t)1 << 30))
        self->max_buckets <<= 1;
    self->nbuckets = self->max_buckets < 1024 ? self->max_buckets : 1024;
    self->buckets = calloc(self->nbuckets, sizeof *self->buckets);
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    return self;
}

void localwin_destroy(localwin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    localwin_t *self = *self_p;
    entry_t *e = self->newest;
    while (e) {
        entry_t *next = e->older;
        free(e);
        e = next;
    }
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

size_t localwin_size(localwin_t *self)
{
    return self->count;
}

static void lru_unlink(localwin_t *self, entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        self->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        self->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_newest(localwin_t *self, entry_t *e)
{
    e->newer = NULL;
    e->older = self->newest;
    if (self->newest)
        self->newest->newer = e;
    self->newest = e;
    if (!self->oldest)
        self->oldest = e;
}

static void entry_remove(localwin_t *self, entry_t *e)
{
    entry_t **pp = &self->buckets[e->hash & (self->nbuckets - 1)];
    while (*pp != e) {
        assert(*pp);
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    lru_unlink(self, e);
    self->count--;
    free(e);
}

/* Doubling keeps chains short while the table stays proportional to the
 * IPs actually seen, not to the cap. A failed grow just keeps longer chains. */
static void maybe_grow(localwin_t *self)
{
    if (self->count < self->nbuckets || self->nbuckets >= self->max_buckets)
        return;
    size_t n = self->nbuckets * 2;
    entry_t **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;
    for (size_t i = 0; i < self->nbuckets; i++) {
        entry_t *e = self->buckets[i];
        while (e) {
            entry_t *next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(self->buckets);
    self->buckets = nb;
    self->nbuckets = n;
}

static int64_t window_start(int64_t now, int64_t w)
{
    int64_t r = now % w;
    return r < 0 ? now - r - w : now - r;
}

static void expire_idle(localwin_t *self, int64_t now)
{
    for (int i = 0; i < EXPIRE_PER_CALL && self->oldest; i++) {
        if (now - self->oldest->last < 2 * self->window)
            break;
        entry_remove(self, self->oldest);
    }
}

/* The entry for ip, created (possibly evicting the least recently seen)
 * when absent; NULL only when out of memory. Moves it to the LRU head. */
static entry_t *entry_get(localwin_t *self, const char *ip, int64_t now)
{
    expire_idle(self, now);
    uint32_t h = hash_ip(ip);
    for (entry_t *e = self->buckets[h & (self->nbuckets - 1)]; e; e = e->hnext) {
        if (e->hash == h && strcmp(e->ip, ip) == 0) {
            lru_unlink(self, e);
            lru_push_newest(self, e);
            e->last = now;
            return e;
        }
    }
    if (self->count >= self->cap)
        entry_remove(self, self->oldest);
    entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->hash = h;
    snprintf(e->ip, sizeof e->ip, "%s", ip);
    e->ws = window_start(now, self->window);
    e->last = now;
    size_t b = h & (self->nbuckets - 1);
    e->hnext = self->buckets[b];
    self->buckets[b] = e;
    lru_push_newest(self, e);
    self->count++;
    maybe_grow(self);
    return e;
}

static void entry_roll(entry_t *e, int64_t now, int64_t w)
{
    int64_t ws = window_start(now, w);
    if (ws == e->ws)
        return;
    if (ws == e->ws + w) {
        e->prev = e->cur;
    } else {
        e->prev = 0;
    }
    e->cur = 0;
    e->ws = ws;
}

static double entry_estimate(const entry_t *e, int64_t now, int64_t w)
{
    double f = (double)(now - e->ws) / (double)w;
    return e->prev * (1.0 - f) + e->cur;
}

/* Earliest time >= now at which the estimate is <= x with no new requests
 * (x >= 0). Inside the current window only prev decays; after it, cur
 * becomes prev and decays over the next window. */
static int64_t time_estimate_le(const entry_t *e, int64_t now, int64_t w, double x)
{
    if (entry_estimate(e, now, w) <= x)
        return now;
    int64_t t;
    if (e->cur <= x) {
        double f = 1.0 - (x - e->cur) / e->prev; /* prev > 0 here */
        t = e->ws + (int64_t)ceil(w * f);
    } else {
        double g = 1.0 - x / e->cur;
        t = e->ws + w + (int64_t)ceil(w * g);
    }
    return t > now ? t : now;
}

static void fill_result(localwin_t *self, const entry_t *e, int64_t now, bool allowed,
                        localwin_result_t *out)
{
    double est = entry_estimate(e, now, self->window);
    double room = floor(self->max - est + 1e-9);
    out->allowed = allowed;
    out->remaining = room < 0 ? 0 : room > self->max ? self->max : (int)room;
    double target = allowed ? est - 1.0 : self->max - 1.0;
    if (target < 0)
        target = 0;
    out->wait_ms = time_estimate_le(e, now, self->window, target + 1e-9) - now;
}

void localwin_check(localwin_t *self, const char *ip, int64_t now_ms, localwin_result_t *out)
{
    entry_t *e = entry_get(self, ip, now_ms);
    if (!e) { /* out of memory: never fail closed */
        *out = (localwin_result_t){.allowed = true, .remaining = 0, .wait_ms = self->window};
        return;
    }
    entry_roll(e, now_ms, self->window);
    bool allowed = entry_estimate(e, now_ms, self->window) + 1.0 <= self->max + 1e-9;
    if (allowed)
        e->cur++;
    fill_result(self, e, now_ms, allowed, out);
}

void localwin_record(localwin_t *self, const char *ip, int64_t now_ms)
{
    entry_t *e = entry_get(self, ip, now_ms);
    if (!e)
        return;
    entry_roll(e, now_ms, self->window);
    e->cur++;
}
