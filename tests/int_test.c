/* tests/int_test.c - ints, small-int cache, bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static void small_ints_are_shared_and_immortal(void **state) {
    (void)state;
    for (int64_t v = COG_SMALL_INT_MIN; v <= COG_SMALL_INT_MAX; v++) {
        cog_object *a = cog_int_from_i64(v), *b = cog_int_from_i64(v);
        assert_ptr_equal(a, b);
        assert_true(cog_is_immortal(a));
        assert_int_equal(cog_int_value(a), v);
        cog_decref(a); /* no-op on immortals */
    }
}

static void big_ints_are_mortal(void **state) {
    (void)state;
    int64_t vals[] = {257, -6, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < 4; i++) {
        cog_object *a = cog_int_from_i64(vals[i]), *b = cog_int_from_i64(vals[i]);
        assert_non_null(a);
        assert_ptr_not_equal(a, b);
        assert_false(cog_is_immortal(a));
        assert_int_equal(cog_refcount(a), 1);
        assert_int_equal(cog_int_value(a), vals[i]);
        assert_true(cog_int_check(a));
        assert_true(cog_object_equal(a, b));
        assert_int_equal(cog_object_hash(a), cog_object_hash(b));
        cog_decref(a);
        cog_decref(b);
    }
}

static void bytes_basics(void **state) {
    (void)state;
    cog_object *a = cog_bytes_new("a\0b\xff", 4), *b = cog_bytes_new("a\0b\xff", 4);
    cog_object *c = cog_bytes_new("a\0b", 3), *e = cog_bytes_new(NULL, 0);
    assert_non_null(e);
    assert_int_equal(cog_bytes_len(a), 4);
    assert_memory_equal(cog_bytes_data(a), "a\0b\xff", 4);
    assert_true(cog_bytes_equal(a, b));
    assert_false(cog_bytes_equal(a, c));
    assert_int_equal(cog_bytes_hash(a), cog_bytes_hash(b));
    assert_int_equal(cog_bytes_len(e), 0);
    assert_null(cog_bytes_new(NULL, 3));
    cog_decref(a), cog_decref(b), cog_decref(c), cog_decref(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(small_ints_are_shared_and_immortal),
        TEST_CASE(big_ints_are_mortal),
        TEST_CASE(bytes_basics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
