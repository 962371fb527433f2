/* The harness's HTTP/1.1 client: one blocking-with-deadline connection per
 * request, Connection: close, Content-Length bodies out, Content-Length,
 * chunked or read-until-close bodies in. Deliberately independent of any
 * HTTP library so it judges the gateway from the outside. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_TIMEOUT_MS 30000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ms_left(long long deadline)
{
    long long left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static int buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int buf_addf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_addf(buf_t *b, const char *fmt, ...)
{
    char *tmp;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&tmp, fmt, ap); /* no length limit: tests send 414-sized URIs */
    va_end(ap);
    if (n < 0)
        return -1;
    int rc = buf_add(b, tmp, (size_t)n);
    free(tmp);
    return rc;
}

/* Does the caller's header list already carry this header? */
static bool has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (; headers && *headers; headers++)
        if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':')
            return true;
    return false;
}

static int connect_loopback(int port, long long deadline)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, ms_left(deadline)) <= 0)
            goto fail;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
            goto fail;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
fail:
    close(fd);
    return -1;
}

/* Parsed view of what has arrived so far. */
typedef struct {
    int status;
    size_t head_start; /* offset of the final (non-1xx) status line */
    size_t head_len;   /* bytes of its header block, without the blank line */
    size_t body_start;
    bool complete;
    buf_t body; /* decoded body once complete (or at EOF) */
} parse_t;

static const char *find_blank_line(const char *p, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return p + i;
    return NULL;
}

/* Header value inside a raw block (first line is the status line). */
static char *header_in_block(const char *block, size_t len, const char *name)
{
    size_t n = strlen(name);
    const char *end = block + len;
    const char *line = memchr(block, '\n', len);
    while (line && line < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            const char *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            return strndup(v, (size_t)(ve - v));
        }
        line = eol < end ? eol : NULL;
    }
    return NULL;
}

/* Decodes a chunked body; returns 1 when the terminating chunk and trailers
 * are in, 0 when more input is needed, -1 on garbage. */
static int decode_chunked(const char *p, size_t len, buf_t *out)
{
    size_t i = 0;
    out->len = 0;
    for (;;) {
        const char *eol = memmem(p + i, len - i, "\r\n", 2);
        if (!eol)
            return 0;
        char *endp;
        unsigned long size = strtoul(p + i, &endp, 16);
        if (endp == p + i)
            return -1;
        i = (size_t)(eol - p) + 2;
        if (size == 0) {
            /* trailers until an empty line */
            for (;;) {
                const char *t = memmem(p + i, len - i, "\r\n", 2);
                if (!t)
                    return 0;
                if (t == p + i)
                    return 1;
                i = (size_t)(t - p) + 2;
            }
        }
        if (len - i < size + 2)
            return 0;
        if (buf_add(out, p + i, size) < 0)
            return -1;
        i += size + 2;
    }
}

/* Re-parses the response buffer; sets st->complete when no more bytes are
 * needed. at_eof: the peer closed, so take whatever body there is. */
static int parse_response(const char *method, const buf_t *in, parse_t *st, bool at_eof)
{
    size_t off = 0;
    for (;;) {
        const char *blank = find_blank_line(in->data + off, in->len - off);
        if (!blank)
            return at_eof ? -1 : 0;
        const char *line = in->data + off;
        int status = 0;
        if (strncmp(line, "HTTP/1.", 7) != 0 || sscanf(line + 8, " %3d", &status) != 1 ||
            status < 100 || status > 999)
            return -1;
        size_t head_len = (size_t)(blank - line);
        if (status >= 100 && status < 200) { /* interim: skip it */
            off += head_len + 4;
            continue;
        }
        st->status = status;
        st->head_start = off;
        st->head_len = head_len;
        st->body_start = off + head_len + 4;
        break;
    }
    const char *head = in->data + st->head_start;
    const char *body = in->data + st->body_start;
    size_t avail = in->len - st->body_start;
    st->body.len = 0;

    if (strcasecmp(method, "HEAD") == 0 || st->status == 204 || st->status == 304) {
        st->complete = true;
        return 0;
    }
    char *te = header_in_block(head, st->head_len, "Transfer-Encoding");
    bool chunked = te && strcasestr(te, "chunked");
    free(te);
    if (chunked) {
        int r = decode_chunked(body, avail, &st->body);
        if (r < 0)
            return -1;
        st->complete = r == 1 || at_eof;
        return 0;
    }
    char *cl = header_in_block(head, st->head_len, "Content-Length");
    if (cl) {
        size_t want = strtoull(cl, NULL, 10);
        free(cl);
        if (avail >= want || at_eof) {
            if (buf_add(&st->body, body, avail < want ? avail : want) < 0)
                return -1;
            st->complete = true;
        }
        return 0;
    }
    if (at_eof) {
        if (buf_add(&st->body, body, avail) < 0)
            return -1;
        st->complete = true;
    }
    return 0;
}

