/* tests/object_test.c - single-thread object lifecycle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/test_types.h"

static int setup(void **state) {
    (void)state;
    return cog_init() == COG_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return cog_shutdown() == COG_OK ? 0 : -1;
}

static void incref_decref_dealloc(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *n = test_node_new(7);
    assert_non_null(n);
    assert_int_equal(cog_refcount(&n->ob), 1);
    cog_incref(&n->ob);
    cog_incref(&n->ob);
    assert_int_equal(cog_refcount(&n->ob), 3);
    cog_decref(&n->ob);
    cog_decref(&n->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    cog_decref(&n->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(incref_decref_dealloc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
