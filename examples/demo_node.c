/* examples/demo_node.c - the demo's node type. */
#include "demo_node.h"

#include <stdio.h>
#include <stdlib.h>

atomic_long demo_nodes_freed;

/* The collector calls traverse to find references: a node holds one. */
static int node_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    cog_object *next = cog_ref_load(&((demo_node *)self)->next);
    return next ? visit(next, arg) : 0;
}

static void node_clear(cog_object *self) {
    cog_xdecref(cog_ref_take(&((demo_node *)self)->next));
}

static void node_dealloc(cog_object *self) {
    node_clear(self);
    atomic_fetch_add_explicit(&demo_nodes_freed, 1, memory_order_relaxed);
}

const cog_type demo_node_type = {
    .name = "demo.Node",
    .basic_size = sizeof(demo_node),
    .flags = COG_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .dealloc = node_dealloc,
};

demo_node *demo_node_new(int64_t value) {
    demo_node *n = (demo_node *)cog_new(&demo_node_type);
    if (!n) {
        fprintf(stderr, "demo: cog_new failed: %s\n", cog_last_error());
        exit(1);
    }
    n->value = value;
    return n;
}

demo_node *demo_chain_new(int n, int64_t first_value) {
    demo_node *head = NULL;
    for (int i = n - 1; i >= 0; i--) {
        demo_node *node = demo_node_new(first_value + i);
        /* The new node takes over our reference to the old head. */
        cog_ref_store(&node->next, (cog_object *)head);
        head = node;
    }
    return head;
}
