/* cog/tryincref.h - taking a reference to an object you do not hold.
 *
 * cog_incref requires that the caller already holds (or borrows from a
 * container it holds) a reference. Lock-free lookups (the intern table,
 * weak references) find objects through a raw pointer whose memory is kept
 * valid by other means (an RCU grace period, a lock the dealloc path also
 * takes) but whose count may already have reached zero. cog_try_incref
 * takes a reference only if the object is provably alive.
 */
#ifndef COG_TRYINCREF_H
#define COG_TRYINCREF_H

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Try to take a new reference to `o`, whose memory the caller guarantees
 * stays valid for the duration of the call. Returns 1 (the caller now holds
 * a reference) or 0 (none taken).
 *
 * It succeeds for immortal objects; on the owning thread when its local
 * count is > 0; otherwise by a CAS on ob_ref_shared that fails when the
 * shared field is 0 (unmerged, no shared count: the owner could be freeing
 * the object right now without any atomic step we could order against) or
 * MERGED with count 0 (dead), or holds the tagged list link of a dead
 * block (so it is also safe on blocks found by a heap walk whose memory a
 * collection window keeps valid, see cog_gc_get_objects). It is thus
 * EXACT (fails only for dead objects) for immortal objects, for objects
 * owned by the caller and for merged objects (ob_tid == 0), and may fail
 * SPURIOUSLY for a live object owned by another thread whose shared field
 * is 0. Callers that need exactness make their objects merged up front
 * (interned strings, weakref referents), fall back to a locked path, or ask
 * the owner (heap introspection, see cog_gc_get_objects). Thread-safe. */
int cog_try_incref(cog_object *o);

#ifdef __cplusplus
}
#endif
#endif /* COG_TRYINCREF_H */
