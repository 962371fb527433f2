/* The static documents behind /docs and /openapi.json (gateway/docs.h):
 * each file is read once and then served from memory, a missing file (or
 * a missing docs directory) is -1 every time until it appears, names that
 * climb out of the directory are refused, and threads asking for the same
 * file at once all get the one copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "docs.h"

static char s_dir[64];

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void rm_path(const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, rel);
    remove(path);
}

/* A docs directory like scripts/docs-assets.sh makes, plus the
 * swagger-ui-dist fallback and an openapi.json. */
static int setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/test_docs.XXXXXX");
    if (!mkdtemp(s_dir))
        return -1;
    char p[256];
    snprintf(p, sizeof p, "%s/node_modules", s_dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/node_modules/swagger-ui-dist", s_dir);
    mkdir(p, 0700);
    write_file("index.html", "<html>v1</html>");
    write_file("swagger-ui.css", "body{}");
    write_file("node_modules/swagger-ui-dist/swagger-ui-bundle.js", "var bundle;");
    write_file("openapi.json", "{\"openapi\":\"3.1.0\"}");
    setenv("ECOM_DOCS_DIR", s_dir, 1);
    snprintf(p, sizeof p, "%s/openapi.json", s_dir);
    setenv("ECOM_OPENAPI_PATH", p, 1);
    docs_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    docs_destroy();
    const char *files[] = {"index.html",
                           "swagger-ui.css",
                           "late.js",
                           "openapi.json",
                           "node_modules/swagger-ui-dist/swagger-ui-bundle.js",
                           "node_modules/swagger-ui-dist",
                           "node_modules"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        rm_path(files[i]);
    rmdir(s_dir);
    return 0;
}

static void assert_doc(const char *name, const char *want, const char *want_ctype)
{
    const char *body, *ctype;
    size_t len;
    assert_int_equal(docs_get(name, &body, &len, &ctype), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(body, want, len);
    assert_string_equal(ctype, want_ctype);
}

static void test_types_and_fallback(void **state)
{
    (void)state;
    assert_doc("", "<html>v1</html>", "text/html; charset=utf-8");
    assert_doc("index.html", "<html>v1</html>", "text/html; charset=utf-8");
    assert_doc("swagger-ui.css", "body{}", "text/css; charset=utf-8");
    assert_doc("swagger-ui-bundle.js", "var bundle;", "text/javascript; charset=utf-8");
    assert_doc(NULL, "{\"openapi\":\"3.1.0\"}", "application/json; charset=utf-8");
}

static void test_read_once_then_from_memory(void **state)
{
    (void)state;
    const char *b1, *b2, *ct;
    size_t len;
    assert_int_equal(docs_get("", &b1, &len, &ct), 0);
    /* Changed and then removed on disk: still the copy read first. */
    write_file("index.html", "<html>v2, longer</html>");
    assert_doc("index.html", "<html>v1</html>", "text/html; charset=utf-8");
    rm_path("index.html");
    assert_int_equal(docs_get("index.html", &b2, &len, &ct), 0);
    assert_ptr_equal(b1, b2);
    /* docs_init forgets what was loaded. */
    docs_init();
    assert_int_equal(docs_get("", &b2, &len, &ct), -1);
    write_file("index.html", "<html>v1</html>");
}

static void test_missing_until_it_appears(void **state)
{
    (void)state;
    const char *body, *ct;
    size_t len;
    assert_int_equal(docs_get("late.js", &body, &len, &ct), -1);
    assert_int_equal(docs_get("late.js", &body, &len, &ct), -1);
    write_file("late.js", "late();");
    assert_doc("late.js", "late();", "text/javascript; charset=utf-8");
}

static void test_refused_names(void **state)
{
    (void)state;
    const char *body, *ct;
    size_t len;
    const char *bad[] = {"../index.html",  "..",  ".", ".hidden", "a/b", "node_modules/x",
                         "..\\index.html", "x\\y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(docs_get(bad[i], &body, &len, &ct), -1);
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(docs_get(longname, &body, &len, &ct), -1);
}

static void test_missing_directory(void **state)
{
    (void)state;
    const char *body, *ct;
    size_t len;
    setenv("ECOM_DOCS_DIR", "/nonexistent/shopmq-docs", 1);
    docs_init();
    assert_int_equal(docs_get("", &body, &len, &ct), -1);
    assert_int_equal(docs_get("swagger-ui.css", &body, &len, &ct), -1);
    assert_int_equal(docs_get("", &body, &len, &ct), -1);
    /* /openapi.json does not depend on the docs directory. */
    assert_doc(NULL, "{\"openapi\":\"3.1.0\"}", "application/json; charset=utf-8");
    setenv("ECOM_DOCS_DIR", s_dir, 1);
    docs_init();
}

#define THREADS 8

static void *get_css(void *arg)
{
    const char **out = arg;
    size_t len;
    const char *ct;
    if (docs_get("swagger-ui.css", out, &len, &ct) != 0)
        *out = NULL;
    return NULL;
}

static void test_threads_share_one_copy(void **state)
{
    (void)state;
    docs_init(); /* nothing loaded yet: the threads race for the first read */
    pthread_t th[THREADS];
    const char *got[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, get_css, &got[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        assert_non_null(got[i]);
        assert_ptr_equal(got[i], got[0]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_fallback),
        cmocka_unit_test(test_read_once_then_from_memory),
        cmocka_unit_test(test_missing_until_it_appears),
        cmocka_unit_test(test_refused_names),
        cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_threads_share_one_copy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
