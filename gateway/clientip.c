/* Client IP resolution and trusted-proxy CIDR lists (see clientip.h). */
#include "clientip.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address in one canonical form: IPv4-mapped IPv6 becomes IPv4, so
 * "::ffff:10.0.0.1" and "10.0.0.1" are one client and one budget. */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    uint8_t b[16];
} addr_t;

typedef struct {
    addr_t net;
    int prefix;
} cidr_t;

struct cidr_list {
    cidr_t *items;
    size_t n;
};

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void addr_normalise(addr_t *a)
{
    if (a->family == AF_INET6 && memcmp(a->b, v4mapped_prefix, 12) == 0) {
        memmove(a->b, a->b + 12, 4);
        memset(a->b + 4, 0, 12);
        a->family = AF_INET;
    }
}

/* Parses exactly len bytes of s as a bare IPv4 or IPv6 address. */
static int addr_parse(const char *s, size_t len, addr_t *out)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->b) == 1) {
        out->family = AF_INET6;
        addr_normalise(out);
        return 0;
    }
    return -1;
}

static bool port_ok(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return atoi(s) <= 65535; /* s is followed by a non-digit or the end */
}

/* An X-Forwarded-For hop: "a.b.c.d", "a.b.c.d:port", "v6", "[v6]" or
 * "[v6]:port" (some proxies append ports). Anything else is malformed. */
static int hop_parse(const char *s, size_t len, addr_t *out)
{
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return -1;
        size_t rest = len - (size_t)(close - s) - 1;
        if (rest > 0 && (close[1] != ':' || !port_ok(close + 2, rest - 1)))
            return -1;
        if (addr_parse(s + 1, (size_t)(close - s) - 1, out) != 0 || out->family != AF_INET6)
            return -1;
        return 0;
    }
    if (addr_parse(s, len, out) == 0)
        return 0;
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) &&
        port_ok(colon + 1, len - (size_t)(colon - s) - 1) &&
        addr_parse(s, (size_t)(colon - s), out) == 0 && out->family == AF_INET)
        return 0;
    return -1;
}

static void addr_mask(addr_t *a, int prefix)
{
    int bytes = a->family == AF_INET ? 4 : 16;
    for (int i = 0; i < bytes; i++) {
        int bits = prefix - i * 8;
        if (bits >= 8)
            continue;
        a->b[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
    }
}

static bool cidr_match(const cidr_t *c, const addr_t *a)
{
    if (c->net.family != a->family)
        return false;
    addr_t m = *a;
    addr_mask(&m, c->prefix);
    return memcmp(m.b, c->net.b, 16) == 0;
}

/* One list entry: an address, optionally "/prefix". Host bits below the
 * prefix are ignored (as nginx does), so 10.1.2.3/8 means 10.0.0.0/8. */
static int cidr_parse(const char *s, size_t len, cidr_t *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (addr_parse(s, alen, &out->net) != 0)
        return -1;
    bool mapped = false;
    if (out->net.family == AF_INET && memchr(s, ':', alen))
        mapped = true; /* "::ffff:a.b.c.d/104" style: prefix counts v6 bits */
    int maxbits = out->net.family == AF_INET ? 32 : 128;
    if (!slash) {
        out->prefix = maxbits;
        return 0;
    }
    const char *p = slash + 1;
    size_t plen = len - alen - 1;
    if (plen == 0 || plen > 3)
        return -1;
    int prefix = 0;
    for (size_t i = 0; i < plen; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        prefix = prefix * 10 + (p[i] - '0');
    }
    if (mapped) {
        if (prefix < 96 || prefix > 128)
            return -1;
        prefix -= 96;
    }
    if (prefix > maxbits)
        return -1;
    out->prefix = prefix;
    addr_mask(&out->net, prefix);
    return 0;
}

static bool is_sep(char c)
{
    return c == ',' || isspace((unsigned char)c);
}

cidr_list_t *cidr_list_parse(const char *spec, char *err, size_t errlen)
{
    cidr_list_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *p = spec ? spec : "";
    size_t cap = 0;
    while (*p) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !is_sep(*p))
            p++;
        size_t len = (size_t)(p - start);
        cidr_t c;
        if (cidr_parse(start, len, &c) != 0) {
            snprintf(err, errlen, "invalid CIDR '%.*s' in trusted proxy list", (int)(len > 100 ? 100 : len),
                     start);
            cidr_list_destroy(&self);
            return NULL;
        }
        if (self->n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            cidr_t *ni = realloc(self->items, ncap * sizeof *ni);
            if (!ni) {
                snprintf(err, errlen, "out of memory");
                cidr_list_destroy(&self);
                return NULL;
            }
            self->items = ni;
            cap = ncap;
        }
        self->items[self->n++] = c;
    }
    return self;
}

void cidr_list_destroy(cidr_list_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->items);
    free(*self_p);
    *self_p = NULL;
}

static bool list_contains(const cidr_list_t *self, const addr_t *a)
{
    for (size_t i = 0; self && i < self->n; i++)
        if (cidr_match(&self->items[i], a))
            return true;
    return false;
}

bool cidr_list_contains(const cidr_list_t *self, const char *ip)
{
    addr_t a;
    if (!ip || hop_parse(ip, strlen(ip), &a) != 0)
        return false;
    return list_contains(self, &a);
}

static int addr_format(const addr_t *a, char *out, size_t outlen)
{
    return inet_ntop(a->family, a->b, out, (socklen_t)outlen) ? 0 : -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int clientip_resolve(const cidr_list_t *trusted, const struct sockaddr *peer, const char *xff,
                     char *out, size_t outlen)
{
    if (!peer)
        return -1;
    addr_t cur;
    memset(&cur, 0, sizeof cur);
    if (peer->sa_family == AF_INET) {
        cur.family = AF_INET;
        memcpy(cur.b, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer->sa_family == AF_INET6) {
        cur.family = AF_INET6;
        memcpy(cur.b, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
        addr_normalise(&cur);
    } else {
        return -1;
    }

    /* Right to left: each hop was appended by the one to its right, so we
     * may only believe it while the one to its right is trusted. */
    if (xff && list_contains(trusted, &cur)) {
        const char *end = xff + strlen(xff);
        while (end > xff) {
            const char *start = end;
            while (start > xff && start[-1] != ',')
                start--;
            const char *a = start, *b = end;
            while (a < b && is_blank(*a))
                a++;
            while (b > a && is_blank(b[-1]))
                b--;
            addr_t hop;
            if (hop_parse(a, (size_t)(b - a), &hop) != 0)
                break; /* malformed: keep the last hop we could trust */
            cur = hop;
            if (!list_contains(trusted, &cur))
                break;
            end = start > xff ? start - 1 : xff;
        }
    }
    return addr_format(&cur, out, outlen);
}
