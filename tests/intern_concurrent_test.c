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
#include "tests/fixture.h"

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
    /* No leak after release: every mortal string left the table (once the
     * reviews of the last releases have run). */
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), base);
}

/* The hint array (lib/types/intern.c) under fire: readers look up a held set of
 * strings (every hit must return exactly the held canonical object), while
 * other threads churn short-lived strings (dying strings leave the hints,
 * dead ones get replaced) and insert thousands of new ones (the lfht grows
 * and every growth replaces the hint array under the readers). */
#define HELD 200
#define GROW 12000 /* > 2 * 4096 buckets: at least two resizes */
static cog_object *held[HELD];
static atomic_int growers_done;
static pthread_barrier_t growers;

static void *hint_reader(void *arg) {
    long id = (long)(intptr_t)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    char buf[32];
    long n = 0;
    while (atomic_load(&growers_done) < 2 || n < 20000) {
        int k = (int)((n * 31 + id) % HELD);
        snprintf(buf, sizeof buf, "held-%d", k);
        cog_object *s = cog_str_intern(buf, strlen(buf));
        assert_ptr_equal(s, held[k]);
        cog_decref(s);
        /* Churn: a string nobody holds dies at once, while others find it. */
        snprintf(buf, sizeof buf, "churn-%d", (int)(n % 64));
        s = cog_str_intern(buf, strlen(buf));
        assert_non_null(s);
        assert_string_equal(cog_str_data(s), buf);
        cog_decref(s);
        if ((++n & 255) == 0) cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void *hint_grower(void *arg) {
    long id = (long)(intptr_t)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    static cog_object *mine[2][GROW / 2];
    char buf[32];
    for (int i = 0; i < GROW / 2; i++) {
        snprintf(buf, sizeof buf, "grow-%ld-%d", id, i);
        mine[id][i] = cog_str_intern(buf, strlen(buf));
        assert_non_null(mine[id][i]);
        if ((i & 63) == 0) cog_safepoint();
    }
    /* Both halves are in the table at once: it must have grown twice. */
    cog_thread_offline();
    pthread_barrier_wait(&growers);
    cog_thread_online();
    /* Every one of them is found again (through the new hints). */
    for (int i = 0; i < GROW / 2; i++) {
        snprintf(buf, sizeof buf, "grow-%ld-%d", id, i);
        cog_object *s = cog_str_intern(buf, strlen(buf));
        assert_ptr_equal(s, mine[id][i]);
        cog_decref(s);
        cog_decref(mine[id][i]);
        if ((i & 63) == 0) cog_safepoint();
    }
    atomic_fetch_add(&growers_done, 1);
    cog_thread_detach();
    return NULL;
}

static void hints_survive_growth_and_death(void **state) {
    (void)state;
    uint64_t base = table_count();
    char buf[32];
    for (int k = 0; k < HELD; k++) {
        snprintf(buf, sizeof buf, "held-%d", k);
        held[k] = cog_str_intern(buf, strlen(buf));
    }
    atomic_store(&growers_done, 0);
    pthread_barrier_init(&growers, NULL, 2);
    pthread_t th[4];
    for (long i = 0; i < 2; i++) pthread_create(&th[i], NULL, hint_reader, (void *)(intptr_t)i);
    for (long i = 0; i < 2; i++) pthread_create(&th[2 + i], NULL, hint_grower, (void *)(intptr_t)i);
    cog_thread_offline();
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    cog_thread_online();
    pthread_barrier_destroy(&growers);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    cog_intern_stats s;
    cog_intern_get_stats(&s);
    assert_true(s.buckets > 4096);
    assert_int_equal(s.count, base + HELD);
    for (int k = 0; k < HELD; k++) cog_decref(held[k]);
    assert_int_equal(cog_str_intern_sync(), COG_OK);
    assert_int_equal(table_count(), base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(overlapping_interning),
        TEST_CASE(hints_survive_growth_and_death),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
