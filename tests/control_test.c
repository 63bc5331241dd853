/* tests/control_test.c - the control socket (cog/control.h) and cogctl:
 * every command, errors, malformed and oversized input, clients leaving
 * mid-command, several clients at once (tsan), socket permissions, the
 * COG_CONTROL_SOCKET variable, cogctl's exit status, and the metrics text
 * checked by real Prometheus parsers (tests/metrics_check.py, promtool).
 *
 * The test thread is offline whenever it waits on the socket: the server
 * executes commands (collect, top) that wait for grace periods. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

extern char **environ;

static char sock[108];

static int setup(void **state) {
    snprintf(sock, sizeof sock, "/tmp/cog-control-test-%d.sock", (int)getpid());
    unlink(sock);
    if (test_setup_gc_off(state) != 0) return -1;
    return cog_control_start(sock) == COG_OK ? 0 : -1;
}

static int teardown(void **state) {
    cog_control_stop(); /* may already be stopped */
    return test_teardown(state);
}

static int connect_to(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Read until EOF (the server closes after our shutdown(SHUT_WR)). */
static char *read_all(int fd) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(fd, buf + len, cap - 1 - len)) > 0) len += (size_t)n;
    buf[len] = '\0';
    return buf;
}

/* Send raw bytes in one connection, half-close, return the whole reply. */
static char *ask_raw(const char *text, size_t len) {
    cog_thread_offline();
    int fd = connect_to(sock);
    char *r = NULL;
    if (fd >= 0) {
        if (send(fd, text, len, MSG_NOSIGNAL) == (ssize_t)len) {
            shutdown(fd, SHUT_WR);
            r = read_all(fd);
        }
        close(fd);
    }
    cog_thread_online();
    if (!r) fail_msg("cannot talk to %s: %s", sock, strerror(errno));
    return r;
}

static char *ask(const char *line) { return ask_raw(line, strlen(line)); }

/* ask, for a caller that is already offline. */
static char *ask_offline(const char *line) {
    int fd = connect_to(sock);
    if (fd < 0) fail_msg("cannot connect to %s: %s", sock, strerror(errno));
    size_t len = strlen(line);
    assert_int_equal(send(fd, line, len, MSG_NOSIGNAL), (ssize_t)len);
    shutdown(fd, SHUT_WR);
    char *r = read_all(fd);
    close(fd);
    return r;
}

static void expect(const char *line, const char *part, const char *last) {
    char *r = ask(line);
    if (part && !strstr(r, part)) fail_msg("'%s': '%s' not in reply:\n%s", line, part, r);
    size_t n = strlen(r), k = strlen(last);
    if (n < k || strcmp(r + n - k, last) != 0)
        fail_msg("'%s': reply does not end with '%s':\n%s", line, last, r);
    free(r);
}

