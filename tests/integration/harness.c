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
#include "harness_int.h"

/* Read from signal handlers, hence plain fixed arrays. */
static harness_t *s_live[MAX_LIVE];
static bool s_hooks_installed;
static pid_t s_owner; /* a forked child of the test must not run our hooks */
/* Log directories of stopped harnesses, removed or reported at exit. */
static char *s_kept[64];
static int s_nkept;

static const char *const s_services[3] = {"customer", "catalog", "order"};

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
        if (p->pid > 0 && !hns_child_alive(p->pid, &st)) {
            char how[96];
            hns_describe_status(how, sizeof how, st);
            fprintf(stderr, "harness: %s (pid %d) %s unexpectedly; log: %s/%s.log\n", p->name,
                    (int)p->pid, how, self->dir, p->name);
            hns_group_sweep(p->pid);
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
     * remove the old shared memory segment of a killed one, and refuses to
     * start while anything is still attached to it. */
    if (p->as_postgres)
        hns_pg_wait_shm_free(self->pgdata, 5000);
    pid_t pid = hns_spawn(p->argv, p->envp, log, p->as_postgres, self->dir);
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
        if (failed || hns_keep_logs_env())
            hns_print_logs_in(s_kept[i]);
        else
            hns_rm_rf(s_kept[i]);
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
        /* postgres gets an immediate shutdown (SIGQUIT), which still
         * removes its System V segment; SIGKILL would leak it. */
        pid_t pg = 0;
        for (int j = 0; j < h->nprocs; j++) {
            proc_t *p = &h->procs[j];
            if (p->pid <= 0)
                continue;
            if (p->as_postgres) {
                pg = p->pid;
                kill(pg, SIGQUIT);
            } else {
                kill(-p->pid, SIGKILL);
            }
        }
        for (int t = 0; pg > 0 && t < 300 && waitpid(pg, NULL, WNOHANG) == 0; t++) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (pg > 0)
            kill(-pg, SIGKILL);
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

/* Runs of test programs that were SIGKILLed (a ctest timeout) leave their
 * directory behind, 40 MB of it in memory under /dev/shm: remove those
 * whose owner is gone, and kept logs after a day. */
static void sweep_stale_runs(void)
{
    const char *base = hns_scratch_dir();
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
            hns_pg_release_shm(f);
        if (has_data || (stat(path, &st) == 0 && time(NULL) - st.st_mtime > 86400))
            hns_rm_rf(path);
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

/* ---- health ---- */

/* Live workers of service in a /health body, or -1 when unknown. */
static int workers_in(json_t *health, const char *service)
{
    char svc[32];
    snprintf(svc, sizeof svc, "%s", service);
    char *dash = strstr(svc, "-svc");
    if (dash)
        *dash = '\0';
    json_t *services = json_object_get(health, "services");
    json_t *v = json_object_get(services, svc);
    if (json_is_integer(v))
        return (int)json_integer_value(v);
    if (json_is_object(v) && json_is_integer(json_object_get(v, "workers")))
        return (int)json_integer_value(json_object_get(v, "workers"));
    return json_is_object(services) ? 0 : -1; /* not listed: none alive */
}

/* GET /health with a short timeout; the parsed body (new reference) or NULL. */
static json_t *health_get(int port)
{
    http_resp_t r;
    json_t *j = NULL;
    if (http_request_timeout(port, "GET", "/health", NULL, 0, NULL, 2000, &r) == 0 && r.json)
        j = json_incref(r.json);
    http_resp_clear(&r);
    return j;
}

static int health_workers(int port, const char *service)
{
    json_t *j = health_get(port);
    int n = j ? workers_in(j, service) : -1;
    json_decref(j);
    return n;
}

int harness_wait_workers(harness_t *self, const char *service, int n, int timeout_ms)
{
    long long deadline = hns_now_ms() + (long long)timeout_ms * harness_time_scale();
    for (;;) {
        if (health_workers(self->http_port, service) >= n)
            return 0;
        if (hns_now_ms() >= deadline)
            return -1;
        hns_sleep_ms(25);
    }
}

/* Everything started is up: processes alive, the gateway reporting a
 * worker per service and the database connected (or, without a gateway,
 * the broker listening). */
static bool stack_ready(harness_t *self)
{
    if (!self->have_gateway) {
        proc_t *b = proc_find(self, "broker");
        return !b || hns_port_accepts(self->broker_port);
    }
    json_t *j = health_get(self->http_port);
    if (!j)
        return false;
    bool ready = true;
    for (int i = 0; i < 3; i++)
        if (self->want[i] && workers_in(j, s_services[i]) < 1)
            ready = false;
    /* And their database: a worker's first status may come before its pool
     * has a connection, which under valgrind can be seconds. */
    bool any = self->want[0] || self->want[1] || self->want[2];
    const char *db = json_string_value(json_object_get(j, "database"));
    if (any && (!db || strcmp(db, "connected") != 0))
        ready = false;
    json_decref(j);
    return ready;
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
    char **env = hns_strv_new();
    /* A developer's ECOM_* settings must not leak into a test's stack. */
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "ECOM_", 5) != 0)
            hns_strv_push(&env, *e);
    hns_env_setf(&env, "ECOM_DATABASE_URL=%s", self->database_url);
    hns_env_setf(&env, "ECOM_REDIS_URL=%s", self->redis_url);
    hns_env_setf(&env, "ECOM_BROKER_BIND=%s", self->broker_ep);
    hns_env_setf(&env, "ECOM_EVENTS_XSUB_BIND=%s", self->pub_ep);
    hns_env_setf(&env, "ECOM_EVENTS_XPUB_BIND=%s", self->sub_ep);
    if (self->two_brokers) {
        hns_env_setf(&env, "ECOM_BROKER_ENDPOINTS=%s,%s", self->broker_ep, self->broker2_ep);
        hns_env_setf(&env, "ECOM_EVENTS_PUB_ENDPOINTS=%s,%s", self->pub_ep, self->pub2_ep);
        hns_env_setf(&env, "ECOM_EVENTS_SUB_ENDPOINTS=%s,%s", self->sub_ep, self->sub2_ep);
    } else {
        hns_env_setf(&env, "ECOM_BROKER_ENDPOINTS=%s", self->broker_ep);
        hns_env_setf(&env, "ECOM_EVENTS_PUB_ENDPOINTS=%s", self->pub_ep);
        hns_env_setf(&env, "ECOM_EVENTS_SUB_ENDPOINTS=%s", self->sub_ep);
    }
    hns_env_setf(&env, "ECOM_PORT=%d", self->http_port);
    hns_env_set(&env, "ECOM_HOST=127.0.0.1");
    hns_env_set(&env, "ECOM_LOG_LEVEL=info");
    hns_env_set(&env, "ECOM_REDIS_RATE_LIMIT_MAX=0");
    hns_env_set(&env, "ECOM_WORKERS=4");
    /* Unset by default (admin routes open); set it to run every test with
     * an admin token (tests send it: admin_auth.h). */
    const char *admin = getenv("SHOPMQ_TEST_ADMIN_TOKEN");
    if (admin && *admin)
        hns_env_setf(&env, "ECOM_ADMIN_TOKEN=%s", admin);
    /* Slowed down (valgrind): stretch the stack's own clocks alike, so a
     * slow worker is not taken for a dead one. Tests' env still wins. */
    int scale = harness_time_scale();
    if (scale > 1) {
        hns_env_setf(&env, "ECOM_HEARTBEAT_MS=%d", 500 * scale);
        hns_env_setf(&env, "ECOM_QUEUE_GRACE_MS=%d", 1000 * scale);
        hns_env_setf(&env, "ECOM_REQUEST_TIMEOUT_MS=%d", 5000 * scale);
        hns_env_setf(&env, "ECOM_REDIS_TIMEOUT_MS=%d", 100 * scale);
    }
    for (const char *const *e = opts ? opts->env : NULL; e && *e; e++)
        hns_env_set(&env, *e);
    return env;
}

