/* Integration-test harness: process supervision for one test program.
 *
 * Layout of a run: <tmp>/shopmq-it-XXXXXX/ holds pg/ (a copy of a cached,
 * per-build template cluster that already has the shopmq database) and one
 * <proc>.log per child. Every child gets its own process group (so a
 * postgres and its backends die together), PR_SET_PDEATHSIG (so a crashed
 * test leaves nothing), and the test becomes a child subreaper (so we can
 * reap the orphaned backends of a SIGKILLed postmaster ourselves).
 *
 * Logs outlive harness_stop() until the program exits: a cmocka failure
 * is only visible in the exit status, so an on_exit() hook prints the log
 * tails and keeps the directory when the status is non-zero. */
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
#define START_TIMEOUT_MS 60000
#define STOP_GRACE_MS 3000
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
    char **env; /* base environment of the application processes */
    proc_t procs[MAX_PROCS];
    int nprocs;
    bool want[3]; /* customer, catalog, order started */
    bool have_gateway;
    PGconn *pg;
    bool failed;      /* something died or did not come up: print logs */
    char log_buf[PATH_MAX];
};

/* Read from signal handlers, hence plain fixed arrays. */
static harness_t *s_live[MAX_LIVE];
static bool s_hooks_installed;
static pid_t s_owner; /* a forked child of the test must not run our hooks */
/* Log directories of stopped harnesses, removed or reported at exit. */
static char *s_kept[64];
static int s_nkept;

static const char *const s_services[3] = {"customer", "catalog", "order"};

/* ---- small utilities ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *bin_dir(void)
{
    const char *d = getenv("SHOPMQ_BIN_DIR");
    return d && *d ? d : SHOPMQ_BIN_DIR;
}

static const char *pg_bin(void)
{
    const char *d = getenv("SHOPMQ_PG_BIN");
    return d && *d ? d : PG_BIN_DEFAULT;
}

static char **strv_new(void)
{
    return calloc(1, sizeof(char *));
}

static size_t strv_len(char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static void strv_push(char ***v, const char *s)
{
    size_t n = strv_len(*v);
    char **nv = realloc(*v, (n + 2) * sizeof(char *));
    if (!nv)
        abort();
    nv[n] = strdup(s);
    nv[n + 1] = NULL;
    *v = nv;
}

static char **strv_dup(char **v)
{
    char **out = strv_new();
    for (size_t i = 0; v && v[i]; i++)
        strv_push(&out, v[i]);
    return out;
}

static void strv_free(char ***v)
{
    if (!*v)
        return;
    for (size_t i = 0; (*v)[i]; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
}

/* KEY=VALUE: replaces an existing KEY or appends. */
static void env_set(char ***env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return;
    size_t klen = (size_t)(eq - kv) + 1;
    for (size_t i = 0; (*env)[i]; i++)
        if (strncmp((*env)[i], kv, klen) == 0) {
            free((*env)[i]);
            (*env)[i] = strdup(kv);
            return;
        }
    strv_push(env, kv);
}