static void socket_is_owner_only_and_removed_at_stop(void **state) {
    (void)state;
    struct stat st;
    assert_int_equal(stat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(cog_control_start(sock), COG_ESTATE);
    assert_non_null(strstr(cog_last_error(), "already"));
    assert_int_equal(cog_control_stop(), COG_OK);
    assert_int_equal(stat(sock, &st), -1);
    assert_int_equal(cog_control_stop(), COG_ESTATE);
    /* Bad paths. */
    assert_int_equal(cog_control_start(""), COG_EINVAL);
    assert_int_equal(cog_control_start(NULL), COG_EINVAL);
    char longp[300];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(cog_control_start(longp), COG_EINVAL);
    FILE *f = fopen(sock, "w"); /* a regular file is never replaced */
    fclose(f);
    assert_int_equal(cog_control_start(sock), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "not a stale socket"));
    unlink(sock);
    /* A stale socket (nobody listening) is reused. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    assert_int_equal(cog_control_start(sock), COG_OK);
    expect("help\n", "commands:", "ok\n");
}

static void stats_threshold_enable_gctrace(void **state) {
    (void)state;
    expect("stats\n", "enabled 0\nthreshold 2000 10 10\ncount ", "ok\n");
    expect("stats\n", "gen 2: collections ", "ok\n");
    expect("stats\n", "heap_bytes ", "ok\n");
    expect("stats\n", " window_ms ", "ok\n");
    expect("stats\n", "\nwindow_duty 0.", "ok\n");
    expect("stats\n", "\npaced_waits ", "ok\n");
    expect("stats\n", " over_1ms ", "ok\n");
    /* The allocator's classes, medium ones included. */
    static const char buf[3000];
    cog_object *medium = cog_bytes_new(buf, sizeof buf), *small = cog_bytes_new(buf, 10);
    assert_non_null(medium);
    assert_non_null(small);
    expect("stats\n", ": pool_bytes 16384 pools 1 in_use ", "ok\n");
    expect("stats\n", "class 3072: pool_bytes 65536 pools 1 in_use 1 ", "ok\n");
    expect("stats\n", "\nlarge: blocks 0 bytes 0 ", "ok\n");
    cog_decref(medium);
    cog_decref(small);
    expect("threshold\n", "threshold 2000 10 10\n", "ok\n");
    expect("threshold 700 5 6\n", NULL, "ok\n");
    long t[3];
    cog_gc_get_threshold(t);
    assert_int_equal(t[0], 700);
    assert_int_equal(t[1], 5);
    assert_int_equal(t[2], 6);
    expect("threshold 800\n", NULL, "ok\n");
    expect("threshold\n", "threshold 800 5 6\n", "ok\n");
    expect("threshold -1\n", NULL, "error: threshold -1 5 6 rejected: threshold0 must be >= 0 "
                                   "and threshold1/2 > 0\n");
    expect("threshold 1 0\n", NULL, "rejected: threshold0 must be >= 0 and threshold1/2 > 0\n");
    expect("threshold abc\n", NULL, "error: threshold: 'abc' is not a number\n");
    expect("threshold 1 2 3 4\n", NULL, "error: usage: threshold [t0 [t1 [t2]]]\n");
    cog_gc_get_threshold(t);
    assert_int_equal(t[0], 800); /* rejected values changed nothing */
    expect("enable\n", NULL, "ok\n");
    assert_int_equal(cog_gc_is_enabled(), 1);
    expect("disable\n", NULL, "ok\n");
    assert_int_equal(cog_gc_is_enabled(), 0);
    expect("disable now\n", NULL, "error: disable takes no arguments\n");
    expect("gctrace on\n", NULL, "ok\n");
    assert_int_equal(cog_gc_get_trace(), 1);
    expect("gctrace\n", "gctrace on\n", "ok\n");
    expect("gctrace off\n", NULL, "ok\n");
    assert_int_equal(cog_gc_get_trace(), 0);
    expect("gctrace maybe\n", NULL, "error: usage: gctrace [on|off]\n");
    expect("help\n", "threshold", "ok\n");
}

static void collect_and_top(void **state) {
    (void)state;
    test_node *a = test_node_new(1), *b = test_node_new(2);
    cog_incref(&b->ob);
    cog_ref_store(&a->next, &b->ob);
    cog_incref(&a->ob);
    cog_ref_store(&b->next, &a->ob);
    test_node *keep = test_node_new(3);
    expect("top\n", "Node ", "ok\n");
    expect("top 1\n", "types ", "ok\n");
    expect("top 0\n", NULL, "error: usage: top [n] (1..1000)\n");
    cog_decref(&a->ob);
    cog_decref(&b->ob);
    expect("collect 0\n", "collected 2\n", "ok\n");
    expect("collect\n", "collected 0\n", "ok\n");
    expect("collect 3\n", NULL, "error: collect: generation '3' is not 0, 1 or 2\n");
    expect("collect x\n", NULL, "error: collect: generation 'x' is not 0, 1 or 2\n");
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    assert_true(st[0].collections >= 1);
    assert_int_equal(st[0].collected, 2);
    cog_decref(&keep->ob);
}

