/* tests/intern_test.c - the intern table, single thread. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/types/str_internal.h"
#include "tests/test_types.h"
#include "tests/fixture.h"

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
    /* The string leaves the table once its review has confirmed the count
     * (two grace periods; docs/types.md "Deferred counts"). */
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), n0);
    /* Interning again creates a new canonical string that works. */
    cog_object *b = cog_str_intern("transient", 9);
    assert_non_null(b);
    assert_true(cog_str_equal_bytes(b, "transient", 9));
    assert_int_equal(cog_refcount(b), 1);
    cog_decref(b);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
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
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    cog_intern_get_stats(&s1);
    assert_int_equal(s1.count, s0.count);
}

/* ---- Deferred counts (lib/types/intern.c) ------------------------------------ */

static intptr_t raw_shared(cog_object *o) {
    return atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
}

#define ONE ((intptr_t)1 << COG_REF_SHARED_SHIFT)

/* A hit + decref pair writes nothing to the string; the +1/-1 live in this
 * thread's cache until a safe point flushes them. */
static void hit_and_decref_leave_the_string_alone(void **state) {
    (void)state;
    cog_object *a = cog_str_intern("deferred-x", 10); /* miss: S = 1 */
    cog_safepoint();
    intptr_t s0 = raw_shared(a);
    for (int i = 0; i < 100; i++) {
        cog_object *b = cog_str_intern("deferred-x", 10);
        assert_ptr_equal(b, a);
        assert_true(raw_shared(a) == s0);
        cog_decref(b);
        assert_true(raw_shared(a) == s0);
    }
    cog_object *b = cog_str_intern("deferred-x", 10);
    assert_true(raw_shared(a) == s0); /* +1 is pending in our cache */
    cog_safepoint();                  /* flushes it */
    assert_true(raw_shared(a) == s0 + ONE);
    cog_decref(b); /* our cache still holds the slot: a pending -1 */
    assert_true(raw_shared(a) == s0 + ONE);
    assert_int_equal(cog_refcount(a), 1); /* flushes our cache first */
    assert_true(raw_shared(a) == s0);
    /* A pair with no safe point between leaves S as it was. */
    b = cog_str_intern("deferred-x", 10);
    cog_decref(b);
    cog_safepoint();
    assert_true(raw_shared(a) == s0);
    cog_decref(a);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
}

/* Pause the review of one string right after it became DYING. */
static cog_str *_Atomic pause_target;
static cog_str *_Atomic paused_at;
static atomic_int pause_release;

static void pause_hook(cog_str *s) {
    if (s != atomic_load(&pause_target)) return;
    atomic_store(&paused_at, s);
    while (!atomic_load(&pause_release)) sched_yield();
}

static void wait_paused(cog_str *s) {
    cog_thread_offline(); /* let grace periods pass */
    for (long i = 0; atomic_load(&paused_at) != s; i++) {
        if (i > 20000000) fail_msg("the review never reached DYING");
        sched_yield();
    }
    cog_thread_online();
}

/* A lookup during the dying window revives the same string. */
static void revive_during_dying_window(void **state) {
    (void)state;
    uint64_t n0 = table_count();
    atomic_store(&paused_at, NULL);
    atomic_store(&pause_release, 0);
    cog_object *a = cog_str_intern("revive-me", 9);
    atomic_store(&pause_target, (cog_str *)a);
    cog__intern_review_hook = pause_hook;
    cog_decref(a);
    cog_safepoint(); /* whichever way the -1 went, it is in S now: review */
    wait_paused((cog_str *)a);
    assert_int_equal(cog_refcount(a), 0); /* DYING: decoded as 0 */
    cog_object *b = cog_str_intern("revive-me", 9);
    assert_ptr_equal(b, a); /* revived, not replaced */
    assert_int_equal(cog_refcount(b), 1);
    atomic_store(&pause_release, 1);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), n0 + 1);
    assert_int_equal(cog_refcount(b), 1);
    assert_true(cog_str_equal_bytes(b, "revive-me", 9));
    cog__intern_review_hook = NULL;
    atomic_store(&pause_target, NULL);
    cog_decref(b);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), n0);
}