static void env_setf(char ***env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void env_setf(char ***env, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    env_set(env, buf);
}

static const char *env_get(char **env, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

/* Runs a command to completion (no shell). Returns its exit status or -1. */
static int run_wait(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int rm_rf(const char *path)
{
    char *argv[] = {"rm", "-rf", "--", (char *)path, NULL};
    return run_wait(argv);
}

static int cp_a(const char *from, const char *to)
{
    char *argv[] = {"cp", "-a", "--", (char *)from, (char *)to, NULL};
    return run_wait(argv);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Where runs live: $TMPDIR when set; else /dev/shm when it is a roomy
 * tmpfs, because copying the 36 MB cluster is ten times faster in memory
 * than on a virtual disk; else /tmp. */
static const char *scratch_dir(void)
{
    const char *t = getenv("TMPDIR");
    if (t && *t && strlen(t) < 200)
        return t;
    struct statfs fs;
    if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
        (unsigned long long)fs.f_bavail * fs.f_bsize > (2ULL << 30) &&
        access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    return "/tmp";
}

static bool postgres_user(uid_t *uid, gid_t *gid)
{
    if (geteuid() != 0)
        return false;
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
        return false;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return true;
}

/* ---- ports ---- */

/* A port we hand out is only bound later, by a child, so two test programs
 * running side by side could be given the same one. Each port handed out
 * is flock()ed in a shared directory for the life of this process; another
 * harness skips ports it finds locked. */
static bool port_reserve(int port)
{
    static int fds[512];
    static int nfds;
    char path[512];
    snprintf(path, sizeof path, "%s/shopmq-ports", scratch_dir());
    if (mkdir(path, 01777) == 0)
        chmod(path, 01777); /* shared by every user's tests */
    snprintf(path, sizeof path, "%s/shopmq-ports/%d", scratch_dir(), port);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return true; /* no shared directory: best effort */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return false;
    }
    if (nfds == (int)(sizeof fds / sizeof fds[0]))
        close(fds[--nfds]); /* a port-hungry test: forget one */
    fds[nfds++] = fd;
    return true;
}

int harness_free_port(void)
{
    /* The kernel hands out an unused port; remembering what we handed out
     * keeps two processes of one stack from getting the same one. */
    static int given[1024];
    static int ngiven, next;
    for (int attempt = 0; attempt < 200; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        int port = -1;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
            port = ntohs(sa.sin_port);
        close(fd);
        if (port <= 0)
            continue;
        bool dup = false;
        for (int i = 0; i < ngiven; i++)
            dup |= given[i] == port;
        if (dup || !port_reserve(port))
            continue;
        given[next] = port;
        next = (next + 1) % (int)(sizeof given / sizeof given[0]);
        if (ngiven < (int)(sizeof given / sizeof given[0]))
            ngiven++;
        return port;
    }
    return -1;
}

static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static bool redis_pong(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64] = {0};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
              send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6 && read(fd, buf, sizeof buf - 1) > 0 &&
              strncmp(buf, "+PONG", 5) == 0;
    close(fd);
    return ok;
}

/* ---- children ---- */

/* fork + exec with the child in its own process group, output to log,
 * dying with the test. Returns the pid or -1. */
static pid_t spawn(char *const argv[], char *const envp[], const char *log, bool as_postgres,
                   const char *cwd)
{
    uid_t uid = 0;
    gid_t gid = 0;
    if (as_postgres && !postgres_user(&uid, &gid))
        as_postgres = false;
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        fprintf(stderr, "harness: cannot open %s: %s\n", log, strerror(errno));
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return -1;
    }
    pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        /* Nothing of the test's signal handling may survive into the child. */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int s = 1; s < NSIG; s++)
            sigaction(s, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        setpgid(0, 0);
        dup2(nullfd, STDIN_FILENO);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        if (as_postgres && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
            _exit(126);
        /* After setuid: a credential change clears the death signal. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (cwd && chdir(cwd) < 0)
            _exit(126);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(argv[0], argv, envp);
        dprintf(STDERR_FILENO, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid > 0)
        setpgid(pid, pid); /* whichever of parent/child runs first */
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(logfd);
    close(nullfd);
    return pid;
}

/* Reaps the process if it exited; returns true while it runs. */
static bool child_alive(pid_t pid, int *status)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0)
        return true;
    if (r == pid && status)
        *status = st;
    return false;
}

/* Kills what is left of a process group and reaps it (we are subreaper). */
static void group_sweep(pid_t pgid)
{
    kill(-pgid, SIGKILL);
    long long deadline = now_ms() + 2000;
    while (now_ms() < deadline) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
            ;
        if (kill(-pgid, 0) < 0 && errno == ESRCH)
            return;
        sleep_ms(5);
    }
}

/* Waits until pid exits (reaping it) or timeout; true when it did. */
static bool child_wait(pid_t pid, int timeout_ms, int *status)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (!child_alive(pid, status))
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(5);
    }
}

static void describe_status(char *buf, size_t len, int st)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, len, "status %#x", st);
}

static proc_t *proc_find(harness_t *self, const char *name)
{
    for (int i = 0; i < self->nprocs; i++)
        if (strcmp(self->procs[i].name, name) == 0)
            return &self->procs[i];
    return NULL;
}

/* Notices children that died on their own. */
static void procs_poll(harness_t *self)
{
    for (int i = 0; i < self->nprocs; i++) {
        proc_t *p = &self->procs[i];
        int st = 0;
        if (p->pid > 0 && !child_alive(p->pid, &st)) {
            char how[96];
            describe_status(how, sizeof how, st);
            fprintf(stderr, "harness: %s (pid %d) %s unexpectedly; log: %s/%s.log\n", p->name,
                    (int)p->pid, how, self->dir, p->name);
            group_sweep(p->pid);
            p->pid = 0;
            self->failed = true;
        }
    }
}

static int proc_start(harness_t *self, proc_t *p)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/%s.log", self->dir, p->name);
    /* A stale postmaster.pid stays: the new postmaster reads it to find and
     * remove the old shared memory segment of a killed one. */
    pid_t pid = spawn(p->argv, p->envp, log, p->as_postgres, self->dir);
    if (pid < 0)
        return -1;
    p->pid = pid;
    p->expected = false;
    return 0;
}

