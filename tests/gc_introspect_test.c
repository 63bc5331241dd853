/* tests/gc_introspect_test.c - cog_gc_get_objects / get_referrers /
 * get_referents: results, reference ownership, errors, and concurrent use
 * while mutators churn cycles and the collector runs (tsan). */
#include <pthread.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static int contains(cog_object **v, long n, const void *o) {
    for (long i = 0; i < n; i++)
        if (v[i] == (const cog_object *)o) return 1;
    return 0;
}

static void drop_all(cog_object **v, long n) {
    for (long i = 0; i < n; i++) cog_decref(v[i]);
}

#define CAP 4096
static cog_object *buf[CAP];

static void get_objects_finds_own_objects_with_new_references(void **state) {
    (void)state;
    test_node *a = test_node_new(1), *b = test_node_new(2);
    long n = cog_gc_get_objects(-1, buf, CAP);
    assert_true(n >= 2 && n <= CAP);
    assert_true(contains(buf, n, a));
    assert_true(contains(buf, n, b));
    /* Each returned pointer is a new reference. */
    assert_int_equal(cog_refcount(&a->ob), 2);
    drop_all(buf, n);
    assert_int_equal(cog_refcount(&a->ob), 1);
    /* Count only. */
    long counted = cog_gc_get_objects(-1, NULL, 0);
    assert_int_equal(counted, n);
    /* A small buffer: references for the first cap only, total reported. */
    cog_object *two[1];
    assert_int_equal(cog_gc_get_objects(-1, two, 1), n);
    cog_decref(two[0]);
    assert_int_equal(cog_refcount(&a->ob), 1);
    assert_int_equal(cog_refcount(&b->ob), 1);
    cog_decref(&a->ob);
    cog_decref(&b->ob);
}

static void get_objects_by_generation(void **state) {
    (void)state;
    test_node *a = test_node_new(1);
    long n = cog_gc_get_objects(0, buf, CAP);
    assert_true(contains(buf, n, a));
    drop_all(buf, n);
    assert_true(cog_gc_collect(0) >= 0); /* survivors move to generation 1 */
    n = cog_gc_get_objects(0, buf, CAP);
    assert_false(contains(buf, n, a));
    drop_all(buf, n);
    n = cog_gc_get_objects(1, buf, CAP);
    assert_true(contains(buf, n, a));
    drop_all(buf, n);
    /* Frozen objects are in no generation, but in the -1 listing. */
    cog_gc_freeze();
    n = cog_gc_get_objects(1, buf, CAP);
    assert_false(contains(buf, n, a));
    drop_all(buf, n);
    n = cog_gc_get_objects(-1, buf, CAP);
    assert_true(contains(buf, n, a));
    drop_all(buf, n);
    cog_gc_unfreeze();
    cog_decref(&a->ob);
}

static void dead_objects_are_not_returned(void **state) {
    (void)state;
    test_node *a = test_node_new(1);
    cog_decref(&a->ob);
    long n = cog_gc_get_objects(-1, buf, CAP);
    assert_false(contains(buf, n, a));
    drop_all(buf, n);
}

static void referrers_and_referents(void **state) {
    (void)state;
    test_node *a = test_node_new(1), *b = test_node_new(2), *c = test_node_new(3);
    cog_incref(&b->ob);
    cog_ref_store(&a->next, &b->ob); /* a -> b */
    cog_incref(&b->ob);
    cog_ref_store(&c->next, &b->ob); /* c -> b */
    cog_object *target = &b->ob;
    long n = cog_gc_get_referrers(&target, 1, buf, CAP);
    assert_int_equal(n, 2);
    assert_true(contains(buf, n, a));
    assert_true(contains(buf, n, c));
    drop_all(buf, n);

    cog_object *srcs[2] = {&a->ob, &b->ob};
    n = cog_gc_get_referents(srcs, 2, buf, CAP);
    assert_int_equal(n, 1); /* b refers to nothing */
    assert_ptr_equal(buf[0], &b->ob);
    assert_int_equal(cog_refcount(&b->ob), 4); /* owner, a, c, our result */
    drop_all(buf, n);

    /* Non-GC objects have no referents; a list's items are found. */
    cog_object *s = cog_str_from_cstr("x");
    cog_object *l = cog_list_new();
    assert_non_null(s);
    assert_non_null(l);
    assert_int_equal(cog_list_append(l, s), COG_OK);
    n = cog_gc_get_referents(&s, 1, buf, CAP);
    assert_int_equal(n, 0);
    n = cog_gc_get_referents(&l, 1, buf, CAP);
    assert_int_equal(n, 1);
    assert_ptr_equal(buf[0], s);
    drop_all(buf, n);
    n = cog_gc_get_referrers(&s, 1, buf, CAP);
    assert_int_equal(n, 1);
    assert_ptr_equal(buf[0], l);
    drop_all(buf, n);
    cog_decref(l);
    cog_decref(s);

    cog_decref(&a->ob);
    cog_decref(&c->ob);
    cog_decref(&b->ob);
}

