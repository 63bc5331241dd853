/* tests/intern_test.c - the intern table, single thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"

static int setup(void **state) { (void)state; return cog_init() == COG_OK ? 0 : -1; }
static int teardown(void **state) { (void)state; return cog_shutdown() == COG_OK ? 0 : -1; }

static uint64_t table_count(void) {
    cog_intern_stats s;
    assert_int_equal(cog_intern_get_stats(&s), COG_OK);
    return s.count;
}

static void same_object_for_equal_strings(void **state) {
    (void)state;
    cog_intern_stats s0, s1;
    cog_intern_get_stats(&s0);
    cog_object *a = cog_str_intern("hello", 5);
    cog_object *b = cog_str_intern("hello", 5);
    cog_object *plain = cog_str_from_cstr("hello");
    cog_object *c = cog_str_intern_obj(plain);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    assert_true(cog_str_is_interned(a));
    assert_true(cog_str_equal(a, plain));
    assert_int_equal(cog_refcount(a), 3);
    cog_object *d = cog_str_intern_obj(a);
    assert_ptr_equal(d, a);
    cog_intern_get_stats(&s1);
    assert_int_equal(s1.count, s0.count + 1);
    assert_int_equal(s1.lookups - s0.lookups, 3); /* intern_obj(a) is no lookup */
    assert_int_equal(s1.hits - s0.hits, 2);
    assert_true(s1.buckets >= 1024);
    cog_decref(a), cog_decref(b), cog_decref(c), cog_decref(d), cog_decref(plain);
}

static void mortal_strings_leave_the_table(void **state) {
    (void)state;
    uint64_t n0 = table_count();
    cog_object *a = cog_str_intern("transient", 9);
    assert_int_equal(table_count(), n0 + 1);
    cog_decref(a);
    assert_int_equal(table_count(), n0);
    /* Interning again creates a new canonical string that works. */
    cog_object *b = cog_str_intern("transient", 9);
    assert_non_null(b);
    assert_true(cog_str_equal_bytes(b, "transient", 9));
    assert_int_equal(cog_refcount(b), 1);
    cog_decref(b);
    assert_int_equal(table_count(), n0);
}

static void immortal_interning(void **state) {
    (void)state;
    cog_object *m = cog_str_intern("pinned", 6); /* mortal first */
    cog_object *i = cog_str_intern_immortal("pinned", 6);
    assert_ptr_equal(m, i);
    assert_true(cog_is_immortal(i));
    cog_decref(m);
    cog_decref(i);
    cog_object *again = cog_str_intern("pinned", 6);
    assert_ptr_equal(again, i);
    cog_object *fresh = cog_str_intern_immortal("pinned2", 7);
    assert_true(cog_is_immortal(fresh));
}

static void rejects_bad_input(void **state) {
    (void)state;
    assert_null(cog_str_intern("\xff", 1));
    cog_object *b = cog_bytes_new("x", 1);
    assert_null(cog_str_intern_obj(b));
    cog_decref(b);
    cog_object *e = cog_str_intern("", 0);
    assert_non_null(e);
    assert_int_equal(cog_str_len(e), 0);
    cog_decref(e);
}

static void table_grows_and_stays_consistent(void **state) {
    (void)state;
    enum { N = 5000 };
    static cog_object *held[N];
    char buf[32];
    cog_intern_stats s0, s1;
    cog_intern_get_stats(&s0);
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "grow-%d", i);
        held[i] = cog_str_intern(buf, (size_t)n);
    }
    cog_intern_get_stats(&s1);
    assert_int_equal(s1.count, s0.count + N);
    assert_true(s1.buckets > s0.buckets); /* resized past 2 per bucket */
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "grow-%d", i);
        cog_object *again = cog_str_intern(buf, (size_t)n);
        assert_ptr_equal(again, held[i]);
        cog_decref(again);
        cog_decref(held[i]);
    }
    cog_intern_get_stats(&s1);
    assert_int_equal(s1.count, s0.count);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_object_for_equal_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(mortal_strings_leave_the_table, setup, teardown),
        cmocka_unit_test_setup_teardown(immortal_interning, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(table_grows_and_stays_consistent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
