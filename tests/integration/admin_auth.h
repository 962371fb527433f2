/* For tests that call admin routes (catalog writes, order status changes):
 * they send "Authorization: Bearer <token>" with the token the harness gave
 * the stack (SHOPMQ_TEST_ADMIN_TOKEN, see README.md). Without one the
 * gateway ignores the header, so the same test passes either way. */
#ifndef SHOPMQ_ADMIN_AUTH_H
#define SHOPMQ_ADMIN_AUTH_H

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* The Authorization header line for the harness's admin token. */
static inline const char *admin_auth_header(void)
{
    static char line[512];
    const char *t = getenv("SHOPMQ_TEST_ADMIN_TOKEN");
    snprintf(line, sizeof line, "Authorization: Bearer %s", t && *t ? t : "no-token-configured");
    return line;
}

/* http_request with the admin header (plus extra, NULL-terminated, may be NULL). */
static inline int admin_request(harness_t *h, const char *method, const char *path,
                                const char *body, const char *const *extra, http_resp_t *out)
{
    const char *hdrs[16] = {admin_auth_header()};
    int n = 1;
    for (const char *const *e = extra; e && *e && n < 15; e++)
        hdrs[n++] = *e;
    hdrs[n] = NULL;
    return http_request(h, method, path, body, hdrs, out);
}

/* http_json with the admin header. */
static inline int admin_json(harness_t *h, const char *method, const char *path, const char *body,
                             json_t **json)
{
    http_resp_t r;
    admin_request(h, method, path, body, NULL, &r);
    int status = r.status;
    if (json)
        *json = r.json ? json_incref(r.json) : NULL;
    http_resp_clear(&r);
    return status;
}

#endif