static proc_t *add_program(harness_t *self, const char *name, const char *program,
                           const char *const *extra_env)
{
    char exe[PATH_MAX + 64];
    snprintf(exe, sizeof exe, "%s/%s", hns_bin_dir(), program);
    if (access(exe, X_OK) != 0) {
        fprintf(stderr, "harness: %s not built (%s); not starting it\n", program, exe);
        return NULL;
    }
    char **argv = hns_strv_new();
    /* SHOPMQ_TEST_WRAPPER="/usr/bin/valgrind --log-file=..." runs every
     * program under that command (words split on spaces; first one an
     * absolute path, as there is no PATH search). */
    const char *wrap = getenv("SHOPMQ_TEST_WRAPPER");
    if (wrap && *wrap) {
        char *copy = strdup(wrap), *save = NULL;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
            hns_strv_push(&argv, w);
        free(copy);
    }
    hns_strv_push(&argv, exe);
    char **envp = hns_strv_dup(self->env);
    for (const char *const *e = extra_env; e && *e; e++)
        hns_env_set(&envp, *e);
    proc_t *p = proc_add(self, name, argv, envp, false);
    if (!p) {
        hns_strv_free(&argv);
        hns_strv_free(&envp);
    }
    return p;
}

/* The second broker: the same program with its own binds (the rest of the
 * environment, including both endpoint lists, is the stack's). */
