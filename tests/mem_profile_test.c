/* tests/mem_profile_test.c - cog_mem_type_stats (live objects and bytes per
 * type) and sampled allocation tracing, alone and under concurrent
 * allocation (tsan). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

/* A private type so counts are exact. */
typedef struct blob {
    cog_varobject ob;
    char data[];
} blob;
static const cog_type blob_type = {
    .name = "Blob", .basic_size = sizeof(blob), .item_size = 1};
static const cog_type tiny_type = {.name = "Tiny", .basic_size = sizeof(cog_object)};

static const cog_type_stat *find(const cog_type_stat *v, long n, const cog_type *t) {
    for (long i = 0; i < n; i++)
        if (v[i].type == t) return &v[i];
    return NULL;
}

static cog_type_stat stats[256];

static void type_stats_count_live_objects_and_bytes(void **state) {
    (void)state;
    enum { NB = 10, NT = 30 };
    cog_object *b[NB], *t[NT];
    for (int i = 0; i < NB; i++) b[i] = cog_new_var(&blob_type, 1000); /* large: > 512 */
    for (int i = 0; i < NT; i++) t[i] = cog_new(&tiny_type);
    long n = cog_mem_type_stats(stats, 256);
    assert_true(n >= 2 && n <= 256);
    const cog_type_stat *sb = find(stats, n, &blob_type), *st = find(stats, n, &tiny_type);
    assert_non_null(sb);
    assert_non_null(st);
    assert_int_equal(sb->count, NB);
    assert_int_equal(sb->bytes, NB * (sizeof(blob) + 1000));
    assert_int_equal(st->count, NT);
    assert_int_equal(st->bytes, NT * sizeof(cog_object));
    assert_string_equal(sb->name, "Blob");
    /* Sorted by bytes, largest first. */
    for (long i = 1; i < n; i++) assert_true(stats[i - 1].bytes >= stats[i].bytes);
    /* Freed objects disappear; merged (handed-over) ones stay counted. */
    for (int i = 0; i < NT / 2; i++) cog_decref(t[i]);
    n = cog_mem_type_stats(stats, 256);
    st = find(stats, n, &tiny_type);
    assert_non_null(st);
    assert_int_equal(st->count, NT - NT / 2);
    /* Count only, and a truncated buffer. */
    assert_int_equal(cog_mem_type_stats(NULL, 0), n);
    assert_int_equal(cog_mem_type_stats(stats, 1), n);
    assert_int_equal(cog_mem_type_stats(NULL, 3), COG_EINVAL);
    for (int i = 0; i < NB; i++) cog_decref(b[i]);
    for (int i = NT / 2; i < NT; i++) cog_decref(t[i]);
    n = cog_mem_type_stats(stats, 256);
    assert_null(find(stats, n, &blob_type));
    assert_null(find(stats, n, &tiny_type));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(cog_mem_type_stats_print(f, 5), COG_OK);
    fclose(f);
    assert_non_null(strstr(text, "objects"));
    free(text);
}

static cog_object *handed[20];

static void *make_and_detach(void *arg) {
    (void)arg;
    cog_thread_attach();
    for (int i = 0; i < 20; i++) handed[i] = cog_new(&tiny_type);
    cog_thread_detach(); /* merges: the objects live on, owned by nobody */
    return NULL;
}

static void merged_objects_are_counted(void **state) {
    (void)state;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, make_and_detach, NULL), 0);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
    long n = cog_mem_type_stats(stats, 256);
    const cog_type_stat *st = find(stats, n, &tiny_type);
    assert_non_null(st);
    assert_int_equal(st->count, 20);
    for (int i = 0; i < 20; i++) cog_decref(handed[i]);
}

static void *unattached(void *arg) {
    (void)arg;
    return (void *)(intptr_t)cog_mem_type_stats(NULL, 0);
}

static void unattached_is_refused(void **state) {
    (void)state;
    pthread_t t;
    void *ret;
    assert_int_equal(pthread_create(&t, NULL, unattached, NULL), 0);
    cog_thread_offline();
    pthread_join(t, &ret);
    cog_thread_online();
    assert_int_equal((intptr_t)ret, COG_ENOTATTACHED);
}

