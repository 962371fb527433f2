/* Fuzz target: the trusted-proxy CIDR list parser and the client IP
 * resolution from X-Forwarded-For (gateway/clientip.h).
 *
 * Input pieces (fuzz_util.h framing): CIDR spec, X-Forwarded-For value,
 * peer address text, an address to probe. Checks: a refused spec names a
 * reason; the resolved client is a printable address; an untrusted peer's
 * header changes nothing; a trusted peer with no header is itself. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "clientip.h"
#include "fuzz_util.h"

/* The peer as a sockaddr: the piece when it is an address, else a fixed one
 * (half the time an IPv6 one). */
static void clientip_peer(const char *text, struct sockaddr_storage *ss, bool v6_default)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
    } else if (v6_default) {
        in6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, "2001:db8::7", &in6->sin6_addr);
    } else {
        in4->sin_family = AF_INET;
        inet_pton(AF_INET, "10.0.0.1", &in4->sin_addr);
    }
}

static void clientip_check_addr(const char *s)
{
    unsigned char buf[16];
    FUZZ_CHECK(inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

int fuzz_clientip_one(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_reader_init(&r, data, size);
    char *spec = fuzz_next_str(&r, NULL);
    char *xff = fuzz_next_str(&r, NULL);
    char *peer_text = fuzz_next_str(&r, NULL);
    char *probe = fuzz_next_str(&r, NULL);
    /* A small error buffer too: the message must be cut, not overflow. */
    size_t errlen = size > 0 && data[size - 1] < 64 ? data[size - 1] : 256;
    char *err = malloc(errlen ? errlen : 1);
    if (errlen)
        err[0] = '\0';
    cidr_list_t *list = cidr_list_parse(spec, errlen ? err : NULL, errlen);
    if (!list) {
        if (errlen > 1)
            FUZZ_CHECK(err[0] != '\0' && strlen(err) < errlen);
    } else {
        (void)cidr_list_contains(list, probe);
        (void)cidr_list_contains(list, xff);
        struct sockaddr_storage ss;
        clientip_peer(peer_text, &ss, size % 2 == 1);
        char with[INET6_ADDRSTRLEN], without[INET6_ADDRSTRLEN], none[INET6_ADDRSTRLEN];
        FUZZ_CHECK(clientip_resolve(list, (struct sockaddr *)&ss, xff, with, sizeof with) == 0);
        FUZZ_CHECK(clientip_resolve(list, (struct sockaddr *)&ss, NULL, without, sizeof without) ==
                   0);
        FUZZ_CHECK(clientip_resolve(NULL, (struct sockaddr *)&ss, xff, none, sizeof none) == 0);
        clientip_check_addr(with);
        clientip_check_addr(without);
        FUZZ_CHECK(strcmp(without, none) == 0); /* nothing trusted: the peer */
        if (!cidr_list_contains(list, without))
            FUZZ_CHECK(strcmp(with, without) == 0); /* untrusted peer: XFF ignored */
        /* A too-small output buffer is an error, never an overflow. */
        char tiny[4];
        (void)clientip_resolve(list, (struct sockaddr *)&ss, xff, tiny, sizeof tiny);
        cidr_list_destroy(&list);
        FUZZ_CHECK(list == NULL);
    }
    free(err);
    free(probe);
    free(peer_text);
    free(xff);
    free(spec);
    return 0;
}

#ifdef SHOPMQ_FUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_clientip_one(data, size);
}
#endif
