/* tests/dict_test.c - dicts, single thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static void set_get_del_many(void **state) {
    (void)state;
    cog_object *d = cog_dict_new();
    char buf[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "k%d", i);
        cog_object *k = cog_str_from_cstr(buf), *v = cog_int_from_i64(i * 1000);
        assert_int_equal(cog_dict_set(d, k, v), COG_OK);
        cog_decref(k), cog_decref(v);
    }
    assert_int_equal(cog_dict_size(d), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "k%d", i);
        cog_object *k = cog_str_from_cstr(buf), *v = NULL; /* equal, not identical */
        assert_int_equal(cog_dict_get(d, k, &v), 1);
        assert_int_equal(cog_int_value(v), i * 1000);
        assert_int_equal(cog_int_value(cog_dict_get_borrowed(d, k)), i * 1000);
        cog_decref(v);
        if (i % 2) assert_int_equal(cog_dict_del(d, k), 1);
        cog_decref(k);
    }
    assert_int_equal(cog_dict_size(d), 500);
    cog_object *k = cog_str_from_cstr("k1"), *v = (cog_object *)1;
    assert_int_equal(cog_dict_get(d, k, &v), 0);
    assert_null(v);
    assert_int_equal(cog_dict_del(d, k), 0);
    cog_decref(k);
    size_t pos = 0, n = 0;
    cog_object *key, *val;
    while (cog_dict_next(d, &pos, &key, &val) == 1) {
        assert_int_equal(cog_int_value(val) % 2000, 0);
        cog_decref(key), cog_decref(val);
        n++;
    }
    assert_int_equal(n, 500);
    cog_object *keys = cog_dict_keys(d);
    assert_int_equal(cog_tuple_size(keys), 500);
    cog_decref(keys);
    cog_decref(d);
}

static void replace_releases_old_and_keys_by_value(void **state) {
    (void)state;
    cog_object *d = cog_dict_new();
    test_node *a = test_node_new(1), *b = test_node_new(2);
    cog_object *t1 = cog_tuple_pack(2, cog_int_from_i64(1), cog_int_from_i64(100));
    cog_object *t2 = cog_tuple_pack(2, cog_int_from_i64(1), cog_int_from_i64(100));
    cog_dict_set(d, t1, &a->ob);
    assert_int_equal(cog_refcount(&a->ob), 2);
    cog_dict_set(d, t2, &b->ob); /* same key by value */
    assert_int_equal(cog_dict_size(d), 1);
    assert_int_equal(cog_refcount(&a->ob), 1);
    assert_int_equal(cog_refcount(t2), 1); /* the dict kept t1 as key */
    cog_object *v = NULL;
    assert_int_equal(cog_dict_pop(d, t1, &v), 1);
    assert_ptr_equal(v, &b->ob);
    assert_int_equal(cog_refcount(&b->ob), 2);
    assert_int_equal(cog_refcount(t1), 1);
    cog_decref(v);
    /* identity keys for other types */
    cog_dict_set(d, &a->ob, &b->ob);
    assert_ptr_equal(cog_dict_get_borrowed(d, &a->ob), &b->ob);
    assert_null(cog_dict_get_borrowed(d, &b->ob));
    assert_int_equal(cog_dict_clear(d), COG_OK);
    assert_int_equal(cog_dict_size(d), 0);
    assert_int_equal(cog_refcount(&a->ob), 1);
    cog_decref(&a->ob), cog_decref(&b->ob), cog_decref(t1), cog_decref(t2), cog_decref(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(set_get_del_many),
        TEST_CASE(replace_releases_old_and_keys_by_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
