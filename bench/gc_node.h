/* bench/gc_node.h - the cog node of the collector benchmarks: two
 * references (a, b), tracked by the collector, counted when freed. */
#ifndef COG_BENCH_GC_NODE_H
#define COG_BENCH_GC_NODE_H

#include <stdatomic.h>

#include "bench/gc_shape.h"
#include "cog/cog.h"

typedef struct bnode {
    cog_object ob;
    cog_ref a, b;
} bnode;

extern const cog_type gc_node_type;
extern atomic_long gc_node_freed; /* nodes deallocated so far */

/* Build n/GC_RING rings (bench/gc_shape.h) owned by the calling thread. With
 * roots, keep one reference to each ring's first node in roots[] (n/GC_RING
 * entries); otherwise drop every reference: all cyclic garbage. */
void gc_node_build(long n, cog_object **roots);
#endif
