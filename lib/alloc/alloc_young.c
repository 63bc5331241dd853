/* lib/alloc/alloc_young.c - which object pages may hold objects allocated since
 * the last young collection (see lib/alloc/alloc.h "Young pages").
 *
 * Ordering: the collector stores the new epoch with release before the
 * grace period that opens its window and reads the old epoch's lists
 * after it. An owner appends to the list of the epoch it last saw
 * (young_seen) and changes young_seen only at a safe point or when coming
 * online, with an acquire load of the epoch; every append it made before
 * that safe point happens-before the collector's read (the safe point's
 * quiescent state is a full barrier the grace period waits for), and the
 * collector's emptying of a list happens-before the owner's first append
 * to it two epochs later (release flip, acquire sync). A detached
 * thread's lists stay with its heap struct, written before its detach
 * released cog_heap_lock, which the collector takes to read them.
 */
#include <stdlib.h>

#include "lib/alloc/alloc_internal.h"

static _Atomic(uint32_t) young_epoch = 1;

int cog_page_list_add(cog_page_list *l, cog_page_id id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        cog_page_id *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) return -1;
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return 0;
}

void cog_page_list_free(cog_page_list *l) {
    free(l->ids);
    l->ids = NULL;
    l->n = l->cap = 0;
}

static cog_page_id page_id(const cog_arena *a, const cog_pool *p) {
    return a->slot << 8 | (cog_page_id)(p - a->pools);
}

void cog_heap_young_note(cog_heap *h, cog_pool *p) {
    cog_arena *a = cog_arena_of(p);
    size_t pg = (size_t)(p - a->pools);
    if (a->young_mark[pg] == h->young_seen) return; /* listed this epoch */
    a->young_mark[pg] = h->young_seen;
    unsigned par = h->young_seen & 1;
    if (cog_page_list_add(&h->young[par], page_id(a, p)) != 0) h->young_overflow[par] = 1;
}

void cog_heap_young_sync(cog_heap *h) {
    uint32_t e = atomic_load_explicit(&young_epoch, memory_order_acquire);
    if (e == h->young_seen) return;
    h->young_seen = e;
    for (unsigned c = 0; c < COG_NCLASSES; c++) {
        cog_pool *p = h->cur[COG_BLOCK_OBJECT][c];
        if (p != &cog_pool_sentinel) cog_heap_young_note(h, p);
    }
}

uint32_t cog_alloc_young_flip(void) {
    uint32_t old = atomic_load_explicit(&young_epoch, memory_order_relaxed);
    uint32_t next = old + 1 ? old + 1 : 1; /* 0 never: fresh young_mark words are 0 */
    atomic_store_explicit(&young_epoch, next, memory_order_release);
    return old;
}

int cog_alloc_young_gather(uint32_t old, cog_page_list *out) {
    unsigned par = old & 1;
    int rc = 0;
    pthread_mutex_lock(&cog_heap_lock);
    unsigned n = atomic_load_explicit(&cog_heap_count, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        cog_heap *h = cog_heap_table[i];
        cog_page_list *l = &h->young[par];
        for (size_t k = 0; k < l->n && rc == 0; k++) rc = cog_page_list_add(out, l->ids[k]);
        if (h->young_overflow[par]) rc = -1;
        h->young_overflow[par] = 0;
        l->n = 0;
        /* A list grown by a burst of pool switches is not kept big. */
        if (l->cap > 4096) cog_page_list_free(l);
    }
    pthread_mutex_unlock(&cog_heap_lock);
    return rc;
}

int cog_alloc_page_blocks(cog_page_id id, char **first, size_t *block_size, unsigned *n,
                          uint32_t **scratch) {
    unsigned slot = id >> 8, pg = id & 0xff;
    *scratch = NULL;
    if (slot >= COG_MAX_ARENAS) return 0;
    cog_arena *a = atomic_load_explicit(&cog_arena_registry[slot], memory_order_acquire);
    if (!a || pg < a->first_page || pg >= a->npages) return 0;
    cog_pool *p = &a->pools[pg];
    /* Acquire pairs with cog_pool_init's release of the layout and the
     * owner's release store of carved (see alloc_arena.c's walk_arena). */
    unsigned layout = atomic_load_explicit(&p->layout, memory_order_acquire);
    *scratch = a->scratch[pg];
    if ((layout & (COG_LAYOUT_LIVE | COG_LAYOUT_OBJECT)) != (COG_LAYOUT_LIVE | COG_LAYOUT_OBJECT))
        return 0;
    *block_size = cog_class_size(cog_layout_cls(layout));
    *n = atomic_load_explicit(&p->carved, memory_order_acquire);
    *first = cog_arena_page(a, pg);
    return 1;
}

int cog_alloc_all_pages(cog_page_list *out) {
    unsigned hwm = atomic_load_explicit(&cog_arena_hwm, memory_order_acquire);
    for (unsigned slot = 0; slot < hwm; slot++) {
        cog_arena *a = atomic_load_explicit(&cog_arena_registry[slot], memory_order_acquire);
        if (!a) continue;
        for (unsigned pg = a->first_page; pg < a->npages; pg++)
            if (cog_page_list_add(out, slot << 8 | pg) != 0) return -1;
    }
    return 0;
}
