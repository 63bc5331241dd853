/* tests/intern_concurrent_test.c - many threads interning overlapping
 * string sets, including strings dying while others look them up. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"

static int setup(void **state) { (void)state; return cog_init() == COG_OK ? 0 : -1; }
static int teardown(void **state) { (void)state; return cog_shutdown() == COG_OK ? 0 : -1; }

#define THREADS 6
#define NSTR 300
static long rounds;
/* Per thread, per string: the object it got in the last round (kept). */
static cog_object *got[THREADS][NSTR];
static pthread_barrier_t barrier;

static void wait_all(void) {
    cog_thread_offline();
    pthread_barrier_wait(&barrier);
    cog_thread_online();
}

static void *worker(void *arg) {
    long id = (long)(intptr_t)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    char buf[32];
    for (long r = 0; r < rounds; r++) {
        /* Churn: intern and drop at once, so strings die while other
         * threads look them up (exercises the dying-string path). */
        for (int i = 0; i < NSTR; i++) {
            int k = (int)((i * 7 + id * 13 + r) % NSTR);
            snprintf(buf, sizeof buf, "s-%d", k);
            cog_object *s = cog_str_intern(buf, strlen(buf));
            assert_non_null(s);
            assert_string_equal(cog_str_data(s), buf);
            assert_true(cog_str_is_interned(s) || cog_refcount(s) >= 1);
            cog_decref(s);
        }
        cog_safepoint();
    }
    /* Then every thread interns every string and holds it. */
    for (int i = 0; i < NSTR; i++) {
        int k = (i + (int)id * 37) % NSTR;
        snprintf(buf, sizeof buf, "s-%d", k);
        got[id][k] = cog_str_intern(buf, strlen(buf));
    }
    wait_all(); /* all hold their references: now compare */
    wait_all(); /* main thread checked */
    for (int k = 0; k < NSTR; k++) cog_decref(got[id][k]);
    cog_thread_detach();
    return NULL;
}

static uint64_t table_count(void) {
    cog_intern_stats s;
    assert_int_equal(cog_intern_get_stats(&s), COG_OK);
    return s.count;
}

static void overlapping_interning(void **state) {
    (void)state;
    rounds = test_scale(20);
    uint64_t base = table_count();
    pthread_barrier_init(&barrier, NULL, THREADS + 1);
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    wait_all();
    /* Equal strings held at the same time are the same object. */
    for (int k = 0; k < NSTR; k++) {
        for (int t = 1; t < THREADS; t++) assert_ptr_equal(got[t][k], got[0][k]);
        assert_int_equal(cog_refcount(got[0][k]), THREADS);
    }
    assert_int_equal(table_count(), base + NSTR);
    cog_intern_stats s;
    cog_intern_get_stats(&s);
    assert_true(s.hits > 0 && s.hits <= s.lookups);
    wait_all();
    cog_thread_offline();
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cog_thread_online();
    pthread_barrier_destroy(&barrier);
    /* No leak after release: every mortal string left the table. */
    assert_int_equal(table_count(), base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(overlapping_interning, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
