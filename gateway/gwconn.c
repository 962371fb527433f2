/* Per-connection read deadline (slow-loris defence).
 *
 * libmicrohttpd's connection timeout only measures inactivity, so a client
 * that sends one header byte every few seconds keeps its connection (and
 * its slot, and MHD's memory pool) forever. Here every connection that is
 * reading a request, or waiting for its first or next one, sits in a list
 * ordered by when that began; whoever is still there after
 * ECOM_CONNECTION_TIMEOUT is shut down. shutdown() rather than close(): the
 * descriptor stays MHD's, which sees the end of the stream and closes and
 * cleans up the connection itself. A request that has been read (forwarded,
 * waiting for a service, being answered) is off the list: its deadline and
 * MHD's inactivity timeout cover it. */
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "gwloop.h"

static void list_remove(gw_conn_t **head, gw_conn_t **tail, gw_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        *tail = c->prev;
    c->prev = c->next = NULL;
}

static void list_append(gw_conn_t **head, gw_conn_t **tail, gw_conn_t *c)
{
    c->prev = *tail;
    c->next = NULL;
    if (*tail)
        (*tail)->next = c;
    else
        *head = c;
    *tail = c;
}

static void unlink_conn(gw_loop_t *L, gw_conn_t *c)
{
    if (c->reading)
        list_remove(&L->rd_head, &L->rd_tail, c);
    else
        list_remove(&L->busy_head, &L->busy_tail, c);
}

/* Starts (again) the wait for a complete request. Times only grow, so
 * appending keeps the list sorted. */
static void start_reading(gw_loop_t *L, gw_conn_t *c)
{
    unlink_conn(L, c);
    c->reading = true;
    c->since_ms = clock_mono_ms();
    list_append(&L->rd_head, &L->rd_tail, c);
}

static gw_conn_t *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void gwconn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                   enum MHD_ConnectionNotificationCode toe)
{
    gw_loop_t *L = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        gw_conn_t *c = calloc(1, sizeof *c);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c || !ci) {
            free(c); /* untracked: MHD's inactivity timeout still applies */
            *socket_context = NULL;
            return;
        }
        c->fd = ci->connect_fd;
        c->since_ms = clock_mono_ms();
        c->reading = true;
        list_append(&L->rd_head, &L->rd_tail, c);
        *socket_context = c;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        gw_conn_t *c = *socket_context;
        if (c) {
            unlink_conn(L, c);
            free(c);
        }
        *socket_context = NULL;
    }
}

void gwconn_request_read(gw_loop_t *L, struct MHD_Connection *conn)
{
    gw_conn_t *c = conn_of(conn);
    if (c && c->reading) {
        list_remove(&L->rd_head, &L->rd_tail, c);
        c->reading = false;
        list_append(&L->busy_head, &L->busy_tail, c);
    }
}

void gwconn_request_done(gw_loop_t *L, struct MHD_Connection *conn)
{
    gw_conn_t *c = conn_of(conn);
    if (c)
        start_reading(L, c);
}

int gwconn_expire(gw_loop_t *L, int64_t now_ms)
{
    int timeout_s = L->gw->cfg->connection_timeout_s;
    int n = 0;
    if (timeout_s <= 0)
        return 0;
    int64_t limit = (int64_t)timeout_s * 1000;
    while (L->rd_head && now_ms - L->rd_head->since_ms >= limit) {
        gw_conn_t *c = L->rd_head;
        shutdown(c->fd, SHUT_RDWR);
        /* Parked on the busy list until MHD reports the close. */
        list_remove(&L->rd_head, &L->rd_tail, c);
        c->reading = false;
        list_append(&L->busy_head, &L->busy_tail, c);
        n++;
    }
    return n;
}

void gwconn_free_all(gw_loop_t *L)
{
    gw_conn_t *lists[2] = {L->rd_head, L->busy_head};
    for (int i = 0; i < 2; i++) {
        for (gw_conn_t *c = lists[i], *next; c; c = next) {
            next = c->next;
            free(c);
        }
    }
    L->rd_head = L->rd_tail = L->busy_head = L->busy_tail = NULL;
}
