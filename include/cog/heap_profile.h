/* cog/heap_profile.h - the live heap by allocation stack, sampled; snapshots
 * and their differences; profiles that google-pprof and flame-graph tools
 * read. For leak hunting in a running server: "what is alive now that was
 * not an hour ago, and which code path made it" (tracemalloc's snapshots
 * and compare_to, pympler's SummaryTracker, tcmalloc's heap profile).
 *
 * Sampling: while on, each thread samples its object allocations (cog_new,
 * cog_new_var and every constructor built on them) at a mean interval of
 * `interval` bytes: the gaps between samples are exponentially distributed
 * (a Poisson process over allocated bytes, as tcmalloc and Go's
 * MemProfileRate), so an allocation of s bytes is sampled with probability
 * 1 - exp(-s/interval), and each sample stands for 1 / that probability
 * objects (the unbiasing). A sample records the allocating stack (up to
 * COG_HEAP_MAX_DEPTH return addresses, unwound with glibc's backtrace(),
 * which reads the DWARF unwind tables: it needs no frame pointers) and the
 * type, and is removed when its object is freed, so the profile shows both
 * what is live per stack and what was allocated in all. The bytes are the
 * objects' own (header and inline items); container storage and string
 * bytes allocated apart from their object are not attributed.
 *
 * Off by default (COG_HEAP_PROFILE=<interval bytes> in the environment
 * turns it on at cog_init; 0 there means the default interval); when
 * off, the allocation path pays one relaxed load and a predictable
 * branch. At the default interval the cost is one thread-
 * local subtraction per allocation plus ~2 us per sample (docs/profiling.md
 * has the measured throughput cost). All functions are thread-safe; the
 * snapshot functions need an attached thread and a running runtime.
 */
#ifndef COG_HEAP_PROFILE_H
#define COG_HEAP_PROFILE_H

#include <stddef.h>
#include <stdio.h>

#include "cog/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COG_HEAP_DEFAULT_INTERVAL ((size_t)512 * 1024)
#define COG_HEAP_MAX_DEPTH 32
/* Distinct (stack, type) records kept; samples beyond are counted as
 * dropped (cog_heap_profile_dropped). */
#define COG_HEAP_MAX_RECORDS 8192

/* Start sampling (or change the interval): a mean of one sample per
 * `interval` allocated bytes per thread; 0 means
 * COG_HEAP_DEFAULT_INTERVAL, 1 samples every allocation. Records are kept
 * across calls. COG_ENOMEM if the tables cannot be allocated. */
int cog_heap_profile_start(size_t interval);
/* Stop sampling. Records are kept, and live samples still leave them when
 * their objects are freed. */
void cog_heap_profile_stop(void);
/* The interval while sampling, 0 when off. */
size_t cog_heap_profile_interval(void);
/* Forget every record and live sample. */
void cog_heap_profile_reset(void);
/* Samples lost because the record table was full or memory ran out. */
unsigned long long cog_heap_profile_dropped(void);

/* ---- Snapshots ----------------------------------------------------------
 * A snapshot holds the sampled live heap by (stack, type) at the moment it
 * was taken, with cumulative allocations, and the exact live objects and
 * bytes per type (cog_mem_type_stats: a walk of the heap). */
typedef struct cog_heap_snapshot cog_heap_snapshot;

/* NULL on failure (cog_last_error()): COG_ENOMEM, or COG_ESTATE if the
 * runtime is not running or the calling thread is not attached. */
cog_heap_snapshot *cog_heap_snapshot_take(void);
void cog_heap_snapshot_free(cog_heap_snapshot *s);

typedef enum cog_heap_key {
    COG_HEAP_BY_STACK = 0, /* sampled: estimated from the samples */
    COG_HEAP_BY_TYPE = 1   /* exact: from the heap walk */
} cog_heap_key;

/* One line of a comparison. */
typedef struct cog_heap_stat {
    const void *frames[COG_HEAP_MAX_DEPTH]; /* BY_STACK: innermost first */
    int depth;                              /* BY_STACK: frames used; else 0 */
    const char *type_name;                  /* the objects' type */
    double count, bytes;                    /* live in `newer` */
    double count_diff, bytes_diff;          /* newer minus older */
} cog_heap_stat;

/* Compare two snapshots (older may be NULL: everything counts as new),
 * grouped by key, largest |bytes_diff| first (then largest bytes). Copies
 * up to cap lines into out and returns how many there are in all (may
 * exceed cap), or a negative status (COG_EINVAL for a NULL newer or a bad
 * key). Lines present only in older appear with count and bytes 0. */
long cog_heap_snapshot_compare(const cog_heap_snapshot *older, const cog_heap_snapshot *newer,
                               cog_heap_key key, cog_heap_stat *out, size_t cap);

/* The top `top` lines (0: 10) of that comparison as text, one per line,
 * with symbol names where dladdr finds them (the innermost frame outside
 * the library for BY_STACK). */
int cog_heap_snapshot_print_compare(FILE *f, const cog_heap_snapshot *older,
                                    const cog_heap_snapshot *newer, cog_heap_key key, size_t top);

/* The snapshot's sampled live heap and allocations in gperftools' heap
 * profile format (estimated counts and bytes, then the process's memory
 * map), which `google-pprof --text PROGRAM FILE` renders and
 * `google-pprof --base=OLD PROGRAM NEW` diffs. */
int cog_heap_snapshot_write_pprof(const cog_heap_snapshot *s, FILE *f);
/* Live bytes per stack in folded form ("outer;...;inner BYTES" per line,
 * frames as symbol names where dladdr finds them, else addresses), for
 * flamegraph.pl. */
int cog_heap_snapshot_write_folded(const cog_heap_snapshot *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