static void bad_and_malformed_input(void **state) {
    (void)state;
    expect("frobnicate\n", NULL, "error: unknown command 'frobnicate' (try help)\n");
    expect("\n", NULL, "error: empty command (try help)\n");
    expect("   \t \n", NULL, "error: empty command (try help)\n");
    /* Control bytes are not echoed; the connection stays usable. */
    static const char junk[] = "\x01\x02\x1b[2J\nhelp\n";
    char *r = ask_raw(junk, sizeof junk - 1);
    assert_non_null(strstr(r, "error: unknown command '???[2J'"));
    assert_non_null(strstr(r, "commands:"));
    assert_string_equal(r + strlen(r) - 3, "ok\n");
    free(r);
    /* Several commands in one connection, CRLF tolerated. */
    r = ask("threshold\r\ngctrace\r\n");
    assert_non_null(strstr(r, "threshold 2000 10 10\nok\ngctrace off\nok\n"));
    free(r);
    expect("a b c d e f g h i j\n", NULL, "error: too many arguments\n");
}

static void oversized_line_is_refused_and_closed(void **state) {
    (void)state;
    char big[3000];
    memset(big, 'a', sizeof big);
    char *r = ask_raw(big, sizeof big);
    assert_string_equal(r, "error: line too long (max 1024 bytes)\n");
    free(r);
    /* The largest acceptable line (1023 bytes + newline) is processed. */
    char edge[1024];
    memset(edge, 'b', 1023);
    edge[1023] = '\n';
    r = ask_raw(edge, sizeof edge);
    assert_non_null(strstr(r, "error: unknown command 'bbbb"));
    free(r);
    expect("help\n", "commands:", "ok\n");
}

static void client_leaving_mid_command_and_idle_client(void **state) {
    (void)state;
    cog_thread_offline();
    int fd = connect_to(sock);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, "sta", 3, MSG_NOSIGNAL), 3);
    close(fd); /* gone before the newline: nothing runs */
    /* An idle client does not stop others from being served. */
    int idle = connect_to(sock);
    assert_true(idle >= 0);
    cog_thread_online();
    expect("stats\n", "enabled", "ok\n");
    expect("help\n", "commands:", "ok\n");
    /* A client that sends a command and never reads its reply. */
    cog_thread_offline();
    int rude = connect_to(sock);
    assert_true(rude >= 0);
    assert_int_equal(send(rude, "top\nstats\n", 10, MSG_NOSIGNAL), 10);
    close(rude);
    close(idle);
    cog_thread_online();
    expect("help\n", "commands:", "ok\n");
}

/* Several clients at once while a mutator churns cycles (tsan). */
static atomic_int stop_churn;

static void *churn(void *arg) {
    (void)arg;
    cog_thread_attach();
    while (!atomic_load(&stop_churn)) {
        for (int i = 0; i < 100; i++) test_make_cycle_garbage(i, i);
        cog_safepoint();
        cog_thread_offline();
        usleep(1000); /* keep the garbage within what one collector clears */
        cog_thread_online();
    }
    cog_thread_detach();
    return NULL;
}

static void *client_thread(void *arg) {
    long id = (long)arg;
    static const char *cmds[] = {"stats\n", "collect 0\n", "threshold 500 5 5\n", "top 3\n",
                                 "threshold\n", "gctrace off\n", "enable\n", "bogus\n"};
    for (int i = 0; i < 12; i++) {
        const char *c = cmds[(id + i) % 8];
        int fd = connect_to(sock);
        if (fd < 0) return (void *)1;
        if (send(fd, c, strlen(c), MSG_NOSIGNAL) != (ssize_t)strlen(c)) return (void *)2;
        shutdown(fd, SHUT_WR);
        char *r = read_all(fd);
        close(fd);
        size_t n = strlen(r);
        int okay = (n >= 3 && strcmp(r + n - 3, "ok\n") == 0) ||
                   (strcmp(c, "bogus\n") == 0 && strstr(r, "error: unknown command"));
        free(r);
        if (!okay) return (void *)3;
    }
    return NULL;
}

