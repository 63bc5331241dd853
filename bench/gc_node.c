/* bench/gc_node.c - the collector benchmarks' node type and graph builder. */
#include "bench/gc_node.h"

#include <stdlib.h>


static int bnode_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    bnode *n = (bnode *)self;
    cog_object *a = cog_ref_load(&n->a), *b = cog_ref_load(&n->b);
    int rc = a ? visit(a, arg) : 0;
    return rc ? rc : (b ? visit(b, arg) : 0);
}

static void bnode_clear(cog_object *self) {
    bnode *n = (bnode *)self;
    cog_xdecref(cog_ref_take(&n->a));
    cog_xdecref(cog_ref_take(&n->b));
}

static void bnode_dealloc(cog_object *self) {
    bnode_clear(self);
}

long gc_node_live(void) {
    cog_type_stat st[64];
    long n = cog_mem_type_stats(st, sizeof st / sizeof st[0]);
    if (n < 0) return -1;
    for (long i = 0; i < n && i < 64; i++)
        if (st[i].type == &gc_node_type) return (long)st[i].count;
    return 0;
}

const cog_type gc_node_type = {
    .name = "bench.Node",
    .basic_size = sizeof(bnode),
    .flags = COG_TYPE_GC,
    .traverse = bnode_traverse,
    .clear = bnode_clear,
    .dealloc = bnode_dealloc,
};

void gc_node_build(long n, cog_object **roots) {
    bnode *ring[GC_RING];
    for (long r = 0; r < n / GC_RING; r++) {
        for (int i = 0; i < GC_RING; i++) {
            ring[i] = (bnode *)cog_new(&gc_node_type);
            if (!ring[i]) abort();
        }
        for (int i = 0; i < GC_RING; i++) {
            bnode *a = ring[gc_shape_a(i)], *b = ring[gc_shape_b(i)];
            cog_incref((cog_object *)a); /* the fields take these references */
            cog_incref((cog_object *)b);
            cog_ref_store(&ring[i]->a, (cog_object *)a);
            cog_ref_store(&ring[i]->b, (cog_object *)b);
        }
        if (roots) {
            cog_incref((cog_object *)ring[0]);
            roots[r] = (cog_object *)ring[0];
        }
        for (int i = 0; i < GC_RING; i++) cog_decref((cog_object *)ring[i]);
    }
}

