/* Configuration: one table row per ECOM_* variable; defaults, then .env,
 * then the real environment (which wins). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum {
    CF_STR,      /* any text that fits */
    CF_INT,      /* decimal integer in [min, max] */
    CF_BOOL,     /* true/false/1/0/yes/no/on/off */
    CF_PGURL,    /* postgresql:// or postgres:// */
    CF_REDISURL, /* redis:// */
    CF_ENDPOINTS, /* comma list of ZeroMQ endpoints (scheme://...) */
    CF_LEVEL,    /* debug|info|warn|error */
} cf_type_t;

typedef struct {
    const char *name;
    cf_type_t type;
    size_t offset;
    size_t size; /* capacity of a char[] field */
    const char *def;
    long min, max;
} cf_field_t;

#define CF_S(n, t, f, d) {n, t, offsetof(config_t, f), sizeof(((config_t *)0)->f), d, 0, 0}
#define CF_I(n, f, d, lo, hi) {n, CF_INT, offsetof(config_t, f), sizeof(int), d, lo, hi}
#define CF_B(n, f, d) {n, CF_BOOL, offsetof(config_t, f), sizeof(bool), d, 0, 0}

/* The protocol cannot carry a body larger than SMQ_MAX_BODY (16 MiB). */
static const cf_field_t fields[] = {
    CF_S("ECOM_HOST", CF_STR, host, "0.0.0.0"),
    CF_I("ECOM_PORT", port, "8000", 1, 65535),
    CF_I("ECOM_GATEWAY_THREADS", gateway_threads, "1", 1, 64),
    CF_I("ECOM_REQUEST_TIMEOUT_MS", request_timeout_ms, "5000", 1, 600000),
    CF_I("ECOM_MAX_BODY_BYTES", max_body_bytes, "1048576", 1, 16 * 1024 * 1024),
    CF_I("ECOM_MAX_CONNECTIONS", max_connections, "10000", 1, 1000000),
    CF_I("ECOM_CONNECTION_TIMEOUT", connection_timeout_s, "30", 1, 86400),
    CF_S("ECOM_TRUSTED_PROXIES", CF_STR, trusted_proxies, ""),
    CF_S("ECOM_CORS_ORIGINS", CF_STR, cors_origins, "*"),
    CF_S("ECOM_ADMIN_TOKEN", CF_STR, admin_token, ""),

    CF_S("ECOM_DATABASE_URL", CF_PGURL, database_url, "postgresql://shopmq@127.0.0.1:5432/shopmq"),
    CF_I("ECOM_DB_POOL_SIZE", db_pool_size, "20", 1, 1000),
    CF_I("ECOM_DB_MAX_OVERFLOW", db_max_overflow, "10", 0, 1000),
    CF_I("ECOM_DB_POOL_TIMEOUT", db_pool_timeout_s, "30", 0, 3600),
    CF_I("ECOM_DB_POOL_RECYCLE", db_pool_recycle_s, "1800", 0, 604800), /* 0: never */
    CF_I("ECOM_DB_PREPING_IDLE_MS", db_preping_idle_ms, "1000", 0, 3600000),

    CF_S("ECOM_REDIS_URL", CF_REDISURL, redis_url, "redis://127.0.0.1:6379/0"),
    CF_S("ECOM_CACHE_REDIS_URL", CF_REDISURL, cache_redis_url, ""), /* "": ECOM_REDIS_URL */
    CF_B("ECOM_REDIS_ENABLED", redis_enabled, "true"),
    CF_I("ECOM_REDIS_CACHE_TTL", redis_cache_ttl, "300", 1, 30 * 86400),
    CF_I("ECOM_REDIS_TIMEOUT_MS", redis_timeout_ms, "100", 1, 60000),
    CF_I("ECOM_REDIS_RATE_LIMIT_WINDOW", rate_limit_window, "60", 1, 86400),
    CF_I("ECOM_REDIS_RATE_LIMIT_MAX", rate_limit_max, "100", 0, 100000000),

    CF_S("ECOM_BROKER_BIND", CF_ENDPOINTS, broker_bind, "tcp://127.0.0.1:5555"),
    CF_S("ECOM_BROKER_ENDPOINTS", CF_ENDPOINTS, broker_endpoints, "tcp://127.0.0.1:5555"),
    CF_S("ECOM_EVENTS_XSUB_BIND", CF_ENDPOINTS, events_xsub_bind, "tcp://127.0.0.1:5556"),
    CF_S("ECOM_EVENTS_XPUB_BIND", CF_ENDPOINTS, events_xpub_bind, "tcp://127.0.0.1:5557"),
    CF_S("ECOM_EVENTS_PUB_ENDPOINTS", CF_ENDPOINTS, events_pub_endpoints, "tcp://127.0.0.1:5556"),
    CF_S("ECOM_EVENTS_SUB_ENDPOINTS", CF_ENDPOINTS, events_sub_endpoints, "tcp://127.0.0.1:5557"),
    CF_I("ECOM_HEARTBEAT_MS", heartbeat_ms, "500", 10, 60000),
    CF_I("ECOM_QUEUE_GRACE_MS", queue_grace_ms, "1000", 0, 60000),
    CF_I("ECOM_WORKERS", workers, "4", 1, 256),

    CF_S("ECOM_LOG_LEVEL", CF_LEVEL, log_level, "info"),
    CF_S("ECOM_INSTANCE_ID", CF_STR, instance_id, NULL), /* NULL: hostname-pid */
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

/* ---- .env ---- */

typedef struct {
    char *key;
    char *value;
} dotenv_entry_t;

typedef struct {
    dotenv_entry_t *items;
    size_t count, cap;
} dotenv_t;

static void dotenv_free(dotenv_t *env)
{
    for (size_t i = 0; i < env->count; i++) {
        free(env->items[i].key);
        free(env->items[i].value);
    }
    free(env->items);
    memset(env, 0, sizeof(*env));
}

/* Later lines win, as with a shell sourcing the file. */
static int dotenv_set(dotenv_t *env, const char *key, size_t keylen, const char *value,
                      size_t vlen)
{
    char *k = strndup(key, keylen);
    char *v = strndup(value, vlen);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < env->count; i++) {
        if (strcmp(env->items[i].key, k) == 0) {
            free(env->items[i].value);
            env->items[i].value = v;
            free(k);
            return 0;
        }
    }
    if (env->count == env->cap) {
        size_t cap = env->cap ? env->cap * 2 : 32;
        dotenv_entry_t *items = realloc(env->items, cap * sizeof(*items));
        if (!items) {
            free(k);
            free(v);
            return -1;
        }
        env->items = items;
        env->cap = cap;
    }
    env->items[env->count].key = k;
    env->items[env->count].value = v;
    env->count++;
    return 0;
}

