/* tests/gc_slicing_test.c - sliced collections (collector/gc_slice.c):
 * automatic collections driven by assistants at their safe points, the
 * collector thread serving their grace periods.
 *
 * COG_GC_SLICING_ALWAYS with a small pacing limit makes every automatic
 * collection sliced and the mutators assistants, whatever the machine's
 * core count. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "collector/gc_internal.h"
#include "tests/fixture.h"
#include "tests/test_types.h"

enum { THRESHOLD0 = 200, PACING = 1, KEEP = 16 };

static void slicing_always(void) {
    assert_int_equal(cog_gc_set_slicing(COG_GC_SLICING_ALWAYS), COG_OK);
    assert_int_equal(cog_gc_set_pacing(PACING), COG_OK);
    assert_int_equal(cog_gc_set_threshold(THRESHOLD0, 10, 10), COG_OK);
}

static uint64_t sliced_collections(void) {
    cog_gc_gen_stats st[COG_GC_GENERATIONS];
    cog_gc_get_stats(st);
    return st[0].sliced + st[1].sliced + st[2].sliced;
}

static void test_mode_api(void **state) {
    (void)state;
    assert_int_equal(cog_gc_get_slicing(), COG_GC_SLICING_AUTO);
    assert_int_equal(cog_gc_set_slicing(COG_GC_SLICING_OFF), COG_OK);
    assert_int_equal(cog_gc_get_slicing(), COG_GC_SLICING_OFF);
    assert_int_equal(cog_gc_set_slicing(3), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "cog_gc_set_slicing"));
    assert_int_equal(cog_gc_set_slicing(-1), COG_EINVAL);
    assert_int_equal(cog_gc_get_slicing(), COG_GC_SLICING_OFF);
    assert_int_equal(cog_gc_set_slicing(COG_GC_SLICING_ALWAYS), COG_OK);
    assert_int_equal(cog_gc_get_slicing(), COG_GC_SLICING_ALWAYS);
}

/* Each worker makes cyclic garbage and keeps KEEP reachable rings whose
 * canaries it checks: a sliced collection must free the one and never
 * the other. */
typedef struct worker {
    long rounds;
    pthread_mutex_t *held; /* if set: taken around each safe point */
    atomic_int *stop;      /* if set: run until it is set */
} worker;

static void *work(void *arg) {
    worker *w = arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    test_node *keep[KEEP] = {0};
    for (long r = 0; w->stop ? !atomic_load(w->stop) : r < w->rounds; r++) {
        test_make_cycle_garbage(r, -r);
        if ((r & 7) == 0) {
            int k = (int)((r >> 3) % KEEP);
            if (keep[k]) cog_decref(&keep[k]->ob);
            keep[k] = test_make_cycle(r, r);
        }
        for (int k = 0; k < KEEP; k++)
            if (keep[k]) {
                assert_int_equal(keep[k]->canary, TEST_CANARY);
                test_node *b = (test_node *)cog_ref_load(&keep[k]->next);
                assert_int_equal(b->canary, TEST_CANARY);
            }
        if (w->held) pthread_mutex_lock(w->held);
        cog_safepoint();
        if (w->held) pthread_mutex_unlock(w->held);
    }
    for (int k = 0; k < KEEP; k++) cog_xdecref(keep[k] ? &keep[k]->ob : NULL);
    cog_thread_detach();
    return NULL;
}

static void run_workers(worker *w, int n) {
    pthread_t t[4];
    test_start_threads(t, n, work, w, sizeof *w);
    test_join_threads(t, n);
}

/* Every node made is freed once everything is dropped. */
static void assert_all_freed(long before, long made) {
    cog_gc_collect(2);
    cog_gc_collect(2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs) - before, made);
}

static void test_assistants_drive_collections(void **state) {
    (void)state;
    slicing_always();
    long before = atomic_load(&test_node_deallocs);
    uint64_t sliced0 = sliced_collections(), slices0 = cog_gc_slice_mutator_slices();
    enum { ROUNDS = 20000 };
    worker w[2] = {{.rounds = ROUNDS}, {.rounds = ROUNDS}};
    run_workers(w, 2);
    /* Made: two garbage nodes per round, two kept per 8 rounds. */
    long made = 2 * (2L * ROUNDS + 2L * ((ROUNDS + 7) / 8));
    assert_true(sliced_collections() > sliced0);
    assert_true(cog_gc_slice_mutator_slices() > slices0);
    assert_all_freed(before, made);
}

