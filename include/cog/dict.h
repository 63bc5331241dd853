/* cog/dict.h - mutable, thread-safe hash maps.
 *
 * Keys are compared by value for str, bytes, int and tuples of those
 * (cog_object_hash / cog_object_equal below), by identity for every other
 * type. Keys must not be mutated in a way that changes their hash (the
 * built-in hashable types are immutable).
 *
 * Guarantees (see docs/types.md "Container read protocol"):
 *   - every operation on a dict is ATOMIC (linearizable): writers take the
 *     dict's small per-object lock in exclusive mode, readers (get, next,
 *     size-consistent snapshots) in shared mode, so concurrent readers run
 *     in parallel and never see a half-done update;
 *   - cog_dict_get / cog_dict_pop / cog_dict_next return NEW references;
 *   - cog_dict_get_borrowed returns a BORROWED value: valid only while the
 *     caller holds the dict and guarantees nobody removes or replaces that
 *     key's value (it must not pass a safe point meanwhile);
 *   - cog_dict_size is lock-free (one atomic load);
 *   - values and keys replaced or removed are released after the lock is
 *     dropped, so their deallocators may use the dict.
 * Dicts are GC-tracked (COG_TYPE_GC).
 */
#ifndef COG_DICT_H
#define COG_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const cog_type cog_dict_type;

/* The key protocol: hash and equality by value for str/bytes/int/tuple,
 * identity otherwise. Equal objects have equal hashes. Thread-safe (they
 * only read immutable data). */
uint64_t cog_object_hash(cog_object *o);
int cog_object_equal(cog_object *a, cog_object *b);

cog_object *cog_dict_new(void);
int cog_dict_check(const cog_object *o);
size_t cog_dict_size(cog_object *dict);

/* Map key to value (the dict takes its own references). Atomic.
 * COG_EINVAL (NULL argument / not a dict), COG_ENOMEM. */
int cog_dict_set(cog_object *dict, cog_object *key, cog_object *value);
/* Look key up: 1 and *value = new reference if present, 0 if absent,
 * negative cog_status on error. Atomic. */
int cog_dict_get(cog_object *dict, cog_object *key, cog_object **value);
/* Borrowed value or NULL if absent (no error set); see the contract above. */
cog_object *cog_dict_get_borrowed(cog_object *dict, cog_object *key);
/* Remove key: 1 if it was present, 0 if not, negative on error. Atomic. */
int cog_dict_del(cog_object *dict, cog_object *key);
/* Remove key and hand its value's reference to the caller: 1 and *value,
 * 0 if absent, negative on error. Atomic. */
int cog_dict_pop(cog_object *dict, cog_object *key, cog_object **value);
/* Remove everything. Atomic. */
int cog_dict_clear(cog_object *dict);
/* Iterate: start with *pos = 0; returns 1 with new references in *key and
 * *value (either pointer may be NULL to skip it), 0 at the end. Each step
 * is atomic; the iteration as a whole is weakly consistent under
 * concurrent mutation (an entry present throughout is returned at least
 * once unless the table is resized; none is returned twice without a
 * resize). Use cog_dict_keys for an atomic snapshot. */
int cog_dict_next(cog_object *dict, size_t *pos, cog_object **key, cog_object **value);
/* New tuple of the keys at one instant. Atomic. */
cog_object *cog_dict_keys(cog_object *dict);

#ifdef __cplusplus
}
#endif
#endif /* COG_DICT_H */
