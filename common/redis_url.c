/* ECOM_REDIS_URL parsing, shared by the gateway's rate limiter and the
 * catalog cache (see redis_url.h). */
#include "redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int copy_part(char *dst, size_t dstlen, const char *s, size_t len)
{
    if (len >= dstlen)
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int parse_uint(const char *s, size_t len, long max, long *out)
{
    if (len == 0 || len > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errlen)
{
    static const char scheme[] = "redis://";
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0) {
        snprintf(err, errlen, "ECOM_REDIS_URL must start with redis:// (got '%.100s')",
                 url ? url : "");
        return -1;
    }
    const char *p = url + sizeof scheme - 1;
    const char *end = p + strcspn(p, "/?#");

    /* userinfo: the last '@' before the path, so passwords may contain '@' */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (copy_part(out->username, sizeof out->username, p, (size_t)(colon - p)) ||
                copy_part(out->password, sizeof out->password, colon + 1, (size_t)(at - colon - 1)))
                goto too_long;
        } else if (copy_part(out->password, sizeof out->password, p, (size_t)(at - p))) {
            /* redis://secret@host: the only sensible reading is a password */
            goto too_long;
        }
        p = at + 1;
    }

    const char *host_end;
    const char *port_start = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            goto bad;
        if (copy_part(out->host, sizeof out->host, p + 1, (size_t)(close - p - 1)))
            goto too_long;
        host_end = close + 1;
        if (host_end < end) {
            if (*host_end != ':')
                goto bad;
            port_start = host_end + 1;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
        if (copy_part(out->host, sizeof out->host, p, (size_t)(host_end - p)))
            goto too_long;
        if (colon)
            port_start = colon + 1;
    }
    if (out->host[0] == '\0')
        snprintf(out->host, sizeof out->host, "127.0.0.1");
    long v;
    if (port_start) {
        if (parse_uint(port_start, (size_t)(end - port_start), 65535, &v) || v == 0)
            goto bad;
        out->port = (int)v;
    }

    if (*end == '/') {
        const char *db = end + 1;
        size_t dblen = strcspn(db, "?#");
        if (dblen > 0) {
            if (parse_uint(db, dblen, 1000000, &v))
                goto bad;
            out->db = (int)v;
        }
        end = db + dblen;
    }
    /* Query options (e.g. ?timeout=) are not supported; say so rather than
     * silently ignoring them. */
    if (*end != '\0')
        goto bad;
    return 0;

too_long:
    snprintf(err, errlen, "ECOM_REDIS_URL has a part that is too long");
    return -1;
bad:
    snprintf(err, errlen, "ECOM_REDIS_URL is not redis://[[user]:password@]host[:port][/db]");
    return -1;
}