static proc_t *proc_add(harness_t *self, const char *name, char **argv, char **envp,
                        bool as_postgres)
{
    if (self->nprocs >= MAX_PROCS || proc_find(self, name))
        return NULL;
    proc_t *p = &self->procs[self->nprocs++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->argv = argv;
    p->envp = envp;
    p->as_postgres = as_postgres;
    return p;
}

/* Stops one process: sig, up to grace_ms, then SIGKILL; reaps its group. */
static void proc_stop(proc_t *p, int sig, int grace_ms)
{
    if (p->pid <= 0)
        return;
    p->expected = true;
    kill(p->pid, sig);
    if (!child_wait(p->pid, grace_ms, NULL)) {
        kill(-p->pid, SIGKILL);
        child_wait(p->pid, 5000, NULL);
    }
    group_sweep(p->pid);
    p->pid = 0;
}

/* ---- logs ---- */

static void print_tail(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    /* Keep the last TAIL_LINES lines in a ring. */
    char *ring[TAIL_LINES] = {0};
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        free(ring[n % TAIL_LINES]);
        ring[n % TAIL_LINES] = strdup(line);
        n++;
    }
    free(line);
    fclose(f);
    fprintf(stderr, "----- %s (%s), last %zu lines -----\n", name, path,
            n < TAIL_LINES ? n : (size_t)TAIL_LINES);
    for (size_t i = n > TAIL_LINES ? n - TAIL_LINES : 0; i < n; i++) {
        char *l = ring[i % TAIL_LINES];
        fputs(l, stderr);
        if (l[0] && l[strlen(l) - 1] != '\n')
            fputc('\n', stderr);
    }
    for (int i = 0; i < TAIL_LINES; i++)
        free(ring[i]);
}

static int is_log(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".log") == 0;
}

static void print_logs_in(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, is_log, alphasort);
    char path[PATH_MAX + 300];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        print_tail(path, names[i]->d_name);
        free(names[i]);
    }
    if (n >= 0)
        free(names);
    fprintf(stderr, "----- logs kept in %s -----\n", dir);
}

static bool keep_logs_env(void)
{
    const char *k = getenv("SHOPMQ_TEST_KEEP_LOGS");
    return k && *k && strcmp(k, "0") != 0;
}

/* ---- process-wide hooks ---- */

static void stop_all_now(void);

static void on_exit_hook(int status, void *arg)
{
    (void)arg;
    if (getpid() != s_owner)
        return;
    bool failed = status != 0;
    for (int i = 0; i < MAX_LIVE; i++)
        if (s_live[i])
            failed = failed || s_live[i]->failed;
    /* A test that did not call harness_stop (or failed before it). */
    for (int i = 0; i < MAX_LIVE; i++)
        if (s_live[i]) {
            harness_t *h = s_live[i];
            harness_stop(&h);
        }
    for (int i = 0; i < s_nkept; i++) {
        if (failed || keep_logs_env())
            print_logs_in(s_kept[i]);
        else
            rm_rf(s_kept[i]);
        free(s_kept[i]);
    }
    s_nkept = 0;
}

/* SIGINT/SIGTERM of the test: only async-signal-safe calls from here. */
static void on_signal(int sig)
{
    if (getpid() == s_owner)
        stop_all_now();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void stop_all_now(void)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        harness_t *h = s_live[i];
        if (!h)
            continue;
        for (int j = 0; j < h->nprocs; j++)
            if (h->procs[j].pid > 0)
                kill(-h->procs[j].pid, SIGKILL);
        pid_t pid = fork();
        if (pid == 0) {
            char *argv[] = {"/bin/rm", "-rf", "--", h->dir, NULL};
            char *envp[] = {NULL};
            execve(argv[0], argv, envp);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
}

/* A SIGKILLed postmaster leaves its small System V segment behind, and only
 * a postmaster started on the same directory would remove it. Its id is on
 * line 7 of postmaster.pid. */
static void pg_release_shm(const char *pgdata)
{
    char path[PATH_MAX + 32], line[256];
    snprintf(path, sizeof path, "%s/postmaster.pid", pgdata);
    FILE *f = fopen(path, "r");
    if (!f)
        return; /* clean shutdown */
    long key = -1, id = -1;
    for (int i = 1; fgets(line, sizeof line, f); i++)
        if (i == 7 && sscanf(line, "%ld %ld", &key, &id) != 2)
            id = -1;
    fclose(f);
    struct shmid_ds ds;
    if (id >= 0 && shmctl((int)id, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == (key_t)key &&
        ds.shm_nattch == 0)
        shmctl((int)id, IPC_RMID, NULL);
}

/* Runs of test programs that were SIGKILLed (a ctest timeout) leave their
 * directory behind, 40 MB of it in memory under /dev/shm: remove those
 * whose owner is gone, and kept logs after a day. */
static void sweep_stale_runs(void)
{
    const char *base = scratch_dir();
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "shopmq-it-", 10) != 0)
            continue;
        char path[1024], f[1100];
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        snprintf(f, sizeof f, "%s/owner.pid", path);
        FILE *fp = fopen(f, "r");
        int pid = 0;
        if (!fp || fscanf(fp, "%d", &pid) != 1)
            pid = 0;
        if (fp)
            fclose(fp);
        if (pid <= 0 || (kill(pid, 0) == 0 || errno != ESRCH))
            continue;
        snprintf(f, sizeof f, "%s/pg", path);
        struct stat st;
        bool has_data = stat(f, &st) == 0;
        if (has_data)
            pg_release_shm(f);
        if (has_data || (stat(path, &st) == 0 && time(NULL) - st.st_mtime > 86400))
            rm_rf(path);
    }
    closedir(d);
}

