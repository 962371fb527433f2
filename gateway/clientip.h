/* Which IP a request comes from: the TCP peer, unless the peer is a
 * trusted proxy (ECOM_TRUSTED_PROXIES, a comma-separated CIDR list); then
 * X-Forwarded-For is read right to left, skipping trusted hops, and the
 * first untrusted address wins. A spoofed header from an untrusted peer
 * changes nothing. */
#ifndef SHOPMQ_CLIENTIP_H
#define SHOPMQ_CLIENTIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct cidr_list cidr_list_t;

/* NULL with a message in err (naming the bad entry) when spec is invalid.
 * An empty spec gives an empty list (nothing trusted). */
cidr_list_t *cidr_list_parse(const char *spec, char *err, size_t errlen);
void cidr_list_destroy(cidr_list_t **self_p);
/* true when the textual IPv4/IPv6 address is inside one of the ranges. */
bool cidr_list_contains(const cidr_list_t *self, const char *ip);

/* Writes the client IP as text into out (INET6_ADDRSTRLEN is enough).
 * xff may be NULL. Returns 0, or -1 if peer is not an IP address. */
int clientip_resolve(const cidr_list_t *trusted, const struct sockaddr *peer, const char *xff,
                     char *out, size_t outlen);

#endif
