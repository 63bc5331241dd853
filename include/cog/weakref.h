/* cog/weakref.h - weak references.
 *
 * A weakref is a cog object that refers to another object (its referent)
 * without keeping it alive. cog_weakref_get returns a new strong reference
 * while the referent lives and NULL once it has died; the optional callback
 * runs once, after the referent became unreachable (its weakrefs are
 * already cleared), on the thread that dropped the last reference (or on
 * the collector thread for cyclic garbage), with no cog lock held. It must
 * not block for long; it may call any cog function.
 *
 * Requirements (see docs/types.md "Weak references"):
 *   - the referent's type must have its weakrefs cleared before its memory
 *     is released: lib/core/object.c calls cog_weakref_clear_referent in the free
 *     path of every object flagged as having weakrefs (and the collector
 *     does for cyclic garbage);
 *   - cog_weakref_new switches the referent to the shared (atomic) reference
 *     count so that cog_weakref_get can take references exactly from any
 *     thread. Only the owning thread can do that switch, so creating a
 *     weakref from another thread to an object whose count is still biased
 *     to its owner fails with COG_ESTATE (create it on the owner, or after
 *     the owner has detached). Immortal and already-merged objects have no
 *     such restriction.
 *
 * All functions are thread-safe for attached threads.
 */
#ifndef COG_WEAKREF_H
#define COG_WEAKREF_H

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const cog_type cog_weakref_type;

/* wr: the weakref being cleared (a reference held for the duration of the
 * call); arg: as given to cog_weakref_new. */
typedef void (*cog_weakref_callback)(cog_object *wr, void *arg);

/* New weakref to obj (which the caller holds), with an optional callback.
 * NULL + COG_EINVAL (obj NULL), COG_ESTATE (see above), COG_ENOMEM. */
cog_object *cog_weakref_new(cog_object *obj, cog_weakref_callback callback, void *arg);
/* New reference to the referent, or NULL once it is dead (no error set).
 * Atomic with respect to the referent's death: it never returns an object
 * whose count reached zero. */
cog_object *cog_weakref_get(cog_object *wr);
/* 1 if the referent is dead (a snapshot: a live answer may be stale). */
int cog_weakref_is_dead(cog_object *wr);
/* 1 if o is a weakref. */
int cog_weakref_check(const cog_object *o);

#ifdef __cplusplus
}
#endif
#endif /* COG_WEAKREF_H */
