/* lib/core/tryincref.c - cog_try_incref (CPython's _Py_TryIncref idea). */
#include "cog/tryincref.h"

#include "lib/core/object_internal.h"
#include "lib/core/upcalls.h"

#define SHARED_ONE ((intptr_t)1 << COG_REF_SHARED_SHIFT)

int cog_try_incref(cog_object *o) {
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    if (local == COG_IMMORTAL) return 1;
    /* Mortal canonical strings: a count of 0 (or below) is only tentative
     * under the deferred-count protocol; lib/types/intern.c decides. */
    if (o->ob_type == &cog__str_interned_type) return cog__intern_try_incref((cog_str *)o);
    if (atomic_load_explicit(&o->ob_tid, memory_order_relaxed) == cog__tls_tid) {
        /* Owner: only we write ob_ref_local. 0 means we are freeing it. */
        if (local == 0) return 0;
        cog__gc_barrier_touch(o);
        atomic_store_explicit(&o->ob_ref_local, local + 1, memory_order_relaxed);
        return 1;
    }
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    for (;;) {
        /* 0: unmerged with no shared count. The owner's last decref then
         * deallocates after a plain load of this field (cog__merge_zero_local),
         * so an increment here could race with that free: refuse.
         * MERGED with count <= 0: dead (every thread uses this field after a
         * merge and the thread that reached 0 is deallocating). A QUEUED
         * count of 0 is alive: the owner's queue holds a reference, and the
         * merge CAS orders against ours. */
        if (shared == 0) return 0;
        /* A dead block parked on a list (trashcan, deferred frees): the field
         * is a tagged link, never a count (lib/core/object_internal.h). */
        if ((shared & COG_REF_SHARED_FLAGS) == COG_REF_LINK) return 0;
        if ((shared & COG_REF_SHARED_FLAGS) == COG_REF_MERGED && (shared >> COG_REF_SHARED_SHIFT) <= 0)
            return 0;
        /* Relaxed is enough: like cog_incref, the increment itself publishes
         * nothing; what the caller reads next was published by whatever made
         * the pointer reachable (RCU publication, a lock). The CAS is totally
         * ordered with the decrementing CASes, so exactly one of "we see the
         * count > 0 and increment" / "the dropper sees 0 and frees" wins. */
        if (atomic_compare_exchange_weak_explicit(&o->ob_ref_shared, &shared, shared + SHARED_ONE,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            cog__gc_barrier_touch(o);
            return 1;
        }
    }
}
