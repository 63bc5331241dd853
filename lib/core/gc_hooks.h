/* lib/core/gc_hooks.h - what the object layer shares with the collector
 * (internal). The collector (collector/) sits above lib/; these hooks are
 * the only places lib/ needs to know a collection may be running. */
#ifndef COG_LIB_GC_HOOKS_H
#define COG_LIB_GC_HOOKS_H

#include <stdatomic.h>
#include <stdint.h>

#include "cog/object.h"
#include "lib/core/object_internal.h"

/* cog__gc_barrier (declared in cog/object.h) says whether a window is open
 * and what mutators must do in it:
 *   COG_WINDOW_CLOSED   nothing;
 *   COG_WINDOW_COLLECT  a collection scans: mark (DIRTY, with the scan's
 *                       epoch) what they touch among the objects the scan
 *                       may consider, and defer releasing the blocks of
 *                       candidates that die (cog_gc_must_defer);
 *   COG_WINDOW_INSPECT  a heap walk that reads any block (introspection,
 *                       freeze): defer releasing every object block.
 * The collector sets the mode, the scan's generation and epoch before the
 * grace period that opens the window, and clears the mode when it has read
 * its last block; no grace period is needed to close (see gc_window.c). */
#define COG_WINDOW_CLOSED 0
#define COG_WINDOW_COLLECT 1
#define COG_WINDOW_INSPECT 2
/* The scan in progress (or the last one): its generation (-1 in an
 * inspection window: nothing to mark) and stamp epoch (shifted, as in
 * ob_gc). Relaxed: published by the opening grace period. */
extern atomic_int cog__gc_scan_gen;
extern _Atomic(uint64_t) cog__gc_scan_epoch;
/* Windows opened / closed so far. A block deferred while window k may be
 * reading it is released once cog__gc_window_done >= k (release store by
 * the collector after its last read, acquire load by the releaser). */
extern _Atomic(uint64_t) cog__gc_window_seq, cog__gc_window_done;

/* cog__gc_touch's test, inline for the count slow paths (lib/core/brc.c), which
 * take it on every owner operation inside a collection window: whether o
 * needs a mark (the CAS itself stays out of line, in cog__gc_touch). */
extern __thread int cog__gc_release_own __attribute__((tls_model("initial-exec")));
/* The rule itself, on an ob_gc value, for a scan of generations <= gen
 * (-1: a window that reads no marks) with stamp epoch `epoch`. */
static inline int cog_gc_mark_wanted(uint64_t gc, int gen, uint64_t epoch) {
    if (gen < 0 || !(gc & COG_GC_TRACKED)) return 0;
    if ((gc & COG_GC_EPOCH_MASK) == epoch) return !(gc & COG_GC_DIRTY);
    return cog_gc_generation(gc) <= gen;
}
static inline int cog_gc_needs_mark(const cog_object *o) {
    return !cog__gc_release_own &&
           cog_gc_mark_wanted(atomic_load_explicit(&((cog_object *)o)->ob_gc, memory_order_relaxed),
                              atomic_load_explicit(&cog__gc_scan_gen, memory_order_relaxed),
                              atomic_load_explicit(&cog__gc_scan_epoch, memory_order_relaxed));
}

/* The barrier for the count slow paths: mark o if a collection window
 * needs it (cog__gc_barrier_touch with the test inline). */
static inline void cog_gc_count_barrier(cog_object *o) {
    if (__builtin_expect(atomic_load_explicit(&cog__gc_barrier, memory_order_relaxed), 0) &&
        cog_gc_needs_mark(o))
        cog__gc_touch(o);
}

/* Whether the block of an object being freed must wait for the window:
 * gc_at_death is ob_gc as the free's DEAD RMW found it (0 for untracked
 * objects). A candidate's stamp is frozen by DEAD (the walk never stamps a
 * DEAD object), so the answer is exact: the collector may still read the
 * block iff it is a candidate of the scan in progress, or the window is
 * an inspection window. */
