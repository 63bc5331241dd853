/* bench/gc_shape.h - the object graph every collector benchmark builds, so
 * cog, Boehm GC and CPython (bench/gc_bench.py, same constants) collect the
 * same shape: rings of GC_RING nodes, each node with two references,
 *   a -> the next node of its ring,
 *   b -> node (GC_CHORD_MUL * i + GC_CHORD_ADD) % GC_RING of the same ring.
 * A ring is one strongly connected component: unreachable rings are cyclic
 * garbage that reference counting alone never frees. */
#ifndef COG_BENCH_GC_SHAPE_H
#define COG_BENCH_GC_SHAPE_H

#define GC_RING 100
#define GC_CHORD_MUL 7
#define GC_CHORD_ADD 3

static inline int gc_shape_a(int i) { return (i + 1) % GC_RING; }
static inline int gc_shape_b(int i) { return (GC_CHORD_MUL * i + GC_CHORD_ADD) % GC_RING; }
#endif