static void install_hooks(void)
{
    if (s_hooks_installed)
        return;
    s_hooks_installed = true;
    s_owner = getpid();
    sweep_stale_runs();
    on_exit(on_exit_hook, NULL);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* Orphaned postgres backends come to us, so we can reap them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

/* ---- PostgreSQL ---- */

static char **pg_argv(const char *pgdata, int port)
{
    char **v = strv_new();
    char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/postgres", pg_bin());
    strv_push(&v, buf);
    strv_push(&v, "-D");
    strv_push(&v, pgdata);
    snprintf(buf, sizeof buf, "%d", port);
    strv_push(&v, "-p");
    strv_push(&v, buf);
    /* The socket path must fit sun_path (108 bytes). */
    strv_push(&v, "-k");
    strv_push(&v, strlen(pgdata) + 20 < 100 ? pgdata : "");
    static const char *const settings[] = {
        "listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off",
        "full_page_writes=off", "shared_preload_libraries=pg_stat_statements",
        "max_connections=300",
        /* in the data directory, not /dev/shm: gone with it after a SIGKILL */
        "dynamic_shared_memory_type=mmap"};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        strv_push(&v, "-c");
        strv_push(&v, settings[i]);
    }
    return v;
}

static bool pg_ready(int port, const char *db)
{
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=2", port, db);
    return PQping(conninfo) == PQPING_OK;
}

