/* Trusted-proxy CIDR lists and client IP resolution: which address a
 * request is charged to, and that a spoofed X-Forwarded-For cannot move it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "clientip.h"

static cidr_list_t *parse_ok(const char *spec)
{
    char err[256] = "";
    cidr_list_t *l = cidr_list_parse(spec, err, sizeof err);
    if (!l)
        fail_msg("'%s' refused: %s", spec, err);
    return l;
}

static void test_parse_and_contains(void **state)
{
    (void)state;
    cidr_list_t *l = parse_ok(" 10.0.0.0/8 ,192.168.1.7, \t2001:db8::/32\n fd00::1/128,,");
    assert_true(cidr_list_contains(l, "10.1.2.3"));
    assert_true(cidr_list_contains(l, "10.255.255.255"));
    assert_false(cidr_list_contains(l, "11.0.0.0"));
    assert_true(cidr_list_contains(l, "192.168.1.7"));
    assert_false(cidr_list_contains(l, "192.168.1.8"));
    assert_true(cidr_list_contains(l, "2001:db8:ffff::1"));
    assert_true(cidr_list_contains(l, "2001:DB8::"));
    assert_false(cidr_list_contains(l, "2001:db9::1"));
    assert_true(cidr_list_contains(l, "fd00::1"));
    assert_false(cidr_list_contains(l, "fd00::2"));
    /* IPv4-mapped IPv6 is the same host as its IPv4 address. */
    assert_true(cidr_list_contains(l, "::ffff:10.9.9.9"));
    assert_false(cidr_list_contains(l, "not-an-ip"));
    assert_false(cidr_list_contains(l, ""));
    assert_false(cidr_list_contains(l, NULL));
    cidr_list_destroy(&l);
    assert_null(l);
}

static void test_prefix_edges(void **state)
{
    (void)state;
    cidr_list_t *l = parse_ok("0.0.0.0/0");
    assert_true(cidr_list_contains(l, "1.2.3.4"));
    assert_false(cidr_list_contains(l, "::1")); /* families never mix */
    cidr_list_destroy(&l);

    l = parse_ok("::/0");
    assert_true(cidr_list_contains(l, "2001:db8::1"));
    assert_false(cidr_list_contains(l, "1.2.3.4"));
    cidr_list_destroy(&l);

    l = parse_ok("172.16.0.0/12, 10.1.2.3/8"); /* host bits are ignored */
    assert_true(cidr_list_contains(l, "172.31.255.255"));
    assert_false(cidr_list_contains(l, "172.32.0.0"));
    assert_true(cidr_list_contains(l, "10.200.0.1"));
    cidr_list_destroy(&l);

    l = parse_ok("::ffff:192.168.0.0/112"); /* mapped form = 192.168.0.0/16 */
    assert_true(cidr_list_contains(l, "192.168.44.1"));
    assert_false(cidr_list_contains(l, "192.169.0.1"));
    cidr_list_destroy(&l);
}

static void test_empty_list_trusts_nothing(void **state)
{
    (void)state;
    cidr_list_t *l = parse_ok("");
    assert_false(cidr_list_contains(l, "127.0.0.1"));
    cidr_list_destroy(&l);
    l = parse_ok("  , ");
    assert_false(cidr_list_contains(l, "127.0.0.1"));
    cidr_list_destroy(&l);
    l = parse_ok(NULL);
    cidr_list_destroy(&l);
}

static void test_bad_cidrs_name_the_entry(void **state)
{
    (void)state;
    static const char *bad[] = {
        "10.0.0.0/33", "10.0.0.0/", "10.0.0/8",   "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/ 8",
        "::/129",      "::ffff:1.2.3.4/95", "banana", "300.1.1.1", "1.2.3.4/8a", "10.0.0.0/0008",
        "fe80::1%eth0", "[::1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char spec[128], err[256] = "";
        snprintf(spec, sizeof spec, "127.0.0.1/32, %s", bad[i]);
        cidr_list_t *l = cidr_list_parse(spec, err, sizeof err);
        if (l)
            fail_msg("'%s' was accepted", bad[i]);
        /* The message names the entry (for "10.0.0.0/ 8" the entry is the
         * part before the space). */
        char first[64];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(bad[i], " "), bad[i]);
        if (!strstr(err, first))
            fail_msg("error for '%s' does not name it: %s", bad[i], err);
    }
}

static struct sockaddr_storage peer4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(40000);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage peer6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return ss;
}

static const char *resolve(const cidr_list_t *l, struct sockaddr_storage ss, const char *xff)
{
    static char out[64];
    assert_int_equal(clientip_resolve(l, (struct sockaddr *)&ss, xff, out, sizeof out), 0);
    return out;
}

