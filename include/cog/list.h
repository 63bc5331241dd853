/* cog/list.h - mutable, thread-safe lists.
 *
 * Guarantees (see docs/types.md "Container read protocol"):
 *   - every mutating operation is ATOMIC (linearizable) with respect to all
 *     other operations on the same list: it runs under the list's small
 *     per-object writer lock, and the list is never observed half-updated;
 *   - cog_list_get / cog_list_pop / cog_list_snapshot return NEW references
 *     and are atomic: they take the list's lock in shared (reader) mode, so
 *     concurrent getters do not exclude each other, and an item cannot be
 *     removed (and freed) between being read and being incref'd;
 *   - cog_list_size is lock-free (one atomic load);
 *   - cog_list_get_borrowed is lock-free: it reads the item array under RCU
 *     (arrays replaced by a resize are freed only after a grace period). The
 *     returned reference is BORROWED: valid only while the caller holds the
 *     list AND guarantees that nobody removes or replaces that item (and it
 *     must not pass a safe point meanwhile). Under concurrent removal it may
 *     return an item that is being freed: use cog_list_get then.
 * Items are never NULL. Indices are int64_t; negative ones count from the
 * end as in Python. Lists are GC-tracked (COG_TYPE_GC).
 * Deallocation of replaced/removed items happens after the lock is
 * released, so item deallocators may use the list.
 */
#ifndef COG_LIST_H
#define COG_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const cog_type cog_list_type;

/* New empty list. NULL + error on OOM / unattached thread. */
cog_object *cog_list_new(void);
int cog_list_check(const cog_object *o);
/* Number of items (lock-free snapshot). */
size_t cog_list_size(cog_object *list);

/* Append item (the list takes its own reference; the caller keeps its).
 * Atomic. COG_EINVAL (NULL item / not a list), COG_ENOMEM. */
int cog_list_append(cog_object *list, cog_object *item);
/* Insert before index (clamped to [0, size] like Python). Atomic. */
int cog_list_insert(cog_object *list, int64_t index, cog_object *item);
/* Replace item at index; the old item is released. Atomic. COG_EINVAL if
 * out of range. */
int cog_list_set(cog_object *list, int64_t index, cog_object *item);
/* New reference to the item at index. Atomic. NULL + COG_EINVAL if out of
 * range. */
cog_object *cog_list_get(cog_object *list, int64_t index);
/* Borrowed item at index, lock-free; see the contract above. NULL +
 * COG_EINVAL if out of range. */
cog_object *cog_list_get_borrowed(cog_object *list, int64_t index);
/* Remove the item at index and return it (the list's reference moves to
 * the caller). Atomic. NULL + COG_EINVAL if out of range / empty. */
cog_object *cog_list_pop(cog_object *list, int64_t index);
/* Remove every item. Atomic. */
int cog_list_clear(cog_object *list);
/* New tuple holding the items at one instant. Atomic. */
cog_object *cog_list_snapshot(cog_object *list);

#ifdef __cplusplus
}
#endif
#endif /* COG_LIST_H */
