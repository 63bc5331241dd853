/* tests/gc_api_test.c - collector semantics and control API: finalizers
 * (PEP 442), resurrection, uncollectable types, SAVEALL, the garbage list,
 * callbacks, thresholds and automatic collection, freeze. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static void link_nodes(test_node *from, test_node *to) {
    cog_incref(&to->ob);
    cog_ref_store(&from->next, &to->ob);
}

/* A Node type whose finalizer counts runs and can resurrect its object
 * into a global. */
static atomic_int finalized;
static cog_object *resurrected;
static int resurrect;

static void fin_node_finalize(cog_object *self) {
    atomic_fetch_add(&finalized, 1);
    if (resurrect && !resurrected) {
        cog_incref(self);
        resurrected = self;
    }
}

static cog_type fin_node_type;
static cog_type uncollectable_type;

static test_node *new_typed(const cog_type *t) {
    test_node *n = (test_node *)cog_new(t);
    if (!n) abort();
    n->canary = TEST_CANARY;
    return n;
}

static void make_cycle(const cog_type *ta, const cog_type *tb) {
    test_node *a = new_typed(ta), *b = new_typed(tb);
    link_nodes(a, b);
    link_nodes(b, a);
    cog_decref(&a->ob);
    cog_decref(&b->ob);
}

static void finalizer_runs_once_then_cycle_freed(void **state) {
    (void)state;
    atomic_store(&finalized, 0);
    resurrect = 0;
    long before = atomic_load(&test_node_deallocs);
    make_cycle(&fin_node_type, &fin_node_type);
    assert_int_equal(cog_gc_collect(0), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&finalized), 2);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

static void resurrected_cycle_survives_and_is_not_refinalized(void **state) {
    (void)state;
    atomic_store(&finalized, 0);
    resurrect = 1;
    resurrected = NULL;
    long before = atomic_load(&test_node_deallocs);
    make_cycle(&fin_node_type, &fin_node_type);
    cog_gc_collect(0);
    cog_safepoint();
    assert_non_null(resurrected);
    assert_int_equal(atomic_load(&test_node_deallocs), before); /* both alive */
    assert_true(cog_gc_is_finalized(resurrected));
    test_node *r = (test_node *)resurrected;
    assert_int_equal(r->canary, TEST_CANARY);
    assert_non_null(cog_ref_load(&r->next));
    /* Drop it again: collected this time without a second finalization. */
    resurrect = 0;
    int fin = atomic_load(&finalized);
    cog_decref(resurrected);
    resurrected = NULL;
    assert_int_equal(cog_gc_collect(2), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&finalized), fin);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

