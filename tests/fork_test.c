/* tests/fork_test.c - fork() while mutator threads and collections run.
 *
 * The parent runs mutators (garbage cycles, hand-offs through shared
 * slots, intern churn) and a thread that collects continuously, and forks
 * several times meanwhile. Each child (one thread: the copy of the forking
 * thread) must find a working runtime: it is attached, reads the objects
 * the vanished threads left in the shared slots, allocates, builds and
 * collects cycles, interns strings, starts and joins an attached thread,
 * and shuts the runtime down without COG_EBUSY (the vanished threads were
 * detached for it). It exits 0; anything else (a failed check, a crash, a
 * deadlock caught by alarm()) fails the parent's test. The parent then
 * checks its own threads kept working across the forks and that every
 * node is freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/test_types.h"

#define NMUT 3
#define SLOTS 16

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static test_node *slots[SLOTS]; /* strong references, under slots_lock */
/* Medium (and now and then large) bytes objects, under slots_lock: their
 * pools belong to threads the child never sees. Byte i of one of length
 * n is (n + i) & 0xff. */
static cog_object *mslots[SLOTS];
/* Raw blocks (cog_mem_alloc) of 513-1024 bytes handed between threads:
 * their frees fill the mutators' raw-block LIFOs with blocks of others'
 * pools, which a child must empty for the threads that vanished. */
static unsigned char *rslots[SLOTS];
static size_t rsize[SLOTS];
static unsigned char pattern[48 * 1024 + 256]; /* pattern[k] = k & 0xff */

static cog_object *medium_bytes(size_t n) {
    return cog_bytes_new(pattern + (n & 0xff), n);
}

static int medium_ok(cog_object *o) {
    size_t n = cog_bytes_len(o);
    const unsigned char *d = cog_bytes_data(o);
    for (size_t i = 0; i < n; i += 97)
        if (d[i] != ((n + i) & 0xff)) return 0;
    return d[n - 1] == ((n + n - 1) & 0xff);
}
static atomic_int stop;
static atomic_long created, rounds_done;

static test_node *make(long v) {
    atomic_fetch_add(&created, 1);
    return test_node_new(v);
}

static void link_to(test_node *from, test_node *to) {
    cog_incref(&to->ob);
    cog_ref_store(&from->next, &to->ob);
}

static void *mutator(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    if (cog_thread_attach() != COG_OK) abort();
    while (!atomic_load(&stop)) {
        test_node *a = make(1), *b = make(2);
        link_to(a, b);
        link_to(b, a);
        cog_decref(&b->ob);
        cog_decref(&a->ob); /* garbage cycle */
        test_node *c = make(3), *d = make(4);
        link_to(c, d);
        link_to(d, c);
        cog_decref(&d->ob);
        int s = (int)(rand_r(&seed) % SLOTS);
        pthread_mutex_lock(&slots_lock);
        test_node *old = slots[s];
        slots[s] = c; /* a live cycle handed to whoever takes the slot */
        pthread_mutex_unlock(&slots_lock);
        if (old) cog_decref(&old->ob);
        unsigned r = (unsigned)rand_r(&seed);
        size_t mn = r % 16 == 0 ? 40000 + r % 8192 : 600 + r % 30000;
        cog_object *mb = medium_bytes(mn);
        if (!mb) abort();
        pthread_mutex_lock(&slots_lock);
        cog_object *mold = mslots[s];
        mslots[s] = mb;
        pthread_mutex_unlock(&slots_lock);
        cog_xdecref(mold);
        size_t rn = 513 + (size_t)rand_r(&seed) % 512;
        unsigned char *rb = test_raw_block(rn);
        if (!rb || test_raw_swap(&slots_lock, rslots, rsize, s, rb, rn)) abort();
        char key[16];
        int n = snprintf(key, sizeof key, "fork%u", rand_r(&seed) % 32);
        cog_object *str = cog_str_intern(key, (size_t)n);
        if (!str) abort();
        cog_decref(str);
        atomic_fetch_add(&rounds_done, 1);
        cog_safepoint();
        /* Back-pressure: keep the heap small so each child's full
         * collection (of everything it inherited) stays quick. */
        long count[COG_GC_GENERATIONS];
        cog_gc_get_count(count);
        if (count[0] > 2000) {
            struct timespec t = {0, 1000000};
            cog_thread_offline();
            nanosleep(&t, NULL);
            cog_thread_online();
        }
    }
    cog_thread_detach();
    return NULL;
}