static void several_clients_at_once(void **state) {
    (void)state;
    atomic_store(&stop_churn, 0);
    pthread_t m, c[4];
    assert_int_equal(pthread_create(&m, NULL, churn, NULL), 0);
    for (long i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&c[i], NULL, client_thread, (void *)i), 0);
    cog_thread_offline();
    void *ret[4];
    for (int i = 0; i < 4; i++) pthread_join(c[i], &ret[i]);
    atomic_store(&stop_churn, 1);
    pthread_join(m, NULL);
    cog_thread_online();
    for (int i = 0; i < 4; i++) assert_null(ret[i]);
    cog_gc_collect(2);
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define NO_FORK 1
#endif

static void other_users_are_refused(void **state) {
    (void)state;
#ifdef NO_FORK
    skip();
#else
    if (geteuid() != 0) skip(); /* needs a second user id */
    pid_t pid = fork();
    if (pid == 0) {
        if (setuid(65534) != 0) _exit(3);
        int fd = connect_to(sock);
        if (fd < 0) _exit(errno == EACCES ? 0 : 4); /* 0600 keeps it out */
        char buf[64] = {0};
        if (read(fd, buf, sizeof buf - 1) <= 0) _exit(5);
        _exit(strstr(buf, "permission denied") ? 0 : 6);
    }
    int status;
    cog_thread_offline();
    waitpid(pid, &status, 0);
    cog_thread_online();
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

/* ---- cogctl --------------------------------------------------------------- */

static const char *cogctl_path(void) {
    static const char *cands[] = {"tools/cogctl/cogctl", "bazel-bin/tools/cogctl/cogctl"};
    for (size_t i = 0; i < 2; i++)
        if (access(cands[i], X_OK) == 0) return cands[i];
    return NULL;
}

/* Run bin with args (NULL-terminated), stdin from in_path if not NULL;
 * return its exit status, stdout in *out (stderr is the test's). */
static int run_prog(const char *bin, const char *const *args, const char *in_path, char **out) {
    char outpath[] = "/tmp/cogctl-out-XXXXXX";
    int ofd = mkstemp(outpath);
    assert_true(ofd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, ofd, 1);
    if (in_path) posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)bin;
    for (; args[n - 1]; n++) argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    pid_t pid;
    cog_thread_offline();
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    int status = 0;
    if (rc == 0) waitpid(pid, &status, 0);
    cog_thread_online();
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    lseek(ofd, 0, SEEK_SET);
    *out = read_all(ofd);
    close(ofd);
    unlink(outpath);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int run_cogctl(const char *const *args, char **out) {
    const char *bin = cogctl_path();
    if (!bin) fail_msg("cogctl binary not found");
    return run_prog(bin, args, NULL, out);
}

static void cogctl_prints_replies_and_exits_with_status(void **state) {
    (void)state;
    char *out;
    const char *help[] = {sock, "help", NULL};
    assert_int_equal(run_cogctl(help, &out), 0);
    assert_non_null(strstr(out, "commands:"));
    assert_null(strstr(out, "ok")); /* the terminating line is not printed */
    free(out);
    const char *thr[] = {sock, "threshold", "900", "7", "8", NULL};
    assert_int_equal(run_cogctl(thr, &out), 0);
    free(out);
    long t[3];
    cog_gc_get_threshold(t);
    assert_int_equal(t[0], 900);
    assert_int_equal(t[2], 8);
    const char *bad[] = {sock, "threshold", "-5", NULL};
    assert_int_equal(run_cogctl(bad, &out), 1);
    free(out);
    const char *unknown[] = {sock, "frobnicate", NULL};
    assert_int_equal(run_cogctl(unknown, &out), 1);
    free(out);
    const char *usage[] = {sock, NULL};
    assert_int_equal(run_cogctl(usage, &out), 2);
    free(out);
    const char *nosock[] = {"/tmp/cog-no-such-socket", "stats", NULL};
    assert_int_equal(run_cogctl(nosock, &out), 2);
    free(out);
    const char *stats[] = {sock, "stats", NULL};
    assert_int_equal(run_cogctl(stats, &out), 0);
    assert_non_null(strstr(out, "threshold 900 7 8"));
    free(out);
}

/* ---- serving many clients, stuck ones and slow commands ------------------- */

static uint64_t ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read one complete reply (up to its "ok" or "error:" line) from a
 * connection left open, waiting at most timeout_ms; NULL on timeout or
 * EOF before the end. Call offline. */
static char *read_reply(int fd, int timeout_ms) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    uint64_t deadline = ms_now() + (uint64_t)timeout_ms;
    for (;;) {
        buf[len] = '\0';
        if (len > 0 && buf[len - 1] == '\n') {
            char *last = buf + len - 1;
            while (last > buf && last[-1] != '\n') last--;
            if (strcmp(last, "ok\n") == 0 || strncmp(last, "error:", 6) == 0) return buf;
        }
        uint64_t now = ms_now();
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (now >= deadline || poll(&pf, 1, (int)(deadline - now)) <= 0 || len + 1 >= cap) break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    free(buf);
    return NULL;
}

/* A fresh connection asks `stats`; fails unless the whole reply arrives
 * within timeout_ms. Call offline. */
static void stats_within(int timeout_ms) {
    uint64_t t0 = ms_now();
    int fd = connect_to(sock);
    if (fd < 0) fail_msg("connect: %s", strerror(errno));
    assert_int_equal(send(fd, "stats\n", 6, MSG_NOSIGNAL), 6);
    char *r = read_reply(fd, timeout_ms);
    uint64_t took = ms_now() - t0;
    close(fd);
    if (!r) fail_msg("no complete stats reply within %d ms", timeout_ms);
    if (!strstr(r, "enabled ") || strcmp(r + strlen(r) - 3, "ok\n") != 0)
        fail_msg("stats reply after %llu ms:\n%s", (unsigned long long)took, r);
    free(r);
}

static int fds_available(int need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur >= (rlim_t)need) return 1;
    if (rl.rlim_max < (rlim_t)need) return 0;
    rl.rlim_cur = (rlim_t)need;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

#define IDLE_CLIENTS 300

/* Issue 16: 300 idle connections used to make every new one fail until
 * they timed out. They are all served now, and a newcomer too. */
static void many_idle_clients_do_not_lock_out_an_operator(void **state) {
    (void)state;
    if (!fds_available(2 * IDLE_CLIENTS + 64)) skip();
    int idle[IDLE_CLIENTS];
    cog_thread_offline();
    for (int i = 0; i < IDLE_CLIENTS; i++) {
        idle[i] = connect_to(sock);
        if (idle[i] < 0) fail_msg("connection %d: %s", i, strerror(errno));
    }
    stats_within(2000);
    /* The idle ones were accepted, not refused: the first and the last
     * still get replies on their connection. */
    int probe[] = {0, IDLE_CLIENTS / 2, IDLE_CLIENTS - 1};
    for (int k = 0; k < 3; k++) {
        int fd = idle[probe[k]];
        assert_int_equal(send(fd, "help\n", 5, MSG_NOSIGNAL), 5);
        char *r = read_reply(fd, 2000);
        if (!r || !strstr(r, "commands:") || strcmp(r + strlen(r) - 3, "ok\n") != 0)
            fail_msg("idle client %d: %s", probe[k], r ? r : "(no reply)");
        free(r);
    }
    for (int i = 0; i < IDLE_CLIENTS; i++) close(idle[i]);
    cog_thread_online();
}

/* Past COG_CONTROL_MAX_CLIENTS the longest idle client makes room. */
static void at_capacity_the_longest_idle_client_is_evicted(void **state) {
    (void)state;
    enum { N = COG_CONTROL_MAX_CLIENTS + 8 };
    if (!fds_available(2 * N + 64)) skip();
    int *fd = malloc(N * sizeof *fd);
    cog_thread_offline();
    for (int i = 0; i < N; i++) {
        fd[i] = connect_to(sock);
        if (fd[i] < 0) fail_msg("connection %d: %s", i, strerror(errno));
    }
    stats_within(3000);
    /* The first connection, idle the longest, was told and closed. */
    char *r = read_reply(fd[0], 3000);
    if (!r || strcmp(r, "error: too many clients: closing the longest idle one\n") != 0)
        fail_msg("first client: %s", r ? r : "(no reply)");
    free(r);
    char b;
    assert_int_equal(read(fd[0], &b, 1), 0);
    /* The newest ones are served. */
    assert_int_equal(send(fd[N - 1], "help\n", 5, MSG_NOSIGNAL), 5);
    r = read_reply(fd[N - 1], 3000);
    if (!r || !strstr(r, "commands:")) fail_msg("newest client: %s", r ? r : "(no reply)");
    free(r);
    for (int i = 0; i < N; i++) close(fd[i]);
    free(fd);
    cog_thread_online();
}

#define RUDE_CLIENTS 4

/* Clients that send many commands and never read their replies: the
 * server stops reading them (back-pressure) instead of waiting on them, so
 * others are answered at once; the rude ones are neither served ahead of
 * others nor dropped before their idle timeout. */
static void clients_that_never_read_do_not_block_others(void **state) {
    (void)state;
    static char flood[65536];
    for (size_t i = 0; i + 6 <= sizeof flood; i += 6) memcpy(flood + i, "stats\n", 6);
    int rude[RUDE_CLIENTS];
    cog_thread_offline();
    for (int i = 0; i < RUDE_CLIENTS; i++) {
        rude[i] = connect_to(sock);
        assert_true(rude[i] >= 0);
        /* As much as the socket takes without waiting (it is never read). */
        ssize_t n = send(rude[i], flood, sizeof flood - sizeof flood % 6,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        assert_true(n > 0);
    }
    usleep(200 * 1000); /* let the server fill their buffers and stall */
    for (int k = 0; k < 3; k++) stats_within(2000);
    /* Still connected: a rude client gets its replies once it reads. */
    char head[64] = {0};
    struct pollfd pf = {.fd = rude[0], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 2000), 1);
    assert_true(read(rude[0], head, sizeof head - 1) > 0);
    if (strncmp(head, "enabled ", 8) != 0) fail_msg("rude client: %s", head);
    for (int i = 0; i < RUDE_CLIENTS; i++) close(rude[i]);
    cog_thread_online();
    expect("help\n", "commands:", "ok\n");
}

/* A collection held open by a gc callback: until the test releases it,
 * cog_gc_collect (so the `collect` command) cannot finish. */
static atomic_int collect_held, collect_release;

static void hold_collection(cog_gc_phase phase, const cog_gc_info *info, void *arg) {
    (void)info;
    (void)arg;
    if (phase != COG_GC_START || atomic_load(&collect_release)) return;
    atomic_store(&collect_held, 1);
    for (int i = 0; i < 1000 && !atomic_load(&collect_release); i++) usleep(10 * 1000);
    atomic_store(&collect_held, 0);
}

static void *send_collect(void *arg) {
    int fd = connect_to(sock);
    if (fd < 0) return NULL;
    /* Two commands at once: replies come in order. */
    const char *cmds = "collect 0\nhelp\n";
    if (send(fd, cmds, strlen(cmds), MSG_NOSIGNAL) != (ssize_t)strlen(cmds)) return NULL;
    shutdown(fd, SHUT_WR);
    *(char **)arg = read_all(fd);
    close(fd);
    return NULL;
}

/* A slow command (collect) runs off the server thread: other clients are
 * answered while it is still running. */
static void a_slow_command_does_not_delay_other_clients(void **state) {
    (void)state;
    atomic_store(&collect_held, 0);
    atomic_store(&collect_release, 0);
    assert_int_equal(cog_gc_callback_add(hold_collection, NULL), COG_OK);
    char *collect_reply = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_collect, &collect_reply), 0);
    cog_thread_offline();
    uint64_t deadline = ms_now() + 5000;
    while (!atomic_load(&collect_held) && ms_now() < deadline) usleep(1000);
    assert_int_equal(atomic_load(&collect_held), 1);
    stats_within(2000);
    char *r = ask_offline("threshold\n");
    /* Both answered while the collection is provably still held. (Not top
     * or metrics: their heap walk needs the collector, which is held.) */
    assert_int_equal(atomic_load(&collect_held), 1);
    atomic_store(&collect_release, 1);
    pthread_join(t, NULL);
    cog_thread_online();
    assert_string_equal(r, "threshold 2000 10 10\nok\n");
    free(r);
    assert_non_null(collect_reply);
    char *help = strstr(collect_reply, "ok\ncommands:");
    if (strncmp(collect_reply, "collected ", 10) != 0 || !help ||
        strcmp(collect_reply + strlen(collect_reply) - 3, "ok\n") != 0)
        fail_msg("collect then help, in order:\n%s", collect_reply);
    free(collect_reply);
    assert_int_equal(cog_gc_callback_remove(hold_collection, NULL), COG_OK);
}

