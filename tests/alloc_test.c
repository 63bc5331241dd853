/* tests/alloc_test.c - the pool allocator, single thread: size classes,
 * free-list reuse, stats, arena return to the OS, out-of-memory injection,
 * large blocks, the owner visit and deferred frees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "lib/alloc/alloc_internal.h"
#include "lib/base/rcu.h"
#include "lib/core/thread.h"
#include "tests/test_types.h"
#include "tests/fixture.h"

static cog_heap *my_heap(void) { return cog_tstate_current()->heap; }

static uint64_t class_in_use(unsigned cls) {
    cog_mem_info m;
    cog_mem_stats(&m);
    return m.classes[cls].blocks_in_use;
}

/* Every size 1..512: right class, 16-byte aligned, in an arena pool of the
 * right block size, writable over its whole size, distinct. The inline
 * path's table agrees with the class arithmetic up to COG_DIRECT_MAX. */
static void every_size_class(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    enum { N = 40 };
    for (size_t size = 0; size <= COG_DIRECT_MAX; size++)
        assert_int_equal(cog_direct_class[(size + 15) >> 4], cog_pool_class(size));
    for (size_t size = 1; size <= COG_SMALL_MAX; size++) {
        unsigned char *b[N];
        unsigned cls = cog_size_class(size);
        assert_true(cog_class_size(cls) >= size);
        assert_true(cog_class_size(cls) >= COG_BLOCK_MIN);
        if (cls) assert_true(cog_class_size(cls - 1) < size);
        for (int i = 0; i < N; i++) {
            b[i] = cog_heap_alloc(h, size, COG_BLOCK_RAW);
            assert_non_null(b[i]);
            assert_int_equal((uintptr_t)b[i] % 16, 0);
            cog_pool *p = cog_pool_of(b[i]);
            assert_int_equal(p->block_size, cog_class_size(cls));
            memset(b[i], i, size);
        }
        for (int i = 0; i < N; i++)
            for (size_t j = 0; j < size; j++) assert_int_equal(b[i][j], (unsigned char)i);
        for (int i = 0; i < N; i++) cog_heap_free(h, b[i], size, COG_BLOCK_RAW);
    }
}

/* Medium sizes 513..32768 (every class edge and every 37th size between):
 * right class (the smallest that fits), 16-byte aligned, in a 64 KiB pool
 * of that block size found from the address, writable, distinct; then
 * reuse: a freed block comes back first (LIFO) for the same class. */
static void every_medium_size(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    enum { N = 5 };
    for (size_t size = COG_SMALL_MAX + 1; size <= COG_MEDIUM_MAX; size++) {
        unsigned cls = cog_medium_class(size);
        size_t cs = cog_class_size(cls);
        int edge = cs == size || cs - 1 == size || cog_class_size(cls - 1) + 1 == size;
        if (!edge && size % 37) continue;
        assert_true(cls >= COG_SMALL_NCLASSES && cls < COG_NCLASSES);
        assert_true(cs >= size);
        assert_true(cog_class_size(cls - 1) < size);
        assert_true(cs - size < cs / 5 + 1); /* at most 20 % unused */
        unsigned char *b[N];
        for (int i = 0; i < N; i++) {
            b[i] = cog_heap_alloc(h, size, COG_BLOCK_RAW);
            assert_non_null(b[i]);
            assert_int_equal((uintptr_t)b[i] % 16, 0);
            cog_pool *p = cog_medium_pool_of(b[i]);
            assert_int_equal(p->block_size, cs);
            assert_int_equal(p->cls, cls);
            assert_true(b[i] >= (unsigned char *)p->page &&
                        b[i] + size <= (unsigned char *)p->page + COG_MEDIUM_PAGE_SIZE);
            memset(b[i], i + 1, size);
        }
        for (int i = 0; i < N; i++) {
            assert_int_equal(b[i][0], i + 1);
            assert_int_equal(b[i][size - 1], i + 1);
        }
        cog_heap_free(h, b[N - 1], size, COG_BLOCK_RAW);
        unsigned char *again = cog_heap_alloc(h, size, COG_BLOCK_RAW);
        assert_ptr_equal(again, b[N - 1]);
        for (int i = 0; i < N; i++) cog_heap_free(h, b[i], size, COG_BLOCK_RAW);
    }
    /* The top class and the first large size. */
    assert_int_equal(cog_class_size(COG_NCLASSES - 1), COG_MEDIUM_MAX);
    assert_int_equal(cog_class_size(cog_medium_class(COG_SMALL_MAX + 1)), 640);
}

