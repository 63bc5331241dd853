/* tests/list_test.c - lists, single thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static int64_t val(cog_object *o) { return ((test_node *)o)->value; }

static void append_get_grow(void **state) {
    (void)state;
    cog_object *l = cog_list_new();
    for (int i = 0; i < 100; i++) {
        test_node *n = test_node_new(i);
        assert_int_equal(cog_list_append(l, &n->ob), COG_OK);
        assert_int_equal(cog_refcount(&n->ob), 2);
        cog_decref(&n->ob);
    }
    assert_int_equal(cog_list_size(l), 100);
    for (int i = 0; i < 100; i++) {
        cog_object *o = cog_list_get(l, i);
        assert_int_equal(val(o), i);
        assert_int_equal(cog_refcount(o), 2);
        cog_decref(o);
        assert_int_equal(val(cog_list_get_borrowed(l, i)), i);
    }
    assert_int_equal(val(cog_list_get_borrowed(l, -1)), 99);
    assert_null(cog_list_get(l, 100));
    assert_null(cog_list_get(l, -101));
    long before = atomic_load(&test_node_deallocs);
    cog_decref(l);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 100);
}

static void insert_set_pop(void **state) {
    (void)state;
    cog_object *l = cog_list_new();
    test_node *a = test_node_new(1), *b = test_node_new(2), *c = test_node_new(3);
    cog_list_append(l, &a->ob);
    cog_list_insert(l, 0, &b->ob);     /* b a */
    cog_list_insert(l, 100, &c->ob);   /* b a c */
    assert_int_equal(val(cog_list_get_borrowed(l, 0)), 2);
    assert_int_equal(val(cog_list_get_borrowed(l, 2)), 3);
    assert_int_equal(cog_list_set(l, 1, &c->ob), COG_OK); /* b c c */
    assert_int_equal(cog_refcount(&a->ob), 1);
    assert_int_equal(cog_list_set(l, 3, &c->ob), COG_EINVAL);
    cog_object *p = cog_list_pop(l, 0); /* c c */
    assert_ptr_equal(p, &b->ob);
    assert_int_equal(cog_refcount(p), 2); /* ours + list's moved to us */
    cog_decref(p);
    assert_int_equal(cog_list_size(l), 2);
    assert_int_equal(cog_refcount(&c->ob), 3);
    cog_object *snap = cog_list_snapshot(l);
    assert_int_equal(cog_tuple_size(snap), 2);
    assert_ptr_equal(cog_tuple_get_borrowed(snap, 1), &c->ob);
    cog_decref(snap);
    assert_int_equal(cog_list_clear(l), COG_OK);
    assert_int_equal(cog_list_size(l), 0);
    assert_int_equal(cog_refcount(&c->ob), 1);
    assert_null(cog_list_pop(l, -1));
    assert_int_equal(cog_list_append(l, NULL), COG_EINVAL);
    cog_decref(&a->ob), cog_decref(&b->ob), cog_decref(&c->ob), cog_decref(l);
}

static void cycle_through_list_is_collected(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    cog_object *l = cog_list_new();
    test_node *n = test_node_new(9);
    cog_incref(l);
    cog_ref_store(&n->next, l); /* n -> l */
    cog_list_append(l, &n->ob); /* l -> n */
    cog_decref(&n->ob);
    cog_decref(l);
    assert_true(cog_gc_collect(-1) >= 2);
    cog_safepoint(); /* merge counts the collector queued to us */
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(append_get_grow),
        TEST_CASE(insert_set_pop),
        TEST_CASE(cycle_through_list_is_collected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
