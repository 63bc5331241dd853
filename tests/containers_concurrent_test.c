/* tests/containers_concurrent_test.c - lists and dicts mutated by many
 * threads while others read. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

#define WRITERS 4
#define READERS 3
static cog_object *shared_list, *shared_dict;
static atomic_int writers_done;
static long per_writer;

static void *list_writer(void *arg) {
    long id = (long)(intptr_t)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    for (long i = 0; i < per_writer; i++) {
        test_node *n = test_node_new(id * 1000000 + i);
        assert_int_equal(cog_list_append(shared_list, &n->ob), COG_OK);
        cog_decref(&n->ob);
        if (i % 3 == 2) { /* pop something back out: exercises removal */
            cog_object *o = cog_list_pop(shared_list, 0);
            assert_non_null(o);
            assert_int_equal(((test_node *)o)->canary, TEST_CANARY);
            cog_decref(o);
        }
        if (i % 64 == 0) cog_safepoint();
    }
    atomic_fetch_add(&writers_done, 1);
    cog_thread_detach();
    return NULL;
}

static void *list_reader(void *arg) {
    (void)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    long reads = 0;
    while (atomic_load(&writers_done) < WRITERS) {
        size_t n = cog_list_size(shared_list);
        if (n) {
            cog_object *o = cog_list_get(shared_list, (int64_t)(reads % n));
            /* May fail if pops shrank the list meanwhile; never garbage. */
            if (o) {
                assert_int_equal(((test_node *)o)->canary, TEST_CANARY);
                cog_decref(o);
            }
            cog_object *t = cog_list_snapshot(shared_list);
            for (size_t i = 0; i < cog_tuple_size(t); i++)
                assert_int_equal(((test_node *)cog_tuple_get_borrowed(t, i))->canary, TEST_CANARY);
            cog_decref(t);
        }
        if (++reads % 16 == 0) cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void run(void *(*w)(void *), void *(*r)(void *)) {
    pthread_t th[WRITERS + READERS];
    atomic_store(&writers_done, 0);
    for (long i = 0; i < WRITERS; i++) pthread_create(&th[i], NULL, w, (void *)(intptr_t)i);
    for (long i = 0; i < READERS; i++) pthread_create(&th[WRITERS + i], NULL, r, NULL);
    cog_thread_offline();
    for (int i = 0; i < WRITERS + READERS; i++) pthread_join(th[i], NULL);
    cog_thread_online();
}

static void list_concurrent_append_pop_read(void **state) {
    (void)state;
    per_writer = test_scale(3000);
    long before = atomic_load(&test_node_deallocs);
    shared_list = cog_list_new();
    run(list_writer, list_reader);
    long pops = WRITERS * (per_writer / 3);
    assert_int_equal(cog_list_size(shared_list), WRITERS * per_writer - pops);
    /* Every remaining item is distinct and intact. */
    cog_object *d = cog_dict_new();
    for (size_t i = 0; i < cog_list_size(shared_list); i++) {
        cog_object *o = cog_list_get_borrowed(shared_list, (int64_t)i);
        assert_int_equal(((test_node *)o)->canary, TEST_CANARY);
        assert_null(cog_dict_get_borrowed(d, o));
        cog_dict_set(d, o, o);
    }
    cog_decref(d);
    cog_decref(shared_list);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + WRITERS * per_writer);
}

static void *dict_writer(void *arg) {
    long id = (long)(intptr_t)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    for (long i = 0; i < per_writer; i++) {
        /* Overlapping keys across writers: key i % 500. */
        cog_object *k = cog_int_from_i64(1000 + i % 500);
        test_node *v = test_node_new(id);
        assert_int_equal(cog_dict_set(shared_dict, k, &v->ob), COG_OK);
        cog_decref(&v->ob);
        if (i % 5 == 4) cog_dict_del(shared_dict, k);
        cog_decref(k);
        if (i % 64 == 0) cog_safepoint();
    }
    atomic_fetch_add(&writers_done, 1);
    cog_thread_detach();
    return NULL;
}

static void *dict_reader(void *arg) {
    (void)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    long reads = 0;
    while (atomic_load(&writers_done) < WRITERS) {
        cog_object *k = cog_int_from_i64(1000 + reads % 500), *v = NULL;
        if (cog_dict_get(shared_dict, k, &v) == 1) {
            assert_int_equal(((test_node *)v)->canary, TEST_CANARY);
            assert_true(((test_node *)v)->value < WRITERS);
            cog_decref(v);
        }
        cog_decref(k);
        size_t pos = 0;
        cog_object *key, *val;
        for (int j = 0; j < 8 && cog_dict_next(shared_dict, &pos, &key, &val) == 1; j++) {
            assert_int_equal(((test_node *)val)->canary, TEST_CANARY);
            cog_decref(key), cog_decref(val);
        }
        if (++reads % 16 == 0) cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void dict_concurrent_set_del_read(void **state) {
    (void)state;
    per_writer = test_scale(3000);
    long before = atomic_load(&test_node_deallocs);
    shared_dict = cog_dict_new();
    run(dict_writer, dict_reader);
    size_t n = cog_dict_size(shared_dict);
    assert_true(n <= 500);
    size_t pos = 0, seen = 0;
    cog_object *key, *val;
    while (cog_dict_next(shared_dict, &pos, &key, &val) == 1) {
        int64_t kv = cog_int_value(key);
        assert_true(kv >= 1000 && kv < 1500);
        cog_decref(key), cog_decref(val);
        seen++;
    }
    assert_int_equal(seen, n);
    cog_decref(shared_dict);
    cog_safepoint();
    assert_int_equal(atomic_load(&test_node_deallocs), before + WRITERS * per_writer);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(list_concurrent_append_pop_read),
        TEST_CASE(dict_concurrent_set_del_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
