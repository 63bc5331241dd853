/* collector/gc_window.c - opening and closing a collection window.
 *
 * Opening: pin object memory (cog_alloc_pin), publish the scan's
 * generation and epoch, store the window's mode in cog__gc_barrier and
 * switch every attached thread's fast id to COG_TID_SLOW
 * (cog_threads_set_barrier; not for inspection windows, which need no
 * marks), then wait for a grace period. QSBR makes every mutator pass a
 * quiescent state (a full memory barrier) after the stores before
 * synchronize_rcu returns, and a mutator operation never spans a
 * quiescent state, so every mutator operation that starts after the
 * return sees the window: it marks what the scan may consider and defers
 * the blocks of candidates that die (lib/core/gc_hooks.h).
 *
 * Closing needs no grace period: clear the mode, then publish that the
 * window is done. Mutators release their deferred blocks themselves once
 * they see it done (cog_gc_release_deferred, acquire, pairing with our
 * release store after the last block we read); an operation still in
 * flight that saw the window open at worst marks (harmless: marks carry
 * the scan's epoch) or defers one more block, which its owner releases at
 * its next safe point. The next window's opening grace period waits for
 * every such operation before its walk. Only the shared list of blocks
 * that unattached threads deferred is released here.
 */
#include <time.h>

#include "collector/gc_internal.h"
#include "lib/alloc/alloc.h"
#include "lib/base/rcu.h"
#include "lib/core/thread.h"

static uint64_t opened_at; /* collector thread only */

static void open_window(int mode, int gen, uint64_t epoch) {
    cog_alloc_pin();
    atomic_store_explicit(&cog__gc_scan_gen, gen, memory_order_relaxed);
    if (gen >= 0) atomic_store_explicit(&cog__gc_scan_epoch, epoch, memory_order_relaxed);
    atomic_fetch_add_explicit(&cog__gc_window_seq, 1, memory_order_relaxed);
    opened_at = cog_gc_now_ns();
    cog_threads_set_barrier(mode);
    cog_gc_grace_period();
}

void cog_gc_window_open(int gen, uint64_t epoch) { open_window(COG_WINDOW_COLLECT, gen, epoch); }

void cog_gc_window_open_inspect(void) { open_window(COG_WINDOW_INSPECT, -1, 0); }

uint64_t cog_gc_window_close(void) {
    cog_threads_set_barrier(COG_WINDOW_CLOSED);
    uint64_t open_ns = cog_gc_now_ns() - opened_at;
    atomic_store_explicit(&cog__gc_scan_gen, -1, memory_order_relaxed);
    atomic_store_explicit(&cog__gc_window_done,
                          atomic_load_explicit(&cog__gc_window_seq, memory_order_relaxed),
                          memory_order_release);
    cog_alloc_unpin();
    cog_gc_release_shared_deferred();
    return open_ns;
}

typedef struct walk_ctx {
    void (*visit)(cog_object *o, uint64_t gc, void *arg);
    void *arg;
} walk_ctx;

static void walk_block(void *block, void *arg) {
    walk_ctx *ctx = arg;
    uint64_t gc = cog_gc_tracked_header(block);
    if (gc) ctx->visit(block, gc, ctx->arg);
}

void cog_gc_walk(void (*visit)(cog_object *o, uint64_t gc, void *arg), void *arg) {
    walk_ctx ctx = {visit, arg};
    cog_alloc_visit_all_objects(walk_block, &ctx);
}

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cog_gc_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

void cog_gc_deadline_after(uint64_t ns, struct timespec *out) {
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += (time_t)(ns / 1000000000u);
    out->tv_nsec += (long)(ns % 1000000000u);
    if (out->tv_nsec >= 1000000000L) out->tv_sec++, out->tv_nsec -= 1000000000L;
}
uint64_t cog_gc_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
