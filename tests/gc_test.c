/* tests/gc_test.c - the cycle collector, single mutator thread. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "collector/gc_internal.h"
#include "tests/test_types.h"
#include "tests/fixture.h"

static void link_nodes(test_node *from, test_node *to) {
    cog_incref(&to->ob);
    cog_ref_store(&from->next, &to->ob);
}

/* The seed: node1.next = node2; node2.next = node1; drop both. */
static void two_node_cycle_is_collected(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    link_nodes(a, b);
    link_nodes(b, a);
    cog_decref(&a->ob);
    cog_decref(&b->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    long found = cog_gc_collect(0);
    assert_int_equal(found, 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

/* A cycle still referenced from outside survives and is promoted. */
static void reachable_cycle_survives(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    link_nodes(a, b);
    link_nodes(b, a);
    cog_decref(&b->ob); /* a still held by us */
    assert_int_equal(cog_gc_collect(0), 0);
    assert_int_equal(cog_gc_collect(2), 0);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    assert_int_equal(a->canary, TEST_CANARY);
    assert_int_equal(((test_node *)cog_ref_load(&a->next))->value, 2);
    /* Now drop it: the cycle is garbage; it lives in an older generation. */
    cog_decref(&a->ob);
    assert_int_equal(cog_gc_collect(2), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

/* Collect everything collectable and let the collector's frees settle. */
static long collect_all(void) {
    long n = cog_gc_collect(2);
    cog_safepoint();
    return n;
}

/* A ring of 10000 nodes (long cycle; clearing it must not recurse deeply). */
static void long_cycle_is_collected(void **state) {
    (void)state;
    enum { N = 10000 };
    long before = atomic_load(&test_node_deallocs);
    test_node *first = test_node_new(0), *prev = first;
    for (int i = 1; i < N; i++) {
        test_node *n = test_node_new(i);
        cog_ref_store(&prev->next, &n->ob); /* gives our reference away */
        prev = n;
    }
    link_nodes(prev, first);
    cog_decref(&first->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    assert_int_equal(collect_all(), N);
    assert_int_equal(atomic_load(&test_node_deallocs), before + N);
}

static void self_cycle_is_collected(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1);
    link_nodes(a, a);
    cog_decref(&a->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    assert_int_equal(collect_all(), 1);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
}

/* node -> list -> node and node -> dict(value) -> node. */
static void cycles_through_list_and_dict_are_collected(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    cog_object *list = cog_list_new(), *dict = cog_dict_new();
    cog_object *key = cog_str_new("k", 1);
    assert_non_null(list);
    assert_non_null(dict);
    assert_non_null(key);
    assert_int_equal(cog_list_append(list, &a->ob), COG_OK);
    cog_ref_store(&a->next, list); /* gives our list reference away */
    assert_int_equal(cog_dict_set(dict, key, &b->ob), COG_OK);
    cog_ref_store(&b->next, dict);
    cog_decref(key);
    cog_decref(&a->ob);
    cog_decref(&b->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    /* a, list, b, dict; the key is not a container (not tracked). */
    assert_int_equal(collect_all(), 4);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

/* A list that contains itself. */
static void list_containing_itself_is_collected(void **state) {
    (void)state;
    cog_object *list = cog_list_new();
    assert_non_null(list);
    assert_int_equal(cog_list_append(list, list), COG_OK);
    cog_object *probe = cog_weakref_new(list, NULL, NULL);
    assert_non_null(probe);
    cog_decref(list);
    assert_false(cog_weakref_is_dead(probe));
    assert_int_equal(collect_all(), 1);
    assert_true(cog_weakref_is_dead(probe));
    cog_decref(probe);
}

/* Weak references into a garbage cycle are cleared and their callbacks run
 * (on the collector thread) before the cycle is freed; a weakref that is
 * itself part of the garbage gets no callback (as in CPython). */
static atomic_int wr_callbacks;
static atomic_long wr_callback_saw_value;
static void count_callback(cog_object *wr, void *arg) {
    atomic_fetch_add(&wr_callbacks, 1);
    /* The referent is already unreachable through the weakref. */
    atomic_store(&wr_callback_saw_value, cog_weakref_get(wr) ? 1 : 0);
    (void)arg;
}

static void weakref_callbacks_run_for_cycles(void **state) {
    (void)state;
    atomic_store(&wr_callbacks, 0);
    atomic_store(&wr_callback_saw_value, -1);
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    link_nodes(a, b);
    link_nodes(b, a);
    cog_object *wr = cog_weakref_new(&a->ob, count_callback, NULL);
    assert_non_null(wr);
    cog_decref(&a->ob);
    cog_decref(&b->ob);
    assert_int_equal(collect_all(), 2);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
    assert_int_equal(atomic_load(&wr_callbacks), 1);
    assert_int_equal(atomic_load(&wr_callback_saw_value), 0);
    assert_null(cog_weakref_get(wr));
    cog_decref(wr);
}

/* Survivors move to older generations: a gen-0 collection no longer sees
 * a cycle that survived one; only a collection of its generation does. */
static void survivors_are_promoted(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    link_nodes(a, b);
    link_nodes(b, a);
    assert_int_equal(cog_gc_collect(0), 0); /* survives: a is ours -> gen 1 */
    cog_decref(&a->ob);
    cog_decref(&b->ob);
    assert_int_equal(cog_gc_collect(0), 0); /* gen 1 is not examined */
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    assert_int_equal(cog_gc_collect(1), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);

    /* Two survivals reach generation 2: only a full collection frees it. */
    test_node *c = test_node_new(3);
    link_nodes(c, c);
    assert_int_equal(cog_gc_collect(0), 0);
    assert_int_equal(cog_gc_collect(1), 0);
    cog_decref(&c->ob);
    assert_int_equal(cog_gc_collect(1), 0);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
    assert_int_equal(cog_gc_collect(2), 1);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 3);
}

/* Objects a detached thread left behind. Freed by an attached thread,
 * their abandoned pools are adopted by it at the first free (and given
 * back when they empty); freed by the collector (cyclic garbage, bulk
 * remote frees that adopt nothing), the pools stay abandoned until the
 * sweep after the collection gives the emptied ones back. */
enum { LEFT_BEHIND = 20000 };
static test_node *left_behind[LEFT_BEHIND];
static int left_in_cycles;
static void *allocate_and_detach(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) return NULL;
    for (int i = 0; i < LEFT_BEHIND; i++) left_behind[i] = test_node_new(i);
    if (left_in_cycles)
        for (int i = 0; i + 1 < LEFT_BEHIND; i += 2) { /* pairs a <-> b */
            cog_incref(&left_behind[i + 1]->ob);
            cog_ref_store(&left_behind[i]->next, &left_behind[i + 1]->ob);
            cog_incref(&left_behind[i]->ob);
            cog_ref_store(&left_behind[i + 1]->next, &left_behind[i]->ob);
        }
    cog_thread_detach();
    return NULL;
}

static void leave_behind(int cycles) {
    pthread_t t;
    left_in_cycles = cycles;
    cog_thread_offline();
    assert_int_equal(pthread_create(&t, NULL, allocate_and_detach, NULL), 0);
    pthread_join(t, NULL);
    cog_thread_online();
    assert_non_null(left_behind[LEFT_BEHIND - 1]);
    cog_mem_info m;
    cog_mem_stats(&m);
    assert_true(m.pools_abandoned > 0);
}

static void abandoned_pools_are_adopted_by_a_freeing_thread(void **state) {
    (void)state;
    uint64_t base = test_blocks_in_use();
    leave_behind(0);
    for (int i = 0; i < LEFT_BEHIND; i++) cog_decref(&left_behind[i]->ob);
    cog_mem_info m;
    cog_mem_stats(&m);
    assert_int_equal(m.pools_abandoned, 0);
    assert_int_equal(test_blocks_in_use(), base);
}

static void abandoned_pools_are_swept_after_collection(void **state) {
    (void)state;
    leave_behind(1);
    long before = atomic_load(&test_node_deallocs);
    for (int i = 0; i < LEFT_BEHIND; i++) cog_decref(&left_behind[i]->ob); /* cycles stay */
    cog_mem_info m;
    cog_mem_stats(&m);
    assert_true(m.pools_abandoned > 0);
    assert_int_equal(cog_gc_collect(2), LEFT_BEHIND);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs) - before, LEFT_BEHIND);
    cog_gc_collect(0); /* the sweep after a collection */
    cog_mem_stats(&m);
    assert_int_equal(m.pools_abandoned, 0);
}

/* The collector finds a candidate's index from a stamp it leaves in the
 * object header (index + scan epoch) and never erases after a scan. A
 * stamp from an earlier scan with the same epoch would name some other
 * candidate of this scan; the scan at which the 22-bit epoch wraps erases
 * every old stamp so that cannot happen. Here: old nodes stamped with epoch
 * 2, the epoch wraps, and a scan with epoch 2 again sees young nodes that
 * point at the old ones. If an old stamp survived, the young candidates
 * it names would lose a count and be freed while we hold them. */
enum { STAMPED = 300 };
static void epoch_wrap_erases_stale_stamps(void **state) {
    (void)state;
    static test_node *old[STAMPED], *young[STAMPED], *held[STAMPED];
    long before = atomic_load(&test_node_deallocs);
    for (int i = 0; i < STAMPED; i++) old[i] = test_node_new(i);
    cog_gc_test_set_epoch(1);
    assert_int_equal(cog_gc_collect(2), 0); /* stamps them with epoch 2; gen 2 */
    cog_gc_test_set_epoch((1u << 22) - 1);
    assert_int_equal(cog_gc_collect(0), 0); /* wraps to epoch 1: erases stamps */
    for (int i = 0; i < STAMPED; i++) {
        young[i] = test_node_new(i);
        link_nodes(young[i], old[i]);
        held[i] = test_node_new(i);
    }
    /* Epoch 2 again; the old nodes are not candidates of a gen-0 scan.
     * Young nodes are only referenced by us, so nothing is garbage. */
    assert_int_equal(cog_gc_collect(0), 0);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    for (int i = 0; i < STAMPED; i++) {
        assert_int_equal(held[i]->canary, TEST_CANARY);
        assert_int_equal(young[i]->canary, TEST_CANARY);
        assert_int_equal(old[i]->canary, TEST_CANARY);
    }
    for (int i = 0; i < STAMPED; i++) {
        cog_decref(&young[i]->ob);
        cog_decref(&held[i]->ob);
        cog_decref(&old[i]->ob);
    }
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 3 * STAMPED);
}

/* The scan's arrays, sized by a big collection, stay through the small
 * ones right after it (giving them back inside a collection cost 1.7 ms
 * of munmap and the next collection the page faults of new ones) and go
 * back once the scans of a whole keep time have been small. */
enum { BIG_CYCLES = 75000, KEEP_MS = 300 };
static long collect_cycles(long cycles) {
    for (long i = 0; i < cycles; i++) test_make_cycle_garbage(1, 2);
    return cog_gc_collect(0);
}

static void scan_arrays_outlive_a_big_collection_for_a_while(void **state) {
    (void)state;
    cog_gc_test_set_keep_unused_ns((uint64_t)KEEP_MS * 1000000u);
    assert_int_equal(collect_cycles(BIG_CYCLES), 2 * BIG_CYCLES);
    size_t big = cog_gc_test_scan_buffer_bytes();
    /* obj and refs for each candidate at least */
    assert_true(big >= (size_t)2 * BIG_CYCLES * (sizeof(void *) + sizeof(int32_t)));
    assert_int_equal(collect_cycles(50), 100);
    assert_int_equal(cog_gc_test_scan_buffer_bytes(), big);
    struct timespec keep = {0, (KEEP_MS + 100) * 1000000L};
    nanosleep(&keep, NULL);
    assert_int_equal(collect_cycles(50), 100);
    assert_true(cog_gc_test_scan_buffer_bytes() < big / 4);
    cog_gc_test_set_keep_unused_ns(0);
    cog_safepoint();
}

static void bad_generation_is_rejected(void **state) {
    (void)state;
    assert_int_equal(cog_gc_collect(3), COG_EINVAL);
    assert_int_equal(cog_gc_collect(-2), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "generation"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE_GC_OFF(two_node_cycle_is_collected),
        TEST_CASE_GC_OFF(reachable_cycle_survives),
        TEST_CASE_GC_OFF(long_cycle_is_collected),
        TEST_CASE_GC_OFF(self_cycle_is_collected),
        TEST_CASE_GC_OFF(cycles_through_list_and_dict_are_collected),
        TEST_CASE_GC_OFF(list_containing_itself_is_collected),
        TEST_CASE_GC_OFF(weakref_callbacks_run_for_cycles),
        TEST_CASE_GC_OFF(survivors_are_promoted),
        TEST_CASE_GC_OFF(abandoned_pools_are_adopted_by_a_freeing_thread),
        TEST_CASE_GC_OFF(abandoned_pools_are_swept_after_collection),
        TEST_CASE_GC_OFF(epoch_wrap_erases_stale_stamps),
        TEST_CASE_GC_OFF(scan_arrays_outlive_a_big_collection_for_a_while),
        TEST_CASE_GC_OFF(bad_generation_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
