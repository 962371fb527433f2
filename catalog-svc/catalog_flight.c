/* catalog_flight: mutex + per-call condition variable (see catalog_flight.h). */
#include "catalog_flight.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct catalog_flight_call {
    char *key;
    bool done;
    int status;
    char *body;
    int waiters; /* followers still referencing the call */
    bool linked; /* still in the table (joinable) */
    pthread_cond_t cond;
    struct catalog_flight_call *next;
};

struct catalog_flight {
    pthread_mutex_t lock;
    catalog_flight_call_t *head; /* in-flight misses are few: a list is enough */
    int active;
};

catalog_flight_t *catalog_flight_new(void)
{
    catalog_flight_t *self = calloc(1, sizeof *self);
    if (self)
        pthread_mutex_init(&self->lock, NULL);
    return self;
}

static void call_free(catalog_flight_call_t *call)
{
    pthread_cond_destroy(&call->cond);
    free(call->key);
    free(call->body);
    free(call);
}

void catalog_flight_destroy(catalog_flight_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    catalog_flight_t *self = *self_p;
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

static void unlink_call(catalog_flight_t *self, catalog_flight_call_t *call)
{
    for (catalog_flight_call_t **pp = &self->head; *pp; pp = &(*pp)->next)
        if (*pp == call) {
            *pp = call->next;
            call->linked = false;
            self->active--;
            return;
        }
}

int catalog_flight_join(catalog_flight_t *self, const char *key, int timeout_ms,
                        catalog_flight_call_t **call_p, int *status, char **body)
{
    *call_p = NULL;
    pthread_mutex_lock(&self->lock);
    catalog_flight_call_t *call = self->head;
    while (call && strcmp(call->key, key) != 0)
        call = call->next;
    if (!call) {
        call = calloc(1, sizeof *call);
        if (call)
            call->key = strdup(key);
        if (!call || !call->key) {
            free(call);
            pthread_mutex_unlock(&self->lock);
            return CATALOG_FLIGHT_TIMEOUT; /* out of memory: just query */
        }
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&call->cond, &attr);
        pthread_condattr_destroy(&attr);
        call->linked = true;
        call->next = self->head;
        self->head = call;
        self->active++;
        pthread_mutex_unlock(&self->lock);
        *call_p = call;
        return CATALOG_FLIGHT_LEADER;
    }

    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    call->waiters++;
    int rc = 0;
    while (!call->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&call->cond, &self->lock, &until);
    int result = CATALOG_FLIGHT_TIMEOUT;
    if (call->done) {
        *status = call->status;
        *body = call->body ? strdup(call->body) : NULL;
        result = (call->body && !*body) ? CATALOG_FLIGHT_TIMEOUT : CATALOG_FLIGHT_SHARED;
    }
    call->waiters--;
    /* The leader has unlinked a finished call; the last follower frees it. */
    bool free_it = call->done && call->waiters == 0;
    pthread_mutex_unlock(&self->lock);
    if (free_it)
        call_free(call);
    return result;
}

void catalog_flight_finish(catalog_flight_t *self, catalog_flight_call_t *call, int status,
                           const char *body)
{
    if (!call)
        return;
    char *copy = body ? strdup(body) : NULL;
    pthread_mutex_lock(&self->lock);
    unlink_call(self, call);
    call->status = body && !copy ? 500 : status;
    call->body = copy;
    call->done = true;
    bool free_it = call->waiters == 0;
    pthread_cond_broadcast(&call->cond);
    pthread_mutex_unlock(&self->lock);
    if (free_it)
        call_free(call);
}

int catalog_flight_active(catalog_flight_t *self)
{
    pthread_mutex_lock(&self->lock);
    int n = self->active;
    pthread_mutex_unlock(&self->lock);
    return n;
}
