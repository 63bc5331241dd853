/* lib/weakref_internal.h - hooks of the weakref machinery (internal). */
#ifndef COG_LIB_WEAKREF_INTERNAL_H
#define COG_LIB_WEAKREF_INTERNAL_H

#include "cog/object.h"

/* ob_gc flag: the object has (or had) weakrefs; set with atomic fetch_or.
 * Bits 0x1..0x10 are the collector's (lib/object_internal.h). */
#define COG_GC_HAS_WEAKREFS 0x20u

/* Clear every weakref to o, then run their callbacks with no lock held, on
 * the calling thread. o must be dead (count 0, dealloc not yet run) or
 * cyclic garbage found by the collector; its memory must stay valid during
 * the call. Idempotent: a second call finds nothing to clear. Call from the
 * free path before type->dealloc:
 *     if (gc & COG_GC_HAS_WEAKREFS) cog_weakref_clear_referent(o); */
void cog_weakref_clear_referent(cog_object *o);
#endif
