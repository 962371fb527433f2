/* config_load_from: defaults, .env parsing, the environment winning, and
 * every kind of bad value being refused with the variable's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

extern char **environ;

/* Tests must not see the ECOM_* variables of whoever runs them. */
static int clear_env(void **state)
{
    (void)state;
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "ECOM_", 5) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof(name), "%.*s", (int)n, *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    return 0;
}

static char dotenv_path[64];

static const char *write_dotenv(const char *text)
{
    snprintf(dotenv_path, sizeof(dotenv_path), "/tmp/test_config_%ld.env", (long)getpid());
    FILE *f = fopen(dotenv_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return dotenv_path;
}

static int remove_dotenv(void **state)
{
    (void)state;
    if (dotenv_path[0])
        unlink(dotenv_path);
    return clear_env(state);
}

static void test_defaults(void **state)
{
    config_t cfg;
    char err[256];
    assert_int_equal(config_load_from(&cfg, NULL, err, sizeof(err)), 0);
    assert_string_equal(cfg.host, "0.0.0.0");
    assert_int_equal(cfg.port, 8000);
    assert_int_equal(cfg.gateway_threads, 1);
    assert_int_equal(cfg.request_timeout_ms, 5000);
    assert_int_equal(cfg.max_body_bytes, 1048576);
    assert_int_equal(cfg.max_connections, 10000);
    assert_int_equal(cfg.connection_timeout_s, 30);
    assert_string_equal(cfg.trusted_proxies, "");
    assert_string_equal(cfg.cors_origins, "*");
    assert_string_equal(cfg.admin_token, "");
    assert_string_equal(cfg.database_url, "postgresql://shopmq@127.0.0.1:5432/shopmq");
    assert_int_equal(cfg.db_pool_size, 20);
    assert_int_equal(cfg.db_max_overflow, 10);
    assert_int_equal(cfg.db_pool_timeout_s, 30);
    assert_int_equal(cfg.db_pool_recycle_s, 1800);
    assert_int_equal(cfg.db_preping_idle_ms, 1000);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(cfg.cache_redis_url, ""); /* the gateway then reads ECOM_REDIS_URL */
    assert_true(cfg.redis_enabled);
    assert_int_equal(cfg.redis_cache_ttl, 300);
    assert_int_equal(cfg.redis_timeout_ms, 100);
    assert_int_equal(cfg.rate_limit_window, 60);
    assert_int_equal(cfg.rate_limit_max, 100);
    assert_string_equal(cfg.broker_bind, "tcp://127.0.0.1:5555");
    assert_string_equal(cfg.broker_endpoints, "tcp://127.0.0.1:5555");
    assert_string_equal(cfg.events_xsub_bind, "tcp://127.0.0.1:5556");
    assert_string_equal(cfg.events_xpub_bind, "tcp://127.0.0.1:5557");
    assert_string_equal(cfg.events_pub_endpoints, "tcp://127.0.0.1:5556");
    assert_string_equal(cfg.events_sub_endpoints, "tcp://127.0.0.1:5557");
    assert_int_equal(cfg.heartbeat_ms, 500);
    assert_int_equal(cfg.queue_grace_ms, 1000);
    assert_int_equal(cfg.workers, 4);
    assert_string_equal(cfg.log_level, "info");

    char host[64] = "", expect[128];
    gethostname(host, sizeof(host) - 1);
    snprintf(expect, sizeof(expect), "%.40s-%ld", host, (long)getpid());
    assert_string_equal(cfg.instance_id, expect);
}

static void test_env_overrides(void **state)
{
    setenv("ECOM_PORT", "9001", 1);
    setenv("ECOM_REDIS_ENABLED", "false", 1);
    setenv("ECOM_DATABASE_URL", "postgres://u:pw@db:5432/x", 1);
    setenv("ECOM_LOG_LEVEL", "DEBUG", 1);
    setenv("ECOM_INSTANCE_ID", "replica-7", 1);
    setenv("ECOM_DB_MAX_OVERFLOW", "0", 1);
    config_t cfg;
    char err[256];
    assert_int_equal(config_load_from(&cfg, NULL, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 9001);
    assert_false(cfg.redis_enabled);
    assert_string_equal(cfg.database_url, "postgres://u:pw@db:5432/x");
    assert_string_equal(cfg.log_level, "debug");
    assert_string_equal(cfg.instance_id, "replica-7");
    assert_int_equal(cfg.db_max_overflow, 0);
}

static void test_dotenv_parsing(void **state)
{
    const char *path = write_dotenv("# a comment\n"
                                    "\n"
                                    "ECOM_PORT=8081\n"
                                    "export ECOM_HOST=127.0.0.1\n"
                                    "ECOM_ADMIN_TOKEN=\"s3cret # not a comment\"\n"
                                    "ECOM_CORS_ORIGINS='https://a.example, https://b.example'\n"
                                    "ECOM_TRUSTED_PROXIES = 10.0.0.0/8   # inline comment\r\n"
                                    "ECOM_WORKERS=2\n"
                                    "ECOM_WORKERS=3\n"
                                    "  ECOM_REDIS_ENABLED=off\n"
                                    "ECOM_LOG_LEVEL=\"warn\\\"\"\n"
                                    "OTHER_THING=ignored\n");
    config_t cfg;
    char err[256];
    /* ECOM_LOG_LEVEL is warn" which is invalid: proves \" unescapes. */
    assert_int_equal(config_load_from(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ECOM_LOG_LEVEL"));
    assert_non_null(strstr(err, "warn\""));

    setenv("ECOM_LOG_LEVEL", "error", 1); /* the environment wins over .env */
    setenv("ECOM_PORT", "8082", 1);
    assert_int_equal(config_load_from(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 8082);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_string_equal(cfg.admin_token, "s3cret # not a comment");
    assert_string_equal(cfg.cors_origins, "https://a.example, https://b.example");
    assert_string_equal(cfg.trusted_proxies, "10.0.0.0/8");
    assert_int_equal(cfg.workers, 3);
    assert_false(cfg.redis_enabled);
    assert_string_equal(cfg.log_level, "error");

    unsetenv("ECOM_PORT");
    assert_int_equal(config_load_from(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 8081);
}

static void test_dotenv_missing_file_is_fine(void **state)
{
    config_t cfg;
    char err[256];
    assert_int_equal(config_load_from(&cfg, "/nonexistent/dir/.env", err, sizeof(err)), 0);
    assert_int_equal(cfg.port, 8000);
}

static void test_dotenv_bad_lines(void **state)
{
    static const char *bad[] = {"ECOM_PORT\n", "ECOM_PORT=\"8000\n", "1ECOM=2\n",
                                "ECOM_PORT='8000' trailing\n", "= value\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *path = write_dotenv(bad[i]);
        config_t cfg;
        char err[256] = "";
        assert_int_equal(config_load_from(&cfg, path, err, sizeof(err)), -1);
        assert_non_null(strstr(err, ":1:"));
    }
}

/* Every bad value must stop start-up with a message that names the variable. */
static void expect_bad(const char *name, const char *value, const char *fragment)
{
    clear_env(NULL);
    setenv(name, value, 1);
    config_t cfg;
    char err[512] = "";
    int rc = config_load_from(&cfg, NULL, err, sizeof(err));
    if (rc != -1)
        fail_msg("%s=%s was accepted", name, value);
    if (strncmp(err, name, strlen(name)) != 0 || !strstr(err, fragment))
        fail_msg("%s=%s: unexpected message '%s'", name, value, err);
    unsetenv(name);
}

static void test_bad_values(void **state)
{
    expect_bad("ECOM_PORT", "abc", "expected an integer 1..65535, got 'abc'");
    expect_bad("ECOM_PORT", "", "expected an integer");
    expect_bad("ECOM_PORT", "0", "got '0'");
    expect_bad("ECOM_PORT", "65536", "got '65536'");
    expect_bad("ECOM_PORT", "80x", "got '80x'");
    expect_bad("ECOM_PORT", "99999999999999999999", "expected an integer");
    expect_bad("ECOM_PORT", " 80", "expected an integer");
    expect_bad("ECOM_DB_POOL_SIZE", "-1", "expected an integer 1..");
    expect_bad("ECOM_WORKERS", "0", "expected an integer 1..");
    expect_bad("ECOM_HEARTBEAT_MS", "1.5", "expected an integer");
    expect_bad("ECOM_REDIS_ENABLED", "maybe", "expected a boolean");
    expect_bad("ECOM_REDIS_ENABLED", "", "expected a boolean");
    expect_bad("ECOM_DATABASE_URL", "mysql://x/y", "postgresql://");
    expect_bad("ECOM_DATABASE_URL", "", "postgresql://");
    expect_bad("ECOM_REDIS_URL", "http://127.0.0.1:6379", "redis://");
    expect_bad("ECOM_REDIS_URL", "", "redis://");
    expect_bad("ECOM_CACHE_REDIS_URL", "http://127.0.0.1:6379", "redis://");
    expect_bad("ECOM_LOG_LEVEL", "verbose", "debug, info, warn, error");
    expect_bad("ECOM_BROKER_ENDPOINTS", "127.0.0.1:5555", "ZeroMQ endpoints");
    expect_bad("ECOM_BROKER_ENDPOINTS", " , ", "ZeroMQ endpoints");

    char longv[200];
    memset(longv, 'h', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    expect_bad("ECOM_HOST", longv, "too long (at most 63 bytes)");
}

static void test_password_not_echoed(void **state)
{
    setenv("ECOM_DATABASE_URL", "mysql://admin:hunter2@db/x", 1);
    config_t cfg;
    char err[512] = "";
    assert_int_equal(config_load_from(&cfg, NULL, err, sizeof(err)), -1);
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, "admin:***@db"));

    /* A password longer than the quoted excerpt: its '@' is cut off, and
     * the start of the password must not be shown for want of it. */
    char url[300];
    snprintf(url, sizeof(url), "mysql://admin:%0120d@db/x", 7);
    setenv("ECOM_DATABASE_URL", url, 1);
    assert_int_equal(config_load_from(&cfg, NULL, err, sizeof(err)), -1);
    assert_null(strstr(err, "0000"));
    assert_non_null(strstr(err, "admin:***"));

    /* An '@' inside the password: everything up to the last one is hidden. */
    setenv("ECOM_REDIS_URL", "rediss://:hunter2@tail@cache:6379/0", 1);
    setenv("ECOM_DATABASE_URL", "postgresql://x@y/z", 1);
    assert_int_equal(config_load_from(&cfg, NULL, err, sizeof(err)), -1);
    assert_null(strstr(err, "tail@"));
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, ":***@cache"));
}

static void collect(const char *item, void *arg)
{
    char *out = arg;
    strcat(out, "[");
    strcat(out, item);
    strcat(out, "]");
}

static void test_each_item(void **state)
{
    char out[256] = "";
    assert_int_equal(config_each_item(" tcp://a:1 ,tcp://b:2,, ,tcp://c:3 ", collect, out), 3);
    assert_string_equal(out, "[tcp://a:1][tcp://b:2][tcp://c:3]");
    out[0] = '\0';
    assert_int_equal(config_each_item("", collect, out), 0);
    assert_int_equal(config_each_item(NULL, collect, out), 0);
    assert_int_equal(config_each_item("one", NULL, NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_env_overrides, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_dotenv_parsing, clear_env, remove_dotenv),
        cmocka_unit_test_setup_teardown(test_dotenv_missing_file_is_fine, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_dotenv_bad_lines, clear_env, remove_dotenv),
        cmocka_unit_test_setup_teardown(test_bad_values, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_password_not_echoed, clear_env, clear_env),
        cmocka_unit_test(test_each_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