static const char *dotenv_get(const dotenv_t *env, const char *key)
{
    for (size_t i = 0; i < env->count; i++)
        if (strcmp(env->items[i].key, key) == 0)
            return env->items[i].value;
    return NULL;
}

/* Parses one line; 0 (blank/comment/ok) or -1 with a message. The value
 * is unquoted: "..." understands \n \t \" \\, '...' is literal, a bare
 * value ends at " #" (inline comment) and is trimmed. */
static int dotenv_line(dotenv_t *env, char *line, const char **why)
{
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
        p += 6;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    const char *key = p;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    size_t keylen = (size_t)(p - key);
    while (*p == ' ' || *p == '\t')
        p++;
    if (keylen == 0 || isdigit((unsigned char)key[0]) || *p != '=') {
        *why = "expected KEY=VALUE";
        return -1;
    }
    p++;
    while (*p == ' ' || *p == '\t')
        p++;

    char *v = p;
    size_t vlen;
    if (*p == '"' || *p == '\'') {
        char quote = *p++;
        char *w = v;
        while (*p && *p != quote) {
            if (quote == '"' && *p == '\\' && p[1]) {
                p++;
                switch (*p) {
                case 'n': *w++ = '\n'; break;
                case 't': *w++ = '\t'; break;
                case 'r': *w++ = '\r'; break;
                default: *w++ = *p; break; /* \" \\ \$ and anything else: literal */
                }
                p++;
            } else {
                *w++ = *p++;
            }
        }
        if (*p != quote) {
            *why = "unterminated quoted value";
            return -1;
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0' && *p != '#') {
            *why = "unexpected text after the quoted value";
            return -1;
        }
        vlen = (size_t)(w - v);
    } else {
        char *end = p;
        while (*end && !(*end == '#' && end > v && (end[-1] == ' ' || end[-1] == '\t')))
            end++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        vlen = (size_t)(end - v);
    }
    if (dotenv_set(env, key, keylen, v, vlen) != 0) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/* A missing file is not an error: .env is optional. */
static int dotenv_read(dotenv_t *env, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *why = NULL;
        if (dotenv_line(env, line, &why) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- values ---- */

/* Quotes a bad value for the message: shortened, passwords hidden. */
static void show_value(const cf_field_t *f, const char *value, char *out, size_t outlen)
{
    char buf[96];
    /* Masked on the whole value, before shortening: a password longer than
     * the excerpt would otherwise lose its '@' and be shown. The last '@'
     * ends it, since a password may hold one (too much hidden is fine). */
    const char *s = f->type == CF_PGURL || f->type == CF_REDISURL ? strstr(value, "://") : NULL;
    const char *at = s ? strrchr(s + 3, '@') : NULL;
    const char *colon = s ? strchr(s + 3, ':') : NULL;
    int n;
    if (at && colon && colon < at) /* scheme://user:password@host -> scheme://user:***@host */
        n = snprintf(buf, sizeof(buf), "%.*s:***%s", (int)(colon - value), value, at);
    else
        n = snprintf(buf, sizeof(buf), "%s", value);
    if (n < 0 || (size_t)n >= sizeof(buf))
        memcpy(buf + sizeof(buf) - 4, "...", 4);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    snprintf(out, outlen, "%s", buf);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"};
    static const char *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int endpoints_ok(const char *s)
{
    int items = 0;
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        const char *e = end;
        while (e > p && isspace((unsigned char)e[-1]))
            e--;
        if (e > p) {
            const char *sep = memmem(p, (size_t)(e - p), "://", 3);
            if (!sep || sep == p || sep + 3 == e)
                return 0;
            items++;
        }
        p = *end ? end + 1 : end;
    }
    return items > 0;
}

static int set_field(config_t *cfg, const cf_field_t *f, const char *value, char *err,
                     size_t errlen)
{
    char *base = (char *)cfg + f->offset;
    char shown[128];
    show_value(f, value, shown, sizeof(shown));

    if (f->type == CF_INT) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        while (end && isspace((unsigned char)*end))
            end++;
        if (value[0] == '\0' || isspace((unsigned char)value[0]) || *end != '\0' ||
            errno == ERANGE || v < f->min || v > f->max) {
            snprintf(err, errlen, "%s: expected an integer %ld..%ld, got '%s'", f->name, f->min,
                     f->max, shown);
            return -1;
        }
        *(int *)base = (int)v;
        return 0;
    }
    if (f->type == CF_BOOL) {
        if (parse_bool(value, (bool *)base) != 0) {
            snprintf(err, errlen, "%s: expected a boolean (true/false/1/0/yes/no/on/off), got '%s'",
                     f->name, shown);
            return -1;
        }
        return 0;
    }

    size_t len = strlen(value);
    if (len >= f->size) {
        snprintf(err, errlen, "%s: too long (at most %zu bytes), got '%s'", f->name, f->size - 1,
                 shown);
        return -1;
    }
    switch (f->type) {
    case CF_PGURL:
        if (strncmp(value, "postgresql://", 13) != 0 && strncmp(value, "postgres://", 11) != 0) {
            snprintf(err, errlen, "%s: expected a postgresql:// or postgres:// URL, got '%s'",
                     f->name, shown);
            return -1;
        }
        break;
    case CF_REDISURL:
        if (strncmp(value, "redis://", 8) != 0 && !(value[0] == '\0' && !f->def[0])) {
            snprintf(err, errlen, "%s: expected a redis:// URL, got '%s'", f->name, shown);
            return -1;
        }
        break;
    case CF_ENDPOINTS:
        if (!endpoints_ok(value)) {
            snprintf(err, errlen,
                     "%s: expected ZeroMQ endpoints like tcp://host:port (comma-separated), "
                     "got '%s'",
                     f->name, shown);
            return -1;
        }
        break;
    case CF_LEVEL: {
        static const char *levels[] = {"debug", "info", "warn", "error"};
        const char *canon = NULL;
        for (size_t i = 0; i < 4; i++)
            if (strcasecmp(value, levels[i]) == 0)
                canon = levels[i];
        if (strcasecmp(value, "warning") == 0)
            canon = "warn";
        if (!canon) {
            snprintf(err, errlen, "%s: expected one of debug, info, warn, error, got '%s'",
                     f->name, shown);
            return -1;
        }
        value = canon;
        len = strlen(canon);
        break;
    }
    default:
        break;
    }
    memcpy(base, value, len + 1);
    return 0;
}

static void default_instance_id(char *out, size_t outlen)
{
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, outlen, "%.40s-%ld", host, (long)getpid());
}

int config_load_from(config_t *cfg, const char *dotenv_path, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof(dummy);
    err[0] = '\0';
    memset(cfg, 0, sizeof(*cfg));

    dotenv_t env = {0};
    if (dotenv_path && dotenv_read(&env, dotenv_path, err, errlen) != 0) {
        dotenv_free(&env);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < FIELD_COUNT && rc == 0; i++) {
        const cf_field_t *f = &fields[i];
        const char *value = getenv(f->name);
        if (!value)
            value = dotenv_get(&env, f->name);
        if (!value && !f->def) {
            default_instance_id((char *)cfg + f->offset, f->size);
            continue;
        }
        if (!value)
            value = f->def;
        rc = set_field(cfg, f, value, err, errlen);
    }
    /* An empty ECOM_INSTANCE_ID would make replicas indistinguishable. */
    if (rc == 0 && cfg->instance_id[0] == '\0')
        default_instance_id(cfg->instance_id, sizeof(cfg->instance_id));
    dotenv_free(&env);
    return rc;
}

int config_load(config_t *cfg, char *err, size_t errlen)
{
    return config_load_from(cfg, ".env", err, errlen);
}

int config_each_item(const char *list, void (*fn)(const char *item, void *arg), void *arg)
{
    int count = 0;
    const char *p = list ? list : "";
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (e > s) {
            char *item = strndup(s, (size_t)(e - s));
            if (item) {
                if (fn)
                    fn(item, arg);
                free(item);
                count++;
            }
        }
        p = *end ? end + 1 : end;
    }
    return count;
}
