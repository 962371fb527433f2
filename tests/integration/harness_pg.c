/* The harness's PostgreSQL: a per-build template cluster copied for each
 * run, and the SQL helpers tests use to look at the database directly. */
#include "harness_int.h"

/* A SIGKILLed postmaster leaves its small System V segment behind, and only
 * a postmaster started on the same directory would remove it. Its key and
 * id are on line 7 of postmaster.pid. Returns 0 with the segment's state,
 * or -1 when there is none. */
static int stale_shm(const char *pgdata, int *id_out, struct shmid_ds *ds)
{
    char path[PATH_MAX + 32], line[256];
    snprintf(path, sizeof path, "%s/postmaster.pid", pgdata);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1; /* clean shutdown */
    long key = -1, id = -1;
    for (int i = 1; fgets(line, sizeof line, f); i++)
        if (i == 7 && sscanf(line, "%ld %ld", &key, &id) != 2)
            id = -1;
    fclose(f);
    if (id < 0 || shmctl((int)id, IPC_STAT, ds) != 0 || ds->shm_perm.__key != (key_t)key)
        return -1;
    *id_out = (int)id;
    return 0;
}

/* Backends of a killed postmaster take a moment to notice; a new one
 * refuses to start while they are attached. */
void hns_pg_wait_shm_free(const char *pgdata, int timeout_ms)
{
    long long deadline = hns_now_ms() + timeout_ms;
    int id;
    struct shmid_ds ds;
    while (stale_shm(pgdata, &id, &ds) == 0 && ds.shm_nattch > 0 && hns_now_ms() < deadline)
        hns_sleep_ms(10);
}

/* For a run that is over: nothing will start on this directory again. */
void hns_pg_release_shm(const char *pgdata)
{
    int id;
    struct shmid_ds ds;
    if (stale_shm(pgdata, &id, &ds) == 0 && ds.shm_nattch == 0)
        shmctl(id, IPC_RMID, NULL);
}

char **hns_pg_argv(const char *pgdata, int port)
{
    char **v = hns_strv_new();
    char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/postgres", hns_pg_bin());
    hns_strv_push(&v, buf);
    hns_strv_push(&v, "-D");
    hns_strv_push(&v, pgdata);
    snprintf(buf, sizeof buf, "%d", port);
    hns_strv_push(&v, "-p");
    hns_strv_push(&v, buf);
    /* The socket path must fit sun_path (108 bytes). */
    hns_strv_push(&v, "-k");
    hns_strv_push(&v, strlen(pgdata) + 20 < 100 ? pgdata : "");
    static const char *const settings[] = {
        "listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off", "full_page_writes=off",
        "shared_preload_libraries=pg_stat_statements", "max_connections=300",
        /* in the data directory, not /dev/shm: gone with it after a SIGKILL */
        "dynamic_shared_memory_type=mmap"};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        hns_strv_push(&v, "-c");
        hns_strv_push(&v, settings[i]);
    }
    return v;
}