/* LIFO reuse of the local free list; FIFO and interleaved patterns keep the
 * in-use count exact. */
static void free_list_patterns(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    unsigned cls = cog_size_class(100);
    uint64_t base = class_in_use(cls);
    void *a = cog_heap_alloc(h, 100, COG_BLOCK_RAW);
    cog_heap_free(h, a, 100, COG_BLOCK_RAW);
    assert_ptr_equal(cog_heap_alloc(h, 100, COG_BLOCK_RAW), a);
    cog_heap_free(h, a, 100, COG_BLOCK_RAW);

    enum { N = 5000 };
    static void *v[N];
    for (int i = 0; i < N; i++) v[i] = cog_heap_alloc(h, 100, COG_BLOCK_RAW);
    assert_int_equal(class_in_use(cls), base + N);
    for (int i = 0; i < N; i += 2) cog_heap_free(h, v[i], 100, COG_BLOCK_RAW); /* FIFO-ish */
    assert_int_equal(class_in_use(cls), base + N / 2);
    for (int i = 0; i < N; i += 2) v[i] = cog_heap_alloc(h, 100, COG_BLOCK_RAW); /* refill */
    assert_int_equal(class_in_use(cls), base + N);
    for (int i = N; i-- > 0;) cog_heap_free(h, v[i], 100, COG_BLOCK_RAW); /* LIFO */
    assert_int_equal(class_in_use(cls), base);
}

static void stats_and_print(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    enum { N = 1000 };
    static void *v[N];
    cog_mem_info before, during;
    cog_mem_stats(&before);
    for (int i = 0; i < N; i++) v[i] = cog_heap_alloc(h, 64, COG_BLOCK_RAW);
    void *big = cog_heap_alloc(h, 100000, COG_BLOCK_RAW);
    assert_non_null(big);
    void *medium = cog_heap_alloc(h, 10000, COG_BLOCK_RAW);
    assert_non_null(medium);
    cog_mem_stats(&during);
    unsigned cls = cog_size_class(64), mcls = cog_medium_class(10000);
    assert_int_equal(during.classes[cls].block_size, 64);
    assert_int_equal(during.classes[cls].pool_bytes, 16384);
    assert_int_equal(during.classes[cls].blocks_in_use, before.classes[cls].blocks_in_use + N);
    assert_true(during.classes[cls].pools >= N / (COG_PAGE_SIZE / 64));
    assert_int_equal(during.classes[mcls].block_size, 10240);
    assert_int_equal(during.classes[mcls].pool_bytes, 65536);
    assert_int_equal(during.classes[mcls].blocks_in_use, before.classes[mcls].blocks_in_use + 1);
    assert_int_equal(during.large_objects, before.large_objects + 1);
    assert_int_equal(during.large_bytes, before.large_bytes + 100000);
    assert_true(during.arenas >= 1);
    assert_int_equal(during.bytes_mapped, during.arenas * COG_ARENA_SIZE);
    /* Our heap is listed with its thread id and owns pools. */
    int found = 0;
    for (unsigned i = 0; i < during.nheaps && i < COG_MEM_MAX_HEAPS; i++)
        if (during.heaps[i].tid == cog_thread_id()) {
            found = 1;
            assert_true(during.heaps[i].pools >= N / (COG_PAGE_SIZE / 64));
        }
    assert_true(found);
    char buf[8192];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cog_mem_stats_print(f);
    fclose(f);
    assert_non_null(strstr(buf, "arenas:"));
    assert_non_null(strstr(buf, "large blocks: "));
    assert_non_null(strstr(buf, "   10240 "));
    for (int i = 0; i < N; i++) cog_heap_free(h, v[i], 64, COG_BLOCK_RAW);
    cog_heap_free(h, big, 100000, COG_BLOCK_RAW);
    cog_heap_free(h, medium, 10000, COG_BLOCK_RAW);
    cog_mem_stats(&during);
    assert_int_equal(during.classes[cls].blocks_in_use, before.classes[cls].blocks_in_use);
    assert_int_equal(during.classes[mcls].blocks_in_use, before.classes[mcls].blocks_in_use);
    assert_int_equal(during.large_objects, before.large_objects);
    /* The freed large block's mapping is cached by our heap and reused
     * for the next block that fits; the global cache takes it when the
     * heap lets it go, and the idle trim unmaps it from there. */
    assert_true(during.large_cached >= 1);
    assert_true(during.large_cached_bytes >= 100000);
    void *again = cog_heap_alloc(h, 90000, COG_BLOCK_RAW);
    assert_ptr_equal(again, big);
    cog_heap_free(h, again, 90000, COG_BLOCK_RAW);
    cog_large_flush_heap_cache(h);
    assert_true(cog_alloc_cached_bytes() >= 100000);
    cog_alloc_release_cached();
    assert_int_equal(cog_alloc_cached_bytes(), 0);
    cog_mem_stats(&during);
    assert_int_equal(during.large_cached, 0);
    assert_int_equal(during.large_cached_bytes, 0);
}