static void uncollectable_goes_to_garbage(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    make_cycle(&uncollectable_type, &test_node_type);
    assert_int_equal(cog_gc_collect(0), 2);
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    assert_int_equal(st[0].uncollectable, 2);
    cog_object *g[4];
    assert_int_equal(cog_gc_garbage(g, 4), 2);
    assert_true(g[0]->ob_type == &uncollectable_type || g[1]->ob_type == &uncollectable_type);
    cog_decref(g[0]);
    cog_decref(g[1]);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    cog_gc_clear_garbage();
    assert_int_equal(cog_gc_garbage(g, 4), 0);
    /* Still a cycle, but its type is uncollectable: it goes back to the
     * garbage list on the next collection; break it by hand. */
    assert_int_equal(cog_gc_collect(2), 2);
    assert_int_equal(cog_gc_garbage(g, 4), 2);
    for (int i = 0; i < 2; i++) cog_xdecref(cog_ref_take(&((test_node *)g[i])->next));
    cog_gc_clear_garbage();
    cog_decref(g[0]);
    cog_decref(g[1]);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

static void saveall_keeps_everything(void **state) {
    (void)state;
    assert_int_equal(cog_gc_set_debug(COG_GC_DEBUG_SAVEALL), COG_OK);
    assert_int_equal(cog_gc_get_debug(), COG_GC_DEBUG_SAVEALL);
    long before = atomic_load(&test_node_deallocs);
    make_cycle(&test_node_type, &test_node_type);
    assert_int_equal(cog_gc_collect(0), 2);
    assert_int_equal(cog_gc_garbage(NULL, 0), 2);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    cog_gc_set_debug(0);
    cog_gc_clear_garbage(); /* the cycle is plain garbage again */
    assert_int_equal(cog_gc_collect(2), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
    assert_int_equal(cog_gc_set_debug(0x100), COG_EINVAL);
}

static int cb_calls[2];
static int cb_last_gen;
static long cb_collected;
static void on_gc(cog_gc_phase phase, const cog_gc_info *info, void *arg) {
    (void)arg;
    cb_calls[phase]++;
    cb_last_gen = info->generation;
    if (phase == COG_GC_STOP) cb_collected = info->collected;
}

static void callbacks_see_start_and_stop(void **state) {
    (void)state;
    memset(cb_calls, 0, sizeof cb_calls);
    assert_int_equal(cog_gc_callback_add(on_gc, NULL), COG_OK);
    make_cycle(&test_node_type, &test_node_type);
    cog_gc_collect(1);
    assert_int_equal(cb_calls[COG_GC_START], 1);
    assert_int_equal(cb_calls[COG_GC_STOP], 1);
    assert_int_equal(cb_last_gen, 1);
    assert_int_equal(cb_collected, 2);
    assert_int_equal(cog_gc_callback_remove(on_gc, NULL), COG_OK);
    assert_int_equal(cog_gc_callback_remove(on_gc, NULL), COG_EINVAL);
    cog_gc_collect(0);
    assert_int_equal(cb_calls[COG_GC_STOP], 1);
    assert_int_equal(cog_gc_callback_add(NULL, NULL), COG_EINVAL);
}

static void thresholds_and_counts(void **state) {
    (void)state;
    long t[3];
    assert_int_equal(cog_gc_set_threshold(700, 5, 3), COG_OK);
    cog_gc_get_threshold(t);
    assert_int_equal(t[0], 700);
    assert_int_equal(t[1], 5);
    assert_int_equal(t[2], 3);
    assert_int_equal(cog_gc_set_threshold(-1, 5, 3), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "threshold"));
    assert_int_equal(cog_gc_set_threshold(10, 0, 3), COG_EINVAL);
    cog_gc_get_threshold(t);
    assert_int_equal(t[0], 700); /* rejected values change nothing */
    cog_gc_collect(2);
    long c[3];
    cog_gc_get_count(c);
    long c0 = c[0];
    test_node *n = test_node_new(1);
    cog_gc_get_count(c);
    assert_int_equal(c[0], c0 + 1);
    cog_decref(&n->ob);
    cog_gc_get_count(c);
    assert_int_equal(c[0], c0);
    cog_gc_collect(0);
    cog_gc_get_count(c);
    assert_int_equal(c[1], 1); /* one gen-0 collection since the last gen-1 */
}

static void automatic_collection_frees_cycles(void **state) {
    (void)state;
    cog_gc_set_threshold(100, 10, 10);
    cog_gc_enable();
    assert_true(cog_gc_is_enabled());
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    uint64_t before = st[0].collections + st[1].collections + st[2].collections;
    long freed0 = atomic_load(&test_node_deallocs);
    /* Keep allocating cyclic garbage (each crossing of threshold0 wakes the
     * collector once) until several automatic collections have run. */
    long made = 0;
    for (; made < 2000000; made++) {
        make_cycle(&test_node_type, &test_node_type);
        cog_safepoint();
        if ((made & 255) == 0) {
            cog_gc_get_stats(st);
            if (st[0].collections + st[1].collections + st[2].collections >= before + 5) break;
        }
    }
    cog_gc_get_stats(st);
    assert_true(st[0].collections + st[1].collections + st[2].collections >= before + 5);
    assert_true(st[0].collected > 0);
    /* Every collection opens a window and costs the collector CPU time;
     * the window is open for part of each collection's wall time, so the
     * duty cycle over the run so far is a fraction. */
    assert_true(st[0].window_ns > 0 && st[0].window_ns <= st[0].total_ns);
    assert_true(st[0].cpu_ns > 0);
    uint64_t elapsed = cog_gc_stats_elapsed_ns();
    assert_true(elapsed >= st[0].total_ns);
    cog_gc_disable();
    cog_gc_collect(2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs) - freed0, 2 * (made + 1));
}

/* A collector made slow on purpose (its START callback sleeps 20 ms)
 * cannot keep up with a thread making cyclic garbage. Pacing keeps the
 * young count bounded without long waits: over the limit, the mutator
 * frees the garbage it made itself once a collection hands it back
 * (assisted); past twice the limit it also waits, at most 1 ms per safe
 * point, so beyond that it outruns the collector by at most about one
 * cycle per millisecond of a collection. Without pacing the count runs
 * away. */
enum { SLOW_START_MS = 40 };

static const long slow_start_ms = SLOW_START_MS;

