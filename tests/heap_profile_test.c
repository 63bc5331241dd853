/* tests/heap_profile_test.c - the sampled heap profile (cog/heap_profile.h):
 * exact figures when every allocation is sampled, unbiased estimates when
 * sampling, samples leaving with their objects (also freed by another
 * thread, and by the collector), reset and stop, snapshot comparison by
 * type and by stack, and the pprof and folded formats. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"
#include "lib/core/heap_profile.h"

enum { NODE_BYTES = sizeof(test_node) };

/* Allocations from a function of their own, so they have their own stack. */
__attribute__((noinline)) void heap_test_allocate(test_node **out, long n) {
    for (long i = 0; i < n; i++) out[i] = test_node_new(i);
}

static void drop(test_node **v, long from, long to) {
    for (long i = from; i < to; i++) cog_decref(&v[i]->ob);
}

/* The BY_STACK line of `type_name` in newer (compared with nothing). */
static cog_heap_stat stack_line(const cog_heap_snapshot *s, const char *type_name) {
    cog_heap_stat v[64];
    long n = cog_heap_snapshot_compare(NULL, s, COG_HEAP_BY_STACK, v, 64);
    assert_true(n >= 0);
    cog_heap_stat sum = {0};
    for (long i = 0; i < n && i < 64; i++)
        if (!strcmp(v[i].type_name, type_name)) {
            sum.count += v[i].count, sum.bytes += v[i].bytes;
            sum.depth = v[i].depth;
        }
    return sum;
}

static void off_by_default_and_records_nothing(void **state) {
    (void)state;
    assert_int_equal(cog_heap_profile_interval(), 0);
    test_node *v[100];
    heap_test_allocate(v, 100);
    cog_heap_snapshot *s = cog_heap_snapshot_take();
    assert_non_null(s);
    assert_true(stack_line(s, "Node").count == 0);
    cog_heap_snapshot_free(s);
    drop(v, 0, 100);
}

static void every_allocation_sampled_is_exact_and_frees_leave(void **state) {
    (void)state;
    enum { N = 1000 };
    static test_node *v[N];
    cog_heap_profile_reset();
    assert_int_equal(cog_heap_profile_start(1), COG_OK);
    assert_int_equal(cog_heap_profile_interval(), 1);
    heap_test_allocate(v, N);
    cog_heap_snapshot *a = cog_heap_snapshot_take();
    cog_heap_stat l = stack_line(a, "Node");
    assert_true(l.count == N);
    assert_true(l.bytes == (double)N * NODE_BYTES);
    assert_true(l.depth >= 2); /* heap_test_allocate and its callers */

    drop(v, 0, N / 2);
    cog_heap_snapshot *b = cog_heap_snapshot_take();
    assert_true(stack_line(b, "Node").count == N / 2);
    /* The comparison sees the freed half go, exactly, by type too. */
    cog_heap_stat d[16];
    long n = cog_heap_snapshot_compare(a, b, COG_HEAP_BY_TYPE, d, 16);
    assert_true(n >= 1);
    assert_string_equal(d[0].type_name, "Node");
    assert_true(d[0].count_diff == -(N / 2));
    assert_true(d[0].bytes_diff == -(double)(N / 2) * NODE_BYTES);

    /* pprof: live N/2, allocated N, on one stack line. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(cog_heap_snapshot_write_pprof(b, f), COG_OK);
    fclose(f);
    char expect[128];
    snprintf(expect, sizeof expect, "%d: %d [%d: %d] @ 0x", N / 2, N / 2 * NODE_BYTES, N,
             N * NODE_BYTES);
    assert_non_null(strstr(text, "heap profile: "));
    assert_non_null(strstr(text, expect));
    assert_non_null(strstr(text, "\nMAPPED_LIBRARIES:\n"));
    free(text);

    /* Folded: the live bytes, the type as the leaf. */
    f = open_memstream(&text, &len);
    assert_int_equal(cog_heap_snapshot_write_folded(b, f), COG_OK);
    fclose(f);
    snprintf(expect, sizeof expect, "[Node] %d\n", N / 2 * NODE_BYTES);
    assert_non_null(strstr(text, expect));
    free(text);

    cog_heap_snapshot_free(a);
    cog_heap_snapshot_free(b);
    drop(v, N / 2, N);
    cog_heap_profile_stop();
    assert_int_equal(cog_heap_profile_interval(), 0);
}