static void *collector_driver(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) abort();
    for (int g = 0; !atomic_load(&stop); g++) {
        if (cog_gc_collect(g % 3) < 0) abort();
        cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

/* ---- the child: plain checks, exit status says which failed ------------ */

#define CHILD_CHECK(c, code)                                        \
    do {                                                            \
        if (!(c)) {                                                 \
            fprintf(stderr, "fork child: check failed: %s\n", #c);  \
            _exit(code);                                            \
        }                                                           \
    } while (0)

static void *child_thread(void *arg) {
    int *ok = arg;
    if (cog_thread_attach() != COG_OK) return NULL;
    test_node *n = test_node_new(5);
    cog_object *l = cog_list_new();
    *ok = l && cog_list_append(l, &n->ob) == COG_OK;
    cog_decref(&n->ob);
    cog_xdecref(l);
    cog_thread_detach();
    return NULL;
}

static void child_main(void) {
    alarm(20); /* a deadlock in the child fails the test instead of hanging it */
    CHILD_CHECK(cog_is_initialized(), 10);
    CHILD_CHECK(cog_thread_is_attached(), 11);
    /* Objects the vanished threads handed around are intact. */
    int inherited = 0;
    for (int i = 0; i < SLOTS; i++) {
        test_node *n = slots[i];
        if (!n) continue;
        CHILD_CHECK(n->canary == TEST_CANARY, 12);
        test_node *m = (test_node *)cog_ref_load(&n->next);
        CHILD_CHECK(m && m->canary == TEST_CANARY, 13);
        inherited++;
    }
    /* So are medium and large blocks; freeing them goes to pools of
     * threads that do not exist here, and new ones come from ours. */
    for (int i = 0; i < SLOTS; i++) {
        if (!mslots[i]) continue;
        CHILD_CHECK(medium_ok(mslots[i]), 21);
        cog_decref(mslots[i]);
        mslots[i] = NULL;
    }
    for (size_t n = 513; n < 48 * 1024; n = n * 5 / 4) {
        cog_object *b = medium_bytes(n);
        CHILD_CHECK(b && medium_ok(b), 22);
        cog_decref(b);
    }
    for (int i = 0; i < SLOTS; i++) {
        if (!rslots[i]) continue;
        CHILD_CHECK(test_raw_intact(rslots[i], rsize[i]), 23);
        cog_mem_free(rslots[i], rsize[i]);
        rslots[i] = NULL;
    }
    for (size_t n = 513; n <= 1024; n += 37) {
        unsigned char *p = test_raw_block(n), *q = test_raw_block(n);
        CHILD_CHECK(p && q && p != q && test_raw_intact(p, n) && test_raw_intact(q, n), 24);
        cog_mem_free(p, n);
        cog_mem_free(q, n);
    }
    /* Build and collect cycles. */
    long before = atomic_load(&test_node_deallocs);
    for (int i = 0; i < 100; i++) {
        test_node *a = test_node_new(i), *b = test_node_new(i);
        link_to(a, b);
        link_to(b, a);
        cog_decref(&b->ob);
        cog_decref(&a->ob);
    }
    /* Automatic collections (threshold 100) may take some first. */
    CHILD_CHECK(cog_gc_collect(2) >= 0, 14);
    cog_safepoint(); /* the collector's drops of our nodes were queued to us */
    CHILD_CHECK(atomic_load(&test_node_deallocs) - before >= 200, 15);
    /* Interning works and is canonical. */
    cog_object *s1 = cog_str_intern("child string", 12);
    cog_object *s2 = cog_str_intern("child string", 12);
    CHILD_CHECK(s1 && s1 == s2, 16);
    cog_decref(s1);
    cog_decref(s2);
    /* New threads attach and work. */
    int ok = 0;
    pthread_t t;
    CHILD_CHECK(pthread_create(&t, NULL, child_thread, &ok) == 0, 17);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
    CHILD_CHECK(ok, 18);
    /* Drop what we inherited; collect; shut down: nobody else is attached. */
    for (int i = 0; i < SLOTS; i++) cog_xdecref(slots[i] ? &slots[i]->ob : NULL);
    CHILD_CHECK(cog_gc_collect(2) >= 0, 19);
    int rc = cog_shutdown();
    if (rc != COG_OK) fprintf(stderr, "fork child: cog_shutdown: %s\n", cog_last_error());
    CHILD_CHECK(rc == COG_OK, 20);
    fprintf(stderr, "fork child: ok (%d inherited cycles)\n", inherited);
    _exit(0); /* skip the parent's atexit handlers (and LSan: the vanished
                 threads' stacks are not scanned in the child) */
}

/* sliced: every automatic collection is driven by the mutators, which
 * pacing makes assistants at once (collector/gc_slice.c), so forks come
 * while a sliced collection is in progress. */
static void run_forks(int sliced) {
    for (size_t k = 0; k < sizeof pattern; k++) pattern[k] = (unsigned char)k;
    atomic_store(&stop, 0);
    atomic_store(&created, 0);
    memset(slots, 0, sizeof slots);
    memset(mslots, 0, sizeof mslots);
    memset(rslots, 0, sizeof rslots);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_set_threshold(100, 2, 2), COG_OK);
    if (sliced) {
        assert_int_equal(cog_gc_set_slicing(COG_GC_SLICING_ALWAYS), COG_OK);
        assert_int_equal(cog_gc_set_pacing(1), COG_OK);
    }
    long base = atomic_load(&test_node_deallocs);
    pthread_t mut[NMUT], drv;
    for (int i = 0; i < NMUT; i++)
        assert_int_equal(pthread_create(&mut[i], NULL, mutator, (void *)(uintptr_t)(i + 1)), 0);
    assert_int_equal(pthread_create(&drv, NULL, collector_driver, NULL), 0);

    const int forks = (int)test_scale(4);
    for (int k = 0; k < forks; k++) {
        long r0 = atomic_load(&rounds_done);
        struct timespec ts = {0, 30 * 1000000};
        cog_thread_offline();
        nanosleep(&ts, NULL);
        cog_thread_online();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) child_main();
        int status = 0;
        cog_thread_offline();
        pid_t w = waitpid(pid, &status, 0);
        cog_thread_online();
        assert_int_equal(w, pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("fork child %d: %s %d", k, WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        /* The parent's threads went on after the fork. */
        for (int spin = 0; atomic_load(&rounds_done) == r0 && spin < 10000; spin++) {
            struct timespec t1 = {0, 1000000};
            cog_thread_offline();
            nanosleep(&t1, NULL);
            cog_thread_online();
        }
        assert_true(atomic_load(&rounds_done) > r0);
    }

    atomic_store(&stop, 1);
    cog_thread_offline();
    for (int i = 0; i < NMUT; i++) pthread_join(mut[i], NULL);
    pthread_join(drv, NULL);
    cog_thread_online();
    for (int i = 0; i < SLOTS; i++) cog_xdecref(slots[i] ? &slots[i]->ob : NULL);
    for (int i = 0; i < SLOTS; i++) {
        assert_true(!mslots[i] || medium_ok(mslots[i]));
        cog_xdecref(mslots[i]);
        assert_true(!rslots[i] || test_raw_intact(rslots[i], rsize[i]));
        cog_mem_free(rslots[i], rsize[i]);
    }
    assert_true(cog_gc_collect(2) >= 0);
    assert_true(cog_gc_collect(2) >= 0);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs) - base, atomic_load(&created));
    if (sliced) {
        cog_gc_gen_stats st[COG_GC_GENERATIONS];
        cog_gc_get_stats(st);
        assert_true(st[0].sliced + st[1].sliced + st[2].sliced > 0);
    }
    assert_int_equal(cog_gc_set_threshold(2000, 10, 10), COG_OK);
    assert_int_equal(cog_gc_set_slicing(COG_GC_SLICING_AUTO), COG_OK);
    assert_int_equal(cog_gc_set_pacing(64), COG_OK);
    assert_int_equal(cog_shutdown(), COG_OK);
}

static void fork_while_mutators_and_collections_run(void **state) {
    (void)state;
    run_forks(0);
}

static void fork_while_mutators_drive_sliced_collections(void **state) {
    (void)state;
    run_forks(1);
}

/* fork with the runtime not initialised, and in a child that never uses
 * cog, changes nothing. */
static void fork_without_runtime(void **state) {
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (cog_init() != COG_OK) _exit(1);
        if (cog_shutdown() != COG_OK) _exit(2);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fork_without_runtime),
        cmocka_unit_test(fork_while_mutators_and_collections_run),
        cmocka_unit_test(fork_while_mutators_drive_sliced_collections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
