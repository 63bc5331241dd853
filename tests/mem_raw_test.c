/* tests/mem_raw_test.c - the public raw-memory calls (cog/mem.h "Raw
 * memory") and the raw-block LIFO behind them: sizes, realloc, errors,
 * frees from other and unattached threads, thread exit with cached
 * blocks, statistics. Counts are exact: automatic collections are off and
 * only these cases allocate raw blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "cog/cog.h"
#include "tests/fixture.h"

static const cog_mem_class_info *class_of(cog_mem_info *m, size_t block_size) {
    for (int c = 0; c < COG_MEM_NCLASSES; c++)
        if (m->classes[c].block_size == block_size) return &m->classes[c];
    fail_msg("no %zu-byte class", block_size);
    return NULL;
}

static uint64_t in_use(size_t block_size) {
    cog_mem_info m;
    cog_mem_stats(&m);
    return class_of(&m, block_size)->blocks_in_use;
}

static uint64_t pools_of(size_t block_size) {
    cog_mem_info m;
    cog_mem_stats(&m);
    return class_of(&m, block_size)->pools;
}

static void every_size_class_and_beyond(void **state) {
    (void)state;
    static const size_t sizes[] = {0, 1, 16, 31, 512, 513, 600, 1024, 1025, 4096, 32768, 32769,
                                   1 << 20};
    void *p[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p[i] = cog_mem_alloc(sizes[i]);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] & 15, 0);
        memset(p[i], (int)i + 1, sizes[i] ? sizes[i] : 1);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const unsigned char *b = p[i];
        size_t n = sizes[i] ? sizes[i] : 1;
        assert_int_equal(b[0], i + 1); /* no block overlapped another */
        assert_int_equal(b[n - 1], i + 1);
        cog_mem_free(p[i], sizes[i]);
    }
    cog_mem_free(NULL, 100); /* ignored */
}

static void realloc_keeps_the_bytes(void **state) {
    (void)state;
    unsigned char *p = cog_mem_realloc(NULL, 0, 100);
    assert_non_null(p);
    for (int i = 0; i < 100; i++) p[i] = (unsigned char)i;
    /* 100 and 110 bytes share the 112-byte class: the block stays. */
    assert_ptr_equal(cog_mem_realloc(p, 100, 110), p);
    size_t sizes[] = {700, 5000, 100000, 64};
    size_t old = 110;
    for (size_t k = 0; k < 4; k++) {
        p = cog_mem_realloc(p, old, sizes[k]);
        assert_non_null(p);
        size_t keep = old < sizes[k] ? old : sizes[k];
        for (size_t i = 0; i < keep && i < 100; i++) assert_int_equal(p[i], i);
        old = sizes[k];
    }
    cog_mem_free(p, old);
}

/* Out of memory: NULL with COG_ENOMEM, and realloc leaves the block as it
 * was. The injection fires even when the LIFO holds a block of the class. */
static void out_of_memory_is_reported(void **state) {
    (void)state;
    void *cached = cog_mem_alloc(600);
    cog_mem_free(cached, 600); /* now on the LIFO */
    cog_mem_fail_alloc_after(1);
    assert_null(cog_mem_alloc(600));
    assert_non_null(strstr(cog_last_error(), "out of memory"));
    unsigned char *p = cog_mem_alloc(50);
    memset(p, 7, 50);
    cog_mem_fail_alloc_after(1);
    assert_null(cog_mem_realloc(p, 50, 3000));
    assert_non_null(strstr(cog_last_error(), "out of memory"));
    assert_int_equal(p[49], 7);
    cog_mem_free(p, 50);
}

static void *alloc_unattached(void *arg) {
    (void)arg;
    void *p = cog_mem_alloc(64);
    return (void *)(intptr_t)(p == NULL && strstr(cog_last_error(), "not attached"));
}

static void *free_unattached(void *arg) {
    cog_mem_free(arg, 700);
    return NULL;
}

/* An unattached thread cannot allocate, but may free: its free goes back
 * to the owner's pool, which the owner takes at its next safe point. */
