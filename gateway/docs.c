/* Static documents; see docs.h. */
#include "docs.h"

#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOCS_MAX_FILE (16 * 1024 * 1024)
#define OPENAPI_KEY "/openapi.json" /* never an asset name: those have no '/' */

typedef struct doc {
    struct doc *next;
    const char *ctype;
    char *body;
    size_t len;
    char name[]; /* asset file name, or OPENAPI_KEY */
} doc_t;

static char s_docs_dir[PATH_MAX + 16];
static char s_openapi[PATH_MAX];
static char s_exe_dir[PATH_MAX];

/* Documents read so far, newest first. Readers walk it without a lock: an
 * entry is complete before it is published (release) and is neither changed
 * nor freed until docs_destroy. Loading is serialized by s_load_lock, so a
 * file is read from disk once however many threads ask for it at once. */
static _Atomic(doc_t *) s_loaded;
static pthread_mutex_t s_load_lock = PTHREAD_MUTEX_INITIALIZER;

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void docs_init(void)
{
    docs_destroy();
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(s_exe_dir, sizeof s_exe_dir, "%s", dirname(exe));
    } else {
        snprintf(s_exe_dir, sizeof s_exe_dir, ".");
    }
    const char *env = getenv("ECOM_DOCS_DIR");
    char built[PATH_MAX + 16], source[PATH_MAX + 16];
    snprintf(built, sizeof built, "%s/docs", s_exe_dir); /* scripts/docs-assets.sh output */
    snprintf(source, sizeof source, "%s/../docs", s_exe_dir);
    if (env && *env)
        snprintf(s_docs_dir, sizeof s_docs_dir, "%s", env);
    else if (is_dir(built))
        snprintf(s_docs_dir, sizeof s_docs_dir, "%s", built);
    else if (is_dir(source))
        snprintf(s_docs_dir, sizeof s_docs_dir, "%s", source);
    else
        snprintf(s_docs_dir, sizeof s_docs_dir, "./docs");
    env = getenv("ECOM_OPENAPI_PATH");
    snprintf(s_openapi, sizeof s_openapi, "%s", env && *env ? env : "./proto/openapi.json");
}

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},   {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".json", "application/json; charset=utf-8"},
        {".map", "application/json; charset=utf-8"}, {".png", "image/png"},
        {".svg", "image/svg+xml"},                 {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int read_file(const char *path, char **body, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > DOCS_MAX_FILE) {
        fclose(f);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf || got != (size_t)st.st_size) {
        free(buf);
        return -1;
    }
    buf[got] = '\0';
    *body = buf;
    *len = got;
    return 0;
}

/* Reads the document under key from disk, trying each place it may be. */
static int load(const char *key, char **body, size_t *len)
{
    char path[PATH_MAX * 2];
    if (strcmp(key, OPENAPI_KEY) == 0) {
        if (read_file(s_openapi, body, len) == 0)
            return 0;
        snprintf(path, sizeof path, "%s/../proto/openapi.json", s_exe_dir);
        return read_file(path, body, len);
    }
    snprintf(path, sizeof path, "%s/%s", s_docs_dir, key);
    if (read_file(path, body, len) == 0)
        return 0;
    /* A source tree where the assets were installed but not assembled. */
    snprintf(path, sizeof path, "%s/node_modules/swagger-ui-dist/%s", s_docs_dir, key);
    return read_file(path, body, len);
}

static const doc_t *find(const char *key)
{
    for (const doc_t *d = atomic_load_explicit(&s_loaded, memory_order_acquire); d; d = d->next)
        if (strcmp(d->name, key) == 0)
            return d;
    return NULL;
}

/* The document under key, read from disk on first use; NULL if it is not
 * there (misses are not remembered: the key comes from the URL). */
static const doc_t *doc_get(const char *key, const char *ctype)
{
    const doc_t *found = find(key);
    if (found)
        return found;
    pthread_mutex_lock(&s_load_lock);
    found = find(key); /* another thread may have loaded it meanwhile */
    char *body;
    size_t len;
    if (!found && load(key, &body, &len) == 0) {
        size_t klen = strlen(key) + 1;
        doc_t *d = malloc(sizeof *d + klen);
        if (d) {
            memcpy(d->name, key, klen);
            d->ctype = ctype;
            d->body = body;
            d->len = len;
            d->next = atomic_load_explicit(&s_loaded, memory_order_relaxed);
            atomic_store_explicit(&s_loaded, d, memory_order_release);
            found = d;
        } else {
            free(body);
        }
    }
    pthread_mutex_unlock(&s_load_lock);
    return found;
}

int docs_get(const char *name, const char **body, size_t *len, const char **ctype)
{
    const doc_t *d;
    if (!name) {
        d = doc_get(OPENAPI_KEY, "application/json; charset=utf-8");
    } else {
        if (!*name)
            name = "index.html";
        /* Names come from the URL: one plain file name, nothing that climbs out. */
        if (name[0] == '.' || strchr(name, '/') || strchr(name, '\\') || strlen(name) > 255)
            return -1;
        d = doc_get(name, content_type(name));
    }
    if (!d)
        return -1;
    *body = d->body;
    *len = d->len;
    *ctype = d->ctype;
    return 0;
}

void docs_destroy(void)
{
    pthread_mutex_lock(&s_load_lock);
    doc_t *d = atomic_exchange(&s_loaded, NULL);
    pthread_mutex_unlock(&s_load_lock);
    while (d) {
        doc_t *next = d->next;
        free(d->body);
        free(d);
        d = next;
    }
}
