/* lib/core/heap_profile.h - the sampling hook of the object allocation path
 * and the records it keeps (internal; API in cog/heap_profile.h). */
#ifndef COG_LIB_HEAP_PROFILE_H
#define COG_LIB_HEAP_PROFILE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cog/heap_profile.h"
#include "cog/object.h"

/* 0 when off; while sampling, the number of the current start (each
 * cog_heap_profile_start takes a new one). Read relaxed on every
 * allocation: a stale value only shifts which allocations are sampled. */
extern atomic_uint cog__heap_profile_epoch;
/* Per thread (owner only): bytes it may still allocate before its next
 * sample, and the start they were drawn for. A thread that sees a new
 * start draws afresh (cog__heap_profile_sample), so a gap drawn for an
 * earlier interval never delays sampling at the new one. */
extern __thread intptr_t cog__heap_profile_left __attribute__((tls_model("initial-exec")));
extern __thread unsigned cog__heap_profile_seen __attribute__((tls_model("initial-exec")));

void cog__heap_profile_sample(cog_object *o, size_t size);

static inline void cog_heap_profile_hook(cog_object *o, size_t size) {
    unsigned e = atomic_load_explicit(&cog__heap_profile_epoch, memory_order_relaxed);
    if (__builtin_expect(e != 0, 0)) {
        cog__heap_profile_left -= (intptr_t)size;
        if (cog__heap_profile_left < 0 || e != cog__heap_profile_seen)
            cog__heap_profile_sample(o, size);
    }
}

/* The free path, for an object whose ob_gc carries COG_GC_SAMPLED: remove
 * its live sample. */
void cog__heap_profile_forget(const cog_object *o);

/* One (stack, type) record, as copied out for snapshots. The estimates
 * are the samples' weights summed (each sample of s bytes stands for
 * 1 / (1 - exp(-s/interval)) objects). */
typedef struct cog_heap_record {
    const void *frames[COG_HEAP_MAX_DEPTH];
    int depth;
    const cog_type *type;
    double live_count, live_bytes;
    double alloc_count, alloc_bytes;
} cog_heap_record;

/* cog_init: COG_HEAP_PROFILE=<interval bytes> (0: the default interval)
 * starts sampling; a bad value is reported on stderr and ignored. */
void cog__heap_profile_from_env(void);

/* Around fork (lib/core/runtime.c). */
void cog__heap_profile_fork_prepare(void);
void cog__heap_profile_fork_release(void);
/* Test hook (tests/heap_profile_test.c): hold the profiler's lock for ms
 * milliseconds, as a thread in the middle of a sample would. */
void cog__heap_profile_test_hold(unsigned ms);

/* Copy the records (at most cap; returns how many there are). */
size_t cog__heap_profile_copy(cog_heap_record *out, size_t cap);
#endif