static void pacing_bounds_the_young_generation(void **state) {
    (void)state;
    assert_int_equal(cog_gc_get_pacing(), 64);
    assert_int_equal(cog_gc_set_pacing(-1), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "pacing"));
    assert_int_equal(cog_gc_callback_add(test_gc_sleep_at_start, (void *)&slow_start_ms),
                     COG_OK);
    cog_gc_set_threshold(100, 10, 10);
    cog_gc_enable();

    /* Off: nothing holds the mutator back. */
    assert_int_equal(cog_gc_set_pacing(0), COG_OK);
    long unpaced = test_make_garbage_max_young(20000);
    /* Twice the limit (where waits start), a thread's unflushed batch,
     * two nodes per safe point that returned early (a wait ends early
     * when garbage is handed back), with room for a slow (sanitized)
     * build: twice that. The unpaced count runs to tens of thousands. */
    long bound = 2 * (2 * 4 * 100 + 64 + 2 * 4 * (SLOW_START_MS + 5));
    assert_true(unpaced > bound);

    assert_int_equal(cog_gc_set_pacing(4), COG_OK);
    cog_gc_collect(2);
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    uint64_t assisted0 = st[0].assisted + st[1].assisted + st[2].assisted;
    unsigned long long delay0 = test_thread_run_delay_ns();
    long paced = test_make_garbage_max_young(20000);
    unsigned long long off_cpu = test_thread_run_delay_ns() - delay0;
    assert_true(paced <= bound);
    cog_gc_get_stats(st);
    uint64_t max_pause = test_gc_max_pause_ns();
    /* Waits happened, and each was shorter than a collection, which an
     * unbounded wait lasts (each waits 0.5 ms at most; the rest is room
     * for a loaded machine's scheduler). A wait cannot hold the thread off
     * its CPU for longer than the whole run did: with other processes
     * keeping the CPUs busy (a loaded CI machine) the room grows by the
     * time this thread spent runnable and off the CPU. */
    assert_true(max_pause > 0);
    assert_true(max_pause < SLOW_START_MS * 1000000ull * 3 / 4 + off_cpu);
    /* The same bound without the room, for the waits' time less their own
     * run-queue delay, which the statistics take out. */
    assert_true(test_gc_pause_stats().max_held_ns < SLOW_START_MS * 1000000ull * 3 / 4);
    /* The collector handed the mutator its own garbage to free. */
    assert_true(st[0].assisted + st[1].assisted + st[2].assisted > assisted0);

    cog_gc_disable();
    assert_int_equal(cog_gc_callback_remove(test_gc_sleep_at_start, (void *)&slow_start_ms),
                     COG_OK);
    assert_int_equal(cog_gc_set_pacing(64), COG_OK);
    cog_gc_collect(2);
}

/* Garbage of two owners goes whole to the assistant, which adopts what
 * the other thread owns and frees it all. A second thread makes nodes
 * just in time (so they are young) into a small ring and stays attached;
 * this thread links each to one of its own in a cycle and drops both, so
 * every collection's garbage has two owners. Over the pacing limit this
 * thread is handed that garbage (before, only a single owner's was
 * handed out; mixed garbage stayed with the collector). */
enum { MIXED_CYCLES = 3000, MIXED_RING = 64 };
static test_node *mixed_ring[MIXED_RING];
static atomic_long mixed_made, mixed_taken;
static atomic_int mixed_done;

static void *mixed_maker(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) abort();
    long made = 0;
    while (!atomic_load(&mixed_done)) {
        if (made - atomic_load(&mixed_taken) < MIXED_RING && made < MIXED_CYCLES) {
            mixed_ring[made % MIXED_RING] = test_node_new(made);
            atomic_store(&mixed_made, ++made); /* seq_cst: publishes the node */
        } else {
            cog_safepoint();
            sched_yield();
        }
    }
    cog_thread_detach();
    return NULL;
}

