/* lib/gc_hooks.h - what the object layer shares with the collector
 * (internal). The collector (collector/) sits above lib/; these hooks are
 * the only places lib/ needs to know a collection may be running. */
#ifndef COG_LIB_GC_HOOKS_H
#define COG_LIB_GC_HOOKS_H

#include <stdatomic.h>

#include "cog/object.h"

/* cog__gc_barrier (declared in cog/object.h) is 0 outside collection
 * windows and the window's DIRTY bit (COG_GC_DIRTY0/1) inside one.
 *
 * While a collection window is open (cog__gc_barrier != 0), object blocks
 * are not returned to the allocator: the collector may still read them. A
 * freed block is pushed here and released by the collector after the
 * window closes and a grace period passes. Lock-free (Treiber stack linked
 * through the dead object's ob_ref_shared field). */
void cog_gc_defer_block(cog_object *o);
/* Collector only, once a collection's verdict is final: while on, object
 * blocks freed by the calling thread are released at once even inside the
 * window (it frees garbage it will not read again), its own operations set
 * no DIRTY marks (nothing reads this window's marks any more), and its
 * frees into other threads' pools are batched per pool (flushed when it is
 * turned off). See collector/gc_collect.c clear_garbage. */
void cog_gc_release_own_frees(int on);
extern __thread int cog__gc_release_own __attribute__((tls_model("initial-exec")));
/* Collector: take every deferred block (a NULL-terminated chain linked
 * through ob_ref_shared). */
cog_object *cog_gc_take_deferred(void);
/* Next block in a chain returned by cog_gc_take_deferred. */
cog_object *cog_gc_deferred_next(cog_object *o);

/* Allocation accounting that drives collection thresholds: number of GC
 * objects allocated minus deallocated since the last collection, per
 * thread batched into a global counter (cog_gc_flush_young adds the calling
 * thread's batch; safe points and detach call it, never a path that may
 * hold the collector's lock, since crossing threshold0 wakes the collector). The hook is called when the global
 * count crosses threshold0 so the collector thread can wake. */
extern atomic_long cog__gc_young_count;
extern atomic_long cog__gc_young_threshold;
/* Set when the wake-up hook has been called; the collector clears it when it
 * starts a collection, so the hook runs once per crossing, not per alloc. */
extern atomic_int cog__gc_requested;
void cog_gc_set_wakeup_hook(void (*hook)(void));
void cog_gc_note_alloc(void);
void cog_gc_note_dealloc(void);
void cog_gc_flush_young(void);
/* Pacing: when cog__gc_young_count exceeds cog__gc_pace_limit (LONG_MAX:
 * off), cog_gc_maybe_pace, called at safe points, calls the collector's
 * pace hook, which waits for the collection in progress. */
extern atomic_long cog__gc_pace_limit;
void cog_gc_set_pace_hook(void (*hook)(void));
void cog_gc_maybe_pace(void);
/* The calling thread's batch not yet in cog__gc_young_count. */
long cog_gc_young_unflushed(void);
#endif /* COG_LIB_GC_HOOKS_H */