static void sampled_estimates_are_unbiased(void **state) {
    (void)state;
    enum { N = 200000 };
    test_node **v = malloc(N * sizeof *v);
    assert_non_null(v);
    cog_heap_profile_reset();
    /* ~N * 64 / 4096 = 3 000 samples: the estimate's standard error is
     * under 2 %; allow 10 %. */
    assert_int_equal(cog_heap_profile_start(4096), COG_OK);
    heap_test_allocate(v, N);
    cog_heap_snapshot *s = cog_heap_snapshot_take();
    cog_heap_stat l = stack_line(s, "Node");
    printf("heap_profile: %d allocated, estimated %.0f objects, %.0f bytes\n", N, l.count,
           l.bytes);
    assert_true(l.count > N * 0.9 && l.count < N * 1.1);
    assert_true(l.bytes > N * 0.9 * NODE_BYTES && l.bytes < N * 1.1 * NODE_BYTES);
    cog_heap_snapshot_free(s);
    cog_heap_profile_stop();
    drop(v, 0, N);
    free(v);
}

static void reset_forgets_and_stop_keeps(void **state) {
    (void)state;
    enum { N = 100 };
    test_node *v[N];
    cog_heap_profile_reset();
    assert_int_equal(cog_heap_profile_start(1), COG_OK);
    heap_test_allocate(v, N);
    cog_heap_profile_stop();
    /* Stopped: records stay, and frees still leave them. */
    cog_heap_snapshot *s = cog_heap_snapshot_take();
    assert_true(stack_line(s, "Node").count == N);
    cog_heap_snapshot_free(s);
    drop(v, 0, N / 2);
    s = cog_heap_snapshot_take();
    assert_true(stack_line(s, "Node").count == N / 2);
    cog_heap_snapshot_free(s);
    /* Reset: nothing left; freeing objects it forgot is harmless. */
    cog_heap_profile_reset();
    s = cog_heap_snapshot_take();
    assert_true(stack_line(s, "Node").count == 0);
    cog_heap_snapshot_free(s);
    drop(v, N / 2, N);
    assert_int_equal(cog_heap_profile_dropped(), 0);
}

/* Cyclic garbage freed by the collector leaves the profile too. */
static void collected_cycles_leave_the_profile(void **state) {
    (void)state;
    enum { N = 500 };
    static test_node *v[N];
    cog_heap_profile_reset();
    assert_int_equal(cog_heap_profile_start(1), COG_OK);
    heap_test_allocate(v, N);
    for (long i = 0; i < N; i++) {
        cog_incref(&v[(i + 1) % N]->ob);
        cog_ref_store(&v[i]->next, &v[(i + 1) % N]->ob);
    }
    drop(v, 0, N);
    assert_int_equal(cog_gc_collect(2), N);
    cog_safepoint();
    cog_heap_snapshot *s = cog_heap_snapshot_take();
    assert_true(stack_line(s, "Node").count == 0);
    cog_heap_snapshot_free(s);
    cog_heap_profile_stop();
}

/* Threads allocating and freeing each other's objects while sampled. */
typedef struct shared {
    test_node *slot[4096];
    pthread_barrier_t start;
} shared;

static void *cross_worker(void *arg) {
    shared *sh = arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    pthread_barrier_wait(&sh->start);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 4096; i++) {
            test_node *n = test_node_new(i);
            test_node *old = __atomic_exchange_n(&sh->slot[i], n, __ATOMIC_ACQ_REL);
            if (old) cog_decref(&old->ob); /* often another thread's */
        }
        cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void sampling_under_cross_thread_frees(void **state) {
    (void)state;
    static shared sh;
    memset(sh.slot, 0, sizeof sh.slot);
    pthread_barrier_init(&sh.start, NULL, 3);
    cog_heap_profile_reset();
    assert_int_equal(cog_heap_profile_start(1), COG_OK);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, cross_worker, &sh), 0);
    cog_thread_offline();
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    cog_thread_online();
    pthread_barrier_destroy(&sh.start);
    cog_heap_snapshot *s = cog_heap_snapshot_take();
    assert_true(stack_line(s, "Node").count == 4096); /* the slots' */
    cog_heap_snapshot_free(s);
    for (int i = 0; i < 4096; i++) cog_decref(&sh.slot[i]->ob);
    cog_safepoint();
    s = cog_heap_snapshot_take();
    assert_true(stack_line(s, "Node").count == 0);
    cog_heap_snapshot_free(s);
    cog_heap_profile_stop();
    assert_int_equal(cog_heap_profile_dropped(), 0);
}