/* Without a lookup, the dying string dies; the next lookup makes a new one. */
static void dying_string_dies_without_lookup(void **state) {
    (void)state;
    uint64_t n0 = table_count();
    atomic_store(&paused_at, NULL);
    atomic_store(&pause_release, 0);
    cog_object *a = cog_str_intern("dies", 4);
    atomic_store(&pause_target, (cog_str *)a);
    cog__intern_review_hook = pause_hook;
    cog_decref(a);
    cog_safepoint();
    wait_paused((cog_str *)a);
    assert_int_equal(table_count(), n0 + 1); /* DYING is still linked */
    atomic_store(&pause_release, 1);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    cog__intern_review_hook = NULL;
    atomic_store(&pause_target, NULL);
    assert_int_equal(table_count(), n0);
    cog_object *b = cog_str_intern("dies", 4);
    assert_int_equal(cog_refcount(b), 1);
    assert_int_equal(table_count(), n0 + 1);
    cog_decref(b);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), n0);
}

/* Acquire on one thread (a cached +1), release on another: never freed
 * while referenced, gone after the last release. */
static cog_object *_Atomic xt_ref;
static atomic_int xt_stop;

static void *xt_holder(void *arg) {
    (void)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    cog_object *h = cog_str_intern("cross-thread", 12); /* a hit: +1 cached */
    atomic_store(&xt_ref, h);
    /* Keep passing safe points (flushing) until told to stop; the
     * reference now belongs to the main thread. */
    while (!atomic_load(&xt_stop)) {
        cog_safepoint();
        sched_yield();
    }
    cog_thread_detach();
    return NULL;
}

static void deltas_across_threads(void **state) {
    (void)state;
    uint64_t n0 = table_count();
    atomic_store(&xt_ref, NULL);
    atomic_store(&xt_stop, 0);
    cog_object *a = cog_str_intern("cross-thread", 12); /* S = 1 */
    pthread_t t;
    pthread_create(&t, NULL, xt_holder, NULL);
    cog_thread_offline();
    while (!atomic_load(&xt_ref)) sched_yield();
    cog_thread_online();
    cog_object *h = atomic_load(&xt_ref);
    assert_ptr_equal(h, a);
    /* Drop ours: S may reach 0 while the other thread's +1 is unflushed. */
    cog_decref(a);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    /* Still referenced (by h): alive, canonical, counted. */
    assert_int_equal(table_count(), n0 + 1);
    assert_int_equal(cog_refcount(h), 1);
    assert_true(cog_str_equal_bytes(h, "cross-thread", 12));
    cog_object *again = cog_str_intern("cross-thread", 12);
    assert_ptr_equal(again, h);
    cog_decref(again);
    /* Release the other thread's reference here. */
    cog_decref(h);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), n0);
    atomic_store(&xt_stop, 1);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
}

/* Immortalising a string whose count is partly in our cache. */
static void immortal_after_cached_hits(void **state) {
    (void)state;
    uint64_t n0 = table_count();
    cog_object *a = cog_str_intern("pin-later", 9);
    cog_object *b = cog_str_intern("pin-later", 9); /* cached +1 */
    cog_decref(a);                                  /* atomic: S = 0, review */
    cog_object *i = cog_str_intern_immortal("pin-later", 9);
    assert_ptr_equal(i, b);
    assert_true(cog_is_immortal(i));
    cog_decref(b);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), n0 + 1);
    assert_ptr_equal(cog_str_intern("pin-later", 9), i);
    assert_true(cog_str_equal_bytes(i, "pin-later", 9));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(same_object_for_equal_strings),
        TEST_CASE(mortal_strings_leave_the_table),
        TEST_CASE(immortal_interning),
        TEST_CASE(rejects_bad_input),
        TEST_CASE(table_grows_and_stays_consistent),
        TEST_CASE(hit_and_decref_leave_the_string_alone),
        TEST_CASE(revive_during_dying_window),
        TEST_CASE(dying_string_dies_without_lookup),
        TEST_CASE(deltas_across_threads),
        TEST_CASE(immortal_after_cached_hits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