static int start_broker2(harness_t *self, long long deadline)
{
    char bind[3][96];
    snprintf(bind[0], sizeof bind[0], "ECOM_BROKER_BIND=%s", self->broker2_ep);
    snprintf(bind[1], sizeof bind[1], "ECOM_EVENTS_XSUB_BIND=%s", self->pub2_ep);
    snprintf(bind[2], sizeof bind[2], "ECOM_EVENTS_XPUB_BIND=%s", self->sub2_ep);
    const char *const env[] = {bind[0], bind[1], bind[2], NULL};
    proc_t *p = add_program(self, "broker2", "broker", env);
    if (!p || proc_start(self, p) < 0)
        return -1;
    while (!hns_port_accepts(self->broker2_port) && hns_now_ms() < deadline && p->pid > 0) {
        procs_poll(self);
        hns_sleep_ms(5);
    }
    return p->pid > 0 ? 0 : -1;
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
    long long t0 = hns_now_ms();
    harness_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->dir, sizeof self->dir, "%s/shopmq-it-XXXXXX", hns_scratch_dir());
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
    snprintf(self->redis_url, sizeof self->redis_url, "redis://127.0.0.1:%d/0", self->redis_port);
    snprintf(self->broker_ep, sizeof self->broker_ep, "tcp://127.0.0.1:%d", self->broker_port);
    snprintf(self->pub_ep, sizeof self->pub_ep, "tcp://127.0.0.1:%d", self->xsub_port);
    snprintf(self->sub_ep, sizeof self->sub_ep, "tcp://127.0.0.1:%d", self->xpub_port);
    if (opts && opts->two_brokers) {
        self->two_brokers = true;
        self->broker2_port = harness_free_port();
        self->xsub2_port = harness_free_port();
        self->xpub2_port = harness_free_port();
        snprintf(self->broker2_ep, sizeof self->broker2_ep, "tcp://127.0.0.1:%d",
                 self->broker2_port);
        snprintf(self->pub2_ep, sizeof self->pub2_ep, "tcp://127.0.0.1:%d", self->xsub2_port);
        snprintf(self->sub2_ep, sizeof self->sub2_ep, "tcp://127.0.0.1:%d", self->xpub2_port);
    }
    self->env = base_env(self, opts);
    const char *port = hns_env_get(self->env, "ECOM_PORT");
    if (port)
        self->http_port = atoi(port); /* a test may choose its own */

    if (hns_pg_prepare(self) < 0) {
        fail_start(&self, "could not create the PostgreSQL cluster");
        return NULL;
    }
    proc_t *pg = proc_add(self, "postgres", hns_pg_argv(self->pgdata, self->pg_port),
                          hns_strv_dup(environ), true);
    if (proc_start(self, pg) < 0) {
        fail_start(&self, "could not start postgres");
        return NULL;
    }

    char **rargv = hns_strv_new();
    hns_strv_push(&rargv, hns_file_exists("/usr/bin/redis-server") ? "/usr/bin/redis-server"
                                                                   : "/usr/local/bin/redis-server");
    char rport[16];
    snprintf(rport, sizeof rport, "%d", self->redis_port);
    const char *rargs[] = {"--port",       rport, "--bind", "127.0.0.1", "--save",      "",
                           "--appendonly", "no",  "--dir",  self->dir,   "--daemonize", "no"};
    for (size_t i = 0; i < sizeof rargs / sizeof rargs[0]; i++)
        hns_strv_push(&rargv, rargs[i]);
    proc_t *redis = proc_add(self, "redis", rargv, hns_strv_dup(environ), false);
    if (!(opts && opts->no_redis) && proc_start(self, redis) < 0) {
        fail_start(&self, "could not start redis-server");
        return NULL;
    }

    bool verbose = getenv("SHOPMQ_TEST_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "harness: cluster copied at %lld ms\n", hns_now_ms() - t0);
    /* The services migrate on start, so the database must be up first. */
    long long deadline = t0 + START_TIMEOUT_MS;
    while (!hns_pg_ready(self->pg_port, "shopmq") ||
           (redis->pid > 0 && !hns_redis_pong(self->redis_port))) {
        procs_poll(self);
        if (self->failed || hns_now_ms() >= deadline) {
            fail_start(&self, "postgres or redis did not come up");
            return NULL;
        }
        hns_sleep_ms(10);
    }

    if (verbose)
        fprintf(stderr, "harness: postgres and redis up at %lld ms\n", hns_now_ms() - t0);
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
            while (!hns_port_accepts(self->broker_port) && hns_now_ms() < deadline && p->pid > 0) {
                procs_poll(self);
                hns_sleep_ms(5);
            }
        if (i == 0 && self->two_brokers && start_broker2(self, deadline) < 0) {
            fail_start(&self, "could not start broker2");
            return NULL;
        }
    }

    while (!stack_ready(self)) {
        procs_poll(self);
        if (self->failed || hns_now_ms() >= deadline) {
            fail_start(&self, self->failed ? "a process died during start-up"
                                           : "services not ready within 60 s");
            return NULL;
        }
        hns_sleep_ms(20);
    }
    if (!self->have_gateway)
        hns_sleep_ms(200); /* no /health to tell us workers said READY */
    if (verbose)
        fprintf(stderr, "harness: stack up in %lld ms in %s\n", hns_now_ms() - t0, self->dir);
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
        long long deadline = hns_now_ms() + STOP_GRACE_MS;
        for (int i = 0; i < self->nprocs; i++) {
            proc_t *p = &self->procs[i];
            if (p->pid <= 0 || !p->expected)
                continue;
            int left = (int)(deadline - hns_now_ms());
            hns_proc_stop(p, 0, left > 0 ? left : 0); /* signal 0: already sent */
        }
    }
    for (int i = 0; i < self->nprocs; i++) {
        hns_strv_free(&self->procs[i].argv);
        hns_strv_free(&self->procs[i].envp);
    }
    hns_strv_free(&self->env);
    unregister_live(self);

    if (self->failed || hns_keep_logs_env()) {
        hns_print_logs_in(self->dir);
        if (!hns_keep_logs_env())
            self->failed = false; /* printed; the exit hook need not repeat */
    }
    hns_pg_release_shm(self->pgdata);
    if (!hns_keep_logs_env())
        hns_rm_rf(self->pgdata);
    if (s_nkept < (int)(sizeof s_kept / sizeof s_kept[0]))
        s_kept[s_nkept++] = strdup(self->dir);
    else
        hns_rm_rf(self->dir);
    free(self);
}

/* ---- accessors ---- */

int harness_http_port(harness_t *self)
{
    return self->http_port;
}
const char *harness_database_url(harness_t *self)
{
    return self->database_url;
}
int harness_redis_port(harness_t *self)
{
    return self->redis_port;
}
const char *harness_events_pub_endpoint(harness_t *self)
{
    return self->pub_ep;
}
const char *harness_events_sub_endpoint(harness_t *self)
{
    return self->sub_ep;
}
const char *harness_broker_endpoint(harness_t *self)
{
    return self->broker_ep;
}
const char *harness_broker2_endpoint(harness_t *self)
{
    return self->two_brokers ? self->broker2_ep : NULL;
}
const char *harness_dir(harness_t *self)
{
    return self->dir;
}

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
    snprintf(exe, sizeof exe, "%s/%s", hns_bin_dir(), program);
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
    /* SIGKILL takes its children too (postgres backends), as a crash of
     * the machine would. */
    hns_proc_stop(p, sig, 10000);
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

pid_t harness_spawn(harness_t *self, const char *name, const char *program, const char *const *env)
{
    proc_t *p = add_program(self, name, program, env);
    if (!p || proc_start(self, p) < 0)
        return -1;
    return p->pid;
}
