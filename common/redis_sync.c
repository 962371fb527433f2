/* See redis_sync.h. */
#include "redis_sync.h"

#include <stdbool.h>
#include <stdio.h>
#include <sys/time.h>

/* Runs a handshake command (argc words); false (reason in err) unless
 * Redis answered with something other than an error. */
static bool handshake(redisContext *c, int argc, const char **argv, char *err, size_t errlen)
{
    const char *cmd = argv[0];
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        snprintf(err, errlen, "%s failed: %s", cmd, r ? r->str : c->err ? c->errstr : "error");
    freeReplyObject(r);
    return ok;
}

redis_sync_rc_t redis_sync_connect(const redis_url_t *url, int timeout_ms, redisContext **cp,
                                   char *err, size_t errlen)
{
    *cp = NULL;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(url->host, url->port, tv);
    /* Without the command timeout a stalled Redis would block the calling
     * thread indefinitely, so failing to set it fails the connect. */
    if (!c || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "connect %s:%d failed: %s", url->host, url->port,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return REDIS_SYNC_UNREACHABLE;
    }
    if (url->password[0]) {
        /* With a user, Redis 6 ACL AUTH (as the gateway's limiter sends). */
        const char *user_auth[] = {"AUTH", url->username, url->password};
        const char *auth[] = {"AUTH", url->password};
        if (url->username[0] ? !handshake(c, 3, user_auth, err, errlen)
                             : !handshake(c, 2, auth, err, errlen))
            goto rejected;
    }
    if (url->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", url->db);
        const char *select[] = {"SELECT", db};
        if (!handshake(c, 2, select, err, errlen))
            goto rejected;
    }
    *cp = c;
    return REDIS_SYNC_OK;

rejected:
    redisFree(c);
    return REDIS_SYNC_REJECTED;
}
