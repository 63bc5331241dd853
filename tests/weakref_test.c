/* tests/weakref_test.c - weak references, single thread.
 *
 * Until lib/core/object.c calls cog_weakref_clear_referent in its free path,
 * the referent type here calls it from its dealloc (same point in the
 * object's life: count 0, memory not yet released). Calling it twice is
 * harmless, so this keeps working once object.c does it too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

void cog_weakref_clear_referent(cog_object *o); /* lib/core/upcalls.h */

static atomic_long target_deallocs;
static void target_dealloc(cog_object *self) {
    cog_weakref_clear_referent(self);
    atomic_fetch_add(&target_deallocs, 1);
}
static const cog_type target_type = {
    .name = "Target", .basic_size = sizeof(cog_object), .dealloc = target_dealloc};

static int calls;
static cog_object *seen_wr;
static void cb(cog_object *wr, void *arg) {
    calls++;
    seen_wr = wr;
    /* The referent is already unreachable through the weakref. */
    assert_null(cog_weakref_get(wr));
    *(int *)arg += 1;
}

static void get_until_death_then_callback(void **state) {
    (void)state;
    calls = 0;
    int flag = 0;
    cog_object *t = cog_new(&target_type);
    cog_object *wr = cog_weakref_new(t, cb, &flag);
    assert_non_null(wr);
    assert_true(cog_weakref_check(wr));
    cog_object *g = cog_weakref_get(wr);
    assert_ptr_equal(g, t);
    assert_int_equal(cog_refcount(t), 2);
    cog_decref(g);
    assert_false(cog_weakref_is_dead(wr));
    long before = atomic_load(&target_deallocs);
    cog_decref(t);
    assert_int_equal(atomic_load(&target_deallocs), before + 1);
    assert_int_equal(calls, 1);
    assert_int_equal(flag, 1);
    assert_ptr_equal(seen_wr, wr);
    assert_null(cog_weakref_get(wr));
    assert_true(cog_weakref_is_dead(wr));
    cog_decref(wr);
}

static void weakref_dying_first_unlinks(void **state) {
    (void)state;
    calls = 0;
    int flag = 0;
    cog_object *t = cog_new(&target_type);
    cog_object *w1 = cog_weakref_new(t, cb, &flag);
    cog_object *w2 = cog_weakref_new(t, NULL, NULL);
    cog_decref(w1); /* gone before the referent: no callback */
    cog_object *g = cog_weakref_get(w2);
    assert_ptr_equal(g, t);
    cog_decref(g);
    cog_decref(t);
    assert_int_equal(calls, 0);
    assert_null(cog_weakref_get(w2));
    cog_decref(w2);
}

static void immortal_referent_never_dies(void **state) {
    (void)state;
    cog_object *five = cog_int_from_i64(5);
    cog_object *wr = cog_weakref_new(five, NULL, NULL);
    assert_ptr_equal(cog_weakref_get(wr), five);
    cog_decref(wr);
    assert_null(cog_weakref_new(NULL, NULL, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(get_until_death_then_callback),
        TEST_CASE(weakref_dying_first_unlinks),
        TEST_CASE(immortal_referent_never_dies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
