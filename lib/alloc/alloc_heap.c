/* lib/alloc/alloc_heap.c - per-thread heaps: the fast paths, remote frees, the
 * slow path, abandon and adopt.
 *
 * A heap owns pools. For each (kind, size class) it allocates from `cur`;
 * its other pools are on `avail` (have room) or `full` (no room, though
 * other threads may have freed blocks into their remote lists). Only the
 * owner touches these lists and the pools' plain fields, so allocation and
 * own-pool frees are plain loads and stores. `used` and `carved` are atomics
 * with a single writer, updated by load + store (no RMW) for readers of the
 * stats and the heap walk.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/alloc/alloc_internal.h"
#include "lib/base/error.h"

pthread_mutex_t cog_heap_lock = PTHREAD_MUTEX_INITIALIZER;
cog_heap *cog_heap_table[COG_MAX_HEAPS]; /* under cog_heap_lock */
atomic_uint cog_heap_count;              /* written under cog_heap_lock */
static cog_heap *free_heaps;             /* under cog_heap_lock */
__thread cog_heap *cog_tls_heap __attribute__((tls_model("initial-exec")));

/* Pools of detached threads, per (kind, class), under abandoned_lock. The
 * lock also stands in for the owner: an abandoned pool's plain fields are
 * only touched under it. */
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static cog_pool *abandoned[COG_NKINDS][COG_NCLASSES];
/* Hint for the lock-free "anything to adopt?" check; exact under the lock. */
static atomic_uint abandoned_n[COG_NKINDS][COG_NCLASSES];
atomic_ulong cog_stat_abandoned;
/* The owner of every pool on the abandoned lists, and of no other pool:
 * it is stored and replaced only under abandoned_lock, so a thread that
 * reads it there knows the pool is listed. A real heap struct, so a
 * remote freer that reads it may write a (never read) hint into it. */
static cog_heap abandoned_owner = {.slot = UINT32_MAX};

/* ---- owner's pool lists (doubly linked through prev/next) ---- */

static void plist_push(cog_pool **head, cog_pool *p, int where) {
    p->where = (uint8_t)where;
    p->prev = NULL;
    p->next = *head;
    if (*head) (*head)->prev = p;
    *head = p;
}

static void plist_unlink(cog_pool **head, cog_pool *p) {
    if (p->prev) p->prev->next = p->next;
    else *head = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->where = COG_POOL_NONE;
}

static cog_pool **list_of(cog_heap *h, cog_pool *p) {
    cog_class_lists *l = &h->lists[p->kind][p->cls];
    return p->where == COG_POOL_FULL ? &l->full : &l->avail;
}

/* ---- heap life cycle ---- */


cog_heap *cog_heap_new(uint32_t tid) {
    pthread_mutex_lock(&cog_heap_lock);
    cog_heap *h = free_heaps;
    if (h) {
        free_heaps = h->next_free;
    } else {
        unsigned n = atomic_load_explicit(&cog_heap_count, memory_order_relaxed);
        /* Aligned (and a multiple of 64 bytes): heaps share no line. */
        if (n == COG_MAX_HEAPS || !(h = aligned_alloc(64, sizeof *h))) {
            pthread_mutex_unlock(&cog_heap_lock);
            cog_error(COG_ENOMEM, "out of memory creating a thread heap");
            return NULL;
        }
        memset(h, 0, sizeof *h);
        h->slot = n;
        pthread_mutex_init(&h->raw_large.lock, NULL);
        cog_heap_table[n] = h;
        atomic_store_explicit(&cog_heap_count, n + 1, memory_order_relaxed);
    }
    h->tid = tid;
    h->next_free = NULL;
    for (int k = 0; k < COG_NKINDS; k++)
        for (int c = 0; c < COG_NCLASSES; c++) {
            h->cur[k][c] = &cog_pool_sentinel;
            h->lists[k][c] = (cog_class_lists){NULL, NULL, 0};
            /* A stale freer may still store a hint here: atomic. */
            atomic_store_explicit(&h->remote_hint[k][c], 0, memory_order_relaxed);
        }
    for (int c = 0; c < COG_LIFO_CLASSES; c++)
        atomic_store_explicit(&h->raw_lifo[c], 0, memory_order_relaxed);
    h->visiting = 0;
    h->parked = NULL;
    h->defer = NULL;
    h->large_cache = NULL;
    h->large_cached = 0;
    for (int k = 0; k < COG_ARENA_KINDS; k++) h->home[k] = NULL;
    atomic_store_explicit(&h->any_hint, 0, memory_order_relaxed);
    h->batching = 0;
    h->batch = NULL;
    h->batch_head = h->batch_tail = NULL;
    atomic_store_explicit(&h->live, 1, memory_order_relaxed);
    pthread_mutex_unlock(&cog_heap_lock);
    cog_tls_heap = h;
    cog_alloc_sweep_abandoned();
    return h;
}

