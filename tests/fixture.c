/* tests/fixture.c - see fixture.h. */
#include "tests/fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <time.h>
#include <cmocka.h>

#include "cog/cog.h"
#include "collector/gc_internal.h"

int test_pin_to_current_cpu(cpu_set_t *saved) {
    if (sched_getaffinity(0, sizeof *saved, saved) != 0) return -1;
    cpu_set_t one;
    CPU_ZERO(&one);
    int cpu = sched_getcpu();
    CPU_SET(cpu >= 0 ? cpu : 0, &one);
    return sched_setaffinity(0, sizeof one, &one);
}

test_pause_stats test_gc_pause_stats(void) {
    cog_gc_gen_stats st[COG_GC_GENERATIONS];
    cog_gc_get_stats(st);
    test_pause_stats p = {0};
    for (int g = 0; g < COG_GC_GENERATIONS; g++) {
        if (st[g].max_pause_ns > p.max_ns) p.max_ns = st[g].max_pause_ns;
        if (st[g].max_pause_held_ns > p.max_held_ns) p.max_held_ns = st[g].max_pause_held_ns;
        p.preempted_ns += st[g].pause_preempted_ns;
    }
    return p;
}

uint64_t test_gc_max_pause_ns(void) { return test_gc_pause_stats().max_ns; }

unsigned long long test_thread_run_delay_ns(void) {
    int64_t delay = cog_gc_thread_run_delay_ns();
    return delay < 0 ? 0 : (unsigned long long)delay;
}

void test_gc_sleep_at_start(cog_gc_phase phase, const cog_gc_info *info, void *arg) {
    (void)info;
    if (phase == COG_GC_START) {
        long ms = *(const long *)arg;
        struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&t, NULL);
    }
}

int test_setup(void **state) {
    (void)state;
    return cog_init() == COG_OK ? 0 : -1;
}

int test_setup_gc_off(void **state) {
    if (test_setup(state) != 0) return -1;
    cog_gc_disable();
    return 0;
}

int test_teardown(void **state) {
    (void)state;
    if (!cog_is_initialized()) return 0;
    /* The settings outlive cog_shutdown (they are process-wide), so a case
     * that changed one would leak it into the next. */
    cog_gc_enable();
    cog_gc_set_threshold(2000, 10, 10);
    cog_gc_set_debug(0);
    cog_gc_set_trace(0);
    cog_gc_set_pacing(64);
    cog_gc_set_duty_cap(20);
    cog_gc_set_slicing(COG_GC_SLICING_AUTO);
    cog_mem_trace_stop();
    cog_mem_trace_clear();
    cog_heap_profile_stop();
    cog_heap_profile_reset();
    return cog_shutdown() == COG_OK ? 0 : -1;
}

void test_start_threads(pthread_t *t, int n, void *(*fn)(void *), void *args, size_t size) {
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * size), 0);
}

void test_join_threads(pthread_t *t, int n) {
    cog_thread_offline();
    for (int i = 0; i < n; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    cog_thread_online();
}
