/* tests/rss_spike_test.c - memory goes back to the OS after a spike.
 *
 * A thread attaches, builds a 2 M-node cycle (about 128 MiB of arenas),
 * drops it, collects, detaches and exits; the process then idles. Its
 * resident set must come back near where it started: the exited thread's
 * pools and arenas, the garbage's blocks and the collector's scan arrays
 * (sized for the spike, freed when the collector idles, collector/
 * gc_thread.c "Idle trim") must all be given back.
 *
 * Default config only: under ASan freed memory sits in the quarantine, and
 * TSan's shadow memory is not given back, so RSS says nothing there. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

enum { SPIKE_NODES = 2000000 };
/* What may stay: the arena cache (empty arenas kept for reuse), the
 * runtime's tables, glibc's arenas' slack. */
#define RSS_SLACK_KIB (16L * 1024)

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
    fclose(f);
    return v;
}

static long peak_kib;

static void *spike(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) abort();
    test_node *first = test_node_new(0), *prev = first;
    for (long i = 1; i < SPIKE_NODES; i++) {
        test_node *n = test_node_new(i);
        cog_ref_store(&prev->next, &n->ob); /* gives n's reference away */
        prev = n;
    }
    cog_incref(&first->ob);
    cog_ref_store(&prev->next, &first->ob); /* close the cycle */
    peak_kib = rss_kib();
    cog_decref(&first->ob);
    if (cog_gc_collect(2) != SPIKE_NODES) abort();
    cog_thread_detach();
    return NULL;
}

static void rss_returns_after_a_spike_in_an_exiting_thread(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip();
#endif
    long before = atomic_load(&test_node_deallocs);
    long base = rss_kib();
    assert_true(base > 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, spike, NULL), 0);
    cog_thread_offline(); /* the spike's collection waits for grace periods */
    pthread_join(t, NULL);
    /* The spike was real. */
    assert_true(peak_kib > base + 100L * 1024);
    assert_int_equal(atomic_load(&test_node_deallocs) - before, SPIKE_NODES);
    /* Idle: within a few seconds everything is back. */
    long now = rss_kib();
    for (int i = 0; i < 50 && now > base + RSS_SLACK_KIB; i++) {
        struct timespec ms = {0, 100 * 1000000L};
        nanosleep(&ms, NULL);
        now = rss_kib();
    }
    cog_thread_online();
    printf("rss_spike: start %ld KiB, peak %ld KiB, after %ld KiB\n", base, peak_kib, now);
    assert_true(now <= base + RSS_SLACK_KIB);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE_GC_OFF(rss_returns_after_a_spike_in_an_exiting_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
