/* lib/brc.h - biased reference counting slow paths (internal). */
#ifndef COG_LIB_BRC_H
#define COG_LIB_BRC_H

#include "cog/object.h"
#include "lib/thread.h"

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
#endif /* COG_LIB_BRC_H */
