/* JSON line logging: every line is one valid JSON object whatever the
 * message holds, the level filter works, and syslog's LOG_* values (which
 * czmq's <syslog.h> used to slip in) are mapped instead of dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs fn with stderr redirected to a temp file; returns what it wrote. */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    assert_int_equal(pread(fd, text, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return text;
}

static void write_tricky(void)
{
    log_init("svc\"x", "debug");
    log_info("rid-\x01", "quote \" backslash \\ newline \n tab \t bad \xff utf8 é end");
    log_debug(NULL, "%d %s", 42, "debug line");
    log_write((enum log_level)7, NULL, "syslog debug value"); /* LOG_DEBUG from <syslog.h> */
    log_write((enum log_level)6, NULL, "syslog info value");
    log_write((enum log_level)4, NULL, "syslog warning value");
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_error("r", "%s", big);
}

static json_t *line_json(const char *line)
{
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    if (!o)
        fail_msg("not JSON (%s): %s", err.text, line);
    return o;
}

static void test_lines_are_json(void **state)
{
    char *text = capture(write_tricky);
    int n = 0;
    const char *levels[] = {"info", "debug", "debug", "info", "warn", "error"};
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
        json_t *o = line_json(line);
        assert_true(n < 6);
        assert_string_equal(json_string_value(json_object_get(o, "level")), levels[n]);
        assert_string_equal(json_string_value(json_object_get(o, "service")), "svc\"x");
        const char *ts = json_string_value(json_object_get(o, "ts"));
        /* 2026-11-24T21:20:45.413Z */
        assert_int_equal(strlen(ts), 24);
        assert_true(ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
        if (n == 0) {
            assert_string_equal(json_string_value(json_object_get(o, "rid")), "rid-\x01");
            assert_string_equal(json_string_value(json_object_get(o, "msg")),
                                "quote \" backslash \\ newline \n tab \t bad \xef\xbf\xbd utf8 é end");
        }
        if (n == 1) {
            assert_null(json_object_get(o, "rid"));
            assert_string_equal(json_string_value(json_object_get(o, "msg")), "42 debug line");
        }
        if (n == 5)
            assert_int_equal(strlen(json_string_value(json_object_get(o, "msg"))), 4999);
        json_decref(o);
    }
    assert_int_equal(n, 6);
    free(text);
}

static void write_filtered(void)
{
    log_init("svc", "warn");
    log_debug(NULL, "no");
    log_info(NULL, "no");
    log_write((enum log_level)6, NULL, "no");
    log_warn(NULL, "yes");
    log_error(NULL, "yes");
    log_init("svc", "bogus"); /* unknown: info */
    log_debug(NULL, "no");
    log_info(NULL, "yes");
}

static void test_level_filter(void **state)
{
    char *text = capture(write_filtered);
    assert_null(strstr(text, "\"no\""));
    int yes = 0;
    for (char *p = text; (p = strstr(p, "\"yes\"")); p++)
        yes++;
    assert_int_equal(yes, 3);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_are_json),
        cmocka_unit_test(test_level_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
