/* cog/bytes.h - immutable byte strings.
 *
 * Like str without the UTF-8 requirement. Immutable, so every accessor is
 * thread-safe without locks for any thread holding a reference.
 */
#ifndef COG_BYTES_H
#define COG_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const cog_type cog_bytes_type;

/* New bytes object holding a copy of len bytes at p (p may be NULL when
 * len is 0). NULL + error on OOM / unattached thread. */
cog_object *cog_bytes_new(const void *p, size_t len);
int cog_bytes_check(const cog_object *o);
/* The bytes (followed by a NUL); valid while the caller holds o. */
const unsigned char *cog_bytes_data(const cog_object *o);
size_t cog_bytes_len(const cog_object *o);
/* Cached hash (same function as cog_str_hash, never 0). */
uint64_t cog_bytes_hash(cog_object *o);
/* 1 if both are bytes with equal contents. */
int cog_bytes_equal(cog_object *a, cog_object *b);

#ifdef __cplusplus
}
#endif
#endif /* COG_BYTES_H */