static int pg_exec_once(int port, const char *db, const char *sql)
{
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=5", port, db);
    PGconn *c = PQconnectdb(conninfo);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        ExecStatusType s = PQresultStatus(r);
        rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
        if (rc < 0)
            fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "harness: connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* initdb into pgdata (created, owned by the postgres user when root). */
static int pg_initdb(const char *dir, const char *pgdata)
{
    uid_t uid;
    gid_t gid;
    bool as_pg = postgres_user(&uid, &gid);
    if (mkdir(pgdata, 0700) < 0 && errno != EEXIST)
        return -1;
    if (as_pg && chown(pgdata, uid, gid) < 0)
        return -1;
    char exe[PATH_MAX + 16], log[PATH_MAX + 16];
    snprintf(exe, sizeof exe, "%s/initdb", pg_bin());
    snprintf(log, sizeof log, "%s/initdb.log", dir);
    static const char *const locales[] = {"--locale=C.UTF-8", "--no-locale"};
    for (size_t i = 0; i < 2; i++) {
        char *argv[] = {exe,           "-D",        (char *)pgdata, "--auth=trust",
                        "-U",          "postgres",  "-E",           "UTF8",
                        "--no-sync",   "--wal-segsize=1", (char *)locales[i], NULL};
        pid_t pid = spawn(argv, environ, log, as_pg, dir);
        int st = 0;
        if (pid > 0 && child_wait(pid, 60000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            return 0;
        if (pid > 0)
            proc_stop(&(proc_t){.pid = pid}, SIGKILL, 0);
        /* initdb leaves a half-made directory behind only on some errors. */
        char *rmv[] = {"find", (char *)pgdata, "-mindepth", "1", "-delete", NULL};
        run_wait(rmv);
    }
    print_tail(log, "initdb");
    return -1;
}

/* Boots a cluster just long enough to create the shopmq database. */
static int pg_create_db(const char *dir, const char *pgdata)
{
    int port = harness_free_port();
    char **argv = pg_argv(pgdata, port);
    char log[PATH_MAX + 32];
    snprintf(log, sizeof log, "%s/template-postgres.log", dir);
    pid_t pid = spawn(argv, environ, log, true, dir);
    strv_free(&argv);
    if (pid < 0)
        return -1;
    int rc = -1;
    long long deadline = now_ms() + START_TIMEOUT_MS;
    while (now_ms() < deadline && child_alive(pid, NULL)) {
        if (pg_ready(port, "postgres")) {
            rc = pg_exec_once(port, "postgres", "CREATE DATABASE shopmq");
            break;
        }
        sleep_ms(20);
    }
    proc_t p = {.pid = pid};
    proc_stop(&p, SIGINT, 30000); /* fast shutdown: a clean checkpoint to copy */
    if (rc < 0)
        print_tail(log, "template postgres");
    return rc;
}

/* The cached cluster of this build: <bin>/test-pg-template, made once under
 * a lock so parallel test programs share it. Returns 0 with the path. */
static int pg_template(char *path, size_t len)
{
    snprintf(path, len, "%s/test-pg-template", bin_dir());
    char marker[PATH_MAX + 32], lockp[PATH_MAX + 32];
    snprintf(marker, sizeof marker, "%s/.shopmq-template", path);
    if (file_exists(marker))
        return 0;
    snprintf(lockp, sizeof lockp, "%s.lock", path);
    int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || flock(lock, LOCK_EX) < 0) {
        if (lock >= 0)
            close(lock);
        return -1;
    }
    int rc = 0;
    if (!file_exists(marker)) {
        rc = -1;
        char work[PATH_MAX], pgdata[PATH_MAX + 8], tmp[PATH_MAX + 32];
        snprintf(work, sizeof work, "%s/shopmq-pgtpl-XXXXXX", scratch_dir());
        if (mkdtemp(work) && chmod(work, 0755) == 0) {
            snprintf(pgdata, sizeof pgdata, "%s/pg", work);
            snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
            if (pg_initdb(work, pgdata) == 0 && pg_create_db(work, pgdata) == 0) {
                rm_rf(path); /* a half-made one from a killed run */
                rm_rf(tmp);
                if (cp_a(pgdata, tmp) == 0 && rename(tmp, path) == 0) {
                    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                    if (fd >= 0) {
                        close(fd);
                        rc = 0;
                    }
                }
                rm_rf(tmp);
            }
            rm_rf(work);
        }
    }
    flock(lock, LOCK_UN);
    close(lock);
    return rc;
}

static int pg_prepare(harness_t *self)
{
    char tpl[PATH_MAX];
    if (pg_template(tpl, sizeof tpl) == 0) {
        if (cp_a(tpl, self->pgdata) == 0)
            return 0;
        fprintf(stderr, "harness: copying %s failed; running initdb\n", tpl);
        rm_rf(self->pgdata);
    } else {
        fprintf(stderr, "harness: no template cluster in %s; running initdb\n", bin_dir());
    }
    return pg_initdb(self->dir, self->pgdata) == 0 ? pg_create_db(self->dir, self->pgdata) : -1;
}

/* ---- health ---- */

/* Live workers of service per /health, or -1 when unknown. */
static int health_workers(int port, const char *service)
{
    char svc[32];
    snprintf(svc, sizeof svc, "%s", service);
    char *dash = strstr(svc, "-svc");
    if (dash)
        *dash = '\0';
    http_resp_t r;
    int n = -1;
    if (http_request_timeout(port, "GET", "/health", NULL, 0, NULL, 2000, &r) == 0 && r.json) {
        json_t *v = json_object_get(json_object_get(r.json, "services"), svc);
        if (json_is_integer(v))
            n = (int)json_integer_value(v);
        else if (json_is_object(v) && json_is_integer(json_object_get(v, "workers")))
            n = (int)json_integer_value(json_object_get(v, "workers"));
        else if (json_is_object(json_object_get(r.json, "services")))
            n = 0; /* the service is not listed: none alive */
    }
    http_resp_clear(&r);
    return n;
}

int harness_wait_workers(harness_t *self, const char *service, int n, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (health_workers(self->http_port, service) >= n)
            return 0;
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(25);
    }
}

/* Everything started is up: processes alive, the gateway reporting a
 * worker per service (or, without a gateway, the broker listening). */
static bool stack_ready(harness_t *self)
{
    if (!self->have_gateway) {
        proc_t *b = proc_find(self, "broker");
        return !b || port_accepts(self->broker_port);
    }
    bool any = false;
    for (int i = 0; i < 3; i++)
        if (self->want[i]) {
            any = true;
            if (health_workers(self->http_port, s_services[i]) < 1)
                return false;
        }
    if (!any) {
        http_resp_t r;
        int rc = http_request_timeout(self->http_port, "GET", "/health", NULL, 0, NULL, 2000, &r);
        http_resp_clear(&r);
        return rc == 0;
    }
    return true;
}

/* ---- start / stop ---- */

static void register_live(harness_t *self)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (!s_live[i]) {
            s_live[i] = self;
            return;
        }
}

