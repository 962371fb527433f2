/* The harness itself works: the stack boots on private ports, the HTTP
 * client reads what a server sends (plain, chunked, early close), SQL
 * reaches the private database, processes can be killed and restarted,
 * and stopping leaves no process and no data directory behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool pid_gone(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/* ---- a one-shot HTTP server in a child, answering with a canned reply ---- */

static pid_t canned_server(int *port, const char *reply, size_t reply_len, bool read_request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(listen(fd, 4), 0);
    *port = ntohs(sa.sin_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            _exit(1);
        if (read_request) { /* read the request head (and echo nothing back) */
            char buf[65536];
            size_t got = 0;
            while (got < sizeof buf - 1) {
                ssize_t r = read(c, buf + got, sizeof buf - 1 - got);
                if (r <= 0)
                    break;
                got += (size_t)r;
                buf[got] = '\0';
                if (strstr(buf, "\r\n\r\n"))
                    break;
            }
        }
        /* Two writes with a pause, so the client must assemble pieces. */
        size_t half = reply_len / 2;
        if (write(c, reply, half) < 0)
            _exit(1);
        usleep(50000);
        if (write(c, reply + half, reply_len - half) < 0)
            _exit(1);
        shutdown(c, SHUT_WR);
        sleep_ms(100);
        _exit(0);
    }
    close(fd);
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    waitpid(pid, &st, 0);
}

static void test_http_content_length(void **state)
{
    (void)state;
    static const char reply[] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                "X-Request-Id: abc\r\nContent-Length: 11\r\n\r\n{\"id\": 42}\n";
    int port;
    pid_t srv = canned_server(&port, reply, sizeof reply - 1, true);
    http_resp_t r;
    const char *hdrs[] = {"X-Test: 1", NULL};
    assert_int_equal(http_request_port(port, "POST", "/x", "{\"a\":1}", 7, hdrs, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body_len, 11);
    assert_non_null(r.json);
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), 42);
    char *rid = http_header(&r, "x-request-id");
    assert_string_equal(rid, "abc");
    free(rid);
    assert_null(http_header(&r, "X-Missing"));
    http_resp_clear(&r);
    reap(srv);
}

