/* tests/gc_test.c - the cycle collector, single mutator thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"

static int setup(void **state) {
    (void)state;
    if (cog_init() != COG_OK) return -1;
    cog_gc_disable(); /* only explicit collections in these tests */
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cog_gc_enable();
    return cog_shutdown() == COG_OK ? 0 : -1;
}

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

static void bad_generation_is_rejected(void **state) {
    (void)state;
    assert_int_equal(cog_gc_collect(3), COG_EINVAL);
    assert_int_equal(cog_gc_collect(-2), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "generation"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_node_cycle_is_collected, setup, teardown),
        cmocka_unit_test_setup_teardown(reachable_cycle_survives, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_generation_is_rejected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
