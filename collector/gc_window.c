/* collector/gc_window.c - opening and closing a collection window.
 *
 * Opening: store the window's DIRTY bit in cog__gc_barrier and switch every
 * attached thread's fast id to COG_TID_SLOW (cog_threads_set_barrier), then
 * wait for a grace period. QSBR makes every mutator pass a quiescent state (a full
 * memory barrier) after the store before synchronize_rcu returns, and a
 * mutator operation never spans a quiescent state, so every mutator
 * operation that starts after the return sees the bit: it marks objects it
 * touches and defers freeing object blocks.
 *
 * Closing: clear the flag, wait for a grace period (after which no mutator
 * is still inside an operation that saw the window open, so nobody pushes
 * to the deferred list any more), then release the deferred blocks.
 */
#include <time.h>

#include "collector/gc_internal.h"
#include "lib/alloc.h"
#include "lib/rcu.h"
#include "lib/thread.h"

static int parity;          /* collector thread only */
static uint64_t opened_at;  /* collector thread only */

static uint64_t open_with_parity(void) {
    uint64_t bit = parity ? COG_GC_DIRTY1 : COG_GC_DIRTY0;
    opened_at = cog_gc_now_ns();
    cog_threads_set_barrier((int)bit);
    cog_rcu_synchronize();
    return bit;
}

uint64_t cog_gc_window_open(void) {
    parity ^= 1;
    return open_with_parity();
}

/* Windows that never read DIRTY marks (heap introspection) reuse the
 * previous window's bit: the next collection then clears this window's
 * marks as stale in its walk, exactly as it clears the previous one's.
 * Flipping instead would leave the older bit's marks of the collection
 * before uncleared, hiding those objects from the next collection. */
uint64_t cog_gc_window_open_same_bit(void) { return open_with_parity(); }

uint64_t cog_gc_window_close(void) {
    cog_threads_set_barrier(0);
    uint64_t open_ns = cog_gc_now_ns() - opened_at;
    cog_rcu_synchronize();
    cog_object *o = cog_gc_take_deferred();
    while (o) {
        cog_object *next = cog_gc_deferred_next(o);
        cog_object_free_block(o);
        o = next;
    }
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
uint64_t cog_gc_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