cog_heap *cog_heap_swap_current(cog_heap *h) {
    cog_heap *old = cog_tls_heap;
    cog_tls_heap = h;
    return old;
}

/* ---- allocation ---- */

/* Owner: an unlinked pool just became empty. */
static void keep_or_release(cog_class_lists *l, cog_pool *p) {
    if (l->spare < COG_POOL_SPARE) {
        l->spare++;
        plist_push(&l->avail, p, COG_POOL_AVAIL);
    } else {
        cog_pool_release(p);
    }
}

/* Owner: take remote frees of every pool of this class; pools that got
 * room move to avail, pools that became empty go back to their arena
 * (the current one stays, whatever its state). */
static void collect_class(cog_heap *h, unsigned kind, unsigned cls) {
    cog_class_lists *l = &h->lists[kind][cls];
    cog_pool *cur = h->cur[kind][cls];
    if (cur != &cog_pool_sentinel) cog_pool_collect(cur);
    for (cog_pool *p = l->avail, *next; p; p = next) {
        next = p->next;
        if (cog_pool_collect(p) && cog_pool_used(p) == 0) {
            plist_unlink(&l->avail, p);
            keep_or_release(l, p);
        }
    }
    for (cog_pool *p = l->full, *next; p; p = next) {
        next = p->next;
        if (!cog_pool_collect(p)) continue;
        plist_unlink(&l->full, p);
        if (cog_pool_used(p) == 0) keep_or_release(l, p);
        else plist_push(&l->avail, p, COG_POOL_AVAIL);
    }
}

/* Acquire pairs with the freer's release store of the hint, which follows
 * its push: if we consume a hint we see the pushed list head. A hint set
 * after our exchange stays set for the next check, so a non-empty remote
 * list always has a hint pending or is seen by a scan (docs/allocator.md). */
static int take_hint(cog_heap *h, unsigned kind, unsigned cls) {
    return atomic_load_explicit(&h->remote_hint[kind][cls], memory_order_relaxed) &&
           atomic_exchange_explicit(&h->remote_hint[kind][cls], 0, memory_order_acquire);
}

/* Under abandoned_lock: take listed pool p out of the abandoned set and
 * make h its owner, with its remote frees on its free list. */
static void adopt_locked(cog_heap *h, cog_pool *p) {
    unsigned kind = p->kind, cls = p->cls;
    plist_unlink(&abandoned[kind][cls], p);
    atomic_fetch_sub_explicit(&abandoned_n[kind][cls], 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&cog_stat_abandoned, 1, memory_order_relaxed);
    /* Dekker with remote_free: we store owner then take the list, the
     * freer pushes then loads owner, all seq_cst. Either our exchange
     * sees its block or its load sees us and it hints us. */
    atomic_store_explicit(&p->owner, h, memory_order_seq_cst);
    cog_pool_splice_remote(p, atomic_exchange_explicit(&p->remote, NULL, memory_order_seq_cst));
}

/* Adopt an abandoned pool of this class that has room (full ones we meet
 * are adopted too and parked on our full list; empty ones are released). */
