/* Internals shared by the harness's files (harness.c: start/stop and the
 * process table; harness_proc.c: utilities, ports, children, logs;
 * harness_pg.c: the PostgreSQL cluster and SQL helpers). Not for tests. */
#ifndef SHOPMQ_HARNESS_INT_H
#define SHOPMQ_HARNESS_INT_H

#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SHOPMQ_BIN_DIR
#define SHOPMQ_BIN_DIR "."
#endif
#define PG_BIN_DEFAULT "/usr/lib/postgresql/15/bin"
/* Scaled by SHOPMQ_TEST_TIME_SCALE (valgrind runs everything ~20x slower). */
#define START_TIMEOUT_MS (60000 * harness_time_scale())
#define STOP_GRACE_MS (3000 * harness_time_scale())
#define MAX_PROCS 16
#define MAX_LIVE 8
#define TAIL_LINES 30

extern char **environ;

typedef struct {
    char name[48];
    char **argv; /* argv[0] is the executable path */
    char **envp;
    bool as_postgres; /* drop root to the postgres user before exec */
    pid_t pid;        /* 0 when not running */
    bool expected;    /* we asked it to stop */
} proc_t;

struct harness {
    char dir[1024];
    char pgdata[PATH_MAX];
    int pg_port, redis_port, broker_port, xsub_port, xpub_port, http_port;
    char database_url[128], redis_url[128];
    char broker_ep[64], pub_ep[64], sub_ep[64];
    bool two_brokers; /* "broker2" binds these; everyone connects to both */
    int broker2_port, xsub2_port, xpub2_port;
    char broker2_ep[64], pub2_ep[64], sub2_ep[64];
    char **env; /* base environment of the application processes */
    proc_t procs[MAX_PROCS];
    int nprocs;
    bool want[3]; /* customer, catalog, order started */
    bool have_gateway;
    PGconn *pg;
    bool failed; /* something died or did not come up: print logs */
    char log_buf[PATH_MAX];
};

long long hns_now_ms(void);
void hns_sleep_ms(int ms);
const char *hns_bin_dir(void);
const char *hns_pg_bin(void);
char **hns_strv_new(void);
void hns_strv_push(char ***v, const char *s);
char **hns_strv_dup(char **v);
void hns_strv_free(char ***v);
void hns_env_set(char ***env, const char *kv);
void hns_env_setf(char ***env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *hns_env_get(char **env, const char *key);
int hns_run_wait(char *const argv[]);
int hns_rm_rf(const char *path);
int hns_cp_a(const char *from, const char *to);
bool hns_file_exists(const char *path);
const char *hns_scratch_dir(void);
bool hns_postgres_user(uid_t *uid, gid_t *gid);
bool hns_port_accepts(int port);
bool hns_redis_pong(int port);
pid_t hns_spawn(char *const argv[], char *const envp[], const char *log, bool as_postgres,
                const char *cwd);
bool hns_child_alive(pid_t pid, int *status);
void hns_group_sweep(pid_t pgid);
bool hns_child_wait(pid_t pid, int timeout_ms, int *status);
void hns_describe_status(char *buf, size_t len, int st);
void hns_proc_stop(proc_t *p, int sig, int grace_ms);
void hns_print_tail(const char *path, const char *name);
void hns_print_logs_in(const char *dir);
bool hns_keep_logs_env(void);
void hns_pg_release_shm(const char *pgdata);
void hns_pg_wait_shm_free(const char *pgdata, int timeout_ms);
char **hns_pg_argv(const char *pgdata, int port);
bool hns_pg_ready(int port, const char *db);
int hns_pg_prepare(harness_t *self);

#endif