static void unregister_live(harness_t *self)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (s_live[i] == self)
            s_live[i] = NULL;
}

static char **base_env(harness_t *self, const harness_opts_t *opts)
{
    char **env = strv_new();
    /* A developer's ECOM_* settings must not leak into a test's stack. */
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "ECOM_", 5) != 0)
            strv_push(&env, *e);
    env_setf(&env, "ECOM_DATABASE_URL=%s", self->database_url);
    env_setf(&env, "ECOM_REDIS_URL=%s", self->redis_url);
    env_setf(&env, "ECOM_BROKER_BIND=%s", self->broker_ep);
    env_setf(&env, "ECOM_BROKER_ENDPOINTS=%s", self->broker_ep);
    env_setf(&env, "ECOM_EVENTS_XSUB_BIND=%s", self->pub_ep);
    env_setf(&env, "ECOM_EVENTS_XPUB_BIND=%s", self->sub_ep);
    env_setf(&env, "ECOM_EVENTS_PUB_ENDPOINTS=%s", self->pub_ep);
    env_setf(&env, "ECOM_EVENTS_SUB_ENDPOINTS=%s", self->sub_ep);
    env_setf(&env, "ECOM_PORT=%d", self->http_port);
    env_set(&env, "ECOM_HOST=127.0.0.1");
    env_set(&env, "ECOM_LOG_LEVEL=info");
    env_set(&env, "ECOM_REDIS_RATE_LIMIT_MAX=0");
    env_set(&env, "ECOM_WORKERS=4");
    for (const char *const *e = opts ? opts->env : NULL; e && *e; e++)
        env_set(&env, *e);
    return env;
}

static proc_t *add_program(harness_t *self, const char *name, const char *program,
                           const char *const *extra_env)
{
    char exe[PATH_MAX + 64];
    snprintf(exe, sizeof exe, "%s/%s", bin_dir(), program);
    if (access(exe, X_OK) != 0) {
        fprintf(stderr, "harness: %s not built (%s); not starting it\n", program, exe);
        return NULL;
    }
    char **argv = strv_new();
    strv_push(&argv, exe);
    char **envp = strv_dup(self->env);
    for (const char *const *e = extra_env; e && *e; e++)
        env_set(&envp, *e);
    proc_t *p = proc_add(self, name, argv, envp, false);
    if (!p) {
        strv_free(&argv);
        strv_free(&envp);
    }
    return p;
}

static void fail_start(harness_t **self_p, const char *why)
{
    harness_t *self = *self_p;
    fprintf(stderr, "harness: start failed: %s\n", why);
    self->failed = true;
    harness_stop(self_p);
}

