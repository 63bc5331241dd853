#include "tests/test_types.h"

#include <stdio.h>
#include <string.h>

atomic_long test_node_deallocs;

static int node_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    test_node *n = (test_node *)self;
    cog_object *next = cog_ref_load(&n->next);
    return next ? visit(next, arg) : 0;
}

static void node_clear(cog_object *self) {
    cog_xdecref(cog_ref_take(&((test_node *)self)->next));
}

static void node_dealloc(cog_object *self) {
    test_node *n = (test_node *)self;
    if (n->canary != TEST_CANARY) {
        fprintf(stderr, "test_node %p deallocated twice or corrupted\n", (void *)n);
        abort();
    }
    n->canary = 0;
    node_clear(self);
    atomic_fetch_add(&test_node_deallocs, 1);
}

const cog_type test_node_type = {
    .name = "Node",
    .basic_size = sizeof(test_node),
    .flags = COG_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .dealloc = node_dealloc,
};

unsigned char *test_raw_block(size_t n) {
    unsigned char *b = cog_mem_alloc(n);
    if (b) memset(b, (int)(n & 0xff), n);
    return b;
}

int test_raw_intact(const unsigned char *b, size_t n) {
    return b[0] == (n & 0xff) && b[n - 1] == (n & 0xff);
}

int test_raw_swap(pthread_mutex_t *lock, unsigned char **slots, size_t *lens, int s,
                  unsigned char *b, size_t n) {
    pthread_mutex_lock(lock);
    unsigned char *old = slots[s];
    size_t old_n = lens[s];
    slots[s] = b;
    lens[s] = n;
    pthread_mutex_unlock(lock);
    if (!old) return 0;
    if (!test_raw_intact(old, old_n)) return -1;
    cog_mem_free(old, old_n);
    return 0;
}