/* ---- metrics (cog/metrics.h) ---------------------------------------------- */

#define LIVE_NODES 37
#define YOUNG_COLLECTIONS 5

static void *metrics_unattached(void *arg) {
    (void)arg;
    FILE *f = tmpfile();
    long rc = cog_metrics_write(f);
    fclose(f);
    return (void *)rc;
}

/* `cogctl metrics` output is checked by two real parsers: prometheus_client
 * (with the values set up here: tests/metrics_check.py) and promtool. */
static void metrics_are_valid_prometheus_text_with_real_values(void **state) {
    (void)state;
    assert_int_equal(cog_gc_set_threshold(1234, 5, 6), COG_OK);
    test_node *keep[LIVE_NODES];
    for (int i = 0; i < LIVE_NODES; i++) keep[i] = test_node_new(i);
    cog_object *words[3] = {cog_str_intern("metrics-a", 9), cog_str_intern("metrics-b", 9),
                            cog_str_intern("metrics-c", 9)};
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    uint64_t min_gen0 = st[0].collections + YOUNG_COLLECTIONS;
    for (int i = 0; i < YOUNG_COLLECTIONS; i++) assert_true(cog_gc_collect(0) >= 0);

    char *out;
    const char *args[] = {sock, "metrics", NULL};
    assert_int_equal(run_cogctl(args, &out), 0);
    assert_true(strncmp(out, "# HELP cog_gc_collections_total ", 32) == 0);
    assert_null(strstr(out, "\nok\n")); /* no protocol line in the text */
    assert_null(strstr(out, "error"));
    size_t len = strlen(out);
    assert_true(len > 0 && out[len - 1] == '\n' && out[len - 2] != '\n');
    char path[64];
    snprintf(path, sizeof path, "/tmp/cog-metrics-%d.prom", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(out, 1, len, f), len);
    fclose(f);
    free(out);

    char min[32], live[16];
    snprintf(min, sizeof min, "%llu", (unsigned long long)min_gen0);
    snprintf(live, sizeof live, "%d", LIVE_NODES);
    const char *check[] = {"tests/metrics_check.py", path, min, "Node", live,
                           "1234", "5", "6", "0", NULL};
    int rc = run_prog("/usr/bin/python3", check, NULL, &out);
    if (rc != 0) fail_msg("metrics_check.py (exit %d):\n%s", rc, out);
    free(out);
    const char *promtool[] = {"check", "metrics", NULL};
    rc = run_prog("/usr/bin/promtool", promtool, path, &out);
    if (rc != 0) fail_msg("promtool check metrics (exit %d):\n%s", rc, out);
    free(out);
    unlink(path);

    /* The C API writes the same families; its errors. */
    char *text = NULL;
    size_t size = 0;
    f = open_memstream(&text, &size);
    assert_int_equal(cog_metrics_write(f), COG_OK);
    fclose(f);
    assert_non_null(strstr(text, "\ncog_live_objects{type=\"Node\"} 37\n"));
    assert_non_null(strstr(text, "\ncog_gc_threshold{generation=\"0\"} 1234\n"));
    free(text);
    assert_int_equal(cog_metrics_write(NULL), COG_EINVAL);
    pthread_t t;
    void *ret;
    assert_int_equal(pthread_create(&t, NULL, metrics_unattached, NULL), 0);
    pthread_join(t, &ret);
    assert_int_equal((long)ret, COG_ENOTATTACHED);
    /* A caller's buffer too small for the text: cut, NUL-terminated. */
    char small[256];
    assert_int_equal(cog_control_execute("metrics", small, sizeof small), COG_OK);
    assert_int_equal(strlen(small), sizeof small - 1);
    expect("metrics now\n", NULL, "error: metrics takes no arguments\n");

    for (int i = 0; i < 3; i++) cog_decref(words[i]);
    for (int i = 0; i < LIVE_NODES; i++) cog_decref(&keep[i]->ob);
}

