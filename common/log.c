/* JSON line logging. Each line is built in memory and written with one
 * write(2), so lines from concurrent threads never interleave. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_service[64] = "shopmq";
static volatile int log_min = LOGL_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, const char *level)
{
    if (service && *service)
        snprintf(log_service, sizeof(log_service), "%s", service);
    int min = LOGL_INFO;
    if (level) {
        for (int i = LOGL_DEBUG; i <= LOGL_ERROR; i++)
            if (strcasecmp(level, level_names[i]) == 0)
                min = i;
        if (strcasecmp(level, "warning") == 0)
            min = LOGL_WARN;
    }
    log_min = min;
}

typedef struct {
    char *data;
    size_t len, cap;
    char stack[2048];
    int failed;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra)
{
    if (b->failed || b->len + extra <= b->cap)
        return;
    size_t cap = b->cap * 2;
    while (cap < b->len + extra)
        cap *= 2;
    char *data = b->data == b->stack ? malloc(cap) : realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return;
    }
    if (b->data == b->stack)
        memcpy(data, b->stack, b->len);
    b->data = data;
    b->cap = cap;
}

static void buf_put(buf_t *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Length of a valid UTF-8 sequence at s (max n bytes), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* Appends s as a JSON string; invalid UTF-8 becomes U+FFFD so the line
 * stays valid JSON whatever a peer sent us. */
static void buf_put_json(buf_t *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    buf_put(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_put(b, esc, 2);
            i++;
        } else if (c == '\n') {
            buf_put(b, "\\n", 2), i++;
        } else if (c == '\t') {
            buf_put(b, "\\t", 2), i++;
        } else if (c == '\r') {
            buf_put(b, "\\r", 2), i++;
        } else if (c < 0x20 || c == 0x7F) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            buf_put(b, esc, 6);
            i++;
        } else {
            size_t len = utf8_seq(s + i, n - i);
            if (len == 0) {
                buf_put(b, "\\ufffd", 6);
                i++;
            } else {
                buf_put(b, (const char *)s + i, len);
                i += len;
            }
        }
    }
    buf_put(b, "\"", 1);
}

void log_write(enum log_level level, const char *rid, const char *fmt, ...)
{
    /* An out-of-range value (most likely a <syslog.h> LOG_* level, 4..7,
     * passed by mistake) is mapped rather than dropped. */
    static const enum log_level from_syslog[] = {LOGL_ERROR, LOGL_INFO, LOGL_WARN, LOGL_ERROR,
                                                 LOGL_WARN,  LOGL_INFO, LOGL_INFO, LOGL_DEBUG};
    if ((unsigned)level > LOGL_ERROR)
        level = (unsigned)level < 8 ? from_syslog[level] : LOGL_ERROR;
    if ((int)level < log_min)
        return;
    int saved_errno = errno;

    char msg_stack[1024];
    char *msg = msg_stack;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg_stack, sizeof(msg_stack), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg_stack)) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            va_end(ap);
            msg = big;
        }
    } else if (n < 0) {
        snprintf(msg_stack, sizeof(msg_stack), "(bad log format)");
    }

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tsbuf[96];
    snprintf(tsbuf, sizeof(tsbuf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));

    buf_t b = {.len = 0, .cap = sizeof(b.stack), .failed = 0};
    b.data = b.stack;
    buf_put(&b, "{\"ts\":\"", 7);
    buf_put(&b, tsbuf, strlen(tsbuf));
    buf_put(&b, "\",\"level\":\"", 11);
    buf_put(&b, level_names[level], strlen(level_names[level]));
    buf_put(&b, "\",\"service\":", 12);
    buf_put_json(&b, log_service);
    if (rid && *rid) {
        buf_put(&b, ",\"rid\":", 7);
        buf_put_json(&b, rid);
    }
    buf_put(&b, ",\"msg\":", 7);
    buf_put_json(&b, msg);
    buf_put(&b, "}\n", 2);

    if (!b.failed) {
        const char *p = b.data;
        size_t left = b.len;
        while (left > 0) {
            ssize_t w = write(STDERR_FILENO, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
    }
    if (b.data != b.stack)
        free(b.data);
    if (msg != msg_stack)
        free(msg);
    errno = saved_errno;
}