/* The control protocol's heap command (cogctl SOCKET heap ...). */
static void control_heap_commands(void **state) {
    (void)state;
    enum { N = 300 };
    static test_node *v[N];
    static char reply[16384];
    assert_int_equal(cog_control_execute("heap start 1", reply, sizeof reply), COG_OK);
    assert_string_equal(reply, "interval 1\nok\n");
    assert_int_equal(cog_control_execute("heap diff", reply, sizeof reply), COG_ESTATE);
    assert_non_null(strstr(reply, "error: heap diff: no baseline"));
    assert_int_equal(cog_control_execute("heap snapshot", reply, sizeof reply), COG_OK);
    heap_test_allocate(v, N);
    assert_int_equal(cog_control_execute("heap diff type 3", reply, sizeof reply), COG_OK);
    /* The first line after the header: the N new Nodes. */
    char expect[128];
    snprintf(expect, sizeof expect, "%+12d  Node\n", N);
    assert_non_null(strstr(reply, expect));
    assert_int_equal(cog_control_execute("heap diff stack", reply, sizeof reply), COG_OK);
    assert_non_null(strstr(reply, "Node"));

    char path[64], cmd[128];
    snprintf(path, sizeof path, "/tmp/cog-heap-test-%d.heap", (int)getpid());
    snprintf(cmd, sizeof cmd, "heap pprof %s", path);
    assert_int_equal(cog_control_execute(cmd, reply, sizeof reply), COG_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_true(!strncmp(line, "heap profile: ", 14));
    fclose(f);
    unlink(path);
    assert_int_equal(cog_control_execute("heap pprof /nonexistent-dir/x", reply, sizeof reply),
                     COG_EINVAL);
    assert_int_equal(cog_control_execute("heap start x", reply, sizeof reply), COG_EINVAL);
    assert_int_equal(cog_control_execute("heap frobnicate", reply, sizeof reply), COG_EINVAL);
    assert_int_equal(cog_control_execute("heap", reply, sizeof reply), COG_OK);
    assert_non_null(strstr(reply, "interval 1 dropped 0 baseline yes"));
    assert_int_equal(cog_control_execute("heap stop", reply, sizeof reply), COG_OK);
    assert_int_equal(cog_heap_profile_interval(), 0);
    drop(v, 0, N);
}

/* fork while another thread is in the middle of a sample (holding the
 * profiler's lock, lib/core/heap_profile.c): the child must not inherit
 * the lock held, or its first sample waits forever. TSan does not support
 * a threaded process's child starting threads: skipped there. */
static void *hold_lock(void *arg) {
    (void)arg;
    cog__heap_profile_test_hold(200);
    return NULL;
}

static void fork_while_a_sample_holds_the_lock(void **state) {
    (void)state;
#if defined(__SANITIZE_THREAD__)
    skip();
#endif
    cog_heap_profile_reset();
    assert_int_equal(cog_heap_profile_start(1), COG_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_lock, NULL), 0);
    struct timespec ms = {0, 50 * 1000000L};
    nanosleep(&ms, NULL); /* the holder has the lock by now */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10); /* a deadlock fails the case instead of hanging it */
        test_node *v[100];
        heap_test_allocate(v, 100);
        cog_heap_snapshot *s = cog_heap_snapshot_take();
        int ok = s && stack_line(s, "Node").count >= 100;
        drop(v, 0, 100);
        _exit(ok ? 0 : 1);
    }
    int status;
    cog_thread_offline();
    assert_int_equal(waitpid(pid, &status, 0), pid);
    pthread_join(t, NULL);
    cog_thread_online();
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cog_heap_profile_stop();
}

static void bad_arguments(void **state) {
    (void)state;
    cog_heap_snapshot *s = cog_heap_snapshot_take();
    assert_int_equal(cog_heap_snapshot_compare(s, NULL, COG_HEAP_BY_TYPE, NULL, 0), COG_EINVAL);
    assert_int_equal(cog_heap_snapshot_compare(NULL, s, (cog_heap_key)7, NULL, 0), COG_EINVAL);
    assert_int_equal(cog_heap_snapshot_write_pprof(NULL, stdout), COG_EINVAL);
    assert_int_equal(cog_heap_snapshot_write_folded(s, NULL), COG_EINVAL);
    assert_int_equal(cog_heap_snapshot_print_compare(NULL, NULL, s, COG_HEAP_BY_TYPE, 1), COG_EINVAL);
    cog_heap_snapshot_free(s);
    cog_heap_snapshot_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE_GC_OFF(off_by_default_and_records_nothing),
        TEST_CASE_GC_OFF(every_allocation_sampled_is_exact_and_frees_leave),
        TEST_CASE_GC_OFF(sampled_estimates_are_unbiased),
        TEST_CASE_GC_OFF(reset_forgets_and_stop_keeps),
        TEST_CASE_GC_OFF(collected_cycles_leave_the_profile),
        TEST_CASE_GC_OFF(sampling_under_cross_thread_frees),
        TEST_CASE_GC_OFF(control_heap_commands),
        TEST_CASE_GC_OFF(fork_while_a_sample_holds_the_lock),
        TEST_CASE_GC_OFF(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
