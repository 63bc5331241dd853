/* cog/intern.h - the string intern table.
 *
 * Interning maps equal strings to one canonical str object, so that
 * equality of interned strings is pointer equality. The table is a
 * lock-free resizable hash table (liburcu's cds_lfht) with a lock-free cache
 * of hints in front of it: a hit takes no lock and writes no shared memory
 * (a mortal string's count goes to a per-thread cache, see below; a lookup
 * that misses the hints also records one hint entry); insertions are a
 * CAS. Every function
 * here is thread-safe for attached threads; two threads interning equal
 * strings at the same time get the same object.
 *
 * Interned strings are MORTAL by default: when the last reference goes, the
 * string leaves the table within about two RCU grace periods (not at once:
 * see below) and its memory is released a grace period after that. A lookup
 * in that window revives the string; once it is dead, lookups never
 * resurrect it, they insert a fresh canonical string instead.
 * cog_str_intern_immortal pins the canonical string forever (it is released
 * at cog_shutdown).
 *
 * Deferred counts: a lookup that finds a mortal string does not write the
 * string; it records +1 in a small per-thread cache, and the caller's
 * cog_decref of that string records -1 there. The cache is added to the
 * strings' shared counts at the thread's next safe point (cog_safepoint,
 * cog_thread_offline, detach). So a lookup + release on a hot key costs no
 * atomic RMW and no cache-line transfer between cores. Consequences: when
 * a string's shared count reaches 0 it is only "maybe unreferenced"; a
 * background review confirms it over two grace periods before the string
 * leaves the table (cog_str_intern_sync waits for that). cog_refcount of a
 * mortal interned string flushes the calling thread's cache first but does
 * not see other threads' unflushed deltas until their next safe point.
 * Other increments and decrements (cog_incref, a decref of a string this
 * thread did not look up recently) are one atomic RMW. Immortal strings
 * cost nothing at all.
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

/* Flush the calling thread's deferred intern counts, then wait until every
 * pending review of a possibly unreferenced mortal string has finished, so
 * that strings whose last reference was dropped (and whose droppers have
 * passed a safe point or flushed, as this call does for its caller) have
 * left the table: cog_intern_get_stats' count is then exact. Blocks for a
 * few RCU grace periods (the caller goes offline meanwhile); while other
 * threads keep dropping interned strings it waits until no review is
 * pending. Callable from attached and unattached threads. COG_OK, or
 * COG_ESTATE if the runtime is not initialised. */
int cog_str_intern_sync(void);

/* Snapshot of the statistics (each field read atomically; the fields are
 * not a consistent snapshot while other threads intern). Returns COG_OK or
 * COG_ESTATE if the runtime is not initialised. */
int cog_intern_get_stats(cog_intern_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* COG_INTERN_H */
