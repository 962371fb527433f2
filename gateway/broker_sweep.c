/* The broker's timers: worker liveness (heartbeats out, silent workers and
 * their sibling threads removed), queue deadlines and the grace a service
 * without workers gets, and forgetting services nobody uses. broker_run
 * calls these; see broker.c for the routing they act on. */
#include <jansson.h>
#include <string.h>

#include "broker_int.h"

/* An unknown service with no workers and nothing queued is forgotten after this. */
#define BROKER_SERVICE_IDLE_MS 60000

static void sweep_service_queue(broker_t *self, service_t *svc, int64_t now)
{
    request_t *req = svc->qhead;
    while (req) {
        request_t *next = req->next;
        if (svc->workers == 0) {
            int64_t since = req->received > svc->empty_since ? req->received : svc->empty_since;
            int64_t limit = since + self->cfg->queue_grace_ms;
            if (req->deadline < limit)
                limit = req->deadline;
            if (now >= limit) {
                broker_queue_unlink(self, svc, req);
                broker_reply_unavailable(self, req);
                broker_request_free(self, req);
            }
        } else if (now >= req->deadline) {
            broker_queue_unlink(self, svc, req);
            self->stats.expired++;
            broker_request_free(self, req);
        }
        req = next;
    }
}

void broker_sweep(broker_t *self, int64_t now)
{
    /* Dead workers first, so their requests are re-queued before the
     * queue sweep looks at them. Deleting while iterating a zhashx is not
     * allowed, so the dead are chained and handled after. */
    worker_t *dead = NULL;
    for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        w->doomed = now >= w->expiry;
        if (w->doomed) {
            w->dead_next = dead;
            dead = w;
        }
    }
    /* The worker threads of one process die together, but their timeouts
     * expire a little apart: a request re-dispatched from the first to a
     * sibling that is just as dead would use up its only retry. Siblings
     * already silent for two intervals go with it. */
    int64_t suspect = self->liveness_ms / 3;
    for (worker_t *d = dead; d; d = d->dead_next) {
        const char *inst = json_string_value(json_object_get(d->status, "instance"));
        if (!inst)
            continue;
        for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
            if (w->doomed || w->service != d->service || w->expiry - now > suspect)
                continue;
            const char *wi = json_string_value(json_object_get(w->status, "instance"));
            if (wi && strcmp(wi, inst) == 0) {
                w->doomed = true;
                w->dead_next = d->dead_next; /* visited later in this same walk */
                d->dead_next = w;
            }
        }
    }
    /* None of them may be handed a re-dispatched request while the others
     * are being deleted. */
    for (worker_t *d = dead; d; d = d->dead_next)
        broker_idle_unlink(d->service, d);
    while (dead) {
        worker_t *next = dead->dead_next;
        broker_worker_delete(self, dead, true, "heartbeat timeout");
        dead = next;
    }
    service_t *forget = NULL;
    for (service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services)) {
        sweep_service_queue(self, svc, now);
        if (svc->workers == 0 && svc->queued == 0 && !broker_is_core_service(svc->name) &&
            now - svc->empty_since > BROKER_SERVICE_IDLE_MS) {
            svc->forget_next = forget;
            forget = svc;
        }
    }
    while (forget) {
        service_t *next = forget->forget_next;
        zhashx_delete(self->services, forget->name);
        forget = next;
    }
}

void broker_send_heartbeats(broker_t *self)
{
    for (worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
        broker_send_command(self, w->identity, SMQ_HEARTBEAT);
}