static void bad_arguments(void **state) {
    (void)state;
    assert_int_equal(cog_gc_get_objects(3, buf, CAP), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "generation 3"));
    assert_int_equal(cog_gc_get_objects(-2, buf, CAP), COG_EINVAL);
    assert_int_equal(cog_gc_get_objects(0, NULL, 5), COG_EINVAL);
    assert_int_equal(cog_gc_get_referrers(NULL, 1, buf, CAP), COG_EINVAL);
    assert_int_equal(cog_gc_get_referents(NULL, 1, buf, CAP), COG_EINVAL);
    cog_object *none = NULL;
    assert_int_equal(cog_gc_get_referents(&none, 1, buf, CAP), COG_EINVAL);
    assert_int_equal(cog_gc_get_referrers(NULL, 0, NULL, 0), 0);
    /* The rest of the control API rejects bad values the same way. */
    assert_int_equal(cog_gc_collect(3), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "generation 3"));
    assert_int_equal(cog_gc_collect(-2), COG_EINVAL);
    long before[3], after[3];
    cog_gc_get_threshold(before);
    assert_int_equal(cog_gc_set_threshold(-5, 10, 10), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "threshold0 must be >= 0"));
    assert_int_equal(cog_gc_set_threshold(10, -1, 10), COG_EINVAL);
    assert_int_equal(cog_gc_set_threshold(10, 10, 0), COG_EINVAL);
    cog_gc_get_threshold(after);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(cog_gc_set_debug(0x1000), COG_EINVAL);
}

static void *unattached_call(void *arg) {
    (void)arg;
    long rc = cog_gc_get_objects(-1, NULL, 0);
    return (void *)(intptr_t)rc;
}

static void unattached_thread_is_refused(void **state) {
    (void)state;
    pthread_t t;
    void *ret;
    assert_int_equal(pthread_create(&t, NULL, unattached_call, NULL), 0);
    cog_thread_offline();
    pthread_join(t, &ret);
    cog_thread_online();
    assert_int_equal((intptr_t)ret, COG_ENOTATTACHED);
}

/* An object another thread created and handed over (merged at its detach)
 * is found from this thread. */
static cog_object *handed;

static void *make_and_detach(void *arg) {
    (void)arg;
    cog_thread_attach();
    handed = &test_node_new(42)->ob;
    cog_thread_detach();
    return NULL;
}

static void merged_objects_of_other_threads_are_found(void **state) {
    (void)state;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, make_and_detach, NULL), 0);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
    long n = cog_gc_get_objects(-1, buf, CAP);
    assert_true(contains(buf, n, handed));
    drop_all(buf, n);
    assert_int_equal(cog_refcount(handed), 1);
    cog_decref(handed);
}

/* Objects private to another attached thread (shared count 0): found
 * through the owner's cooperation, whether it is running safe points
 * (online) or blocked offline. */
static pthread_mutex_t own_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t own_c = PTHREAD_COND_INITIALIZER;
static int own_state; /* 0 start, 1 ready, 2 release */
static cog_object *own_node, *own_list, *own_str;
static long own_deallocs_seen;