static cog_pool *adopt(cog_heap *h, unsigned kind, unsigned cls) {
    if (!atomic_load_explicit(&abandoned_n[kind][cls], memory_order_relaxed)) return NULL;
    cog_pool *found = NULL, *release = NULL;
    pthread_mutex_lock(&abandoned_lock);
    cog_pool *p;
    while (!found && (p = abandoned[kind][cls]) != NULL) {
        adopt_locked(h, p);
        if (cog_pool_used(p) == 0) {
            p->next = release;
            release = p;
        } else if (cog_pool_has_room(p)) {
            found = p;
        } else {
            plist_push(&h->lists[kind][cls].full, p, COG_POOL_FULL);
        }
    }
    pthread_mutex_unlock(&abandoned_lock);
    while (release) {
        p = release;
        release = p->next;
        cog_pool_release(p);
    }
    return found;
}

static cog_pool *new_pool(cog_heap *h, unsigned kind, unsigned cls) {
    cog_pool *p = cog_arena_take_page(h, cog_layout(kind, cls));
    if (!p) return NULL;
    cog_pool_init(p, h, kind, cls);
    return p;
}

/* Out of line: what is left of cog_heap_alloc_slow's medium fast path
 * then saves no registers (it did, with this inlined: 600-byte and 1 KiB
 * pairs paid six pushes and pops per allocation). */
static __attribute__((noinline)) void *alloc_slow(cog_heap *h, unsigned kind, unsigned cls) {
    cog_class_lists *l = &h->lists[kind][cls];
    cog_pool *p = h->cur[kind][cls];
    if (p != &cog_pool_sentinel) {
        if (cog_pool_collect(p) && p->free) return cog_pool_take_block(p);
        plist_push(&l->full, p, COG_POOL_FULL);
        h->cur[kind][cls] = &cog_pool_sentinel;
    }
    if (take_hint(h, kind, cls)) collect_class(h, kind, cls);
    p = l->avail;
    if (p) {
        plist_unlink(&l->avail, p);
        if (cog_pool_used(p) == 0) l->spare--;
    } else if (!(p = adopt(h, kind, cls)) && !(p = new_pool(h, kind, cls)))
        return NULL; /* cog_arena_take_page set the error */
    p->where = COG_POOL_CUR;
    h->cur[kind][cls] = p;
    if (kind == COG_BLOCK_OBJECT) cog_heap_young_note(h, p);
    return cog_pool_take_block(p);
}

/* Fault injection (cog_mem_fail_alloc_after): per thread, so a test's
 * failure point never lands on the collector's or another thread's
 * allocation. One TLS load and a predictable branch on the fast path. */
__thread unsigned cog_fail_alloc_countdown __attribute__((tls_model("initial-exec")));

__attribute__((noinline, cold)) static int injected_failure(size_t size) {
    if (--cog_fail_alloc_countdown != 0) return 0;
    cog_error(COG_ENOMEM, "out of memory allocating %zu bytes (injected)", size);
    return 1;
}

/* The medium classes' fast path, and the way to everything else (tail
 * calls only, so it stays a leaf). */
static inline __attribute__((always_inline)) void *alloc_sized(cog_heap *h, size_t size,
                                                               cog_block_kind kind) {
    if (__builtin_expect(size > COG_MEDIUM_MAX, 0)) return cog_large_alloc(h, size, kind);
    unsigned cls = cog_pool_class(size);
    cog_pool *p = h->cur[kind][cls];
    if (cog_pool_has_room(p)) return cog_pool_take_block(p);
    return alloc_slow(h, kind, cls);
}

static __attribute__((noinline, cold)) void *alloc_injected(cog_heap *h, size_t size,
                                                            cog_block_kind kind) {
    if (injected_failure(size)) return NULL;
    return alloc_sized(h, size, kind);
}

void *cog_heap_alloc_slow(cog_heap *h, size_t size, cog_block_kind kind) {
    if (__builtin_expect(cog_fail_alloc_countdown != 0, 0)) return alloc_injected(h, size, kind);
    return alloc_sized(h, size, kind);
}

/* ---- free ---- */