static void test_http_chunked(void **state)
{
    (void)state;
    static const char reply[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "4\r\n[1, \r\n5;ext=1\r\n2, 3]\r\n0\r\n\r\n";
    int port;
    pid_t srv = canned_server(&port, reply, sizeof reply - 1, true);
    http_resp_t r;
    assert_int_equal(http_request_port(port, "GET", "/list", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "[1, 2, 3]");
    assert_true(json_is_array(r.json));
    assert_int_equal(json_array_size(r.json), 3);
    http_resp_clear(&r);
    reap(srv);
}

static void test_http_until_close_and_interim(void **state)
{
    (void)state;
    static const char reply[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope";
    int port;
    pid_t srv = canned_server(&port, reply, sizeof reply - 1, true);
    http_resp_t r;
    assert_int_equal(http_request_port(port, "GET", "/", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "nope");
    assert_null(r.json);
    http_resp_clear(&r);
    reap(srv);
}

static void test_http_early_answer_to_big_body(void **state)
{
    (void)state;
    /* The server answers 413 without reading a 4 MiB body. */
    static const char reply[] = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 2\r\n\r\n{}";
    int port;
    pid_t srv = canned_server(&port, reply, sizeof reply - 1, true);
    size_t n = 4u << 20;
    char *big = malloc(n);
    memset(big, 'x', n);
    http_resp_t r;
    assert_int_equal(http_request_port(port, "POST", "/big", big, n, NULL, &r), 0);
    assert_int_equal(r.status, 413);
    http_resp_clear(&r);
    free(big);
    reap(srv);
}

static void test_http_refused_and_timeout(void **state)
{
    (void)state;
    http_resp_t r;
    int port = harness_free_port();
    assert_int_equal(http_request_port(port, "GET", "/", NULL, 0, NULL, &r), -1);
    assert_int_equal(r.status, 0);
    /* A server that accepts and never answers: the timeout ends it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    listen(fd, 4);
    assert_int_equal(http_request_timeout(ntohs(sa.sin_port), "GET", "/", NULL, 0, NULL, 300, &r),
                     -1);
    assert_int_equal(r.status, 0);
    close(fd);
}

static void test_free_port_unique(void **state)
{
    (void)state;
    int seen[50];
    for (int i = 0; i < 50; i++) {
        seen[i] = harness_free_port();
        assert_true(seen[i] > 0);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(seen[i], seen[j]);
    }
}

/* ---- the real stack ---- */

static const char *const s_procs[] = {"postgres",    "redis",     "broker", "customer-svc",
                                      "catalog-svc", "order-svc", "gateway"};
#define NPROCS (sizeof s_procs / sizeof s_procs[0])

static void test_stack(void **state)
{
    (void)state;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    harness_t *h = harness_start(NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(h);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    fprintf(stderr, "# harness_start took %ld ms\n", ms);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/pg", harness_dir(h));
    pid_t pids[NPROCS];
    for (size_t i = 0; i < NPROCS; i++)
        pids[i] = harness_pid(h, s_procs[i]);
    assert_true(pids[0] > 0);
    assert_true(pids[1] > 0);

    /* The private database, not the dev one. */
    assert_int_equal(harness_sql_long(h, "select 1"), 1);
    char *db = harness_sql_value(h, "select current_database()");
    assert_string_equal(db, "shopmq");
    free(db);
    char *port = harness_sql_value(h, "show port");
    char want[32];
    snprintf(want, sizeof want, "%d", atoi(strrchr(harness_database_url(h), ':') + 1));
    assert_string_equal(port, want);
    free(port);
    assert_non_null(strstr(harness_database_url(h), "postgresql://postgres@127.0.0.1:"));
    assert_int_equal(harness_sql_exec(h, "create table smoke(x int); insert into smoke values (7)"),
                     0);
    assert_int_equal(harness_sql_exec(h, "select * from no_such_table"), -1);
    assert_int_equal(harness_sql_long(h, "select null"), -1);
    assert_non_null(strstr(harness_broker_endpoint(h), "tcp://127.0.0.1:"));
    assert_non_null(strstr(harness_events_pub_endpoint(h), "tcp://127.0.0.1:"));
    assert_non_null(strstr(harness_events_sub_endpoint(h), "tcp://127.0.0.1:"));
    assert_string_not_equal(harness_events_pub_endpoint(h), harness_events_sub_endpoint(h));

    /* postgres: SIGKILL (with its backends), restart on the same data dir.
     * synchronous_commit=off: flush the WAL first or the insert may be lost. */
    assert_int_equal(harness_sql_exec(h, "checkpoint"), 0);
    assert_int_equal(harness_kill(h, "postgres", SIGKILL), 0);
    assert_true(pid_gone(pids[0]));
    assert_int_equal(harness_pid(h, "postgres"), 0);
    assert_int_equal(harness_restart(h, "postgres"), 0);
    assert_int_equal(harness_restart(h, "postgres"), -1); /* already running */
    long v = -1;
    for (int i = 0; i < 200 && v != 7; i++) {
        v = harness_sql_long(h, "select x from smoke");
        if (v != 7)
            sleep_ms(50);
    }
    assert_int_equal(v, 7); /* same data directory */
    pids[0] = harness_pid(h, "postgres");
    assert_true(pids[0] > 0);
    /* ... and a graceful stop: our own SQL connection must not hold it. */
    assert_int_equal(harness_kill(h, "postgres", SIGTERM), 0);
    assert_true(pid_gone(pids[0]));
    assert_int_equal(harness_restart(h, "postgres"), 0);
    pids[0] = harness_pid(h, "postgres");

    /* redis: kill and restart on the same port. */
    assert_int_equal(harness_kill(h, "redis", SIGTERM), 0);
    assert_true(pid_gone(pids[1]));
    assert_int_equal(harness_restart(h, "redis"), 0);
    pids[1] = harness_pid(h, "redis");
    assert_true(pids[1] > 0);

    if (harness_program_exists("gateway")) {
        json_t *j = NULL;
        assert_int_equal(http_json(h, "GET", "/", NULL, &j), 200);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "health")), "/health");
        json_decref(j);
        /* postgres and redis were just restarted: the stack must recover */
        int st = 0;
        for (int i = 0; i < 200 && st != 200; i++) {
            if (i > 0) {
                json_decref(j);
                sleep_ms(50);
            }
            st = http_json(h, "GET", "/health", NULL, &j);
        }
        assert_non_null(j);
        if (st != 200) {
            char *dump = json_dumps(j, 0);
            fprintf(stderr, "# /health %d %s\n", st, dump);
            free(dump);
        }
        assert_int_equal(st, 200);
        /* harness_start promised a live worker for every started service */
        json_t *services = json_object_get(j, "services");
        assert_true(json_is_object(services));
        static const char *const svc[] = {"customer", "catalog", "order"};
        for (int i = 0; i < 3; i++) {
            char prog[32];
            snprintf(prog, sizeof prog, "%s-svc", svc[i]);
            if (harness_program_exists(prog))
                assert_true(json_integer_value(json_object_get(services, svc[i])) >= 1);
        }
        json_decref(j);
    } else {
        fprintf(stderr, "# gateway not built: GET / and /health not checked\n");
    }
    if (harness_program_exists("customer-svc") && harness_program_exists("gateway")) {
        pid_t old = harness_pid(h, "customer-svc");
        assert_int_equal(harness_kill(h, "customer-svc", SIGKILL), 0);
        assert_true(pid_gone(old));
        assert_int_equal(harness_restart(h, "customer-svc"), 0);
        assert_int_equal(harness_wait_workers(h, "customer", 1, 10000), 0);
        pids[3] = harness_pid(h, "customer-svc");
    }
    for (size_t i = 0; i < NPROCS; i++)
        pids[i] = harness_pid(h, s_procs[i]);

    harness_stop(&h);
    assert_null(h);
    for (size_t i = 0; i < NPROCS; i++)
        if (pids[i] > 0) {
            assert_true(pid_gone(pids[i]));
            assert_true(kill(-pids[i], 0) < 0); /* nor any child of it */
        }
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0); /* data directory removed */
}

static void test_no_redis_then_start_it(void **state)
{
    (void)state;
    harness_opts_t opts = {.no_redis = true,
                           .no_gateway = true,
                           .no_catalog = true,
                           .no_order = true,
                           .no_customer = true};
    harness_t *h = harness_start(&opts);
    assert_non_null(h);
    assert_int_equal(harness_pid(h, "redis"), 0);
    assert_int_equal(harness_pid(h, "broker") > 0, harness_program_exists("broker"));
    assert_int_equal(harness_restart(h, "redis"), 0);
    assert_true(harness_pid(h, "redis") > 0);
    pid_t pg = harness_pid(h, "postgres");
    harness_stop(&h);
    assert_true(pid_gone(pg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_port_unique),
        cmocka_unit_test(test_http_content_length),
        cmocka_unit_test(test_http_chunked),
        cmocka_unit_test(test_http_until_close_and_interim),
        cmocka_unit_test(test_http_early_answer_to_big_body),
        cmocka_unit_test(test_http_refused_and_timeout),
        cmocka_unit_test(test_stack),
        cmocka_unit_test(test_no_redis_then_start_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
