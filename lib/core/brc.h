/* lib/core/brc.h - biased reference counting slow paths (internal). */
#ifndef COG_LIB_BRC_H
#define COG_LIB_BRC_H

#include "cog/object.h"
#include "lib/core/thread.h"

/* Fold the owner's local count into the shared count, mark the object
 * MERGED and unowned (ob_tid = 0), and return the total count plus `extra`.
 * Must run on the owning thread, or on any thread once the owner has
 * detached (its local count is then 0 and stable). */
intptr_t cog_brc_explicit_merge(cog_object *o, intptr_t extra);

/* Owner: merge every object queued to this thread; deallocates those whose
 * count reaches zero. */
void cog_brc_merge_queued(cog_tstate *ts);

/* Owner, at detach: merge queued objects and every object this thread owns,
 * so that no object refers to this thread id any more. */
void cog_brc_release_ownership(cog_tstate *ts);
/* Collector, or an assistant freeing garbage the collector handed it
 * (lib/core/gc_hooks.c): take ownership of an object that no thread can
 * reach: its whole count becomes the caller's biased local count, so the
 * caller's increfs and decrefs are plain owner operations and the object
 * is freed by the caller, never queued to the thread that allocated it.
 * Objects the caller owns already are left alone. Unreachability is what
 * makes this legal: no thread can touch the counts of an object it holds
 * no reference to; the one owner path that touches unreachable objects,
 * the detach walk (cog_brc_release_ownership), is excluded by the owner's
 * merge_lock, which the adopter holds across consecutive objects of one
 * owner. Call cog_brc_adopt_done when finished (and before any safe
 * point). */
typedef struct cog_brc_adopter {
    cog_tstate *locked; /* owner whose merge_lock is held, or NULL */
} cog_brc_adopter;
void cog_brc_adopt_unreachable(cog_brc_adopter *a, cog_object *o);
void cog_brc_adopt_done(cog_brc_adopter *a);
#endif /* COG_LIB_BRC_H */
