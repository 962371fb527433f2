/* Raw HTTP for tests that must send what the harness client cannot: any
 * bytes in the request line and headers (NULs, invalid UTF-8, request lines
 * over 8 KB, hundreds of headers), then read whatever comes back until the
 * server closes. Static functions: include it in one test program. */
#ifndef SHOPMQ_RAW_HTTP_H
#define SHOPMQ_RAW_HTTP_H

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int status; /* 0: no status line came back */
    char *head; /* status line + headers, NUL-terminated */
    char *body; /* NUL-terminated (may contain NULs: body_len) */
    size_t body_len;
    json_t *json; /* body parsed as JSON, or NULL */
    bool closed;  /* the server closed the connection */
} raw_resp_t;

static inline long long raw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
static inline int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether buf holds a whole response with a Content-Length (or none needed). */
static inline bool raw_complete(const char *buf, size_t n)
{
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return false;
    size_t hl = (size_t)(end - buf) + 4;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || cl > end)
        return false;
    return n >= hl + strtoul(cl + 17, NULL, 10);
}

/* Reads until a complete response, the server closes or timeout_ms pass;
 * returns the bytes (malloc'd, NUL-terminated) and their count in *len.
 * *closed: the server closed. */
static inline char *raw_read_all(int fd, int timeout_ms, size_t *len, bool *closed)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    long long until = raw_now_ms() + timeout_ms;
    *closed = false;
    while (buf) {
        long long left = until - raw_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t got = recv(fd, buf + n, cap - n, 0);
        if (got > 0) {
            n += (size_t)got;
            buf[n] = '\0';
            if (raw_complete(buf, n))
                break;
        } else if (got == 0 || errno != EINTR) {
            *closed = true;
            break;
        }
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits a response read by raw_read_all into out (takes buf). */
static inline void raw_parse(char *buf, size_t n, bool closed, raw_resp_t *out)
{
    memset(out, 0, sizeof *out);
    out->closed = closed;
    if (!buf)
        return;
    char *end = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) == 0 && n > 12)
        out->status = atoi(buf + 9);
    size_t hl = end ? (size_t)(end - buf) : n;
    out->head = strndup(buf, hl);
    size_t bs = end ? hl + 4 : n;
    out->body_len = n - bs;
    out->body = malloc(out->body_len + 1);
    memcpy(out->body, buf + bs, out->body_len);
    out->body[out->body_len] = '\0';
    /* Chunked bodies: undo the framing for JSON parsing. */
    if (strcasestr(out->head, "\r\nTransfer-Encoding: chunked")) {
        size_t o = 0, i = 0;
        while (i < out->body_len) {
            char *e;
            unsigned long sz = strtoul(out->body + i, &e, 16);
            char *crlf = strstr(e, "\r\n");
            if (!crlf || sz == 0)
                break;
            i = (size_t)(crlf - out->body) + 2;
            if (i + sz > out->body_len)
                sz = out->body_len - i;
            memmove(out->body + o, out->body + i, sz);
            o += sz;
            i += sz + 2;
        }
        out->body_len = o;
        out->body[o] = '\0';
    }
    if (out->body_len)
        out->json = json_loadb(out->body, out->body_len, 0, NULL);
    free(buf);
}

/* Sends len bytes as one request on a new connection (the server may stop
 * reading early: a send error is not a failure), then reads the answer.
 * Returns 0 when a status line came back. */
static inline int raw_request(int port, const char *data, size_t len, int timeout_ms,
                              raw_resp_t *out)
{
    memset(out, 0, sizeof *out);
    int fd = raw_connect(port);
    if (fd < 0)
        return -1;
    size_t sent = 0;
    while (sent < len) {
        ssize_t w = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    size_t n;
    bool closed;
    char *buf = raw_read_all(fd, timeout_ms, &n, &closed);
    close(fd);
    raw_parse(buf, n, closed, out);
    return out->status ? 0 : -1;
}

/* Value of a header in a raw response (case-insensitive), malloc'd, or NULL. */
static inline char *raw_header(const raw_resp_t *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = r->head ? strstr(r->head, "\r\n") : NULL; p; p = strstr(p + 2, "\r\n")) {
        const char *l = p + 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            return strndup(v, e ? (size_t)(e - v) : strlen(v));
        }
    }
    return NULL;
}

static inline void raw_resp_clear(raw_resp_t *r)
{
    free(r->head);
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

#endif
