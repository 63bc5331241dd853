/* collector/gc_internal.h - state shared by the collector's files. */
#ifndef COG_COLLECTOR_GC_INTERNAL_H
#define COG_COLLECTOR_GC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cog/gc.h"
#include "lib/gc_hooks.h"
#include "lib/object_internal.h"

/* Tunables and counters. Atomics so any thread may read or change them
 * while the collector runs; each is an independent value, so relaxed
 * ordering suffices (a decision may use a value one update old). */
typedef struct gc_config {
    atomic_int enabled;
    atomic_long threshold[COG_GC_GENERATIONS]; /* [0] is cog__gc_young_threshold's mirror */
    atomic_long count[COG_GC_GENERATIONS];     /* [0] unused: cog__gc_young_count */
    atomic_uint debug;
    atomic_long long_lived_total;   /* objects in generation 2 after its last collection */
    atomic_long long_lived_pending; /* promoted into generation 2 since then */
} gc_config;

extern gc_config cog__gc;

/* Result of one collection. */
typedef struct gc_result {
    long collected;
    long uncollectable;
    size_t scanned;
} gc_result;

/* Run one collection of generations 0..gen on the calling thread, which is
 * the attached collector thread. */
void cog_gc_run_collection(int gen, gc_result *out);

/* Statistics and callbacks (gc_stats.c). */
void cog_gc_stats_record(int gen, const gc_result *r, uint64_t ns);
void cog_gc_callbacks_run(cog_gc_phase phase, const cog_gc_info *info);

/* The garbage list (gc_garbage.c): takes over the caller's reference. */
void cog_gc_garbage_append(cog_object *o);

/* Collection windows (gc_window.c). While a window is open, mutators mark
 * what they touch and object blocks are not reused. open returns the
 * window's DIRTY bit. Both wait for a grace period. */
uint64_t cog_gc_window_open(void);
/* A window for flag-only heap walks; does not start a new mark phase. */
uint64_t cog_gc_window_open_walk(void);
void cog_gc_window_close(void);

/* Walk every tracked object; see cog_alloc_visit_all_objects. */
void cog_gc_walk(void (*visit)(cog_object *o, uint64_t gc, void *arg), void *arg);

/* Clear the weak references to a garbage object and run their callbacks
 * (no-op for objects without weak references). */
void cog_gc_clear_weakrefs(cog_object *o);

/* Declared by lib/alloc.h too; repeated so the collector builds against
 * either allocator revision. */
void cog_alloc_visit_all_objects(void (*visit)(void *block, void *arg), void *arg);

/* Monotonic clock in nanoseconds. */
uint64_t cog_gc_now_ns(void);

/* 1 on the collector thread (finalizers may not wait for collections). */
int cog_gc_on_collector_thread(void);
#endif /* COG_COLLECTOR_GC_INTERNAL_H */