/* ~6 MiB of blocks needs several arenas; freeing them returns all but
 * COG_ARENA_KEEP empty arenas (plus the ones still holding a pool) to the
 * OS. */
static void arena_return_to_os(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    enum { N = 6 * 1024 * 1024 / 256 };
    void **v = malloc(N * sizeof *v);
    assert_non_null(v);
    cog_mem_info m0, m1, m2;
    cog_mem_stats(&m0);
    for (int i = 0; i < N; i++) assert_non_null(v[i] = cog_heap_alloc(h, 256, COG_BLOCK_RAW));
    cog_mem_stats(&m1);
    assert_true(m1.arenas >= m0.arenas + 5);
    for (int i = 0; i < N; i++) cog_heap_free(h, v[i], 256, COG_BLOCK_RAW);
    cog_heap_collect(h);
    /* Just emptied: retained for reuse (COG_ARENA_RETAIN_NS) ... */
    cog_mem_stats(&m2);
    assert_true(m2.arenas_empty >= 3);
    assert_true(cog_alloc_idle_bytes() >= COG_ARENA_SIZE);
    /* ... until they age (a safe point's trim) or the collector idles. */
    cog_heap_collect(h);
    assert_true(cog_alloc_idle_bytes() >= COG_ARENA_SIZE); /* still young */
    struct timespec aged = {0, (long)COG_ARENA_RETAIN_NS + 50 * 1000000L};
    nanosleep(&aged, NULL);
    cog_heap_collect(h);
    assert_int_equal(cog_arena_retained_bytes(), 0);
    cog_alloc_trim_idle();
    assert_int_equal(cog_alloc_idle_bytes(), 0);
    cog_mem_stats(&m2);
    assert_true(m2.arenas_unmapped_total >= m0.arenas_unmapped_total + 3);
    /* Still mapped: the kept empty arenas and those holding the class's
     * current and spare pools. */
    assert_true(m2.arenas <= m0.arenas + COG_ARENA_KEEP + 1 + COG_POOL_SPARE);
    assert_true(m2.arenas_empty <= COG_ARENA_KEEP);
    assert_int_equal(m2.bytes_mapped, m2.arenas * COG_ARENA_SIZE);
    free(v);
}

/* mmap failure: NULL + COG_ENOMEM message, nothing breaks, and the next
 * allocation succeeds. */
static void mmap_failure_then_recovery(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    enum { MAX = 4 * 1024 * 1024 / 512 * 8 };
    void **v = malloc(MAX * sizeof *v);
    assert_non_null(v);
    cog_mem_info m0, m1;
    cog_mem_stats(&m0);
    cog_mem_fail_mmap_after(1);
    int n = 0;
    void *b;
    while ((b = cog_heap_alloc(h, 512, COG_BLOCK_RAW)) != NULL) {
        assert_true(n < MAX);
        v[n++] = b;
    }
    assert_non_null(strstr(cog_last_error(), "out of memory"));
    cog_mem_stats(&m1);
    assert_int_equal(m1.mmap_failures, m0.mmap_failures + 1);
    /* Recovery: the injection was one-shot. */
    test_node *node = test_node_new(1);
    assert_int_equal(node->canary, TEST_CANARY);
    cog_decref(&node->ob);
    assert_non_null(b = cog_heap_alloc(h, 512, COG_BLOCK_RAW));
    v[n++] = b;
    for (int i = 0; i < n; i++) cog_heap_free(h, v[i], 512, COG_BLOCK_RAW);
    free(v);
    /* Through the public API: cog_new fails cleanly when the OS says no. */
    int m = 0;
    cog_object *objs[4096];
    cog_mem_fail_mmap_after(1);
    cog_object *o;
    while (m < 4096 && (o = cog_new(&test_node_type)) != NULL) {
        ((test_node *)o)->canary = TEST_CANARY;
        objs[m++] = o;
    }
    if (m < 4096) assert_non_null(strstr(cog_last_error(), "out of memory"));
    cog_mem_fail_mmap_after(0);
    for (int i = 0; i < m; i++) cog_decref(objs[i]);
}