static void *private_owner(void *arg) {
    int stay_online = (int)(intptr_t)arg;
    cog_thread_attach();
    own_node = &test_node_new(99)->ob;
    own_list = cog_list_new();
    own_str = cog_str_from_cstr("private");
    cog_list_append(own_list, own_str);
    pthread_mutex_lock(&own_m);
    own_state = 1;
    pthread_cond_broadcast(&own_c);
    pthread_mutex_unlock(&own_m);
    if (stay_online) {
        for (;;) { /* busy with safe points, as a worker loop would be */
            pthread_mutex_lock(&own_m);
            int st = own_state;
            pthread_mutex_unlock(&own_m);
            if (st == 2) break;
            cog_safepoint();
        }
    } else {
        cog_thread_offline(); /* blocked, as in I/O */
        pthread_mutex_lock(&own_m);
        while (own_state != 2) pthread_cond_wait(&own_c, &own_m);
        pthread_mutex_unlock(&own_m);
        cog_thread_online();
    }
    own_deallocs_seen = atomic_load(&test_node_deallocs);
    cog_decref(own_node);
    cog_decref(own_str);
    cog_decref(own_list);
    cog_thread_detach();
    return NULL;
}

static void private_objects_of_other_threads(int stay_online) {
    own_state = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, private_owner, (void *)(intptr_t)stay_online), 0);
    cog_thread_offline();
    pthread_mutex_lock(&own_m);
    while (own_state != 1) pthread_cond_wait(&own_c, &own_m);
    pthread_mutex_unlock(&own_m);
    cog_thread_online();
    assert_int_equal(atomic_load_explicit(&own_node->ob_ref_shared, memory_order_relaxed), 0);

    long n = cog_gc_get_objects(-1, buf, CAP);
    assert_true(contains(buf, n, own_node));
    assert_true(contains(buf, n, own_list));
    assert_int_equal(cog_refcount(own_node), 2); /* the owner's and ours */
    drop_all(buf, n);
    cog_object *l = own_list;
    /* get_referents wants references to its arguments: take them. */
    n = cog_gc_get_objects(-1, buf, CAP);
    assert_true(contains(buf, n, l));
    n = cog_gc_get_referents(&l, 1, buf + n, CAP - (size_t)n) + n;
    assert_true(contains(buf, n, own_str));
    assert_int_equal(cog_refcount(own_str), 3); /* owner, list, us */
    drop_all(buf, n);

    pthread_mutex_lock(&own_m);
    own_state = 2;
    pthread_cond_broadcast(&own_c);
    pthread_mutex_unlock(&own_m);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
    cog_safepoint();
    /* Our references were dropped: the owner's decref freed the node. */
    assert_int_equal(atomic_load(&test_node_deallocs), own_deallocs_seen + 1);
}

static void private_objects_of_an_online_thread(void **state) {
    (void)state;
    private_objects_of_other_threads(1);
}

static void private_objects_of_an_offline_thread(void **state) {
    (void)state;
    private_objects_of_other_threads(0);
}

/* ---- concurrent ---------------------------------------------------------- */

static atomic_int stop;

static test_node *churn_node(int64_t v) {
    test_node *n = (test_node *)cog_new(&test_node_type);
    if (!n) {
        fprintf(stderr, "churn: cog_new failed: %s\n", cog_last_error());
        abort();
    }
    n->value = v;
    n->canary = TEST_CANARY;
    return n;
}

static void *churn(void *arg) {
    (void)arg;
    cog_thread_attach();
    test_node *keep = test_node_new(0);
    /* Bounded: the collector (one thread) must be able to keep up. */
    long rounds = test_scale(400);
    for (long r = 0; r < rounds && !atomic_load(&stop); r++) {
        for (int i = 0; i < 50; i++) {
            test_node *a = churn_node(i), *b = churn_node(i);
            cog_incref(&b->ob);
            cog_ref_store(&a->next, &b->ob);
            cog_incref(&a->ob);
            cog_ref_store(&b->next, &a->ob); /* cycle */
            if (i % 7 == 0) {
                cog_incref(&a->ob);
                cog_ref_store(&keep->next, &a->ob); /* shared-ish, replaced */
            }
            cog_decref(&a->ob);
            cog_decref(&b->ob);
        }
        cog_safepoint();
    }
    cog_decref(&keep->ob);
    cog_thread_detach();
    return NULL;
}

