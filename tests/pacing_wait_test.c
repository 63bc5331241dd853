/* tests/pacing_wait_test.c - how a paced mutator waits (collector/gc_pacing.c).
 *
 * Past twice the pacing limit, with no garbage to free and no scan share
 * to take, a mutator waits for the collection in progress. It spins on
 * its CPU when every thread that wants a CPU has one (it would otherwise
 * wait for the scheduler to give the CPU back), and sleeps when threads
 * outnumber the CPUs it may run on (the collector needs the CPU), or
 * once other processes' threads have taken its CPU from it. Either
 * way the young count stays bounded. The collector is slowed down by a
 * callback that sleeps at every collection's start, so the mutator
 * outruns it. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cog/metrics.h"

#include "collector/gc_internal.h"
#include "tests/fixture.h"
#include "tests/test_types.h"

enum { SLOW_START_MS = 20, THRESHOLD0 = 100, PACING = 4, CYCLES = 8000 };

static const long slow_start_ms = SLOW_START_MS;

typedef struct waits {
    cog_gc_wait_counts n;
    uint64_t max_pause_ns;
    test_pause_stats pause;  /* since the process began */
    uint64_t preempted_ns;   /* run-queue delay inside this run's waits */
    long max_young;
    double histogram_count, histogram_sum; /* the metrics' paced-wait histogram */
} waits;

/* The metrics' paced-wait histogram, _count or _sum (by `what`), summed
 * over the generations. */
static double wait_histogram(const char *what) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(cog_metrics_write(f), COG_OK);
    fclose(f);
    char key[64];
    snprintf(key, sizeof key, "cog_gc_paced_wait_seconds_%s{", what);
    double total = 0;
    for (char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
        char *v = strchr(p, ' ');
        assert_non_null(v);
        total += strtod(v + 1, NULL);
    }
    free(text);
    return total;
}

/* Makes cyclic garbage faster than the slowed collector frees it, with
 * pacing on; returns the waits it took and the highest young count. */
static waits outrun_the_collector(void) {
    assert_int_equal(cog_gc_callback_add(test_gc_sleep_at_start, (void *)&slow_start_ms),
                     COG_OK);
    assert_int_equal(cog_gc_set_threshold(THRESHOLD0, 10, 10), COG_OK);
    assert_int_equal(cog_gc_set_pacing(PACING), COG_OK);
    cog_gc_enable();
    waits w = {0};
    cog_gc_wait_counts n0;
    cog_gc_pacing_wait_counts(&n0);
    double count0 = wait_histogram("count"), sum0 = wait_histogram("sum");
    uint64_t preempted0 = test_gc_pause_stats().preempted_ns;
    w.max_young = test_make_garbage_max_young(CYCLES);
    cog_gc_pacing_wait_counts(&w.n);
    w.histogram_count = wait_histogram("count") - count0;
    w.histogram_sum = wait_histogram("sum") - sum0;
    w.n.spun -= n0.spun;
    w.n.slept -= n0.slept;
    w.n.crowded -= n0.crowded;
    w.max_pause_ns = test_gc_max_pause_ns();
    w.pause = test_gc_pause_stats();
    w.preempted_ns = w.pause.preempted_ns - preempted0;
    cog_gc_disable();
    assert_int_equal(cog_gc_callback_remove(test_gc_sleep_at_start, (void *)&slow_start_ms),
                     COG_OK);
    cog_gc_collect(2);
    return w;
}

/* Twice the limit (where waits start), a thread's unflushed batch, two
 * nodes per safe point while a wait ends early (garbage handed back),
 * with room for a sanitized build: twice that (as gc_api_test). */
static long young_bound(void) {
    return 2 * (2 * PACING * THRESHOLD0 + 64 + 2 * PACING * (SLOW_START_MS + 5));
}