/* Two distinct call sites. */
__attribute__((noinline)) static cog_object *site_a(void) { return cog_new(&tiny_type); }
__attribute__((noinline)) static cog_object *site_b(void) {
    return cog_new_var(&blob_type, 8);
}

static void tracing_is_off_by_default_and_counts_sites(void **state) {
    (void)state;
    cog_trace_site top[8];
    assert_int_equal(cog_mem_trace_sample_every(), 0);
    cog_decref(site_a());
    assert_int_equal(cog_mem_trace_top(top, 8, NULL), 0);

    assert_int_equal(cog_mem_trace_start(0), COG_EINVAL);
    assert_non_null(strstr(cog_last_error(), "sample_every"));
    assert_int_equal(cog_mem_trace_start(1), COG_OK);
    for (int i = 0; i < 30; i++) cog_decref(site_a());
    for (int i = 0; i < 10; i++) cog_decref(site_b());
    cog_mem_trace_stop();
    cog_decref(site_a()); /* not recorded */
    uint64_t dropped = 1;
    assert_int_equal(cog_mem_trace_top(top, 8, &dropped), 2);
    assert_int_equal(dropped, 0);
    assert_int_equal(top[0].samples, 30);
    assert_string_equal(top[0].type_name, "Tiny");
    assert_int_equal(top[0].bytes, 30 * sizeof(cog_object));
    assert_int_equal(top[1].samples, 10);
    assert_string_equal(top[1].type_name, "Blob");
    assert_ptr_not_equal(top[0].caller, top[1].caller);

    /* Sampling 1 in 4: per-thread countdown, so exactly 100 / 4. */
    cog_mem_trace_clear();
    assert_int_equal(cog_mem_trace_start(4), COG_OK);
    for (int i = 0; i < 100; i++) cog_decref(site_a());
    cog_mem_trace_stop();
    assert_int_equal(cog_mem_trace_top(top, 8, NULL), 1);
    assert_int_equal(top[0].samples, 25);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cog_mem_trace_print(f, 5);
    fclose(f);
    assert_non_null(strstr(text, "Tiny"));
    free(text);
}

static void *trace_worker(void *arg) {
    (void)arg;
    cog_thread_attach();
    for (long i = 0; i < test_scale(2000); i++) {
        cog_object *o = site_a();
        cog_decref(o);
        if (i % 500 == 0) cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void *stats_worker(void *arg) {
    (void)arg;
    cog_thread_attach();
    cog_type_stat v[32];
    for (int i = 0; i < 20; i++) {
        if (cog_mem_type_stats(v, 32) < 0) abort();
        cog_trace_site s[4];
        cog_mem_trace_top(s, 4, NULL);
        cog_mem_trace_start(1 + i % 3);
    }
    cog_thread_detach();
    return NULL;
}

static void concurrent_tracing_and_type_stats(void **state) {
    (void)state;
    cog_mem_trace_start(1);
    enum { NW = 3 };
    pthread_t w[NW], s;
    for (int i = 0; i < NW; i++)
        assert_int_equal(pthread_create(&w[i], NULL, trace_worker, NULL), 0);
    assert_int_equal(pthread_create(&s, NULL, stats_worker, NULL), 0);
    cog_thread_offline();
    for (int i = 0; i < NW; i++) pthread_join(w[i], NULL);
    pthread_join(s, NULL);
    cog_thread_online();
    cog_mem_trace_stop();
    cog_trace_site top[4];
    assert_true(cog_mem_trace_top(top, 4, NULL) >= 1);
    assert_true(top[0].samples > 0);
    long n = cog_mem_type_stats(stats, 256);
    assert_null(find(stats, n, &tiny_type)); /* every worker object was freed */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(type_stats_count_live_objects_and_bytes),
        TEST_CASE(merged_objects_are_counted),
        TEST_CASE(unattached_is_refused),
        TEST_CASE(tracing_is_off_by_default_and_counts_sites),
        TEST_CASE(concurrent_tracing_and_type_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