/* ---- cog_control_execute (no socket) -------------------------------------- */

static void execute_directly(void **state) {
    (void)state;
    char reply[512];
    assert_int_equal(cog_control_execute("threshold 321", reply, sizeof reply), COG_OK);
    assert_string_equal(reply, "ok\n");
    assert_int_equal(cog_control_execute("threshold", reply, sizeof reply), COG_OK);
    assert_string_equal(reply, "threshold 321 10 10\nok\n");
    assert_int_equal(cog_control_execute("collect 9", reply, sizeof reply), COG_EINVAL);
    assert_string_equal(reply, "error: collect: generation '9' is not 0, 1 or 2\n");
    assert_non_null(strstr(cog_last_error(), "generation '9'"));
    assert_int_equal(cog_control_execute(NULL, reply, sizeof reply), COG_EINVAL);
    /* A small buffer truncates but stays NUL-terminated. */
    char tiny[8];
    assert_int_equal(cog_control_execute("stats", tiny, sizeof tiny), COG_OK);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_int_equal(cog_control_execute("stats", NULL, 0), COG_OK);
    char longline[COG_CONTROL_MAX_LINE + 10];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    assert_int_equal(cog_control_execute(longline, reply, sizeof reply), COG_EINVAL);
    assert_string_equal(reply, "error: line too long (max 1024 bytes)\n");
}

