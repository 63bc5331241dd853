/* tests/storage_free_test.c - when the storage of a dead container goes
 * back to its heap: at once when no collection window is open, after the
 * window and a grace period inside one (lib/types/storage.c). Counts are
 * exact because nothing else allocates: automatic collections are off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cog/cog.h"
#include "collector/gc_internal.h"
#include "lib/base/rcu.h"
#include "tests/fixture.h"
#include "tests/test_types.h"

static uint64_t blocks_in_use(void) { return test_class_blocks_in_use(NULL); }

/* A list of 100 immortal items: its object and its last item array are
 * the only blocks its death frees (the four arrays its growth replaced
 * were already queued for a grace period). */
static cog_object *grown_list(void) {
    cog_object *l = cog_list_new();
    assert_non_null(l);
    for (int i = 0; i < 100; i++) assert_int_equal(cog_list_append(l, cog_int_from_i64(i)), COG_OK);
    return l;
}

static cog_object *grown_dict(void) {
    cog_object *d = cog_dict_new();
    assert_non_null(d);
    for (int i = 0; i < 40; i++)
        assert_int_equal(cog_dict_set(d, cog_int_from_i64(i), cog_int_from_i64(i)), COG_OK);
    return d;
}

static void freed_at_once(cog_object *(*make)(void)) {
    cog_object *o = make();
    uint64_t before = blocks_in_use();
    cog_decref(o);
    /* No safe point in between: nothing deferred could have been freed. */
    assert_int_equal(before - blocks_in_use(), 2);
}

static void list_storage_is_freed_at_once(void **state) {
    (void)state;
    freed_at_once(grown_list);
}

static void dict_storage_is_freed_at_once(void **state) {
    (void)state;
    freed_at_once(grown_dict);
}

typedef struct in_window {
    cog_object *o;
    uint64_t before, after;
} in_window;

static void drop_in_window(void *arg) {
    in_window *w = arg;
    w->before = blocks_in_use();
    cog_decref(w->o);
    w->after = blocks_in_use();
}

/* Inside a window a traversal may be reading the storage: it waits, and
 * is freed once the window has closed and a grace period has passed. */
static void deferred_inside_a_window(cog_object *(*make)(void)) {
    in_window w = {.o = make()};
    uint64_t start = blocks_in_use();
    assert_int_equal(cog_gc_with_window(drop_in_window, &w), COG_OK);
    assert_int_equal(w.before, start);
    assert_int_equal(w.after, w.before); /* neither the object nor its storage */
    for (int i = 0; i < 1000 && blocks_in_use() + 2 > start; i++) {
        cog_safepoint();
        cog_rcu_barrier();
    }
    assert_true(blocks_in_use() + 2 <= start);
}

static void list_storage_waits_inside_a_window(void **state) {
    (void)state;
    deferred_inside_a_window(grown_list);
}

static void dict_storage_waits_inside_a_window(void **state) {
    (void)state;
    deferred_inside_a_window(grown_dict);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(list_storage_is_freed_at_once, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(dict_storage_is_freed_at_once, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(list_storage_waits_inside_a_window, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(dict_storage_waits_inside_a_window, test_setup_gc_off,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