/* The fast path (cog_heap_free_inline) is at the end of alloc_internal.h. */

static int adopt_on_free(cog_heap *h, cog_pool *p);
static void remote_free(cog_heap *self, cog_pool *p, void *b);

/* The owner freed into a pool that was full (it now has room) or that is
 * now empty. */
void cog_heap_free_slow(cog_heap *h, cog_pool *p) {
    if (p->where == COG_POOL_CUR) return; /* keep the current pool */
    cog_pool **list = list_of(h, p);
    if (cog_pool_used(p) == 0) {
        plist_unlink(list, p);
        keep_or_release(&h->lists[p->kind][p->cls], p);
    } else if (p->where == COG_POOL_FULL) {
        plist_unlink(list, p);
        plist_push(&h->lists[p->kind][p->cls].avail, p, COG_POOL_AVAIL);
    }
}

/* Treiber push of the chain first..last (link, then CAS; seq_cst, which
 * includes the release the owner's acquire exchange pairs with and
 * publishes the chain's links). The pusher that finds the list empty
 * tells the owner with a hint; see take_hint and adopt. */
static void remote_push(cog_pool *p, void *first, void *last) {
    /* Read before the push: until it, our blocks keep the pool in use (its
     * plain fields fixed); after it, the owner may collect them, release
     * the pool and set it up for another class. */
    unsigned kind = p->kind, cls = p->cls;
    void *head = atomic_load_explicit(&p->remote, memory_order_relaxed);
    do {
        cog_link_set(last, head);
    } while (!atomic_compare_exchange_weak_explicit(&p->remote, &head, first,
                                                    memory_order_seq_cst, memory_order_relaxed));
    if (head) return;
    cog_heap *owner = atomic_load_explicit(&p->owner, memory_order_seq_cst);
    /* Abandoned: no one to tell (adopters collect the list); and every
     * freer writing the sentinel's hint would share one line. */
    if (owner && owner != &abandoned_owner) {
        /* Class hint, then the summary. The summary is set with an RMW
         * (even if it is already 1) so every freer's write is in one
         * release sequence with the others': an owner's acquire exchange
         * in cog_heap_collect that comes after ours in any_hint's order
         * synchronizes with us and sees the class hint; one that comes
         * before leaves our 1 for its next safe point. */
        atomic_store_explicit(&owner->remote_hint[kind][cls], 1, memory_order_release);
        atomic_exchange_explicit(&owner->any_hint, 1, memory_order_release);
    }
}

static void flush_batch(cog_heap *h) {
    if (h->batch) remote_push(h->batch, h->batch_head, h->batch_tail);
    h->batch = NULL;
    h->batch_head = h->batch_tail = NULL;
}

void cog_heap_batch_remote_frees(cog_heap *h, int on) {
    if (!on) flush_batch(h);
    h->batching = on;
}

/* A batched block stays ours (unreachable to everyone else, counted in
 * its pool's `used`) until its chain is pushed, so holding it is as safe as
 * not having freed it yet. */
static void remote_free(cog_heap *self, cog_pool *p, void *b) {
    if (self && self->batching) {
        if (self->batch != p) {
            flush_batch(self);
            self->batch = p;
            self->batch_tail = b;
        }
        cog_link_set(b, self->batch_head);
        self->batch_head = b;
        return;
    }
    remote_push(p, b, b);
}

/* Someone else's pool, or an abandoned one we may adopt. Out of line so
 * that the owner's path in cog_heap_free stays a leaf. */
void cog_heap_free_not_own(cog_heap *self, cog_pool *p, void *b, cog_heap *owner) {
    if (self && owner == &abandoned_owner && adopt_on_free(self, p)) {
        cog_own_free(self, p, b);
        return;
    }
    remote_free(self, p, b);
}

/* Their real frees, at abandon. */
static void lifo_drain(cog_heap *h) {
    for (unsigned c = COG_LIFO_FIRST; c < COG_LIFO_FIRST + COG_LIFO_CLASSES; c++)
        for (void *b; (b = cog_lifo_pop(h, c));) cog_pool_free(h, cog_medium_pool_of(b), b);
}