static void spins_when_every_thread_has_a_cpu(void **state) {
    (void)state;
    /* This thread and the collector: two CPUs are enough. */
    if (cog_gc_cores() < 2) skip();
    waits w = outrun_the_collector();
    /* Not every one: a spinning wait that finds it was preempted (other
     * processes want the CPU too) makes the next waits sleep. */
    assert_true(w.n.spun > 0);
    assert_true(w.max_young <= young_bound());
    assert_true(w.max_pause_ns > 0); /* (gc_api_test bounds it) */
    /* Time off the CPU is taken out of a wait, never added. */
    assert_true(w.pause.max_held_ns > 0);
    assert_true(w.pause.max_held_ns <= w.pause.max_ns);
    /* Every wait is in the metrics' histogram, with its time. */
    assert_true(w.histogram_count == (double)(w.n.spun + w.n.slept));
    assert_true(w.histogram_sum > 0);
}

static atomic_int hogs_stop;

static void *hog(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&hogs_stop, memory_order_relaxed)) {
    }
    return NULL;
}

/* Threads cog does not attach (another process's, here unattached ones)
 * keep every CPU busy while this thread outruns the collector. cog's own
 * count sees only this thread and the collector, and spins; the scheduler
 * gives this thread's CPU to a hog, and the wait finds out (by its
 * run-queue delay, or without schedstat by having overrun its bound),
 * sleeps, and the next waits sleep without trying. */
static waits outrun_the_collector_beside_hogs(void) {
    long cores = cog_gc_cores();
    pthread_t t[16];
    atomic_store(&hogs_stop, 0);
    for (long i = 0; i < cores; i++) assert_int_equal(pthread_create(&t[i], NULL, hog, NULL), 0);
    waits w = outrun_the_collector();
    atomic_store(&hogs_stop, 1);
    for (long i = 0; i < cores; i++) pthread_join(t[i], NULL);
    return w;
}

static void sleeps_when_other_threads_keep_the_cpus_busy(void **state) {
    (void)state;
    long cores = cog_gc_cores();
    if (cores < 2 || cores > 16) skip();
    waits w = outrun_the_collector_beside_hogs();
    /* Spins that end early (garbage handed over, a scan share to take)
     * are not crowded; the others are, and the waits after them sleep. */
    assert_true(w.n.crowded > 0);
    assert_true(w.n.slept > w.n.crowded);
    assert_true(w.max_young <= young_bound());
    /* A crowded spin found at least CROWDED_NS (0.2 ms) of run-queue
     * delay: the statistics report it as preempted time, not as held. */
    if (test_thread_run_delay_ns() > 0) assert_true(w.preempted_ns >= 200000);
    assert_true(w.pause.max_held_ns <= w.pause.max_ns);
}

static void without_schedstat_an_overrun_spin_makes_waits_sleep(void **state) {
    (void)state;
    long cores = cog_gc_cores();
    if (cores < 2 || cores > 16) skip();
    /* No run-queue delay to read: a spin preempted by a hog is seen only
     * once it is over, by having taken 0.5 ms more than its bound. */
    cog_gc_test_hide_run_delay(1);
    waits w = outrun_the_collector_beside_hogs();
    cog_gc_test_hide_run_delay(0);
    assert_true(w.n.crowded > 0);
    assert_true(w.n.slept > w.n.crowded);
    assert_true(w.max_young <= young_bound());
    /* Nothing to take out: every wait counts whole. */
    assert_int_equal(w.preempted_ns, 0);
}

static void sleeps_when_threads_outnumber_cpus(void **state) {
    (void)state;
    /* Pinned to one CPU, this thread and the collector are two threads
     * wanting one CPU: the wait gives it to the collector. */
    cpu_set_t all;
    assert_int_equal(test_pin_to_current_cpu(&all), 0);
    assert_int_equal(cog_gc_cores(), 1);
    waits w = outrun_the_collector();
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    assert_true(w.n.slept > 0);
    assert_int_equal(w.n.spun, 0);
    assert_true(w.max_young <= young_bound());
    assert_true(w.max_pause_ns > 0);
    assert_true(w.histogram_count == (double)w.n.slept);
    assert_true(w.histogram_sum > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(spins_when_every_thread_has_a_cpu),
        TEST_CASE(sleeps_when_other_threads_keep_the_cpus_busy),
        TEST_CASE(without_schedstat_an_overrun_spin_makes_waits_sleep),
        TEST_CASE(sleeps_when_threads_outnumber_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
