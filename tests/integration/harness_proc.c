/* Harness plumbing: small utilities, free ports, child processes, logs. */
#include "harness_int.h"

long long hns_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hns_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *hns_bin_dir(void)
{
    const char *d = getenv("SHOPMQ_BIN_DIR");
    return d && *d ? d : SHOPMQ_BIN_DIR;
}

int harness_time_scale(void)
{
    const char *s = getenv("SHOPMQ_TEST_TIME_SCALE");
    int n = s ? atoi(s) : 1;
    return n >= 1 && n <= 1000 ? n : 1;
}

const char *hns_pg_bin(void)
{
    const char *d = getenv("SHOPMQ_PG_BIN");
    return d && *d ? d : PG_BIN_DEFAULT;
}

char **hns_strv_new(void)
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

void hns_strv_push(char ***v, const char *s)
{
    size_t n = strv_len(*v);
    char **nv = realloc(*v, (n + 2) * sizeof(char *));
    if (!nv)
        abort();
    nv[n] = strdup(s);
    nv[n + 1] = NULL;
    *v = nv;
}

char **hns_strv_dup(char **v)
{
    char **out = hns_strv_new();
    for (size_t i = 0; v && v[i]; i++)
        hns_strv_push(&out, v[i]);
    return out;
}

void hns_strv_free(char ***v)
{
    if (!*v)
        return;
    for (size_t i = 0; (*v)[i]; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
}

/* KEY=VALUE: replaces an existing KEY or appends. */
void hns_env_set(char ***env, const char *kv)
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
    hns_strv_push(env, kv);
}

void hns_env_setf(char ***env, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    hns_env_set(env, buf);
}

const char *hns_env_get(char **env, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

/* Runs a command to completion (no shell). Returns its exit status or -1. */
int hns_run_wait(char *const argv[])
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

int hns_rm_rf(const char *path)
{
    char *argv[] = {"rm", "-rf", "--", (char *)path, NULL};
    return hns_run_wait(argv);
}

int hns_cp_a(const char *from, const char *to)
{
    char *argv[] = {"cp", "-a", "--", (char *)from, (char *)to, NULL};
    return hns_run_wait(argv);
}

bool hns_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Where runs live: $TMPDIR when set; else /dev/shm when it is a roomy
 * tmpfs, because copying the 36 MB cluster is ten times faster in memory
 * than on a virtual disk; else /tmp. */
const char *hns_scratch_dir(void)
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

bool hns_postgres_user(uid_t *uid, gid_t *gid)
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

/* A port we hand out is only bound later, by a child, so two test programs
 * running side by side could be given the same one. Each port handed out
 * is flock()ed in a shared directory for the life of this process; another
 * harness skips ports it finds locked. */
static bool port_reserve(int port)
{
    static int fds[512];
    static int nfds;
    char path[512];
    snprintf(path, sizeof path, "%s/shopmq-ports", hns_scratch_dir());
    if (mkdir(path, 01777) == 0)
        chmod(path, 01777); /* shared by every user's tests */
    snprintf(path, sizeof path, "%s/shopmq-ports/%d", hns_scratch_dir(), port);
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

bool hns_port_accepts(int port)
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

bool hns_redis_pong(int port)
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

/* fork + exec with the child in its own process group, output to log,
 * dying with the test. Returns the pid or -1. */
pid_t hns_spawn(char *const argv[], char *const envp[], const char *log, bool as_postgres,
                const char *cwd)
{
    uid_t uid = 0;
    gid_t gid = 0;
    if (as_postgres && !hns_postgres_user(&uid, &gid))
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
bool hns_child_alive(pid_t pid, int *status)
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
void hns_group_sweep(pid_t pgid)
{
    kill(-pgid, SIGKILL);
    long long deadline = hns_now_ms() + 2000;
    while (hns_now_ms() < deadline) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
            ;
        if (kill(-pgid, 0) < 0 && errno == ESRCH)
            return;
        hns_sleep_ms(5);
    }
}

/* Waits until pid exits (reaping it) or timeout; true when it did. */
bool hns_child_wait(pid_t pid, int timeout_ms, int *status)
{
    long long deadline = hns_now_ms() + timeout_ms;
    for (;;) {
        if (!hns_child_alive(pid, status))
            return true;
        if (hns_now_ms() >= deadline)
            return false;
        hns_sleep_ms(5);
    }
}

void hns_describe_status(char *buf, size_t len, int st)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, len, "status %#x", st);
}

/* Stops one process: sig, up to grace_ms, then SIGKILL; reaps its group. */
/* Descendants of pid, read from /proc while it lives: postgres backends
 * call setsid(), so the postmaster's process group does not hold them. */
static int descendants(pid_t pid, pid_t *out, int max, int n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return n;
    int c, start = n;
    while (n < max && fscanf(f, "%d", &c) == 1)
        out[n++] = c;
    fclose(f);
    for (int i = start, end = n; i < end; i++)
        n = descendants(out[i], out, max, n);
    return n;
}

/* SIGKILLs what is left of pids and waits until they are gone; orphans
 * come to us (we are subreaper), so we reap them too. */
static void kill_and_reap(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
    long long deadline = hns_now_ms() + 3000;
    for (;;) {
        bool left = false;
        for (int i = 0; i < n; i++) {
            if (pids[i] <= 0)
                continue;
            waitpid(pids[i], NULL, WNOHANG);
            if (kill(pids[i], 0) < 0 && errno == ESRCH)
                pids[i] = 0;
            else
                left = true;
        }
        if (!left || hns_now_ms() >= deadline)
            return;
        hns_sleep_ms(5);
    }
}

void hns_proc_stop(proc_t *p, int sig, int grace_ms)
{
    if (p->pid <= 0)
        return;
    p->expected = true;
    pid_t kids[256];
    int nkids = descendants(p->pid, kids, 256, 0);
    kill(p->pid, sig);
    if (!hns_child_wait(p->pid, grace_ms, NULL)) {
        kill(-p->pid, SIGKILL);
        hns_child_wait(p->pid, 5000, NULL);
    }
    hns_group_sweep(p->pid);
    kill_and_reap(kids, nkids);
    p->pid = 0;
}

void hns_print_tail(const char *path, const char *name)
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

void hns_print_logs_in(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, is_log, alphasort);
    char path[PATH_MAX + 300];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        hns_print_tail(path, names[i]->d_name);
        free(names[i]);
    }
    if (n >= 0)
        free(names);
    fprintf(stderr, "----- logs kept in %s -----\n", dir);
}

bool hns_keep_logs_env(void)
{
    const char *k = getenv("SHOPMQ_TEST_KEEP_LOGS");
    return k && *k && strcmp(k, "0") != 0;
}
