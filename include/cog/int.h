/* cog/int.h - 64-bit integers.
 *
 * Immutable. Values -5..256 are preallocated, immortal objects: creating
 * one returns the shared instance (no allocation, no reference counting).
 * All functions are thread-safe; the accessors need only a reference.
 */
#ifndef COG_INT_H
#define COG_INT_H

#include <stdint.h>

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const cog_type cog_int_type;

#define COG_SMALL_INT_MIN (-5)
#define COG_SMALL_INT_MAX 256

/* New reference to an int with value v; NULL + error on OOM or if the
 * calling thread is not attached (small ints never fail). */
cog_object *cog_int_from_i64(int64_t v);
/* 1 if o is an int. */
int cog_int_check(const cog_object *o);
/* The value of an int (o must be an int). */
int64_t cog_int_value(const cog_object *o);

#ifdef __cplusplus
}
#endif
#endif /* COG_INT_H */
