/* examples/demo_node.h - a user-defined cog type: a linked-list node.
 * Shows how code outside the library defines its own object type. */
#ifndef COG_DEMO_NODE_H
#define COG_DEMO_NODE_H

#include <stdatomic.h>
#include <stdint.h>

#include "cog/cog.h"

typedef struct demo_node {
    cog_object ob;
    int64_t value;
    cog_ref next; /* strong reference or NULL; written with cog_ref_store */
} demo_node;

extern const cog_type demo_node_type;
/* Nodes deallocated so far (for the report's leak check). */
extern atomic_long demo_nodes_freed;

/* A new node with refcount 1, owned by the calling (attached) thread. */
demo_node *demo_node_new(int64_t value);

/* A chain of n nodes; returns the head (one reference). */
demo_node *demo_chain_new(int n, int64_t first_value);
#endif