/* ---- COG_CONTROL_SOCKET --------------------------------------------------- */

static void env_variable_starts_and_shutdown_stops(void **state) {
    (void)state;
    assert_int_equal(cog_control_stop(), COG_OK);
    assert_int_equal(cog_shutdown(), COG_OK);
    setenv("COG_CONTROL_SOCKET", sock, 1);
    assert_int_equal(cog_init(), COG_OK);
    unsetenv("COG_CONTROL_SOCKET");
    struct stat st;
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    expect("help\n", "commands:", "ok\n");
    assert_int_equal(cog_shutdown(), COG_OK); /* stops the server */
    assert_int_equal(stat(sock, &st), -1);
    /* A path that cannot be used: warning, cog_init still succeeds. */
    setenv("COG_CONTROL_SOCKET", "/", 1);
    fflush(stderr);
    assert_int_equal(cog_init(), COG_OK);
    unsetenv("COG_CONTROL_SOCKET");
    assert_int_equal(cog_control_stop(), COG_ESTATE);
    assert_int_equal(cog_control_start(sock), COG_OK); /* for teardown */
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(socket_is_owner_only_and_removed_at_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(stats_threshold_enable_gctrace, setup, teardown),
        cmocka_unit_test_setup_teardown(collect_and_top, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_and_malformed_input, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_line_is_refused_and_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(client_leaving_mid_command_and_idle_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(several_clients_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(many_idle_clients_do_not_lock_out_an_operator, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(at_capacity_the_longest_idle_client_is_evicted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(clients_that_never_read_do_not_block_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_slow_command_does_not_delay_other_clients, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(other_users_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(cogctl_prints_replies_and_exits_with_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(metrics_are_valid_prometheus_text_with_real_values,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(execute_directly, setup, teardown),
        cmocka_unit_test_setup_teardown(env_variable_starts_and_shutdown_stops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
