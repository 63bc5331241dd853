/* lib/gc_hooks.c - the collector barrier flag, deferred block list and
 * allocation accounting used by the object layer. */
#include "lib/gc_hooks.h"

#include <limits.h>

#include "lib/alloc.h"
#include "lib/object_internal.h"
#include "lib/thread.h"

atomic_int cog__gc_barrier;
atomic_long cog__gc_young_count;
atomic_long cog__gc_young_threshold = 2000;
atomic_int cog__gc_requested;

static _Atomic(cog_object *) deferred;
__thread int cog__gc_release_own __attribute__((tls_model("initial-exec")));
__thread int cog__tls_clearing_garbage __attribute__((tls_model("initial-exec")));

void cog_gc_release_own_frees(int on) {
    cog__gc_release_own = on;
    cog_tstate *ts = cog_tstate_current();
    if (ts && ts->heap) cog_heap_batch_remote_frees(ts->heap, on);
}
static _Atomic(void (*)(void)) wakeup_hook;
static _Atomic(void (*)(void)) pace_hook;
atomic_long cog__gc_pace_limit = LONG_MAX;

/* Barrier slow path: cog__gc_barrier holds the DIRTY bit of the open
 * window. Only tracked objects matter to the collector; the load-then-or
 * keeps repeated touches of a hot object to one RMW per window. Relaxed
 * suffices: the collector reads the bit only after a grace period, whose
 * full barriers order this RMW before that read. */
void cog__gc_touch(cog_object *o) {
    if (cog__gc_release_own) return; /* the collector past its verdict */
    uint64_t bit = (uint64_t)atomic_load_explicit(&cog__gc_barrier, memory_order_relaxed);
    uint64_t gc = atomic_load_explicit(&o->ob_gc, memory_order_relaxed);
    if (bit && (gc & COG_GC_TRACKED) && !(gc & bit))
        atomic_fetch_or_explicit(&o->ob_gc, bit, memory_order_relaxed);
}

/* Treiber push. Release publishes the block's contents (its ob_type, used
 * to compute the size when it is finally freed) to the collector's acquire
 * exchange in cog_gc_take_deferred. There is no pop of single elements, so
 * no ABA. */
void cog_gc_defer_block(cog_object *o) {
    cog_object *head = atomic_load_explicit(&deferred, memory_order_relaxed);
    do {
        atomic_store_explicit(&o->ob_ref_shared, cog_link_encode(head), memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&deferred, &head, o, memory_order_release,
                                                    memory_order_relaxed));
}

cog_object *cog_gc_take_deferred(void) {
    return atomic_exchange_explicit(&deferred, NULL, memory_order_acquire);
}

cog_object *cog_gc_deferred_next(cog_object *o) {
    return cog_link_decode(atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed));
}

void cog_gc_set_pace_hook(void (*hook)(void)) {
    atomic_store_explicit(&pace_hook, hook, memory_order_release);
}

/* Two relaxed loads; both values are heuristics (see gc_pacing.c). */
void cog_gc_maybe_pace(void) {
    if (atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed) <=
        atomic_load_explicit(&cog__gc_pace_limit, memory_order_relaxed))
        return;
    void (*hook)(void) = atomic_load_explicit(&pace_hook, memory_order_acquire);
    if (hook) hook();
}

void cog_gc_set_wakeup_hook(void (*hook)(void)) {
    atomic_store_explicit(&wakeup_hook, hook, memory_order_release);
}

/* Each thread batches (allocations - deallocations) of tracked objects and
 * adds them to the global counter every COG_GC_COUNT_BATCH, at safe points
 * and when it detaches: threads allocating in parallel then
 * share the counter's cache line once per batch, not once per object. The
 * counter is a heuristic trigger, so relaxed RMWs suffice (it only must not
 * tear); a thread's unflushed batch is at most COG_GC_COUNT_BATCH off. */
#define COG_GC_COUNT_BATCH 64
static __thread long young_batch __attribute__((tls_model("initial-exec")));

static void flush_young(void) {
    long delta = young_batch;
    young_batch = 0;
    long n = atomic_fetch_add_explicit(&cog__gc_young_count, delta, memory_order_relaxed) + delta;
    if (delta > 0 && n > atomic_load_explicit(&cog__gc_young_threshold, memory_order_relaxed) &&
        !atomic_load_explicit(&cog__gc_requested, memory_order_relaxed) &&
        !atomic_exchange_explicit(&cog__gc_requested, 1, memory_order_relaxed)) {
        void (*hook)(void) = atomic_load_explicit(&wakeup_hook, memory_order_acquire);
        if (hook) hook();
    }
}

void cog_gc_note_alloc(void) {
    if (++young_batch >= COG_GC_COUNT_BATCH) flush_young();
}

void cog_gc_note_dealloc(void) {
    if (--young_batch <= -COG_GC_COUNT_BATCH) flush_young();
}

void cog_gc_flush_young(void) {
    if (young_batch) flush_young();
}

long cog_gc_young_unflushed(void) { return young_batch; }
