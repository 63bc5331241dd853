/* collector/gc_window.c - opening and closing a collection window.
 *
 * Opening: store the window's DIRTY bit in cog__gc_barrier, then wait for a
 * grace period. QSBR makes every mutator pass a quiescent state (a full
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

static int parity; /* collector thread only */

uint64_t cog_gc_window_open(void) {
    parity ^= 1;
    uint64_t bit = parity ? COG_GC_DIRTY1 : COG_GC_DIRTY0;
    atomic_store_explicit(&cog__gc_barrier, (int)bit, memory_order_seq_cst);
    cog_rcu_synchronize();
    return bit;
}

/* A window for a heap walk that only reads or flips flags (freeze,
 * unfreeze, count): same DIRTY bit as the last collection's window. Taking
 * a new bit would make the next collection reuse the last collection's bit
 * without clearing its marks (a collection clears only the other bit,
 * during its walk), so every object touched in the last collection would
 * count as dirty again and stay uncollected as long as the pattern repeats
 * (found by the API fuzzer: a SAVEALL'd cycle never freed once
 * cog_gc_unfreeze ran between collections). Marks made during this window
 * carry the last collection's bit, which the next collection clears. */
uint64_t cog_gc_window_open_walk(void) {
    uint64_t bit = parity ? COG_GC_DIRTY1 : COG_GC_DIRTY0;
    atomic_store_explicit(&cog__gc_barrier, (int)bit, memory_order_seq_cst);
    cog_rcu_synchronize();
    return bit;
}

void cog_gc_window_close(void) {
    atomic_store_explicit(&cog__gc_barrier, 0, memory_order_seq_cst);
    cog_rcu_synchronize();
    cog_object *o = cog_gc_take_deferred();
    while (o) {
        cog_object *next = cog_gc_deferred_next(o);
        cog_object_free_block(o);
        o = next;
    }
}

typedef struct walk_ctx {
    void (*visit)(cog_object *o, uint64_t gc, void *arg);
    void *arg;
} walk_ctx;

/* Acquire pairs with the release store of ob_gc in lib/object.c's
 * new_object: a block seen TRACKED has an initialised header and zeroed or
 * initialised fields. */
static void walk_block(void *block, void *arg) {
    walk_ctx *ctx = arg;
    cog_object *o = block;
    uint64_t gc = atomic_load_explicit(&o->ob_gc, memory_order_acquire);
    if (gc & COG_GC_TRACKED) ctx->visit(o, gc, ctx->arg);
}

void cog_gc_walk(void (*visit)(cog_object *o, uint64_t gc, void *arg), void *arg) {
    walk_ctx ctx = {visit, arg};
    cog_alloc_visit_all_objects(walk_block, &ctx);
}

uint64_t cog_gc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
