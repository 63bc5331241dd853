/* collector/gc_trace.c - COG_GCTRACE / cog_gc_set_trace: one line per
 * collection on stderr, in the spirit of Go's GODEBUG=gctrace=1. */
#include <stdio.h>

#include "cog/mem.h"
#include "collector/gc_internal.h"

/* Independent flag, read once per collection: relaxed is enough. */
static atomic_int trace_on;
static atomic_ulong trace_seq;

void cog_gc_set_trace(int on) { atomic_store_explicit(&trace_on, on != 0, memory_order_relaxed); }

int cog_gc_get_trace(void) { return atomic_load_explicit(&trace_on, memory_order_relaxed); }

/* Called on the collector thread after each collection. The heap figure
 * (arenas mapped plus large blocks) costs a walk of the pool headers, paid
 * only while tracing. One fprintf per line keeps lines whole. The duty
 * cycle is this collection's window time over the wall time since the
 * previous traced collection ended (the share of time mutators spent with
 * a window open). */
void cog_gc_trace_collection(int gen, const gc_result *r, uint64_t ns, uint64_t pause_ns,
                             uint64_t cpu_ns) {
    if (!cog_gc_get_trace()) return;
    static uint64_t t0, last_end; /* collector thread only */
    uint64_t now = cog_gc_now_ns();
    if (!t0) t0 = now;
    uint64_t span = last_end && now > last_end ? now - last_end : ns;
    last_end = now;
    cog_mem_info mi;
    cog_mem_stats(&mi);
    double heap_mib = (double)(mi.bytes_mapped + mi.large_bytes) / (1024.0 * 1024.0);
    unsigned long n = atomic_fetch_add_explicit(&trace_seq, 1, memory_order_relaxed) + 1;
    const uint64_t *ph = r->phase_ns;
    fprintf(stderr,
            "cog gc %lu @%.3fs: gen %d: %zu walked, %zu scanned, %ld collected, %ld uncollectable, "
            "%.3f ms (walk %.3f, subtract %.3f, mark %.3f, verdict %.3f, clear %.3f%s), "
            "window %.3f ms, duty %.0f%%, cpu %.3f ms, assisted %zu, pause %.3f ms, "
            "heap %.1f MiB\n",
            n, (double)(now - t0) / 1e9, gen, r->walked, r->scanned, r->collected, r->uncollectable,
            (double)ns / 1e6, (double)ph[GC_PH_WALK] / 1e6, (double)ph[GC_PH_SUBTRACT] / 1e6,
            (double)ph[GC_PH_MARK] / 1e6, (double)ph[GC_PH_VERDICT] / 1e6,
            (double)ph[GC_PH_CLEAR] / 1e6,
            r->parallel ? "; 2 threads" : r->sliced ? "; sliced" : "",
            (double)r->window_ns / 1e6, span ? 100.0 * (double)r->window_ns / (double)span : 0.0,
            (double)cpu_ns / 1e6, r->assisted, (double)pause_ns / 1e6, heap_mib);
}