bool hns_pg_ready(int port, const char *db)
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
    bool as_pg = hns_postgres_user(&uid, &gid);
    if (mkdir(pgdata, 0700) < 0 && errno != EEXIST)
        return -1;
    if (as_pg && chown(pgdata, uid, gid) < 0)
        return -1;
    char exe[PATH_MAX + 16], log[PATH_MAX + 16];
    snprintf(exe, sizeof exe, "%s/initdb", hns_pg_bin());
    snprintf(log, sizeof log, "%s/initdb.log", dir);
    static const char *const locales[] = {"--locale=C.UTF-8", "--no-locale"};
    for (size_t i = 0; i < 2; i++) {
        char *argv[] = {
            exe,    "-D",        (char *)pgdata,    "--auth=trust",     "-U", "postgres", "-E",
            "UTF8", "--no-sync", "--wal-segsize=1", (char *)locales[i], NULL};
        pid_t pid = hns_spawn(argv, environ, log, as_pg, dir);
        int st = 0;
        if (pid > 0 && hns_child_wait(pid, 60000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            return 0;
        if (pid > 0)
            hns_proc_stop(&(proc_t){.pid = pid}, SIGKILL, 0);
        /* initdb leaves a half-made directory behind only on some errors. */
        char *rmv[] = {"find", (char *)pgdata, "-mindepth", "1", "-delete", NULL};
        hns_run_wait(rmv);
    }
    hns_print_tail(log, "initdb");
    return -1;
}

/* Boots a cluster just long enough to create the shopmq database. */
static int pg_create_db(const char *dir, const char *pgdata)
{
    int port = harness_free_port();
    char **argv = hns_pg_argv(pgdata, port);
    char log[PATH_MAX + 32];
    snprintf(log, sizeof log, "%s/template-postgres.log", dir);
    pid_t pid = hns_spawn(argv, environ, log, true, dir);
    hns_strv_free(&argv);
    if (pid < 0)
        return -1;
    int rc = -1;
    long long deadline = hns_now_ms() + START_TIMEOUT_MS;
    while (hns_now_ms() < deadline && hns_child_alive(pid, NULL)) {
        if (hns_pg_ready(port, "postgres")) {
            rc = pg_exec_once(port, "postgres", "CREATE DATABASE shopmq");
            break;
        }
        hns_sleep_ms(20);
    }
    proc_t p = {.pid = pid};
    hns_proc_stop(&p, SIGINT, 30000); /* fast shutdown: a clean checkpoint to copy */
    if (rc < 0)
        hns_print_tail(log, "template postgres");
    return rc;
}

/* The cached cluster of this build: <bin>/test-pg-template, made once under
 * a lock so parallel test programs share it. Returns 0 with the path. */
static int pg_template(char *path, size_t len)
{
    snprintf(path, len, "%s/test-pg-template", hns_bin_dir());
    char marker[PATH_MAX + 32], lockp[PATH_MAX + 32];
    snprintf(marker, sizeof marker, "%s/.shopmq-template", path);
    if (hns_file_exists(marker))
        return 0;
    snprintf(lockp, sizeof lockp, "%s.lock", path);
    int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || flock(lock, LOCK_EX) < 0) {
        if (lock >= 0)
            close(lock);
        return -1;
    }
    int rc = 0;
    if (!hns_file_exists(marker)) {
        rc = -1;
        char work[PATH_MAX], pgdata[PATH_MAX + 8], tmp[PATH_MAX + 32];
        snprintf(work, sizeof work, "%s/shopmq-pgtpl-XXXXXX", hns_scratch_dir());
        if (mkdtemp(work) && chmod(work, 0755) == 0) {
            snprintf(pgdata, sizeof pgdata, "%s/pg", work);
            snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
            if (pg_initdb(work, pgdata) == 0 && pg_create_db(work, pgdata) == 0) {
                hns_rm_rf(path); /* a half-made one from a killed run */
                hns_rm_rf(tmp);
                if (hns_cp_a(pgdata, tmp) == 0 && rename(tmp, path) == 0) {
                    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                    if (fd >= 0) {
                        close(fd);
                        rc = 0;
                    }
                }
                hns_rm_rf(tmp);
            }
            hns_rm_rf(work);
        }
    }
    flock(lock, LOCK_UN);
    close(lock);
    return rc;
}

int hns_pg_prepare(harness_t *self)
{
    char tpl[PATH_MAX];
    if (pg_template(tpl, sizeof tpl) == 0) {
        if (hns_cp_a(tpl, self->pgdata) == 0)
            return 0;
        fprintf(stderr, "harness: copying %s failed; running initdb\n", tpl);
        hns_rm_rf(self->pgdata);
    } else {
        fprintf(stderr, "harness: no template cluster in %s; running initdb\n", hns_bin_dir());
    }
    return pg_initdb(self->dir, self->pgdata) == 0 ? pg_create_db(self->dir, self->pgdata) : -1;
}

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
