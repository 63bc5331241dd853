/* tests/weakref_concurrent_test.c - weakref_get racing with the last
 * decref of the referent. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(get_races_last_decref),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
