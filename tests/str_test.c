/* tests/str_test.c - strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static void create_and_compare(void **state) {
    (void)state;
    cog_object *a = cog_str_from_cstr("héllo"), *b = cog_str_new("héllo", 6);
    cog_object *c = cog_str_from_cstr("hello");
    assert_non_null(a);
    assert_true(cog_str_check(a));
    assert_int_equal(cog_str_len(a), 6);
    assert_string_equal(cog_str_data(a), "héllo");
    assert_true(cog_str_equal(a, b));
    assert_false(cog_str_equal(a, c));
    assert_int_equal(cog_str_hash(a), cog_str_hash(b));
    assert_int_not_equal(cog_str_hash(a), 0);
    assert_true(cog_str_equal_bytes(c, "hello", 5));
    assert_false(cog_str_is_interned(a));
    cog_decref(a), cog_decref(b), cog_decref(c);
}

static void embedded_nul_and_empty(void **state) {
    (void)state;
    cog_object *a = cog_str_new("a\0b", 3), *e = cog_str_new("", 0);
    assert_int_equal(cog_str_len(a), 3);
    assert_false(cog_str_equal_bytes(a, "a", 1));
    assert_int_equal(cog_str_len(e), 0);
    assert_string_equal(cog_str_data(e), "");
    cog_decref(a), cog_decref(e);
}

static void rejects_invalid_utf8(void **state) {
    (void)state;
    const char *bad[] = {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "a\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(cog_str_new(bad[i], strlen(bad[i])));
        assert_non_null(strstr(cog_last_error(), "UTF-8"));
    }
    cog_object *ok = cog_str_from_cstr("\xf0\x9f\x98\x80 \xe2\x82\xac");
    assert_non_null(ok);
    cog_decref(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(create_and_compare),
        TEST_CASE(embedded_nul_and_empty),
        TEST_CASE(rejects_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
