/* bench/gc_node.h - the cog node of the collector benchmarks: two
 * references (a, b), tracked by the collector. Its dealloc does nothing but
 * drop them, like the Python class of bench/gc_bench.py: no counter, so the
 * timed collection pays for nothing CPython's does not. */
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
/* Live nodes, counted by a heap walk (cog_mem_type_stats): for checking
 * results outside the timed region. */
long gc_node_live(void);

/* Build n/GC_RING rings (bench/gc_shape.h) owned by the calling thread. With
 * roots, keep one reference to each ring's first node in roots[] (n/GC_RING
 * entries); otherwise drop every reference: all cyclic garbage. */
void gc_node_build(long n, cog_object **roots);
#endif
