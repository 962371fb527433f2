/* Integration-test harness: boots the real stack (private PostgreSQL and
 * Redis, broker, services, gateway) on free loopback ports in a temporary
 * directory, and speaks HTTP to the gateway.
 *
 * Every process is a child of the test with PR_SET_PDEATHSIG, and
 * harness_stop() (also run at exit) kills and reaps them and removes the
 * directory, so a failing or crashing test never leaves anything behind. */
#ifndef SHOPMQ_HARNESS_H
#define SHOPMQ_HARNESS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct harness harness_t;

typedef struct {
    bool no_catalog, no_order, no_customer; /* services to leave out */
    bool no_redis;                          /* do not start Redis */
    bool no_gateway;                        /* broker + services only */
    /* Also start "broker2" on its own ports (request ROUTER, XSUB, XPUB);
     * every gateway, worker, publisher and subscriber gets both brokers'
     * endpoints (DESIGN §1: two brokers side by side). */
    bool two_brokers;
    /* "KEY=VALUE" strings added to every process's environment, NULL-terminated. */
    const char *const *env;
} harness_opts_t;

/* Starts everything and waits until /health reports a live worker for each
 * started service and the database connected (or fails the test after
 * START_TIMEOUT_MS). opts may be NULL. */
harness_t *harness_start(const harness_opts_t *opts);
void harness_stop(harness_t **self_p);

int harness_http_port(harness_t *self);
const char *harness_database_url(harness_t *self);
int harness_redis_port(harness_t *self);
/* Where a test's own event publisher connects (the broker's XSUB). */
const char *harness_events_pub_endpoint(harness_t *self);
/* Where a test's own worker connects (the broker's ROUTER). */
const char *harness_broker_endpoint(harness_t *self);
/* Where a test's own event subscriber connects (the broker's XPUB). */
const char *harness_events_sub_endpoint(harness_t *self);
/* With two_brokers: broker2's ROUTER endpoint; otherwise NULL. */
const char *harness_broker2_endpoint(harness_t *self);
/* The run's temporary directory (logs are <dir>/<proc>.log). */
const char *harness_dir(harness_t *self);
/* Path of a process's log file (stdout+stderr), or NULL for an unknown name. */
const char *harness_log_path(harness_t *self, const char *proc);
/* Whether SHOPMQ_BIN_DIR holds the program ("gateway", "catalog-svc", ...),
 * so a test can skip() what has not been built. */
bool harness_program_exists(const char *program);
/* Starts one more process of a program from SHOPMQ_BIN_DIR (a second
 * gateway, another replica) under a new name, with the stack's environment
 * plus env ("KEY=VALUE", NULL-terminated, may be NULL; later wins). The name
 * then works with harness_pid/kill/restart. Returns the pid or -1. */
pid_t harness_spawn(harness_t *self, const char *name, const char *program,
                    const char *const *env);

/* Processes by name: "broker" (and "broker2" with two_brokers), "gateway",
 * "catalog-svc", "order-svc", "customer-svc", "redis", "postgres". */
pid_t harness_pid(harness_t *self, const char *proc);
/* Sends sig and, for SIGKILL/SIGTERM, waits for the process to exit. */
int harness_kill(harness_t *self, const char *proc, int sig);
/* Starts a stopped process again with the same ports and environment.
 * Does not wait for readiness; use harness_wait_workers / http polling. */
int harness_restart(harness_t *self, const char *proc);
/* Waits up to timeout_ms until /health shows >= n workers of service. */
int harness_wait_workers(harness_t *self, const char *service, int n, int timeout_ms);

/* SQL straight to the database (for checking that nothing changed).
 * harness_sql_value returns the first column of the first row, malloc'd,
 * or NULL. harness_sql_long returns -1 when there is no value. The
 * connection is reopened after a PostgreSQL restart. harness_sql_exec
 * returns 0 on success. Errors are printed on stderr. */
char *harness_sql_value(harness_t *self, const char *sql);
long harness_sql_long(harness_t *self, const char *sql);
int harness_sql_exec(harness_t *self, const char *sql);

/* HTTP/1.1 client (one connection per call, Connection: close). */
typedef struct {
    int status;    /* 0 when the connection failed or timed out */
    char *headers; /* raw header block, malloc'd */
    char *body;    /* malloc'd, NUL-terminated */
    size_t body_len;
    json_t *json;  /* parsed body when it is JSON, else NULL */
} http_resp_t;

/* headers: "Name: value" strings, NULL-terminated, may be NULL. body may be
 * NULL. Times out after 30 s. Returns 0 when a response was read. */
int http_request(harness_t *self, const char *method, const char *path, const char *body,
                 const char *const *headers, http_resp_t *out);
/* Same against an explicit port (e.g. a second gateway). */
int http_request_port(int port, const char *method, const char *path, const char *body,
                      size_t body_len, const char *const *headers, http_resp_t *out);
/* Same with a timeout other than 30 s. */
int http_request_timeout(int port, const char *method, const char *path, const char *body,
                         size_t body_len, const char *const *headers, int timeout_ms,
                         http_resp_t *out);
/* Value of a response header (case-insensitive name), malloc'd, or NULL. */
char *http_header(const http_resp_t *resp, const char *name);
void http_resp_clear(http_resp_t *resp);

/* Convenience: request expecting JSON; returns the status; *json (if not
 * NULL) receives a new reference the caller must json_decref. */
int http_json(harness_t *self, const char *method, const char *path, const char *body,
              json_t **json);

/* SHOPMQ_TEST_TIME_SCALE (an integer >= 1, default 1): the harness multiplies
 * its start/stop/HTTP/wait timeouts by it, and tests should multiply their
 * own waits for the stack by it, so the suite can run under valgrind. */
int harness_time_scale(void);

/* A free TCP port on 127.0.0.1. */
int harness_free_port(void);

#endif