static void pacing_hands_mixed_garbage_to_an_assistant(void **state) {
    (void)state;
    assert_int_equal(cog_gc_callback_add(test_gc_sleep_at_start, (void *)&slow_start_ms),
                     COG_OK);
    cog_gc_set_threshold(100, 10, 10);
    assert_int_equal(cog_gc_set_pacing(4), COG_OK);
    cog_gc_collect(2);
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    uint64_t assisted0 = st[0].assisted + st[1].assisted + st[2].assisted;
    long before = atomic_load(&test_node_deallocs);
    atomic_store(&mixed_made, 0);
    atomic_store(&mixed_taken, 0);
    atomic_store(&mixed_done, 0);
    pthread_t maker;
    assert_int_equal(pthread_create(&maker, NULL, mixed_maker, NULL), 0);
    cog_gc_enable();
    for (long i = 0; i < MIXED_CYCLES; i++) {
        while (atomic_load(&mixed_made) <= i) {
            cog_safepoint();
            sched_yield();
        }
        test_node *theirs = mixed_ring[i % MIXED_RING];
        atomic_store(&mixed_taken, i + 1);
        test_node *ours = test_node_new(-i);
        link_nodes(ours, theirs);
        link_nodes(theirs, ours);
        cog_decref(&ours->ob);
        cog_decref(&theirs->ob); /* the ring's reference: a shared decrement */
        cog_safepoint();
    }
    cog_gc_disable();
    atomic_store(&mixed_done, 1);
    pthread_join(maker, NULL);
    cog_gc_get_stats(st);
    assert_true(st[0].assisted + st[1].assisted + st[2].assisted > assisted0);
    /* Everything is freed: by this thread (handed out), the collector, or
     * the collections below (what the last ones left). */
    for (int k = 0; k < 4 && atomic_load(&test_node_deallocs) - before < 2 * MIXED_CYCLES; k++) {
        cog_gc_collect(2);
        cog_safepoint();
    }
    assert_int_equal(atomic_load(&test_node_deallocs) - before, 2 * MIXED_CYCLES);
    assert_int_equal(cog_gc_callback_remove(test_gc_sleep_at_start, (void *)&slow_start_ms),
                     COG_OK);
    assert_int_equal(cog_gc_set_pacing(64), COG_OK);
}

/* The duty cap spaces automatic collections: after one whose window was
 * open W, the next starts no sooner than W x (100 - cap) / cap later (with
 * cap 25: 3 W). Recorded from the collector's callbacks: each STOP notes
 * its time and the window it just had (from the stats), each START checks
 * the gap since the previous STOP. */
typedef struct gap_probe {
    uint64_t stop_ns, window_total, last_window;
    long starts, early;
} gap_probe;

static uint64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void probe_gaps(cog_gc_phase phase, const cog_gc_info *info, void *arg) {
    (void)info;
    gap_probe *g = arg;
    uint64_t now = mono_ns();
    if (phase == COG_GC_START) {
        /* 3 W after the window closed, which is before STOP: allow 20%.
         * Past 24 x threshold0 young objects the cap gives way. */
        long c[3];
        cog_gc_get_count(c);
        if (g->stop_ns && now - g->stop_ns < g->last_window * 3 * 8 / 10 && c[0] <= 24 * 100)
            g->early++;
        g->starts++;
        return;
    }
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    uint64_t total = st[0].window_ns + st[1].window_ns + st[2].window_ns;
    g->last_window = total - g->window_total;
    g->window_total = total;
    g->stop_ns = now;
}

static void duty_cap_spaces_automatic_collections(void **state) {
    (void)state;
    static gap_probe g;
    assert_int_equal(cog_gc_set_duty_cap(-1), COG_EINVAL);
    assert_int_equal(cog_gc_set_duty_cap(25), COG_OK);
    assert_int_equal(cog_gc_get_duty_cap(), 25);
    cog_gc_set_threshold(100, 10, 10);
    cog_gc_set_pacing(0); /* the cap yields to pacing: keep it out */
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    g.window_total = st[0].window_ns + st[1].window_ns + st[2].window_ns;
    assert_int_equal(cog_gc_callback_add(probe_gaps, &g), COG_OK);
    cog_gc_enable();
    /* Long enough for several starts on a loaded machine (four to twelve
     * measured here; a CI run under ASan beside other tests once had two
     * with half as many cycles). */
    for (long i = 0; i < 400000; i++) {
        make_cycle(&test_node_type, &test_node_type);
        if ((i & 63) == 0) cog_safepoint();
    }
    cog_gc_disable();
    assert_int_equal(cog_gc_callback_remove(probe_gaps, &g), COG_OK);
    assert_true(g.starts >= 3);
    assert_int_equal(g.early, 0);
    assert_int_equal(cog_gc_set_duty_cap(20), COG_OK);
    assert_int_equal(cog_gc_set_pacing(64), COG_OK);
    cog_gc_collect(2);
}