/* A thread blocked *online* on a lock that an assistant holds across its
 * safe point stalls grace periods (cog/runtime.h allows that). The
 * assistant's slices must not wait for one themselves, or neither thread
 * would ever go on. */
static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;

static void *blocked_online(void *arg) {
    atomic_int *stop = arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    while (!atomic_load(stop)) {
        pthread_mutex_lock(&app_lock); /* online: no cog_thread_offline */
        test_make_cycle_garbage(1, 2);
        pthread_mutex_unlock(&app_lock);
        cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void test_no_deadlock_with_online_blocked_thread(void **state) {
    (void)state;
    slicing_always();
    atomic_int stop = 0;
    pthread_t b;
    test_start_threads(&b, 1, blocked_online, &stop, 0);
    uint64_t slices0 = cog_gc_slice_mutator_slices();
    worker w = {.rounds = 30000, .held = &app_lock};
    run_workers(&w, 1);
    atomic_store(&stop, 1);
    test_join_threads(&b, 1);
    assert_true(cog_gc_slice_mutator_slices() > slices0);
}

/* Sliced, pacing still bounds the young generation: a paced thread waits
 * past three times the limit. Bound: that, each thread's unflushed batch,
 * two nodes per safe point that returned early, with room for a sanitized
 * build: twice that (as gc_api_test). Unpaced, the count runs to tens of
 * thousands. */
typedef struct young_worker {
    long cycles, max_young;
} young_worker;

static void *make_young(void *arg) {
    young_worker *w = arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    w->max_young = test_make_garbage_max_young(w->cycles);
    cog_thread_detach();
    return NULL;
}

static void test_pacing_still_bounds_the_young_count(void **state) {
    (void)state;
    enum { T0 = 100, FACTOR = 4, THREADS = 2 };
    assert_int_equal(cog_gc_set_slicing(COG_GC_SLICING_ALWAYS), COG_OK);
    assert_int_equal(cog_gc_set_threshold(T0, 10, 10), COG_OK);
    assert_int_equal(cog_gc_set_pacing(FACTOR), COG_OK);
    uint64_t sliced0 = sliced_collections();
    young_worker w[THREADS] = {{.cycles = 20000}, {.cycles = 20000}};
    pthread_t t[THREADS];
    test_start_threads(t, THREADS, make_young, w, sizeof *w);
    test_join_threads(t, THREADS);
    long bound = 2 * (3 * FACTOR * T0 + THREADS * 64 + THREADS * 2 * FACTOR * 25);
    for (int i = 0; i < THREADS; i++) assert_true(w[i].max_young <= bound);
    assert_true(sliced_collections() > sliced0);
}

/* cog_gc_collect while assistants drive: it ends the sliced loop after
 * its collection (the collector thread finishes it) and then runs. */
static void test_collect_while_sliced(void **state) {
    (void)state;
    slicing_always();
    atomic_int stop = 0;
    worker w[2] = {{.stop = &stop}, {.stop = &stop}};
    pthread_t t[2];
    test_start_threads(t, 2, work, w, sizeof *w);
    uint64_t sliced0 = sliced_collections();
    struct timespec pause = {0, 2000000};
    int collects = 0;
    for (int i = 0; i < 1000 && (sliced_collections() < sliced0 + 3 || collects < 20); i++) {
        cog_thread_offline();
        nanosleep(&pause, NULL);
        cog_thread_online();
        test_make_cycle_garbage(5, 6);
        assert_true(cog_gc_collect(0) >= 0); /* automatic ones may take the cycle first */
        collects++;
    }
    assert_true(sliced_collections() >= sliced0 + 3);
    atomic_store(&stop, 1);
    test_join_threads(t, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(test_mode_api),
        TEST_CASE(test_assistants_drive_collections),
        TEST_CASE(test_no_deadlock_with_online_blocked_thread),
        TEST_CASE(test_pacing_still_bounds_the_young_count),
        TEST_CASE(test_collect_while_sliced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
