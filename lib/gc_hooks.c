/* lib/gc_hooks.c - the collector barrier flag, deferred block list and
 * allocation accounting used by the object layer. */
#include "lib/gc_hooks.h"

#include "lib/object_internal.h"

atomic_int cog__gc_barrier;
atomic_long cog__gc_young_count;
atomic_long cog__gc_young_threshold = 2000;
atomic_int cog__gc_requested;

static _Atomic(cog_object *) deferred;
static _Atomic(void (*)(void)) wakeup_hook;

/* Barrier slow path: cog__gc_barrier holds the DIRTY bit of the open
 * window. Only tracked objects matter to the collector; the load-then-or
 * keeps repeated touches of a hot object to one RMW per window. Relaxed
 * suffices: the collector reads the bit only after a grace period, whose
 * full barriers order this RMW before that read. */
void cog__gc_touch(cog_object *o) {
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

void cog_gc_set_wakeup_hook(void (*hook)(void)) {
    atomic_store_explicit(&wakeup_hook, hook, memory_order_release);
}

/* A relaxed global counter: one RMW per GC allocation. Exactness is not
 * needed (it is a heuristic trigger), only that it never tears. */
void cog_gc_note_alloc(void) {
    long n = atomic_fetch_add_explicit(&cog__gc_young_count, 1, memory_order_relaxed) + 1;
    if (n > atomic_load_explicit(&cog__gc_young_threshold, memory_order_relaxed) &&
        !atomic_load_explicit(&cog__gc_requested, memory_order_relaxed) &&
        !atomic_exchange_explicit(&cog__gc_requested, 1, memory_order_relaxed)) {
        void (*hook)(void) = atomic_load_explicit(&wakeup_hook, memory_order_acquire);
        if (hook) hook();
    }
}

void cog_gc_note_dealloc(void) {
    atomic_fetch_sub_explicit(&cog__gc_young_count, 1, memory_order_relaxed);
}
