/* tests/object_test.c - single-thread object lifecycle: counts, dealloc,
 * immortals, cog_new errors, finalizers and deep-chain deallocation. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static void incref_decref_dealloc(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *n = test_node_new(7);
    assert_non_null(n);
    assert_int_equal(cog_refcount(&n->ob), 1);
    assert_false(cog_is_immortal(&n->ob));
    cog_incref(&n->ob);
    cog_incref(&n->ob);
    assert_int_equal(cog_refcount(&n->ob), 3);
    cog_decref(&n->ob);
    cog_decref(&n->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    cog_decref(&n->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
}

/* A reference field keeps its referent alive; dropping the holder drops it. */
static void dealloc_releases_references(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *a = test_node_new(1);
    test_node *b = test_node_new(2);
    cog_incref(&b->ob);
    cog_ref_store(&a->next, &b->ob); /* a now holds one of b's references */
    assert_int_equal(cog_refcount(&b->ob), 2);
    assert_ptr_equal(cog_ref_load(&a->next), &b->ob);
    cog_decref(&a->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
    assert_int_equal(cog_refcount(&b->ob), 1);
    assert_int_equal(b->value, 2);
    cog_decref(&b->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2);
}

static void xincref_xdecref(void **state) {
    (void)state;
    cog_xincref(NULL); /* must be a no-op, not a crash */
    cog_xdecref(NULL);
    long before = atomic_load(&test_node_deallocs);
    test_node *n = test_node_new(1);
    cog_xincref(&n->ob);
    assert_int_equal(cog_refcount(&n->ob), 2);
    cog_xdecref(&n->ob);
    cog_xdecref(&n->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
}

/* A type without GC so a statically allocated immortal needs no tracking. */
static atomic_long plain_deallocs;
static void plain_dealloc(cog_object *self) {
    (void)self;
    atomic_fetch_add(&plain_deallocs, 1);
}
static const cog_type plain_type = {
    .name = "Plain", .basic_size = sizeof(cog_object), .dealloc = plain_dealloc};

static cog_object static_immortal = COG_IMMORTAL_HEAD(&plain_type);
/* Keeps the heap immortal reachable so LeakSanitizer does not report it. */
static test_node *heap_immortal;

static void immortal_objects_are_never_freed(void **state) {
    (void)state;
    assert_true(cog_is_immortal(&static_immortal));
    assert_int_equal(cog_refcount(&static_immortal), COG_IMMORTAL);
    /* Unbalanced decrefs would free (or underflow) a mortal object. */
    for (int i = 0; i < 1000; i++) cog_decref(&static_immortal);
    for (int i = 0; i < 10; i++) cog_incref(&static_immortal);
    assert_int_equal(cog_refcount(&static_immortal), COG_IMMORTAL);
    assert_int_equal(atomic_load(&plain_deallocs), 0);

    long before = atomic_load(&test_node_deallocs);
    heap_immortal = test_node_new(42);
    cog_set_immortal(&heap_immortal->ob);
    assert_true(cog_is_immortal(&heap_immortal->ob));
    for (int i = 0; i < 1000; i++) cog_decref(&heap_immortal->ob);
    cog_incref(&heap_immortal->ob);
    assert_int_equal(cog_refcount(&heap_immortal->ob), COG_IMMORTAL);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    assert_int_equal(heap_immortal->value, 42);
    assert_int_equal(heap_immortal->canary, TEST_CANARY);
}

/* An object made immortal by its owner stays immortal after the owner
 * detaches (the detach merges the counts of the objects a thread owns;
 * an immortal must not be among them) and is never freed. */
static test_node *thread_immortal;
static void *make_immortal_then_detach(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) return NULL;
    thread_immortal = test_node_new(9);
    cog_set_immortal(&thread_immortal->ob);
    for (int i = 0; i < 100; i++) cog_incref(&thread_immortal->ob);
    cog_thread_detach();
    return NULL;
}

static void immortal_survives_owner_detach(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    pthread_t t;
    cog_thread_offline();
    assert_int_equal(pthread_create(&t, NULL, make_immortal_then_detach, NULL), 0);
    pthread_join(t, NULL);
    cog_thread_online();
    assert_non_null(thread_immortal);
    assert_true(cog_is_immortal(&thread_immortal->ob));
    for (int i = 0; i < 1000; i++) cog_decref(&thread_immortal->ob);
    assert_int_equal(cog_refcount(&thread_immortal->ob), COG_IMMORTAL);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    assert_int_equal(thread_immortal->canary, TEST_CANARY);
}

static void new_rejects_null_type(void **state) {
    (void)state;
    assert_null(cog_new(NULL));
    assert_non_null(strstr(cog_last_error(), "NULL"));
}

static void new_rejects_gc_type_without_traverse(void **state) {
    (void)state;
    static const cog_type bad = {
        .name = "NoTraverse", .basic_size = sizeof(cog_object), .flags = COG_TYPE_GC};
    assert_null(cog_new(&bad));
    assert_non_null(strstr(cog_last_error(), "NoTraverse"));
    assert_non_null(strstr(cog_last_error(), "traverse"));
}

static void new_rejects_too_small_type(void **state) {
    (void)state;
    static const cog_type tiny = {.name = "Tiny", .basic_size = 8};
    assert_null(cog_new(&tiny));
    assert_non_null(strstr(cog_last_error(), "Tiny"));
}

static const cog_type var_type = {
    .name = "Var", .basic_size = sizeof(cog_varobject), .item_size = 8};

static void new_rejects_var_size_type(void **state) {
    (void)state;
    assert_null(cog_new(&var_type));
    assert_non_null(strstr(cog_last_error(), "cog_new_var"));
}

static void new_var_sizes_and_overflow(void **state) {
    (void)state;
    cog_varobject *v = (cog_varobject *)cog_new_var(&var_type, 5);
    assert_non_null(v);
    assert_int_equal(v->ob_size, 5);
    assert_int_equal(cog_object_size(&v->ob_base), sizeof(cog_varobject) + 5 * 8);
    /* The items are zeroed and writable (ASan checks the bounds). */
    uint64_t *items = (uint64_t *)(v + 1);
    for (int i = 0; i < 5; i++) assert_int_equal(items[i], 0);
    items[4] = 1;
    cog_decref(&v->ob_base);

    assert_null(cog_new_var(&var_type, SIZE_MAX / 4));
    assert_non_null(strstr(cog_last_error(), "overflow"));
    /* A fixed-size type has no ob_size field to fill. */
    static const cog_type fixed = {.name = "Fixed", .basic_size = sizeof(cog_object)};
    assert_null(cog_new_var(&fixed, 1));
    assert_non_null(strstr(cog_last_error(), "Fixed"));
}

/* Finalizer (PEP 442): runs once; the first run resurrects the object. */
static atomic_int finalize_calls;
static cog_object *resurrected;
static int resurrect;

static void fin_finalize(cog_object *self) {
    atomic_fetch_add(&finalize_calls, 1);
    if (resurrect) {
        cog_incref(self);
        resurrected = self;
    }
}

static const cog_type fin_type = {.name = "Finalized",
                                  .basic_size = sizeof(cog_object),
                                  .finalize = fin_finalize,
                                  .dealloc = plain_dealloc};

static void finalizer_runs_once(void **state) {
    (void)state;
    atomic_store(&finalize_calls, 0);
    long before = atomic_load(&plain_deallocs);
    resurrect = 0;
    cog_decref(cog_new(&fin_type));
    assert_int_equal(atomic_load(&finalize_calls), 1);
    assert_int_equal(atomic_load(&plain_deallocs), before + 1);
}

static void finalizer_resurrects_then_not_again(void **state) {
    (void)state;
    atomic_store(&finalize_calls, 0);
    long before = atomic_load(&plain_deallocs);
    resurrect = 1;
    resurrected = NULL;
    cog_object *o = cog_new(&fin_type);
    assert_non_null(o);
    cog_decref(o);
    assert_int_equal(atomic_load(&finalize_calls), 1);
    assert_ptr_equal(resurrected, o);
    assert_int_equal(atomic_load(&plain_deallocs), before); /* alive again */
    assert_int_equal(cog_refcount(o), 1);
    cog_incref(o); /* usable as any live object */
    cog_decref(o);
    cog_decref(resurrected); /* second death: no second finalize */
    assert_int_equal(atomic_load(&finalize_calls), 1);
    assert_int_equal(atomic_load(&plain_deallocs), before + 1);
    resurrect = 0;
}

/* Freeing a long chain recurses once per link without the trashcan. */
static void deep_chain_freed_without_stack_overflow(void **state) {
    (void)state;
    const long n = 1000000;
    long before = atomic_load(&test_node_deallocs);
    test_node *head = NULL;
    for (long i = 0; i < n; i++) {
        test_node *node = test_node_new(i);
        cog_ref_store(&node->next, (cog_object *)head);
        head = node;
    }
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    cog_decref(&head->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(incref_decref_dealloc),
        TEST_CASE(dealloc_releases_references),
        TEST_CASE(xincref_xdecref),
        TEST_CASE(immortal_objects_are_never_freed),
        TEST_CASE(immortal_survives_owner_detach),
        TEST_CASE(new_rejects_null_type),
        TEST_CASE(new_rejects_gc_type_without_traverse),
        TEST_CASE(new_rejects_too_small_type),
        TEST_CASE(new_rejects_var_size_type),
        TEST_CASE(new_var_sizes_and_overflow),
        TEST_CASE(finalizer_runs_once),
        TEST_CASE(finalizer_resurrects_then_not_again),
        TEST_CASE(deep_chain_freed_without_stack_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