/* Worker threads cannot use cmocka's asserts (they longjmp into the main
 * thread's test): fail loudly and exit instead. */
#define WORKER_CHECK(cond)                                                              \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: worker check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static void *introspect(void *arg) {
    (void)arg;
    cog_thread_attach();
    cog_object **v = malloc(CAP * sizeof *v);
    if (!v) abort();
    test_node *mine = test_node_new(7);
    long iters = test_scale(40);
    for (long k = 0; k < iters; k++) {
        long n = cog_gc_get_objects(k % 2 ? -1 : 0, v, CAP);
        /* Never an error; the -1 listing always holds at least our node. */
        if (n < 0) fprintf(stderr, "get_objects: %s\n", cog_last_error());
        WORKER_CHECK(n >= 0 && (!(k % 2) || n >= 1));
        long stored = n < CAP ? n : CAP;
        if (n <= CAP)
            for (long i = 0; i < stored; i++) WORKER_CHECK(v[i]); /* compact */
        for (long i = 0; i < stored; i++) {
            /* A returned object is alive and ours to use. */
            WORKER_CHECK(!v[i] || v[i]->ob_type != &test_node_type ||
                         ((test_node *)v[i])->canary == TEST_CANARY);
        }
        cog_object *probe = stored > 0 && v[0] ? v[0] : &mine->ob;
        long r = cog_gc_get_referrers(&probe, 1, NULL, 0);
        WORKER_CHECK(r >= 0);
        r = cog_gc_get_referents(&probe, 1, v + stored, stored < CAP ? 1 : 0);
        WORKER_CHECK(r >= 0);
        if (r > 0 && stored < CAP) cog_xdecref(v[stored]); /* NULL if it died */
        for (long i = 0; i < stored; i++) cog_xdecref(v[i]);
        cog_gc_set_threshold(50 + k % 100, 5 + k % 3, 5);
        cog_safepoint();
    }
    cog_decref(&mine->ob);
    free(v);
    cog_thread_detach();
    return NULL;
}

static void concurrent_introspection_with_collections(void **state) {
    (void)state;
    cog_gc_set_threshold(100, 5, 5);
    cog_gc_enable();
    atomic_store(&stop, 0);
    enum { NCHURN = 3, NINTRO = 2 };
    pthread_t c[NCHURN], in[NINTRO];
    for (int i = 0; i < NCHURN; i++) assert_int_equal(pthread_create(&c[i], NULL, churn, NULL), 0);
    for (int i = 0; i < NINTRO; i++)
        assert_int_equal(pthread_create(&in[i], NULL, introspect, NULL), 0);
    cog_thread_offline();
    for (int i = 0; i < NINTRO; i++) pthread_join(in[i], NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < NCHURN; i++) pthread_join(c[i], NULL);
    cog_thread_online();
    /* Everything the churners made was cyclic garbage: collect it all. */
    cog_gc_collect(2);
    cog_gc_collect(2);
    long n = cog_gc_get_objects(-1, NULL, 0);
    assert_int_equal(n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE_GC_OFF(get_objects_finds_own_objects_with_new_references),
        TEST_CASE_GC_OFF(get_objects_by_generation),
        TEST_CASE_GC_OFF(dead_objects_are_not_returned),
        TEST_CASE_GC_OFF(referrers_and_referents),
        TEST_CASE_GC_OFF(bad_arguments),
        TEST_CASE_GC_OFF(unattached_thread_is_refused),
        TEST_CASE_GC_OFF(merged_objects_of_other_threads_are_found),
        TEST_CASE_GC_OFF(private_objects_of_an_online_thread),
        TEST_CASE_GC_OFF(private_objects_of_an_offline_thread),
        TEST_CASE_GC_OFF(concurrent_introspection_with_collections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
