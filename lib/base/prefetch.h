/* lib/base/prefetch.h - software prefetch for passes over arrays of
 * objects.
 *
 * The collector's passes over its candidates and an assistant's passes
 * over a batch of garbage touch each object once, in the array's order,
 * but do too much per object (an indirect traverse or clear call, the
 * children's headers) for the hardware prefetcher to stay ahead; on a
 * heap bigger than the cache every header was a miss. Fetching the
 * object COG_PREFETCH_AHEAD entries ahead hides it (docs/performance.md,
 * "Full collections, prefetching the candidates"). A prefetch is only a
 * hint: it never faults, so an address that is no longer an object
 * costs nothing but the fetch.
 */
#ifndef COG_LIB_BASE_PREFETCH_H
#define COG_LIB_BASE_PREFETCH_H

#include <stddef.h>

#include "cog/object.h"

/* Entries ahead, about 1-2 us of work: of 8, 32, 64 and 128 tried on the
 * AMD box (48-byte objects, clearing garbage), 8 hid clearly less and the
 * others measured alike within the host's noise. */
#define COG_PREFETCH_AHEAD 64

/* write: the pass will store into the object or update it with an
 * atomic read-modify-write. Those need the line exclusive, which a read
 * prefetch does not ask for when another core holds it (a mutator that
 * just wrote the object): on x86-64 a write prefetch is PREFETCHW, which
 * GCC emits for __builtin_prefetch only with -mprfchw (it is outside the
 * x86-64 baseline, but every AMD64 CPU and Intel's since Broadwell have
 * it, and older ones run the opcode as a no-op). Measured on the AMD
 * box: with PREFETCHW ahead the collector's walk (a CAS per candidate)
 * took 17 % less time per block under server_bench's all-cyclic load,
 * where a read prefetch had measured no gain on gc_bench's heap. (The rw
 * argument of __builtin_prefetch must be a constant; inlining folds
 * `write`.) */
static inline void cog_prefetch(const void *p, int write) {
    if (write) {
#if defined(__x86_64__) && !defined(__PRFCHW__)
        __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
        __builtin_prefetch(p, 1);
#endif
    } else {
        __builtin_prefetch(p, 0);
    }
}

/* Prefetch objs[i + COG_PREFETCH_AHEAD], if the array has it. */
static inline void cog_prefetch_ahead(cog_object *const *objs, size_t i, size_t n, int write) {
    if (i + COG_PREFETCH_AHEAD < n) cog_prefetch(objs[i + COG_PREFETCH_AHEAD], write);
}

#endif /* COG_LIB_BASE_PREFETCH_H */