static void freeze_hides_objects_from_collections(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    link_nodes(a, b);
    link_nodes(b, a);
    cog_gc_freeze();
    assert_true(cog_gc_get_freeze_count() >= 2);
    cog_decref(&a->ob);
    cog_decref(&b->ob);
    assert_int_equal(cog_gc_collect(2), 0); /* frozen: not examined */
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    cog_gc_unfreeze();
    assert_int_equal(cog_gc_get_freeze_count(), 0);
    assert_int_equal(cog_gc_collect(2), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

static void tracking_queries(void **state) {
    (void)state;
    static const cog_type plain = {.name = "Plain", .basic_size = sizeof(cog_object)};
    cog_object *p = cog_new(&plain);
    test_node *n = test_node_new(3);
    assert_false(cog_gc_is_tracked(p));
    assert_true(cog_gc_is_tracked(&n->ob));
    assert_false(cog_gc_is_finalized(&n->ob));
    cog_decref(p);
    cog_decref(&n->ob);
}

/* cog_gc_callback_remove waits for a call in progress of the callback it
 * removes: after it returns the callback is never entered again, so its
 * argument may be freed. */
typedef struct slow_probe {
    atomic_int entered, returned, calls;
} slow_probe;

static void slow_probe_cb(cog_gc_phase phase, const cog_gc_info *info, void *arg) {
    (void)info;
    slow_probe *p = arg;
    if (phase != COG_GC_START) return;
    atomic_fetch_add(&p->calls, 1);
    atomic_store(&p->entered, 1);
    struct timespec ms = {0, 30 * 1000000L};
    nanosleep(&ms, NULL);
    atomic_store(&p->returned, 1);
}

static void *collect_on_thread(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) abort();
    cog_gc_collect(0);
    cog_thread_detach();
    return NULL;
}

static void callback_remove_waits_for_a_running_call(void **state) {
    (void)state;
    static slow_probe p;
    assert_int_equal(cog_gc_callback_add(slow_probe_cb, &p), COG_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, collect_on_thread, NULL), 0);
    while (!atomic_load(&p.entered)) sched_yield();
    assert_int_equal(cog_gc_callback_remove(slow_probe_cb, &p), COG_OK);
    assert_int_equal(atomic_load(&p.returned), 1);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
    cog_gc_collect(0);
    assert_int_equal(atomic_load(&p.calls), 1);
}

/* The shared fixture (tests/fixture.h): a case that turns every knob ... */
static void fixture_case_changes_every_setting(void **state) {
    (void)state;
    cog_gc_set_threshold(7, 3, 2);
    cog_gc_set_debug(COG_GC_DEBUG_STATS);
    cog_gc_set_trace(1);
    cog_gc_set_pacing(5);
    cog_gc_set_duty_cap(50);
    assert_int_equal(cog_gc_get_pacing(), 5);
}

/* ... leaves none of them to the next one. */
static void fixture_next_case_starts_from_defaults(void **state) {
    (void)state;
    long t[COG_GC_GENERATIONS];
    cog_gc_get_threshold(t);
    assert_int_equal(t[0], 2000);
    assert_int_equal(t[1], 10);
    assert_int_equal(t[2], 10);
    assert_int_equal(cog_gc_get_debug(), 0);
    assert_int_equal(cog_gc_get_trace(), 0);
    assert_int_equal(cog_gc_get_pacing(), 64);
    assert_int_equal(cog_gc_get_duty_cap(), 20);
    assert_false(cog_gc_is_enabled()); /* TEST_CASE_GC_OFF */
}

int main(void) {
    fin_node_type = test_node_type;
    fin_node_type.name = "FinNode";
    fin_node_type.finalize = fin_node_finalize;
    uncollectable_type = test_node_type;
    uncollectable_type.name = "Uncollectable";
    uncollectable_type.flags |= COG_TYPE_UNCOLLECTABLE;
    const struct CMUnitTest tests[] = {
        TEST_CASE_GC_OFF(finalizer_runs_once_then_cycle_freed),
        TEST_CASE_GC_OFF(resurrected_cycle_survives_and_is_not_refinalized),
        TEST_CASE_GC_OFF(uncollectable_goes_to_garbage),
        TEST_CASE_GC_OFF(saveall_keeps_everything),
        TEST_CASE_GC_OFF(callbacks_see_start_and_stop),
        TEST_CASE_GC_OFF(thresholds_and_counts),
        TEST_CASE_GC_OFF(automatic_collection_frees_cycles),
        TEST_CASE_GC_OFF(pacing_bounds_the_young_generation),
        TEST_CASE_GC_OFF(pacing_hands_mixed_garbage_to_an_assistant),
        TEST_CASE_GC_OFF(duty_cap_spaces_automatic_collections),
        TEST_CASE_GC_OFF(freeze_hides_objects_from_collections),
        TEST_CASE_GC_OFF(tracking_queries),
        TEST_CASE_GC_OFF(callback_remove_waits_for_a_running_call),
        TEST_CASE_GC_OFF(fixture_case_changes_every_setting),
        TEST_CASE_GC_OFF(fixture_next_case_starts_from_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