int cog_gc_must_defer(uint64_t gc_at_death);
/* Defer the release of a dead object's block: onto the calling thread's
 * own lists if it is attached (released by cog_gc_release_deferred once
 * the window is done), else onto a shared lock-free list the collector
 * releases when it closes the window. Lists are linked through the dead
 * object's ob_ref_shared. */
void cog_gc_defer_block(cog_object *o);
/* Attached thread, at safe points and offline transitions: release its
 * deferred blocks whose window is done. */
void cog_gc_release_deferred(void);
/* Attached thread, at detach: release what it can and hand the rest to
 * the shared list. */
void cog_gc_deferred_thread_exit(void);
/* Collector only, once a collection's verdict is final: while on, object
 * blocks freed by the calling thread are released at once even inside the
 * window (it frees garbage it will not read again), its own operations set
 * no DIRTY marks (nothing reads this window's marks any more), and its
 * frees into other threads' pools are batched per pool (flushed when it is
 * turned off). See collector/gc_collect.c clear_garbage. */
void cog_gc_release_own_frees(int on);
/* Collector, when a window closes: release the shared list. */
void cog_gc_release_shared_deferred(void);
/* Next block in a deferred chain (linked through ob_ref_shared). */
cog_object *cog_gc_deferred_next(cog_object *o);

/* Pacing assist: cyclic garbage handed to a thread that outran the
 * collector. A batch is all of one collection's garbage, closed under
 * references (collector/gc_assist.c), so the thread can free it alone:
 * adopt what others own, take a reference to each, clear each, drop the
 * references. Nothing else can reach a batch's objects (they are
 * garbage, marked COG_GC_PENDING so no scan or introspection takes them
 * for live ones). */
typedef struct cog_gc_batch {
    struct cog_gc_batch *next;
    size_t n;
    cog_object *obj[];
} cog_gc_batch;
struct cog_tstate;
/* Collector: hand batch b to thread ts (release: the batch and the flags
 * of its objects happen-before the owner's acquire take). */
void cog_gc_inbox_push(struct cog_tstate *ts, cog_gc_batch *b);
/* Whether ts has garbage waiting (a relaxed hint). */
int cog_gc_inbox_pending(const struct cog_tstate *ts);
/* Calling thread (attached, online): clear and free garbage handed to it,
 * whole batches until at least `budget` objects (all with SIZE_MAX).
 * Returns the number of objects it freed (0 if none was waiting). Safe
 * points call it with COG_GC_ASSIST_BUDGET (a bounded time between
 * quiescent states), detach with SIZE_MAX. */
#define COG_GC_ASSIST_BUDGET 2048
size_t cog_gc_inbox_process(size_t budget);

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
/* While the collector holds an automatic collection back (its duty cap),
 * the count past which the flush that crosses it calls the hook again
 * (once: the flush resets it to LONG_MAX). */
extern atomic_long cog__gc_wake_above;
void cog_gc_note_alloc(void);
void cog_gc_note_dealloc(void);
void cog_gc_flush_young(void);
/* Pacing: when cog__gc_young_count exceeds cog__gc_pace_limit (LONG_MAX:
 * off), cog_gc_maybe_pace, called at safe points, calls the collector's
 * pace hook with how = 1: the thread becomes an assistant and assists (it
 * frees its own garbage, which the collector hands it) or waits, at most
 * 1 ms. While the hook says the thread is still an assistant, its later
 * safe points call it with how = 0, and its detach with how = -1
 * (cog_gc_pace_thread_exit), so the collector stops handing it garbage. */
extern atomic_long cog__gc_pace_limit;
void cog_gc_set_pace_hook(int (*hook)(int how));
void cog_gc_maybe_pace(void);
void cog_gc_pace_thread_exit(void);
/* The calling thread's batch not yet in cog__gc_young_count. */
long cog_gc_young_unflushed(void);
#endif /* COG_LIB_GC_HOOKS_H */