static void unattached_threads(void **state) {
    (void)state;
    pthread_t t;
    void *ok;
    assert_int_equal(pthread_create(&t, NULL, alloc_unattached, NULL), 0);
    pthread_join(t, &ok);
    assert_true(ok);
    uint64_t before = in_use(768);
    void *p = cog_mem_alloc(700);
    assert_int_equal(in_use(768), before + 1);
    assert_int_equal(pthread_create(&t, NULL, free_unattached, p), 0);
    pthread_join(t, NULL);
    cog_safepoint();
    assert_int_equal(in_use(768), before);
}

/* The LIFO hands back the block freed last, holds at most eight per
 * class (a free that finds it full goes to the block's pool, as glibc's
 * tcache does), and its blocks count as free in the statistics. */
static void the_lifo_reuses_the_last_block(void **state) {
    (void)state;
    void *a = cog_mem_alloc(600);
    cog_mem_free(a, 600);
    assert_ptr_equal(cog_mem_alloc(620), a); /* same 640-byte class */
    cog_mem_free(a, 620);
    uint64_t base = in_use(640);
    void *p[12];
    for (int i = 0; i < 12; i++) p[i] = cog_mem_alloc(640);
    assert_int_equal(in_use(640), base + 12);
    for (int i = 0; i < 12; i++) cog_mem_free(p[i], 640);
    assert_int_equal(in_use(640), base);
    /* The first eight freed are on the list and come back newest first. */
    for (int i = 7; i >= 0; i--) assert_ptr_equal(cog_mem_alloc(640), p[i]);
    for (int i = 0; i < 8; i++) cog_mem_free(p[i], 640);
    cog_mem_info m;
    cog_mem_stats(&m);
    uint64_t cached = 0;
    for (uint32_t i = 0; i < m.nheaps && i < COG_MEM_MAX_HEAPS; i++)
        if (m.heaps[i].tid == cog_thread_id()) cached = m.heaps[i].free_blocks;
    assert_true(cached >= 8);
}

typedef struct cross {
    void *blocks[10];
    void *again;
} cross;

/* Another attached thread frees blocks of ours: they go on its LIFO (any
 * pool's raw blocks may), its next allocation takes one, and its exit
 * frees the rest for real, back to our pool. */
static void *free_ours_then_exit(void *arg) {
    cross *c = arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    for (int i = 0; i < 10; i++) cog_mem_free(c->blocks[i], 880);
    c->again = cog_mem_alloc(880);
    cog_mem_free(c->again, 880);
    cog_thread_detach();
    return NULL;
}

static void cross_thread_frees_and_exit(void **state) {
    (void)state;
    uint64_t before = in_use(896);
    cross c;
    for (int i = 0; i < 10; i++) c.blocks[i] = cog_mem_alloc(880);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_ours_then_exit, &c), 0);
    pthread_join(t, NULL);
    /* The last of the eight its LIFO took (the other two went back to
     * our pool at once). */
    assert_ptr_equal(c.again, c.blocks[7]);
    cog_safepoint(); /* take the blocks its exit gave back */
    assert_int_equal(in_use(896), before);
}

/* A thread that exits with blocks on its LIFO frees them for real: its
 * pools, now empty, go back to their arena instead of staying abandoned. */
static void *fill_lifo_and_exit(void *arg) {
    (void)arg;
    assert_int_equal(cog_thread_attach(), COG_OK);
    void *p[8];
    for (int i = 0; i < 8; i++) p[i] = cog_mem_alloc(1000);
    for (int i = 0; i < 8; i++) cog_mem_free(p[i], 1000);
    cog_thread_detach();
    return NULL;
}

static void exit_empties_the_lifo(void **state) {
    (void)state;
    uint64_t pools = pools_of(1024);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fill_lifo_and_exit, NULL), 0);
    pthread_join(t, NULL);
    cog_mem_info m;
    cog_mem_stats(&m);
    assert_int_equal(class_of(&m, 1024)->pools, pools);
    assert_int_equal(m.pools_abandoned, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_size_class_and_beyond, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(realloc_keeps_the_bytes, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(out_of_memory_is_reported, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(unattached_threads, test_setup_gc_off, test_teardown),
        cmocka_unit_test_setup_teardown(the_lifo_reuses_the_last_block, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(cross_thread_frees_and_exit, test_setup_gc_off,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(exit_empties_the_lifo, test_setup_gc_off, test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
