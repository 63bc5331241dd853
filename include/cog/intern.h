/* cog/intern.h - the string intern table.
 *
 * Interning maps equal strings to one canonical str object, so that
 * equality of interned strings is pointer equality. The table is a
 * lock-free resizable hash table (liburcu's cds_lfht) with a lock-free cache
 * of hints in front of it: a hit takes no lock and writes no shared memory
 * except the found string's reference count (a lookup that misses the
 * hints also records one hint entry); insertions are a CAS. Every function
 * here is thread-safe for attached threads; two threads interning equal
 * strings at the same time get the same object.
 *
 * Interned strings are MORTAL by default: when the last reference goes, the
 * string leaves the table and its memory is released after an RCU grace
 * period (lookups that raced with its death never resurrect it; they insert
 * a fresh canonical string instead). cog_str_intern_immortal pins the
 * canonical string forever (it is released at cog_shutdown).
 *
 * Interned strings use the shared (atomic) reference count from birth, so
 * lookups from any thread can take references exactly (see
 * cog/tryincref.h); an incref/decref on them costs one atomic RMW, so a
 * mortal lookup + release costs two. Immortal strings cost none: prefer
 * cog_str_intern_immortal for hot, long-lived keys.
 */
#ifndef COG_INTERN_H
#define COG_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

/* New reference to the canonical string equal to the len UTF-8 bytes at s
 * (created and inserted if absent). NULL + COG_EINVAL for invalid UTF-8,
 * COG_ESTATE if the runtime is not initialised, COG_ENOMEM. */
cog_object *cog_str_intern(const char *s, size_t len);
/* New reference to the canonical string equal to str (str itself if it is
 * already interned). NULL + COG_EINVAL if str is not a str. */
cog_object *cog_str_intern_obj(cog_object *str);
/* Like cog_str_intern, and makes the canonical string immortal (an
 * existing mortal canonical string is immortalised in place: safe because
 * this call keeps the reference it took, so the count can never reach 0).
 * The returned reference need not be released. */
cog_object *cog_str_intern_immortal(const char *s, size_t len);

typedef struct cog_intern_stats {
    uint64_t count;   /* strings currently in the table */
    uint64_t buckets; /* hash buckets (starts at 1024; x4 when the table
                         holds more than 2 strings per bucket) */
    uint64_t lookups; /* intern calls since cog_init */
    uint64_t hits;    /* calls that found a live canonical string
                         (lookups - misses, clamped at 0) */
} cog_intern_stats;

/* Snapshot of the statistics (each field read atomically; the fields are
 * not a consistent snapshot while other threads intern). Returns COG_OK or
 * COG_ESTATE if the runtime is not initialised. */
int cog_intern_get_stats(cog_intern_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* COG_INTERN_H */
