/* Admin token check; see adminauth.h. */
#include "adminauth.h"

#include <string.h>
#include <strings.h>

void adminauth_init(adminauth_t *self, const char *token)
{
    memset(self, 0, sizeof *self);
    size_t n = token ? strlen(token) : 0;
    if (n == 0 || n >= ADMINAUTH_MAX)
        return; /* config_t cannot hold a longer one */
    memcpy(self->token, token, n);
    self->len = (unsigned)n;
    self->on = true;
}

/* Every byte of both padded buffers is looked at, and the lengths are
 * folded into the same accumulator: no early exit anywhere. */
static bool same_token(const adminauth_t *self, const char *cred, size_t n)
{
    unsigned char guess[ADMINAUTH_MAX];
    memset(guess, 0, sizeof guess);
    size_t copy = n < ADMINAUTH_MAX ? n : ADMINAUTH_MAX;
    memcpy(guess, cred, copy);
    volatile unsigned diff = 0;
    for (size_t i = 0; i < ADMINAUTH_MAX; i++)
        diff |= (unsigned)(guess[i] ^ self->token[i]);
    diff |= (unsigned)(n ^ self->len);
    diff |= (unsigned)(n >= ADMINAUTH_MAX);
    return diff == 0;
}

int adminauth_check_n(const adminauth_t *self, const char *authorization, size_t len)
{
    if (!self->on)
        return 0;
    if (!authorization)
        return 401;
    /* A NUL inside a header value is malformed (RFC 9110), not a token that
     * happens to end early. (libmicrohttpd 0.9.75 already cuts values at a
     * NUL; this keeps the check right where the length is the real one.) */
    if (memchr(authorization, '\0', len))
        return 401;
    /* "Bearer" (any case, as RFC 7235 schemes are), spaces, credentials. */
    const char *p = authorization, *end = authorization + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (end - p < 7 || strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return 401;
    p += 6;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t n = (size_t)(end - p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 401;
    return same_token(self, p, n) ? 0 : 403;
}

int adminauth_check(const adminauth_t *self, const char *authorization)
{
    return adminauth_check_n(self, authorization, authorization ? strlen(authorization) : 0);
}
