/* tests/weakref_concurrent_test.c - weakref_get racing with the last
 * decref of the referent; a weakref dropped while its referent's death
 * clears it. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

void cog_weakref_clear_referent(cog_object *o); /* see weakref_test.c */

typedef struct target {
    cog_object ob;
    uint64_t canary;
} target;

static atomic_long deallocs;
static void target_dealloc(cog_object *self) {
    cog_weakref_clear_referent(self);
    target *t = (target *)self;
    if (t->canary != TEST_CANARY) abort();
    t->canary = 0;
    atomic_fetch_add(&deallocs, 1);
}
static const cog_type target_type = {
    .name = "Target", .basic_size = sizeof(target), .dealloc = target_dealloc};

#define GETTERS 3
static _Atomic(cog_object *) cur_wr;
static atomic_int stop;
static atomic_long got_live, got_dead, callbacks, gets;

static void cb(cog_object *wr, void *arg) {
    (void)wr;
    (void)arg;
    atomic_fetch_add(&callbacks, 1);
}

static void *getter(void *arg) {
    (void)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    long n = 0;
    while (!atomic_load(&stop)) {
        /* The main thread keeps every weakref it publishes until the
         * getters have stopped, so wr is valid here. */
        cog_object *wr = atomic_load(&cur_wr);
        if (wr) {
            cog_object *o = cog_weakref_get(wr);
            if (o) {
                if (((target *)o)->canary != TEST_CANARY) abort();
                atomic_fetch_add(&got_live, 1);
                cog_decref(o); /* may be the last reference: we free it */
            } else {
                atomic_fetch_add(&got_dead, 1);
            }
            atomic_fetch_add(&gets, 1);
        }
        if (++n % 8 == 0) cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void get_races_last_decref(void **state) {
    (void)state;
    long rounds = test_scale(3000);
    long before = atomic_load(&deallocs);
    cog_object **wrs = calloc((size_t)rounds, sizeof *wrs);
    atomic_store(&stop, 0);
    pthread_t th[GETTERS];
    for (int i = 0; i < GETTERS; i++) pthread_create(&th[i], NULL, getter, NULL);
    for (long r = 0; r < rounds; r++) {
        cog_object *t = cog_new(&target_type);
        ((target *)t)->canary = TEST_CANARY;
        cog_object *wr = cog_weakref_new(t, cb, NULL);
        assert_non_null(wr);
        atomic_store(&cur_wr, wr);
        /* Let the getters see it alive, then drop our reference while they
         * keep getting, and let them see it after. */
        long g0 = atomic_load(&gets);
        while (atomic_load(&gets) < g0 + 1) cog_safepoint();
        for (volatile int spin = 0; spin < (int)(r % 200); spin++) {
        }
        cog_decref(t); /* races with getters' try-incref */
        g0 = atomic_load(&gets);
        while (atomic_load(&gets) < g0 + GETTERS) cog_safepoint();
        wrs[r] = wr; /* kept alive until the getters have stopped */
        if (r % 64 == 0) cog_safepoint();
    }
    atomic_store(&stop, 1);
    cog_thread_offline();
    for (int i = 0; i < GETTERS; i++) pthread_join(th[i], NULL);
    cog_thread_online();
    cog_safepoint();
    for (long r = 0; r < rounds; r++) {
        assert_null(cog_weakref_get(wrs[r])); /* every referent is dead */
        cog_decref(wrs[r]);
    }
    free(wrs);
    assert_int_equal(atomic_load(&deallocs), before + rounds);
    assert_int_equal(atomic_load(&callbacks), rounds);
    /* Both outcomes happened (each round waits for gets before and after
     * the decref, so neither can be skipped over all rounds). */
    assert_true(atomic_load(&got_live) > 0);
    assert_true(atomic_load(&got_dead) > 0);
}

/* The referent dies on one thread (clearing its weakrefs under their
 * stripe lock, then running callbacks) while another drops the last
 * reference to one of those weakrefs. The test hook stops the clearing
 * right after it has cleared the weakref's referent, and the other thread
 * drops the weakref then and at once makes a new weakref of the same size
 * (which takes a freed weakref's block back). The clearing must have taken
 * its reference for the callback before the weakref could be freed, so
 * the weakref's callback runs once and the new weakref's never. When the
 * clearing took that reference after clearing the referent (fuzz_threads
 * campaign 14), weakref_dealloc saw the referent cleared and freed the
 * weakref at once; the clearing then counted on the new weakref in its
 * block and ran that one's callback. */
typedef void (*cleared_hook)(cog_object *wr);
extern _Atomic(cleared_hook) cog__weakref_cleared_hook; /* lib/types/weakref.c */
static cog_object *hooked_wr;
static atomic_int in_hook, hook_done;
static atomic_long w_calls, x_calls;

static void count_call(cog_object *wr, void *arg) {
    (void)wr;
    atomic_fetch_add((atomic_long *)arg, 1);
}

static void stop_at_hooked(cog_object *wr) {
    if (wr != hooked_wr) return; /* compare only: it may be freed */
    atomic_store(&in_hook, 1);
    while (!atomic_load(&hook_done)) {
    }
}

static void *drop_referent(void *referent) {
    assert_int_equal(cog_thread_attach(), COG_OK);
    cog_decref(referent); /* the last reference: clears the weakrefs */
    cog_thread_detach();
    return NULL;
}

static void weakref_dropped_while_its_referent_clears_it(void **state) {
    (void)state;
    cog_object *r = cog_new(&target_type);
    ((target *)r)->canary = TEST_CANARY;
    cog_object *w = cog_weakref_new(r, count_call, &w_calls);
    assert_non_null(w);
    hooked_wr = w;
    atomic_store(&in_hook, 0);
    atomic_store(&hook_done, 0);
    atomic_store(&cog__weakref_cleared_hook, stop_at_hooked);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drop_referent, r), 0); /* r's reference goes */
    while (!atomic_load(&in_hook)) {
    }
    cog_decref(w); /* our only reference */
    cog_object *x = cog_weakref_new(cog_int_from_i64(1), count_call, &x_calls); /* immortal */
    assert_non_null(x);
    atomic_store(&hook_done, 1);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
    atomic_store(&cog__weakref_cleared_hook, (cleared_hook)NULL);
    assert_int_equal(atomic_load(&w_calls), 1);
    assert_int_equal(atomic_load(&x_calls), 0);
    cog_decref(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(get_races_last_decref),
        TEST_CASE(weakref_dropped_while_its_referent_clears_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
