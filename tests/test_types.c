#include "tests/test_types.h"

#include <stdio.h>

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