void cog_heap_free(cog_heap *self, void *b, size_t size, cog_block_kind kind) {
    cog_heap_free_inline(self, b, size, kind);
}

/* ---- safe points, visiting, detach ---- */

void cog_heap_collect(cog_heap *h) {
    cog_defer_flush(h);
    if (h->visiting) {
        h->visiting = 0;
        cog_large_release_parked(h);
    }
    /* Acquire: see remote_push. */
    if (atomic_load_explicit(&h->any_hint, memory_order_relaxed) &&
        atomic_exchange_explicit(&h->any_hint, 0, memory_order_acquire))
        for (unsigned k = 0; k < COG_NKINDS; k++)
            for (unsigned c = 0; c < COG_NCLASSES; c++)
                if (take_hint(h, k, c)) collect_class(h, k, c);
    cog_arena_trim();
}

static void visit_pool(cog_pool *p, void (*visit)(void *, void *), void *arg) {
    unsigned n = cog_pool_carved(p);
    for (unsigned j = 0; j < n; j++) visit(p->page + (size_t)j * p->block_size, arg);
}

void cog_heap_visit_objects(cog_heap *h, void (*visit)(void *block, void *arg), void *arg) {
    h->visiting = 1;
    for (unsigned c = 0; c < COG_NCLASSES; c++) {
        cog_pool *cur = h->cur[COG_BLOCK_OBJECT][c];
        if (cur != &cog_pool_sentinel) visit_pool(cur, visit, arg);
        for (cog_pool *p = h->lists[COG_BLOCK_OBJECT][c].avail; p; p = p->next)
            visit_pool(p, visit, arg);
        for (cog_pool *p = h->lists[COG_BLOCK_OBJECT][c].full; p; p = p->next)
            visit_pool(p, visit, arg);
    }
    cog_large_visit_heap(h, visit, arg);
}

/* Hand one pool over: empty ones go back to the arena, others to the
 * abandoned set (under the lock, which orders our plain writes before the
 * adopter's reads). Until the lock, the owner is still us: others' frees
 * are remote pushes that whoever adopts it collects. */
static void abandon_pool(cog_pool *p) {
    cog_pool_collect(p);
    if (cog_pool_used(p) == 0) {
        cog_pool_release(p);
        return;
    }
    pthread_mutex_lock(&abandoned_lock);
    plist_push(&abandoned[p->kind][p->cls], p, COG_POOL_NONE);
    atomic_store_explicit(&p->owner, &abandoned_owner, memory_order_seq_cst);
    atomic_fetch_add_explicit(&abandoned_n[p->kind][p->cls], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&cog_stat_abandoned, 1, memory_order_relaxed);
    pthread_mutex_unlock(&abandoned_lock);
}

/* An attached thread frees a block of an abandoned pool: adopt the pool,
 * so this and later frees (and allocations) of its blocks are the owner's
 * plain list operations instead of one CAS each (larson-like churn, where
 * each thread frees what an exited thread allocated, spent its frees
 * there). One mutex per pool. Not while batching (the collector freeing
 * others' garbage in bulk should not collect their pools). Returns 1 if
 * p is now h's. */
static __attribute__((noinline)) int adopt_on_free(cog_heap *h, cog_pool *p) {
    if (h->batching) return 0;
    pthread_mutex_lock(&abandoned_lock);
    /* The sentinel owner is stored and replaced only under the lock: if we
     * read it here, p is on the abandoned list and its list fields are
     * ours to touch. */
    if (atomic_load_explicit(&p->owner, memory_order_relaxed) != &abandoned_owner) {
        pthread_mutex_unlock(&abandoned_lock);
        return 0;
    }
    adopt_locked(h, p);
    pthread_mutex_unlock(&abandoned_lock);
    /* It holds at least the block being freed, so it is not empty. */
    cog_class_lists *l = &h->lists[p->kind][p->cls];
    if (cog_pool_has_room(p)) plist_push(&l->avail, p, COG_POOL_AVAIL);
    else plist_push(&l->full, p, COG_POOL_FULL);
    return 1;
}