harness_t *harness_start(const harness_opts_t *opts)
{
    install_hooks();
    long long t0 = now_ms();
    harness_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->dir, sizeof self->dir, "%s/shopmq-it-XXXXXX", scratch_dir());
    if (!mkdtemp(self->dir) || chmod(self->dir, 0755) < 0) {
        fprintf(stderr, "harness: mkdtemp %s: %s\n", self->dir, strerror(errno));
        free(self);
        return NULL;
    }
    register_live(self);
    char owner[1100];
    snprintf(owner, sizeof owner, "%s/owner.pid", self->dir);
    FILE *of = fopen(owner, "w");
    if (of) {
        fprintf(of, "%d\n", (int)getpid());
        fclose(of);
    }
    snprintf(self->pgdata, sizeof self->pgdata, "%s/pg", self->dir);

    self->pg_port = harness_free_port();
    self->redis_port = harness_free_port();
    self->broker_port = harness_free_port();
    self->xsub_port = harness_free_port();
    self->xpub_port = harness_free_port();
    self->http_port = harness_free_port();
    snprintf(self->database_url, sizeof self->database_url,
             "postgresql://postgres@127.0.0.1:%d/shopmq", self->pg_port);
    snprintf(self->redis_url, sizeof self->redis_url, "redis://127.0.0.1:%d/0",
             self->redis_port);
    snprintf(self->broker_ep, sizeof self->broker_ep, "tcp://127.0.0.1:%d", self->broker_port);
    snprintf(self->pub_ep, sizeof self->pub_ep, "tcp://127.0.0.1:%d", self->xsub_port);
    snprintf(self->sub_ep, sizeof self->sub_ep, "tcp://127.0.0.1:%d", self->xpub_port);
    self->env = base_env(self, opts);
    const char *port = env_get(self->env, "ECOM_PORT");
    if (port)
        self->http_port = atoi(port); /* a test may choose its own */

    if (pg_prepare(self) < 0) {
        fail_start(&self, "could not create the PostgreSQL cluster");
        return NULL;
    }
    proc_t *pg = proc_add(self, "postgres", pg_argv(self->pgdata, self->pg_port),
                          strv_dup(environ), true);
    if (proc_start(self, pg) < 0) {
        fail_start(&self, "could not start postgres");
        return NULL;
    }

    char **rargv = strv_new();
    strv_push(&rargv, file_exists("/usr/bin/redis-server") ? "/usr/bin/redis-server"
                                                            : "/usr/local/bin/redis-server");
    char rport[16];
    snprintf(rport, sizeof rport, "%d", self->redis_port);
    const char *rargs[] = {"--port", rport, "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", self->dir, "--daemonize", "no"};
    for (size_t i = 0; i < sizeof rargs / sizeof rargs[0]; i++)
        strv_push(&rargv, rargs[i]);
    proc_t *redis = proc_add(self, "redis", rargv, strv_dup(environ), false);
    if (!(opts && opts->no_redis) && proc_start(self, redis) < 0) {
        fail_start(&self, "could not start redis-server");
        return NULL;
    }

    bool verbose = getenv("SHOPMQ_TEST_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "harness: cluster copied at %lld ms\n", now_ms() - t0);
    /* The services migrate on start, so the database must be up first. */
    long long deadline = t0 + START_TIMEOUT_MS;
    while (!pg_ready(self->pg_port, "shopmq") || (redis->pid > 0 && !redis_pong(self->redis_port))) {
        procs_poll(self);
        if (self->failed || now_ms() >= deadline) {
            fail_start(&self, "postgres or redis did not come up");
            return NULL;
        }
        sleep_ms(10);
    }

    if (verbose)
        fprintf(stderr, "harness: postgres and redis up at %lld ms\n", now_ms() - t0);
    static const char *const programs[] = {"broker", "customer-svc", "catalog-svc", "order-svc",
                                           "gateway"};
    bool skip[] = {false, opts && opts->no_customer, opts && opts->no_catalog,
                   opts && opts->no_order, opts && opts->no_gateway};
    for (int i = 0; i < 5; i++) {
        if (skip[i])
            continue;
        proc_t *p = add_program(self, programs[i], programs[i], NULL);
        if (!p)
            continue;
        if (proc_start(self, p) < 0) {
            fail_start(&self, "could not start a program");
            return NULL;
        }
        if (i >= 1 && i <= 3)
            self->want[i - 1] = true;
        if (i == 4)
            self->have_gateway = true;
        if (i == 0) /* workers and gateway connect to it; let it bind first */
            while (!port_accepts(self->broker_port) && now_ms() < deadline && p->pid > 0) {
                procs_poll(self);
                sleep_ms(5);
            }
    }

    while (!stack_ready(self)) {
        procs_poll(self);
        if (self->failed || now_ms() >= deadline) {
            fail_start(&self, self->failed ? "a process died during start-up"
                                           : "services not ready within 60 s");
            return NULL;
        }
        sleep_ms(20);
    }
    if (!self->have_gateway)
        sleep_ms(200); /* no /health to tell us workers said READY */
    if (verbose)
        fprintf(stderr, "harness: stack up in %lld ms in %s\n", now_ms() - t0, self->dir);
    return self;
}

void harness_stop(harness_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    harness_t *self = *self_p;
    *self_p = NULL;
    procs_poll(self);
    if (self->pg) {
        PQfinish(self->pg);
        self->pg = NULL;
    }
    /* Clients first, then the broker, then the stores, so nothing logs
     * errors about a dependency vanishing under it. */
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < self->nprocs; i++) {
            proc_t *p = &self->procs[i];
            bool store = strcmp(p->name, "postgres") == 0 || strcmp(p->name, "redis") == 0;
            bool broker = strncmp(p->name, "broker", 6) == 0;
            int tier = store ? 2 : broker ? 1 : 0;
            if (tier != pass || p->pid <= 0)
                continue;
            p->expected = true;
            /* SIGTERM is a "smart" shutdown for postgres: it would wait for
             * every client to leave. SIGINT is the fast one. */
            kill(p->pid, strcmp(p->name, "postgres") == 0 ? SIGINT : SIGTERM);
        }
        long long deadline = now_ms() + STOP_GRACE_MS;
        for (int i = 0; i < self->nprocs; i++) {
            proc_t *p = &self->procs[i];
            if (p->pid <= 0 || !p->expected)
                continue;
            int left = (int)(deadline - now_ms());
            proc_stop(p, 0, left > 0 ? left : 0); /* signal 0: already sent */
        }
    }
    for (int i = 0; i < self->nprocs; i++) {
        strv_free(&self->procs[i].argv);
        strv_free(&self->procs[i].envp);
    }
    strv_free(&self->env);
    unregister_live(self);

    if (self->failed || keep_logs_env()) {
        print_logs_in(self->dir);
        if (!keep_logs_env())
            self->failed = false; /* printed; the exit hook need not repeat */
    }
    pg_release_shm(self->pgdata);
    if (!keep_logs_env())
        rm_rf(self->pgdata);
    if (s_nkept < (int)(sizeof s_kept / sizeof s_kept[0]))
        s_kept[s_nkept++] = strdup(self->dir);
    else
        rm_rf(self->dir);
    free(self);
}

