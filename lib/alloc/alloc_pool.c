/* lib/alloc/alloc_pool.c - pools: one page (16 KiB small, 64 KiB medium) of
 * equal-size blocks.
 *
 * A pool hands out blocks from its local free list first, then by bumping
 * `carved` through the uncarved rest of the page (so a new pool costs no
 * free-list building). Blocks freed by other threads wait on `remote` until
 * the owner takes the whole list with one exchange.
 */
#include "lib/alloc/alloc_internal.h"

/* Never has room: the first allocation of a class lands in the slow path
 * without a NULL check on the fast path. Read-only after static init. */
cog_pool cog_pool_sentinel;

void cog_pool_init(cog_pool *p, cog_heap *h, unsigned kind, unsigned cls) {
    cog_arena *a = cog_arena_of(p);
    p->page = cog_arena_page(a, (size_t)(p - a->pools));
    p->free = NULL;
    p->prev = p->next = NULL;
    p->block_size = (uint16_t)cog_class_size(cls);
    p->capacity = (uint16_t)(cog_arena_page_size(a) / p->block_size);
    p->kind = (uint8_t)kind;
    p->cls = (uint8_t)cls;
    p->where = COG_POOL_NONE;
    /* An empty pool has no remote frees pending (all were collected before
     * `used` reached 0), so `remote` is already NULL. */
    atomic_store_explicit(&p->allocs, 0, memory_order_relaxed);
    atomic_store_explicit(&p->frees, 0, memory_order_relaxed);
    atomic_store_explicit(&p->carved, 0, memory_order_relaxed);
    atomic_store_explicit(&p->owner, h, memory_order_relaxed);
    /* Release: a walker that sees LIVE sees carved reset (and the cleared
     * headers of cog_arena_take_page). */
    atomic_store_explicit(&p->layout, (uint16_t)(cog_layout(kind, cls) | COG_LAYOUT_LIVE),
                          memory_order_release);
}

/* Acquire pairs with the release CAS of every pusher (the CASes form a
 * release sequence on `remote`), so their link writes are visible. The
 * relaxed pre-check keeps the common nothing-pending case free of RMWs. */
unsigned cog_pool_collect(cog_pool *p) {
    if (!atomic_load_explicit(&p->remote, memory_order_relaxed)) return 0;
    return cog_pool_splice_remote(
        p, atomic_exchange_explicit(&p->remote, NULL, memory_order_acquire));
}

unsigned cog_pool_splice_remote(cog_pool *p, void *list) {
    if (!list) return 0;
    unsigned n = 1;
    void *last = list;
    for (void *next; (next = cog_link_get(last)) != NULL; last = next) n++;
    cog_link_set(last, p->free);
    p->free = list;
    cog_pool_count_frees(p, n);
    return n;
}

void cog_pool_release(cog_pool *p) {
    p->where = COG_POOL_NONE;
    atomic_store_explicit(&p->owner, NULL, memory_order_relaxed);
    cog_arena_give_page(p);
}
