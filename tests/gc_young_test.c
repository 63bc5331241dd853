/* tests/gc_young_test.c - young collections walk only the pages that can
 * hold young objects (collector/gc_walk.c), and still find every young
 * object: those allocated since the last scan, those a scan left in
 * generation 0, promoted ones in generation 1, large ones. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static void link_nodes(test_node *from, test_node *to) {
    cog_incref(&to->ob);
    cog_ref_store(&from->next, &to->ob);
}

/* n two-node cycles of garbage. */
static void make_cycles(int n) {
    for (int i = 0; i < n; i++) {
        test_node *a = test_node_new(i), *b = test_node_new(i);
        link_nodes(a, b);
        link_nodes(b, a);
        cog_decref(&a->ob);
        cog_decref(&b->ob);
    }
}

static uint64_t last_walked(int gen) {
    cog_gc_gen_stats st[COG_GC_GENERATIONS];
    cog_gc_get_stats(st);
    return st[gen].last_walked;
}

enum { OLD = 100000, YOUNG_CYCLES = 50 };

/* The point of young page tracking: beside 100 k old objects, a young
 * collection visits the young objects' pages, not the heap. */
static void young_collection_walks_young_pages_only(void **state) {
    (void)state;
    static test_node *old[OLD];
    for (int i = 0; i < OLD; i++) old[i] = test_node_new(i);
    assert_int_equal(cog_gc_collect(2), 0); /* all old, generation 2 */
    assert_true(last_walked(2) >= OLD);
    long before = atomic_load(&test_node_deallocs);
    make_cycles(YOUNG_CYCLES);
    assert_int_equal(cog_gc_collect(0), 2 * YOUNG_CYCLES);
    /* At most the young objects plus the old ones sharing their pages
     * (a page holds at most 4096 / 48 = 85 nodes). */
    assert_true(last_walked(0) >= 2 * YOUNG_CYCLES);
    assert_true(last_walked(0) < 2 * YOUNG_CYCLES + 4 * 85);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2 * YOUNG_CYCLES);
    /* A young collection with nothing new walks next to nothing. */
    assert_int_equal(cog_gc_collect(0), 0);
    assert_true(last_walked(0) < 4 * 85);
    for (int i = 0; i < OLD; i++) cog_decref(&old[i]->ob);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2 * YOUNG_CYCLES + OLD);
}

/* Survivors of a generation-0 scan move to generation 1 (carry1): only a
 * generation-1 scan finds them when they become garbage, and after that
 * scan promotes them again only a full one does. */
static void promoted_objects_are_found_by_their_generation(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    link_nodes(a, b);
    link_nodes(b, a);
    cog_decref(&b->ob);
    assert_int_equal(cog_gc_collect(0), 0); /* a, b: generation 1 */
    assert_int_equal(cog_gc_get_objects(1, NULL, 0), 2);
    cog_decref(&a->ob);
    assert_int_equal(cog_gc_collect(0), 0);
    assert_int_equal(cog_gc_collect(1), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);

    test_node *c = test_node_new(3), *d = test_node_new(4);
    link_nodes(c, d);
    link_nodes(d, c);
    cog_decref(&d->ob);
    assert_int_equal(cog_gc_collect(0), 0);
    assert_int_equal(cog_gc_collect(1), 0); /* c, d: generation 2 */
    assert_int_equal(cog_gc_get_objects(2, NULL, 0), 2);
    cog_decref(&c->ob);
    assert_int_equal(cog_gc_collect(1), 0);
    assert_int_equal(cog_gc_collect(2), 2);
}

/* Objects born inside a window are born dirty and left in generation 0;
 * the next young collection must still find them. A finalizer of cyclic
 * garbage runs on the collector thread inside the window, so what it
 * allocates is born there (in the collector's own heap). */
static test_node *born_in_window;

static void finalize_and_allocate(cog_object *self) {
    (void)self;
    test_node *x = test_node_new(7), *y = test_node_new(8);
    link_nodes(x, y);
    link_nodes(y, x);
    cog_decref(&y->ob);
    born_in_window = x;
}

static int allocator_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    cog_object *n = cog_ref_load(&((test_node *)self)->next);
    return n ? visit(n, arg) : 0;
}

static void allocator_clear(cog_object *self) {
    cog_xdecref(cog_ref_take(&((test_node *)self)->next));
}

static const cog_type allocator_type = {
    .name = "test.AllocatingFinalizer",
    .basic_size = sizeof(test_node),
    .flags = COG_TYPE_GC,
    .traverse = allocator_traverse,
    .clear = allocator_clear,
    .finalize = finalize_and_allocate,
    .dealloc = allocator_clear,
};

static void objects_born_in_a_window_are_found_later(void **state) {
    (void)state;
    cog_object *f = cog_new(&allocator_type);
    assert_non_null(f);
    cog_incref(f);
    cog_ref_store(&((test_node *)f)->next, f); /* a self-cycle */
    cog_decref(f);
    assert_int_equal(cog_gc_collect(0), 1);
    assert_non_null(born_in_window);
    assert_int_equal(born_in_window->canary, TEST_CANARY);
    long before = atomic_load(&test_node_deallocs);
    test_node *x = born_in_window;
    born_in_window = NULL;
    cog_decref(&x->ob); /* x and y: garbage, still generation 0 */
    assert_int_equal(cog_gc_get_objects(0, NULL, 0), 2);
    assert_int_equal(cog_gc_collect(0), 2);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

/* Large objects (> 512 bytes, from malloc) are numbered in allocation
 * order; a young collection walks only those above its floor. */
enum { OLD_LARGE = 2000, LARGE_ITEMS = 80 };

static cog_object *large_cycle(void) {
    cog_object *list = cog_list_new(), *tuple = cog_tuple_new(LARGE_ITEMS);
    assert_non_null(list);
    assert_non_null(tuple);
    cog_incref(list);
    assert_int_equal(cog_tuple_init_item(tuple, 0, list), COG_OK);
    assert_int_equal(cog_list_append(list, tuple), COG_OK);
    cog_decref(tuple);
    return list; /* the caller's reference keeps the cycle */
}

static void young_large_objects_are_found_without_walking_old_ones(void **state) {
    (void)state;
    static cog_object *old[OLD_LARGE];
    for (int i = 0; i < OLD_LARGE; i++) old[i] = large_cycle();
    assert_int_equal(cog_gc_collect(2), 0);
    cog_object *young = large_cycle();
    cog_decref(young);
    assert_int_equal(cog_gc_collect(0), 2);
    assert_true(last_walked(0) < 4 * 85 + 10);
    for (int i = 0; i < OLD_LARGE; i++) cog_decref(old[i]);
    assert_int_equal(cog_gc_collect(0), 0);
    assert_int_equal(cog_gc_collect(2), 2 * OLD_LARGE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE_GC_OFF(young_collection_walks_young_pages_only),
        TEST_CASE_GC_OFF(promoted_objects_are_found_by_their_generation),
        TEST_CASE_GC_OFF(objects_born_in_a_window_are_found_later),
        TEST_CASE_GC_OFF(young_large_objects_are_found_without_walking_old_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
