/* tests/tuple_test.c - tuples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static void pack_get_release(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *n = test_node_new(1);
    cog_object *s = cog_str_from_cstr("x");
    cog_object *t = cog_tuple_pack(3, &n->ob, s, cog_int_from_i64(5));
    assert_non_null(t);
    assert_int_equal(cog_tuple_size(t), 3);
    assert_int_equal(cog_refcount(&n->ob), 2);
    assert_ptr_equal(cog_tuple_get_borrowed(t, 0), &n->ob);
    cog_object *g = cog_tuple_get(t, 1);
    assert_ptr_equal(g, s);
    assert_int_equal(cog_refcount(s), 3);
    cog_decref(g);
    assert_null(cog_tuple_get(t, 3));
    assert_int_equal(cog_last_error()[0] != 0, 1);
    cog_decref(&n->ob);
    cog_decref(s);
    cog_decref(t);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
}

static void equality_and_hash_by_value(void **state) {
    (void)state;
    cog_object *a = cog_str_from_cstr("k"), *b = cog_str_from_cstr("k");
    cog_object *t1 = cog_tuple_pack(2, a, cog_int_from_i64(1));
    cog_object *t2 = cog_tuple_pack(2, b, cog_int_from_i64(1));
    cog_object *t3 = cog_tuple_pack(2, b, cog_int_from_i64(2));
    assert_true(cog_object_equal(t1, t2));
    assert_int_equal(cog_object_hash(t1), cog_object_hash(t2));
    assert_false(cog_object_equal(t1, t3));
    cog_decref(a), cog_decref(b), cog_decref(t1), cog_decref(t2), cog_decref(t3);
}

static void init_item_steals_once(void **state) {
    (void)state;
    cog_object *t = cog_tuple_new(1);
    cog_object *s = cog_str_from_cstr("y");
    assert_int_equal(cog_tuple_init_item(t, 0, s), COG_OK);
    assert_int_equal(cog_refcount(s), 1);
    assert_int_equal(cog_tuple_init_item(t, 0, s), COG_EINVAL);
    assert_int_equal(cog_tuple_init_item(t, 1, s), COG_EINVAL);
    cog_decref(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(pack_get_release),
        TEST_CASE(equality_and_hash_by_value),
        TEST_CASE(init_item_steals_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
