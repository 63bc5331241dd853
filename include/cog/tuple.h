/* cog/tuple.h - immutable fixed-size sequences of references.
 *
 * A tuple is filled when it is created and never changes afterwards, so
 * reads need no lock and a borrowed item stays valid while the caller holds
 * the tuple. Every tuple type has COG_TYPE_GC (tuples may hold containers
 * and thus be part of cycles; tracking tuples of scalars too is the simple,
 * documented choice: it costs only collector work, never correctness).
 *
 * ---- Defining your own object types --------------------------------------
 * Tuple itself is an example of the general recipe (cog/object.h): a struct
 * beginning with cog_object, reference fields of type cog_ref, and a static
 * const cog_type. For example, a pair:
 *
 *     typedef struct pair { cog_object ob; cog_ref first, second; } pair;
 *
 *     static int pair_traverse(cog_object *self, cog_visitproc visit, void *arg) {
 *         pair *p = (pair *)self;
 *         cog_object *a = cog_ref_load(&p->first), *b = cog_ref_load(&p->second);
 *         int rc = a ? visit(a, arg) : 0;
 *         return rc ? rc : (b ? visit(b, arg) : 0);
 *     }
 *     static void pair_clear(cog_object *self) {     // breaks cycles
 *         pair *p = (pair *)self;
 *         cog_xdecref(cog_ref_take(&p->first));
 *         cog_xdecref(cog_ref_take(&p->second));
 *     }
 *     static const cog_type pair_type = {
 *         .name = "pair", .basic_size = sizeof(pair), .flags = COG_TYPE_GC,
 *         .traverse = pair_traverse, .clear = pair_clear,
 *         .dealloc = pair_clear,                      // drop what it holds
 *     };
 *
 *     pair *p = (pair *)cog_new(&pair_type);          // fields start NULL
 *     cog_incref(x); cog_ref_store(&p->first, x);     // the field owns a ref
 *
 * Store with cog_ref_store (applies the collector barrier and drops the old
 * value), read with cog_ref_load, take out with cog_ref_take. If several
 * threads may write the same field, serialise them (e.g. a lock in the
 * object); traverse may run concurrently with writers, which is why the
 * fields are atomic.
 */
#ifndef COG_TUPLE_H
#define COG_TUPLE_H

#include <stddef.h>

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const cog_type cog_tuple_type;

/* New tuple of n NULL items, to be filled with cog_tuple_init_item before
 * it is shared with other threads or used otherwise. */
cog_object *cog_tuple_new(size_t n);
/* Fill item i of a tuple from cog_tuple_new, STEALING the reference item.
 * Only before the tuple is shared (not thread-safe; a tuple is immutable
 * once published). COG_EINVAL if out of range or already set. */
int cog_tuple_init_item(cog_object *t, size_t i, cog_object *item);
/* New tuple holding new references to the n items (none may be NULL). */
cog_object *cog_tuple_from_array(size_t n, cog_object *const *items);
/* cog_tuple_from_array with the items as arguments. */
cog_object *cog_tuple_pack(size_t n, ...);

int cog_tuple_check(const cog_object *o);
size_t cog_tuple_size(const cog_object *t);
/* Borrowed item i: valid while the caller holds the tuple. NULL +
 * COG_EINVAL if i is out of range. Lock-free, thread-safe. */
cog_object *cog_tuple_get_borrowed(cog_object *t, size_t i);
/* New reference to item i. NULL + COG_EINVAL if out of range. */
cog_object *cog_tuple_get(cog_object *t, size_t i);

#ifdef __cplusplus
}
#endif
#endif /* COG_TUPLE_H */
