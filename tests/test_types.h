/* tests/test_types.h - small object types shared by the tests: the seed's
 * Node (a value and a next reference) with a global deallocation counter. */
#ifndef COG_TESTS_TEST_TYPES_H
#define COG_TESTS_TEST_TYPES_H

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

/* Number of worker threads / iterations, scaled by COG_TEST_SCALE (default
 * 1) so a soak can run the same tests longer. */
static inline long test_scale(long base) {
    const char *s = getenv("COG_TEST_SCALE");
    long k = s ? atol(s) : 1;
    return base * (k > 0 ? k : 1);
}
#endif
