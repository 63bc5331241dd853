/* tests/fixture.h - the runtime's setup and teardown for cmocka test cases,
 * shared by the unit tests (tests/X_test.c):
 *
 *     TEST_CASE(case)         a fresh runtime around the case
 *     TEST_CASE_GC_OFF(case)  the same, automatic collection off
 *
 * Each case starts from a fresh runtime with every runtime-wide setting at
 * its default, whatever the case before it changed. */
#ifndef COG_TESTS_FIXTURE_H
#define COG_TESTS_FIXTURE_H

#include <pthread.h>
#include <sched.h> /* cpu_set_t (_GNU_SOURCE: .bazelrc) */
#include <stddef.h>
#include <stdint.h>

#include "cog/gc.h"

/* cog_init; the calling thread is attached. */
int test_setup(void **state);

/* test_setup, then cog_gc_disable: only the collections the case asks for
 * (cog_gc_collect) run, so counts and statistics are deterministic. */
int test_setup_gc_off(void **state);

/* Put back every setting a case may change (automatic collection on,
 * thresholds 2000/10/10, debug flags and trace off, pacing 64, duty cap 20,
 * slicing auto, allocation tracing and heap profiling stopped and cleared),
 * then cog_shutdown. Succeeds without doing anything if the runtime is not
 * running (a case that shut it down itself). */
int test_teardown(void **state);

/* A collection callback (cog_gc_callback_add) that sleeps *(const long *)arg
 * milliseconds at every collection's start, on the collector thread: it
 * slows the collector so that a mutator outruns it (pacing tests). */
void test_gc_sleep_at_start(cog_gc_phase phase, const cog_gc_info *info, void *arg);

/* The longest paced wait so far, over the generations (max_pause_ns). */
uint64_t test_gc_max_pause_ns(void);
/* The paced-wait statistics over the generations: the longest wait, the
 * longest less its run-queue delay, and that delay's total. */
typedef struct test_pause_stats {
    uint64_t max_ns, max_held_ns, preempted_ns;
} test_pause_stats;
test_pause_stats test_gc_pause_stats(void);

/* Time the calling thread has spent runnable but off the CPU, in ns (Linux
 * schedstat run_delay); 0 where the kernel does not report it. Timing
 * checks use it to tell the code's delays from a loaded machine's. */
unsigned long long test_thread_run_delay_ns(void);

/* Pins the calling thread to the CPU it is running on, after saving its
 * affinity mask in *saved (sched_setaffinity(0, sizeof *saved, saved)
 * puts it back); returns 0, or -1 with errno. For cases that need fewer
 * CPUs than threads. */
int test_pin_to_current_cpu(cpu_set_t *saved);

/* Start n threads running fn(args + i * size), i = 0..n-1. */
void test_start_threads(pthread_t *t, int n, void *(*fn)(void *), void *args, size_t size);

/* Join them, offline meanwhile: the caller blocks and must not hold up
 * grace periods. */
void test_join_threads(pthread_t *t, int n);

/* cmocka entries (include <cmocka.h> first). */
#define TEST_CASE(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
#define TEST_CASE_GC_OFF(f) cmocka_unit_test_setup_teardown(f, test_setup_gc_off, test_teardown)
#endif