/* ---- accessors ---- */

int harness_http_port(harness_t *self) { return self->http_port; }
const char *harness_database_url(harness_t *self) { return self->database_url; }
int harness_redis_port(harness_t *self) { return self->redis_port; }
const char *harness_events_pub_endpoint(harness_t *self) { return self->pub_ep; }
const char *harness_events_sub_endpoint(harness_t *self) { return self->sub_ep; }
const char *harness_broker_endpoint(harness_t *self) { return self->broker_ep; }
const char *harness_dir(harness_t *self) { return self->dir; }

const char *harness_log_path(harness_t *self, const char *proc)
{
    if (!proc_find(self, proc))
        return NULL;
    snprintf(self->log_buf, sizeof self->log_buf, "%s/%s.log", self->dir, proc);
    return self->log_buf;
}

bool harness_program_exists(const char *program)
{
    char exe[PATH_MAX + 64];
    snprintf(exe, sizeof exe, "%s/%s", bin_dir(), program);
    return access(exe, X_OK) == 0;
}

pid_t harness_pid(harness_t *self, const char *proc)
{
    procs_poll(self);
    proc_t *p = proc_find(self, proc);
    return p ? p->pid : 0;
}

int harness_kill(harness_t *self, const char *proc, int sig)
{
    procs_poll(self);
    proc_t *p = proc_find(self, proc);
    if (!p || p->pid <= 0)
        return -1;
    if (sig != SIGKILL && sig != SIGTERM)
        return kill(p->pid, sig);
    if (strcmp(proc, "postgres") == 0) {
        if (self->pg) { /* our own connection would hold a smart shutdown */
            PQfinish(self->pg);
            self->pg = NULL;
        }
        if (sig == SIGTERM)
            sig = SIGINT;
    }
    p->expected = true;
    /* SIGKILL takes the whole group, as a crash of the machine would. */
    if (sig == SIGKILL)
        kill(-p->pid, SIGKILL);
    proc_stop(p, sig, 10000);
    return 0;
}

int harness_restart(harness_t *self, const char *proc)
{
    procs_poll(self);
    proc_t *p = proc_find(self, proc);
    if (!p || p->pid > 0)
        return -1;
    return proc_start(self, p);
}

pid_t harness_spawn(harness_t *self, const char *name, const char *program,
                    const char *const *env)
{
    proc_t *p = add_program(self, name, program, env);
    if (!p || proc_start(self, p) < 0)
        return -1;
    return p->pid;
}

/* ---- SQL ---- */

static PGconn *sql_conn(harness_t *self)
{
    if (self->pg && PQstatus(self->pg) == CONNECTION_OK)
        return self->pg;
    if (self->pg)
        PQfinish(self->pg);
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=shopmq connect_timeout=10",
             self->pg_port);
    self->pg = PQconnectdb(conninfo);
    if (PQstatus(self->pg) != CONNECTION_OK) {
        fprintf(stderr, "harness: sql connect: %s", PQerrorMessage(self->pg));
        PQfinish(self->pg);
        self->pg = NULL;
    }
    return self->pg;
}

/* Runs sql, retrying once on a connection that died under us (a restarted
 * postgres); the caller PQclears. */
static PGresult *sql_run(harness_t *self, const char *sql)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *c = sql_conn(self);
        if (!c)
            return NULL;
        PGresult *r = PQexec(c, sql);
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
            return r;
        if (PQstatus(c) != CONNECTION_OK && attempt == 0) {
            PQclear(r);
            continue;
        }
        fprintf(stderr, "harness: sql \"%s\": %s", sql, PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return NULL;
}

char *harness_sql_value(harness_t *self, const char *sql)
{
    PGresult *r = sql_run(self, sql);
    char *v = NULL;
    if (r && PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

long harness_sql_long(harness_t *self, const char *sql)
{
    char *v = harness_sql_value(self, sql);
    if (!v)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v) {
        fprintf(stderr, "harness: sql \"%s\" gave \"%s\", not a number\n", sql, v);
        n = -1;
    }
    free(v);
    return n;
}

int harness_sql_exec(harness_t *self, const char *sql)
{
    PGresult *r = sql_run(self, sql);
    PQclear(r);
    return r ? 0 : -1;
}