static void malloc_failure_large(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    enum { BIG = 40000 };
    cog_mem_fail_malloc_after(2);
    void *a = cog_heap_alloc(h, BIG, COG_BLOCK_RAW);
    assert_non_null(a);
    assert_null(cog_heap_alloc(h, BIG, COG_BLOCK_RAW));
    assert_non_null(strstr(cog_last_error(), "out of memory"));
    void *b = cog_heap_alloc(h, BIG, COG_BLOCK_OBJECT);
    assert_non_null(b);
    assert_int_equal((uintptr_t)b % 16, 0);
    cog_heap_free(h, a, BIG, COG_BLOCK_RAW);
    cog_heap_free(h, b, BIG, COG_BLOCK_OBJECT);
}

typedef struct seen {
    void **want;
    int n, hits;
} seen;

static void count_visit(void *block, void *arg) {
    seen *s = arg;
    for (int i = 0; i < s->n; i++)
        if (s->want[i] == block) s->hits++;
}

/* Owner visit and the global walk both see small, medium and large object
 * blocks; raw blocks are never visited. */
static void visits_see_object_blocks(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    void *want[5];
    want[0] = cog_heap_alloc(h, 48, COG_BLOCK_OBJECT);
    want[1] = cog_heap_alloc(h, 512, COG_BLOCK_OBJECT);
    want[2] = cog_heap_alloc(h, 2000, COG_BLOCK_OBJECT);  /* medium */
    want[3] = cog_heap_alloc(h, 40000, COG_BLOCK_OBJECT); /* large */
    want[4] = cog_heap_alloc(h, 48, COG_BLOCK_RAW);
    for (int i = 0; i < 5; i++) memset(want[i], 0, 32);
    seen s = {want, 4, 0};
    cog_heap_visit_objects(h, count_visit, &s);
    assert_int_equal(s.hits, 4);
    /* A large object freed while its owner visits is parked, not freed. */
    cog_heap_free(h, want[3], 40000, COG_BLOCK_OBJECT);
    cog_mem_info m;
    cog_mem_stats(&m);
    uint64_t large = m.large_objects;
    cog_heap_collect(h);
    cog_mem_stats(&m);
    assert_int_equal(m.large_objects, large - 1);
    s = (seen){want, 3, 0};
    cog_alloc_visit_all_objects(count_visit, &s);
    assert_int_equal(s.hits, 3);
    s = (seen){want + 4, 1, 0};
    cog_alloc_visit_all_objects(count_visit, &s);
    assert_int_equal(s.hits, 0);
    cog_heap_free(h, want[0], 48, COG_BLOCK_OBJECT);
    cog_heap_free(h, want[1], 512, COG_BLOCK_OBJECT);
    cog_heap_free(h, want[2], 2000, COG_BLOCK_OBJECT);
    cog_heap_free(h, want[4], 48, COG_BLOCK_RAW);
}

/* A deferred free leaves the block untouched until a grace period has
 * passed, then the block comes back to its pool (remotely, from the
 * call_rcu thread) and is reused. */
static void deferred_free_after_grace_period(void **state) {
    (void)state;
    cog_heap *h = my_heap();
    unsigned cls = cog_size_class(200);
    uint64_t base = class_in_use(cls);
    char *b = cog_heap_alloc(h, 200, COG_BLOCK_RAW);
    memset(b, 0x5a, 200);
    cog_heap_free_deferred(b, 200, COG_BLOCK_RAW);
    cog_heap_collect(h); /* flushes the batch */
    for (int i = 0; i < 200; i++) assert_int_equal(b[i], 0x5a); /* no grace period yet */
    assert_int_equal(class_in_use(cls), base + 1);
    cog_thread_offline();
    cog_rcu_barrier();
    cog_thread_online();
    /* The callback pushed it on our pool's remote list and hinted us. */
    cog_heap_collect(h);
    assert_int_equal(class_in_use(cls), base);
    assert_ptr_equal(cog_heap_alloc(h, 200, COG_BLOCK_RAW), b);
    cog_heap_free(h, b, 200, COG_BLOCK_RAW);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(every_size_class),
        TEST_CASE(every_medium_size),
        TEST_CASE(free_list_patterns),
        TEST_CASE(stats_and_print),
        TEST_CASE(arena_return_to_os),
        TEST_CASE(mmap_failure_then_recovery),
        TEST_CASE(malloc_failure_large),
        TEST_CASE(visits_see_object_blocks),
        TEST_CASE(deferred_free_after_grace_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
