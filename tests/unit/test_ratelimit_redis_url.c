/* ECOM_REDIS_URL as the rate limiter reads it: the forms in use, and
 * refusing what it cannot honour instead of guessing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "redis_async.h"

static redis_url_t parse_ok(const char *url)
{
    redis_url_t u;
    char err[256] = "";
    if (redis_url_parse(url, &u, err, sizeof err) != 0)
        fail_msg("'%s' refused: %s", url, err);
    return u;
}

static void test_forms(void **state)
{
    (void)state;
    redis_url_t u = parse_ok("redis://127.0.0.1:6379/0");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");

    u = parse_ok("redis://redis");
    assert_string_equal(u.host, "redis");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);

    u = parse_ok("redis://localhost:56379/7");
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 56379);
    assert_int_equal(u.db, 7);

    u = parse_ok("redis://:s3cr@t@cache.internal:6380/2");
    assert_string_equal(u.username, "");
    assert_string_equal(u.password, "s3cr@t");
    assert_string_equal(u.host, "cache.internal");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);

    u = parse_ok("redis://app:pw@10.0.0.5/");
    assert_string_equal(u.username, "app");
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.db, 0);

    u = parse_ok("redis://[::1]:7000/3");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);

    u = parse_ok("redis://:6390");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6390);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "http://127.0.0.1:6379",
        "rediss://127.0.0.1:6379/0", /* TLS: hiredis here has none */
        "127.0.0.1:6379",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:port",
        "redis://host:63 79",
        "redis://host:6379/x",
        "redis://host:6379/-1",
        "redis://host:6379/0?timeout=1",
        "redis://[::1:6379/0",
        "redis://[::1]x:6379",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        redis_url_t u;
        char err[256] = "";
        if (redis_url_parse(bad[i], &u, err, sizeof err) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(err, "ECOM_REDIS_URL"));
    }
    redis_url_t u;
    char err[64];
    assert_int_equal(redis_url_parse(NULL, &u, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
