/* Configuration from the environment (and ./.env when present).
 *
 * Every setting has a default that works for `make run`. A bad value stops
 * start-up: config_load() returns -1 and writes a message naming the
 * variable into err. Names follow API.md ("ECOM_*"). */
#ifndef SHOPMQ_CONFIG_H
#define SHOPMQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    /* HTTP (gateway) */
    char host[64];          /* ECOM_HOST (0.0.0.0) */
    int port;               /* ECOM_PORT (8000) */
    int gateway_threads;    /* ECOM_GATEWAY_THREADS (1): event loops, SO_REUSEPORT */
    int request_timeout_ms; /* ECOM_REQUEST_TIMEOUT_MS (5000): deadline -> 504 */
    int max_body_bytes;     /* ECOM_MAX_BODY_BYTES (1048576) -> 413 */
    int max_connections;    /* ECOM_MAX_CONNECTIONS (10000) */
    int connection_timeout_s; /* ECOM_CONNECTION_TIMEOUT (30): idle/slow clients */
    char trusted_proxies[1024]; /* ECOM_TRUSTED_PROXIES ("") CIDR list */
    char cors_origins[1024];    /* ECOM_CORS_ORIGINS ("*") */
    char admin_token[256];      /* ECOM_ADMIN_TOKEN ("") */

    /* PostgreSQL */
    char database_url[1024]; /* ECOM_DATABASE_URL (postgresql://shopmq@127.0.0.1:5432/shopmq) */
    int db_pool_size;        /* ECOM_DB_POOL_SIZE (20) */
    int db_max_overflow;     /* ECOM_DB_MAX_OVERFLOW (10) */
    int db_pool_timeout_s;   /* ECOM_DB_POOL_TIMEOUT (30) */
    int db_pool_recycle_s;   /* ECOM_DB_POOL_RECYCLE (1800) */
    int db_preping_idle_ms;  /* ECOM_DB_PREPING_IDLE_MS (1000): ping idle conns older than this */

    /* Redis */
    char redis_url[512];   /* ECOM_REDIS_URL (redis://127.0.0.1:6379/0) */
    /* ECOM_CACHE_REDIS_URL (empty: ECOM_REDIS_URL): where the gateway reads
     * catalog-svc's cache, when its own ECOM_REDIS_URL (rate limits) is
     * another database or server. */
    char cache_redis_url[512];
    bool redis_enabled;    /* ECOM_REDIS_ENABLED (true) */
    int redis_cache_ttl;   /* ECOM_REDIS_CACHE_TTL (300) seconds */
    int redis_timeout_ms;  /* ECOM_REDIS_TIMEOUT_MS (100) */
    int rate_limit_window; /* ECOM_REDIS_RATE_LIMIT_WINDOW (60) seconds */
    int rate_limit_max;    /* ECOM_REDIS_RATE_LIMIT_MAX (100); 0 disables */

    /* ZeroMQ topology */
    char broker_bind[256];        /* ECOM_BROKER_BIND (tcp://127.0.0.1:5555) */
    char broker_endpoints[1024];  /* ECOM_BROKER_ENDPOINTS (tcp://127.0.0.1:5555), comma list */
    char events_xsub_bind[256];   /* ECOM_EVENTS_XSUB_BIND (tcp://127.0.0.1:5556) */
    char events_xpub_bind[256];   /* ECOM_EVENTS_XPUB_BIND (tcp://127.0.0.1:5557) */
    char events_pub_endpoints[1024]; /* ECOM_EVENTS_PUB_ENDPOINTS (tcp://127.0.0.1:5556) */
    char events_sub_endpoints[1024]; /* ECOM_EVENTS_SUB_ENDPOINTS (tcp://127.0.0.1:5557) */
    int heartbeat_ms;   /* ECOM_HEARTBEAT_MS (500); peers dead after 3 */
    int queue_grace_ms; /* ECOM_QUEUE_GRACE_MS (1000): wait for a worker before 503 */
    int workers;        /* ECOM_WORKERS (4): concurrent workers per service process */

    /* Misc */
    char log_level[16];   /* ECOM_LOG_LEVEL (info): debug|info|warn|error */
    char instance_id[64]; /* ECOM_INSTANCE_ID (hostname-pid) */
} config_t;

/* Fills cfg with defaults, then ./.env (if present; real environment wins),
 * then the environment. Returns 0, or -1 with a message in err. */
int config_load(config_t *cfg, char *err, size_t errlen);

/* Same, reading the .env file at path (NULL: none). For tests. */
int config_load_from(config_t *cfg, const char *dotenv_path, char *err, size_t errlen);

/* Splits a comma-separated list in place-free fashion: calls fn for each
 * trimmed, non-empty item. Returns the number of items. */
int config_each_item(const char *list, void (*fn)(const char *item, void *arg), void *arg);

#endif
