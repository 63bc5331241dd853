/* lib/core/mem_trace.h - allocation tracing hook of the object allocation path
 * (internal; API in cog/mem.h). */
#ifndef COG_LIB_MEM_TRACE_H
#define COG_LIB_MEM_TRACE_H

#include <stdatomic.h>

#include "cog/object.h"

/* 0 when tracing is off, else the sampling period. Read relaxed on every
 * allocation: a stale value only shifts which allocation is sampled. */
extern atomic_uint cog__mem_trace_every;

/* Slow path: count down this thread's sampling counter and record o's
 * allocation at `caller` when it expires. */
void cog__mem_trace_sample(const cog_object *o, const void *caller);

static inline void cog_mem_trace_hook(const cog_object *o, const void *caller) {
    if (__builtin_expect(atomic_load_explicit(&cog__mem_trace_every, memory_order_relaxed) != 0, 0))
        cog__mem_trace_sample(o, caller);
}
#endif
