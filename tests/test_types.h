/* tests/test_types.h - small object types shared by the tests: the seed's
 * Node (a value and a next reference) with a global deallocation counter. */
#ifndef COG_TESTS_TEST_TYPES_H
#define COG_TESTS_TEST_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "cog/cog.h"

typedef struct test_node {
    cog_object ob;
    int64_t value;
    cog_ref next;     /* strong reference or NULL */
    uint64_t canary;  /* poison check: TEST_CANARY while alive */
} test_node;

#define TEST_CANARY 0xC0DEC0DEC0DEC0DEull

extern atomic_long test_node_deallocs;
extern const cog_type test_node_type;

static inline test_node *test_node_new(int64_t value) {
    test_node *n = (test_node *)cog_new(&test_node_type);
    /* Tests cannot go on without it; aborting (noreturn) also tells the
     * compiler the result is non-NULL, which keeps GCC 12's spurious
     * -Wstringop-overflow on atomics through NULL paths quiet. */
    if (!n) abort();
    n->value = value;
    n->canary = TEST_CANARY;
    return n;
}

/* A two-node cycle (a.next = b, b.next = a) of values va and vb; returns
 * a, whose one reference the caller owns. */
static inline test_node *test_make_cycle(int64_t va, int64_t vb) {
    test_node *a = test_node_new(va), *b = test_node_new(vb);
    cog_incref(&b->ob);
    cog_ref_store(&a->next, &b->ob);
    cog_incref(&a->ob);
    cog_ref_store(&b->next, &a->ob);
    cog_decref(&b->ob);
    return a;
}

/* Such a cycle, dropped: garbage that only the collector frees. */
static inline void test_make_cycle_garbage(int64_t va, int64_t vb) {
    cog_decref(&test_make_cycle(va, vb)->ob);
}

/* `cycles` such cycles, a safe point after each (where pacing acts);
 * returns the highest young count (cog_gc_get_count()[0]) seen. */
static inline long test_make_garbage_max_young(long cycles) {
    long max_young = 0, c[3];
    for (long i = 0; i < cycles; i++) {
        test_make_cycle_garbage(1, 2);
        cog_safepoint();
        cog_gc_get_count(c);
        if (c[0] > max_young) max_young = c[0];
    }
    return max_young;
}

/* Allocator blocks in use, from cog_mem_stats: those of every size class,
 * and in *large (if not NULL) the large blocks. The baseline checks of the
 * soak, the fuzz targets and the fault-injection test compare these. */
static inline uint64_t test_class_blocks_in_use(uint64_t *large) {
    cog_mem_info m;
    cog_mem_stats(&m);
    uint64_t n = 0;
    for (int c = 0; c < COG_MEM_NCLASSES; c++) n += m.classes[c].blocks_in_use;
    if (large) *large = m.large_objects;
    return n;
}

/* Every block in use: size classes and large blocks together. */
static inline uint64_t test_blocks_in_use(void) {
    uint64_t large, n = test_class_blocks_in_use(&large);
    return n + large;
}

/* Raw blocks handed between threads (stress/soak, tests/fork_test): a
 * block of n bytes (cog_mem_alloc) filled with n's low byte, NULL + cog
 * error if out of memory; whether its ends still hold that byte; and a
 * swap of block b (n bytes) into slot s of slots/lens under lock, which
 * checks and frees the block it replaces (0, or -1 if that one was
 * damaged: the caller fails). */
unsigned char *test_raw_block(size_t n);
int test_raw_intact(const unsigned char *b, size_t n);
int test_raw_swap(pthread_mutex_t *lock, unsigned char **slots, size_t *lens, int s,
                  unsigned char *b, size_t n);

/* Number of worker threads / iterations, scaled by COG_TEST_SCALE (default
 * 1) so a soak can run the same tests longer. */
static inline long test_scale(long base) {
    const char *s = getenv("COG_TEST_SCALE");
    long k = s ? atol(s) : 1;
    return base * (k > 0 ? k : 1);
}
#endif