static void test_untrusted_peer_ignores_xff(void **state)
{
    (void)state;
    cidr_list_t *none = parse_ok("");
    assert_string_equal(resolve(none, peer4("203.0.113.9"), "1.1.1.1"), "203.0.113.9");
    assert_string_equal(resolve(none, peer4("127.0.0.1"), "1.1.1.1, 2.2.2.2"), "127.0.0.1");
    cidr_list_t *l = parse_ok("10.0.0.0/8");
    assert_string_equal(resolve(l, peer4("203.0.113.9"), "1.1.1.1"), "203.0.113.9");
    assert_string_equal(resolve(l, peer4("203.0.113.9"), NULL), "203.0.113.9");
    cidr_list_destroy(&none);
    cidr_list_destroy(&l);
}

static void test_trusted_chain_right_to_left(void **state)
{
    (void)state;
    cidr_list_t *l = parse_ok("10.0.0.0/8, 2001:db8::/32");
    /* The client can put anything on the left; the first untrusted hop from
     * the right is the one our proxies actually saw. */
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "6.6.6.6, 198.51.100.7, 10.2.2.2"),
                        "198.51.100.7");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "198.51.100.7"), "198.51.100.7");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "  198.51.100.7  "), "198.51.100.7");
    /* Every hop trusted: the leftmost one is the best we know. */
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "10.3.3.3, 10.2.2.2"), "10.3.3.3");
    /* No header: the proxy itself. */
    assert_string_equal(resolve(l, peer4("10.0.0.1"), NULL), "10.0.0.1");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), ""), "10.0.0.1");
    /* IPv6 hops, ports and brackets; canonical text so one client is one key. */
    assert_string_equal(resolve(l, peer6("2001:db8::5"), "2001:0DB9:0::1"), "2001:db9::1");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "[2001:db9::1]:443"), "2001:db9::1");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "198.51.100.7:5555"), "198.51.100.7");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "::ffff:198.51.100.7"), "198.51.100.7");
    cidr_list_destroy(&l);
}

static void test_malformed_xff_stops_at_last_good_hop(void **state)
{
    (void)state;
    cidr_list_t *l = parse_ok("10.0.0.0/8");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "garbage"), "10.0.0.1");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "1.1.1.1, garbage, 10.2.2.2"), "10.2.2.2");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "1.1.1.1,"), "10.0.0.1");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "1.1.1.1 2.2.2.2"), "10.0.0.1");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "1.1.1.1:99999"), "10.0.0.1");
    assert_string_equal(resolve(l, peer4("10.0.0.1"), "unknown, 10.2.2.2"), "10.2.2.2");
    char longhop[300];
    memset(longhop, '1', sizeof longhop - 1);
    longhop[sizeof longhop - 1] = '\0';
    assert_string_equal(resolve(l, peer4("10.0.0.1"), longhop), "10.0.0.1");
    cidr_list_destroy(&l);
}

static void test_mapped_peer_normalised(void **state)
{
    (void)state;
    cidr_list_t *l = parse_ok("127.0.0.1/32");
    /* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
    assert_string_equal(resolve(l, peer6("::ffff:203.0.113.9"), "1.1.1.1"), "203.0.113.9");
    assert_string_equal(resolve(l, peer6("::ffff:127.0.0.1"), "1.1.1.1"), "1.1.1.1");
    assert_string_equal(resolve(l, peer6("::1"), "1.1.1.1"), "::1");
    cidr_list_destroy(&l);
}

static void test_non_ip_peer(void **state)
{
    (void)state;
    struct sockaddr sa = {.sa_family = AF_UNIX};
    char out[64];
    assert_int_equal(clientip_resolve(NULL, &sa, NULL, out, sizeof out), -1);
    assert_int_equal(clientip_resolve(NULL, NULL, NULL, out, sizeof out), -1);
    struct sockaddr_storage ss = peer4("1.2.3.4");
    assert_int_equal(clientip_resolve(NULL, (struct sockaddr *)&ss, "5.5.5.5", out, sizeof out), 0);
    assert_string_equal(out, "1.2.3.4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_contains),
        cmocka_unit_test(test_prefix_edges),
        cmocka_unit_test(test_empty_list_trusts_nothing),
        cmocka_unit_test(test_bad_cidrs_name_the_entry),
        cmocka_unit_test(test_untrusted_peer_ignores_xff),
        cmocka_unit_test(test_trusted_chain_right_to_left),
        cmocka_unit_test(test_malformed_xff_stops_at_last_good_hop),
        cmocka_unit_test(test_mapped_peer_normalised),
        cmocka_unit_test(test_non_ip_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
