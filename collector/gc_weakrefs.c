/* collector/gc_weakrefs.c - the collector's link to weak references.
 * lib/types/weakref.c provides cog_weakref_clear_referent; the weak declaration
 * lets the collector build and run before (or without) it. */
#include "collector/gc_internal.h"


void cog_weakref_clear_referent(cog_object *o) __attribute__((weak));

int cog_gc_clear_weakrefs(cog_object *o) {
    uint64_t gc = atomic_load_explicit(&o->ob_gc, memory_order_relaxed);
    if (!(gc & COG_GC_HAS_WEAKREFS_FLAG) || !cog_weakref_clear_referent) return 0;
    cog_weakref_clear_referent(o);
    return 1;
}