int http_request_timeout(int port, const char *method, const char *path, const char *body,
                         size_t body_len, const char *const *headers, int timeout_ms,
                         http_resp_t *out)
{
    memset(out, 0, sizeof *out);
    long long wait = timeout_ms > 0 ? timeout_ms : HTTP_TIMEOUT_MS;
    long long deadline = now_ms() + wait * harness_time_scale();
    buf_t req = {0}, in = {0};
    parse_t st = {0};
    int rc = -1;
    int fd = connect_loopback(port, deadline);
    if (fd < 0)
        return -1;

    buf_addf(&req, "%s %s HTTP/1.1\r\n", method, path);
    if (!has_header(headers, "Host"))
        buf_addf(&req, "Host: 127.0.0.1:%d\r\n", port);
    if (!has_header(headers, "Connection"))
        buf_addf(&req, "Connection: close\r\n");
    if (body && !has_header(headers, "Content-Type"))
        buf_addf(&req, "Content-Type: application/json\r\n");
    bool bodyless = strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0 ||
                    strcasecmp(method, "DELETE") == 0 || strcasecmp(method, "OPTIONS") == 0;
    if (!has_header(headers, "Content-Length") && !has_header(headers, "Transfer-Encoding") &&
        (body || !bodyless))
        buf_addf(&req, "Content-Length: %zu\r\n", body ? body_len : 0);
    for (const char *const *h = headers; h && *h; h++) {
        buf_add(&req, *h, strlen(*h));
        buf_add(&req, "\r\n", 2);
    }
    buf_add(&req, "\r\n", 2);
    if (body && body_len)
        buf_add(&req, body, body_len);
    if (!req.data)
        goto done;

    /* Send, but stop as soon as the server answers: it may reject a large
     * body (413) and close before reading all of it. */
    size_t sent = 0;
    while (sent < req.len) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT | POLLIN};
        int n = poll(&pfd, 1, ms_left(deadline));
        if (n <= 0)
            goto done; /* timeout */
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
            break;
        ssize_t w = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            break; /* EPIPE/ECONNRESET: read what the server said, if anything */
        }
        sent += (size_t)w;
    }

    bool eof = false;
    for (;;) {
        char chunk[65536];
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r > 0) {
            if (buf_add(&in, chunk, (size_t)r) < 0)
                goto done;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            eof = true;
        } else {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            int n = poll(&pfd, 1, ms_left(deadline));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break; /* timeout: parse what we have */
            continue;
        }
        if (in.len == 0 && eof)
            goto done;
        if (in.len == 0)
            continue;
        if (parse_response(method, &in, &st, eof) < 0)
            goto done;
        if (st.complete || eof)
            break;
    }
    if (!st.complete)
        goto done; /* timed out or truncated headers */

    out->status = st.status;
    out->headers = strndup(in.data + st.head_start, st.head_len);
    out->body = st.body.data ? st.body.data : strdup("");
    out->body_len = st.body.len;
    st.body.data = NULL;
    if (out->body_len > 0)
        out->json = json_loadb(out->body, out->body_len, JSON_DECODE_ANY, NULL);
    rc = 0;
done:
    free(st.body.data);
    free(req.data);
    free(in.data);
    close(fd);
    return rc;
}

int http_request_port(int port, const char *method, const char *path, const char *body,
                      size_t body_len, const char *const *headers, http_resp_t *out)
{
    return http_request_timeout(port, method, path, body, body_len, headers, HTTP_TIMEOUT_MS, out);
}

int http_request(harness_t *self, const char *method, const char *path, const char *body,
                 const char *const *headers, http_resp_t *out)
{
    return http_request_port(harness_http_port(self), method, path, body, body ? strlen(body) : 0,
                             headers, out);
}

char *http_header(const http_resp_t *resp, const char *name)
{
    if (!resp || !resp->headers)
        return NULL;
    return header_in_block(resp->headers, strlen(resp->headers), name);
}

void http_resp_clear(http_resp_t *resp)
{
    if (!resp)
        return;
    free(resp->headers);
    free(resp->body);
    json_decref(resp->json);
    memset(resp, 0, sizeof *resp);
}

int http_json(harness_t *self, const char *method, const char *path, const char *body,
              json_t **json)
{
    http_resp_t r;
    http_request(self, method, path, body, NULL, &r);
    int status = r.status;
    if (json)
        *json = r.json ? json_incref(r.json) : NULL;
    http_resp_clear(&r);
    return status;
}
