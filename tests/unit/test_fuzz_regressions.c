/* Replays every input in tests/fuzz/regressions/<target>/ (inputs that once
 * crashed a fuzz target) and every seed in tests/fuzz/corpus/<target>/
 * through the fuzz targets' entry points, without libFuzzer: so a plain
 * gcc build, the sanitizer build and valgrind all re-check them on every
 * test run. A target's property failure aborts, which fails this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The targets themselves (each defines fuzz_<name>_one; LLVMFuzzerTestOneInput
 * only exists in the FUZZ build). */
#include "../fuzz/fuzz_clientip.c"
#include "../fuzz/fuzz_gateway_request.c"
#include "../fuzz/fuzz_proto.c"
#include "../fuzz/fuzz_query.c"
#include "../fuzz/fuzz_validators.c"

typedef int (*fuzz_one_fn)(const uint8_t *data, size_t size);

/* tests/fuzz, from this file's path (CMake compiles it by absolute path)
 * unless SHOPMQ_FUZZ_DIR says otherwise. */
static const char *fuzz_dir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("SHOPMQ_FUZZ_DIR");
    if (env && *env)
        return env;
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    size_t n = strlen(dir);
    snprintf(dir + n, sizeof dir - n, "/../fuzz");
    return dir;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Runs fn on every regular file of <fuzz_dir>/<kind>/<target>; returns how
 * many (-1 when the directory does not exist). */
static int replay_dir(const char *kind, const char *target, fuzz_one_fn fn)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%s", fuzz_dir(), kind, target);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
            continue;
        char file[PATH_MAX + 256];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        struct stat st;
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t len = 0;
        unsigned char *data = read_all(file, &len);
        if (!data)
            fail_msg("cannot read %s", file);
        /* A copy of exactly len bytes, so ASan/valgrind see overreads. */
        unsigned char *exact = malloc(len ? len : 1);
        memcpy(exact, data, len);
        free(data);
        print_message("replay %s\n", file);
        fn(exact, len);
        free(exact);
        count++;
    }
    closedir(d);
    return count;
}

static void replay(const char *target, fuzz_one_fn fn)
{
    int seeds = replay_dir("corpus", target, fn);
    if (seeds <= 0)
        fail_msg("no seed corpus for %s under %s (set SHOPMQ_FUZZ_DIR?)", target, fuzz_dir());
    int regs = replay_dir("regressions", target, fn);
    print_message("%s: %d seeds, %d regression inputs\n", target, seeds, regs < 0 ? 0 : regs);
}

static void test_proto(void **state)
{
    (void)state;
    replay("proto", fuzz_proto_one);
}

static void test_validators(void **state)
{
    (void)state;
    replay("validators", fuzz_validators_one);
}

static void test_query(void **state)
{
    (void)state;
    replay("query", fuzz_query_one);
}

static void test_clientip(void **state)
{
    (void)state;
    replay("clientip", fuzz_clientip_one);
}

static void test_gateway_request(void **state)
{
    (void)state;
    replay("gateway_request", fuzz_gateway_request_one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto),      cmocka_unit_test(test_validators),
        cmocka_unit_test(test_query),      cmocka_unit_test(test_clientip),
        cmocka_unit_test(test_gateway_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