void cog_heap_abandon(cog_heap *h) {
    lifo_drain(h);
    flush_batch(h);
    h->batching = 0;
    cog_defer_flush(h);
    h->visiting = 0;
    cog_large_release_parked(h);
    cog_large_disown(h);
    cog_large_flush_heap_cache(h);
    for (unsigned k = 0; k < COG_NKINDS; k++)
        for (unsigned c = 0; c < COG_NCLASSES; c++) {
            cog_pool *cur = h->cur[k][c];
            h->cur[k][c] = &cog_pool_sentinel;
            if (cur != &cog_pool_sentinel) abandon_pool(cur);
            cog_class_lists *l = &h->lists[k][c];
            while (l->avail) {
                cog_pool *p = l->avail;
                plist_unlink(&l->avail, p);
                abandon_pool(p);
            }
            while (l->full) {
                cog_pool *p = l->full;
                plist_unlink(&l->full, p);
                abandon_pool(p);
            }
        }
    if (cog_tls_heap == h) cog_tls_heap = NULL;
    cog_arena_release_home(h);
    pthread_mutex_lock(&cog_heap_lock);
    atomic_store_explicit(&h->live, 0, memory_order_relaxed);
    h->next_free = free_heaps;
    free_heaps = h;
    pthread_mutex_unlock(&cog_heap_lock);
    cog_arena_trim();
}

/* Release abandoned pools that remote frees emptied (at heap creation and
 * after every collection, so neither thread churn nor a thread pool that
 * shrank strands memory). */
void cog_alloc_sweep_abandoned(void) {
    if (!atomic_load_explicit(&cog_stat_abandoned, memory_order_relaxed)) return;
    cog_pool *release = NULL;
    pthread_mutex_lock(&abandoned_lock);
    for (unsigned k = 0; k < COG_NKINDS; k++)
        for (unsigned c = 0; c < COG_NCLASSES; c++)
            for (cog_pool *p = abandoned[k][c], *next; p; p = next) {
                next = p->next;
                cog_pool_collect(p);
                if (cog_pool_used(p)) continue;
                plist_unlink(&abandoned[k][c], p);
                /* Off the list: the sentinel goes too, under the lock. */
                atomic_store_explicit(&p->owner, NULL, memory_order_relaxed);
                atomic_fetch_sub_explicit(&abandoned_n[k][c], 1, memory_order_relaxed);
                atomic_fetch_sub_explicit(&cog_stat_abandoned, 1, memory_order_relaxed);
                p->next = release;
                release = p;
            }
    pthread_mutex_unlock(&abandoned_lock);
    while (release) {
        cog_pool *p = release;
        release = p->next;
        cog_pool_release(p);
    }
}

void cog_alloc_shutdown(void) {
    pthread_mutex_lock(&abandoned_lock);
    for (unsigned k = 0; k < COG_NKINDS; k++)
        for (unsigned c = 0; c < COG_NCLASSES; c++) {
            abandoned[k][c] = NULL;
            atomic_store_explicit(&abandoned_n[k][c], 0, memory_order_relaxed);
        }
    atomic_store_explicit(&cog_stat_abandoned, 0, memory_order_relaxed);
    pthread_mutex_unlock(&abandoned_lock);
    pthread_mutex_lock(&cog_heap_lock);
    cog_large_shutdown(); /* reads the heaps' raw lists */
    unsigned n = atomic_load_explicit(&cog_heap_count, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_destroy(&cog_heap_table[i]->raw_large.lock);
        free(cog_heap_table[i]->defer);
        cog_page_list_free(&cog_heap_table[i]->young[0]);
        cog_page_list_free(&cog_heap_table[i]->young[1]);
        free(cog_heap_table[i]);
        cog_heap_table[i] = NULL;
    }
    atomic_store_explicit(&cog_heap_count, 0, memory_order_relaxed);
    free_heaps = NULL;
    pthread_mutex_unlock(&cog_heap_lock);
    cog_arena_shutdown();
}
