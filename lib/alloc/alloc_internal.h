/* lib/alloc/alloc_internal.h - data structures shared by the allocator's files.
 *
 *   alloc_arena.c  mmap'd arenas, the arena registry, pages, the walk lock
 *   alloc_pool.c   size classes, pool (re)initialisation, free lists
 *   alloc_heap.c   per-thread heaps: fast paths, remote frees, abandon/adopt
 *   alloc_defer.c  frees after an RCU grace period
 *   alloc_large.c  blocks > COG_MEDIUM_MAX, mapped directly (with a cache)
 *   alloc_stats.c  cog_mem_stats and the fault-injection setters
 *
 * An arena is COG_ARENA_SIZE bytes aligned to its size, of one of two
 * kinds: small arenas have 16 KiB pages (classes up to COG_SMALL_MAX),
 * medium arenas 64 KiB pages (classes up to COG_MEDIUM_MAX). Its first
 * pages hold the arena header and one cog_pool descriptor per page; every
 * later page is a pool of equal-size blocks. A block's pool is found from
 * its address and its size class alone: mask to the arena, index by the
 * page number at that kind's page size.
 */
#ifndef COG_LIB_ALLOC_INTERNAL_H
#define COG_LIB_ALLOC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lib/alloc/alloc.h"

/* Add delta to a counter that one thread at a time writes (its owner, or
 * whoever holds its lock; others read it as a racy snapshot or a hint): a
 * relaxed load and a relaxed store, not a locked read-modify-write, which
 * costs tens of cycles on the fast paths. */
#define COG_SOLE_WRITER_ADD(counter, delta)                                                  \
    atomic_store_explicit((counter),                                                        \
                          atomic_load_explicit((counter), memory_order_relaxed) + (delta), \
                          memory_order_relaxed)

#define COG_PAGE_SHIFT 14 /* small arenas' pages (16 KiB) */
#define COG_PAGE_SIZE ((size_t)1 << COG_PAGE_SHIFT)
#define COG_MEDIUM_PAGE_SHIFT 16 /* medium arenas' pages */
#define COG_MEDIUM_PAGE_SIZE ((size_t)1 << COG_MEDIUM_PAGE_SHIFT)
#define COG_ARENA_SHIFT 20
#define COG_ARENA_SIZE ((size_t)1 << COG_ARENA_SHIFT)
#define COG_ARENA_PAGES (COG_ARENA_SIZE / COG_PAGE_SIZE) /* descriptors */
#define COG_MEDIUM_ARENA_PAGES (COG_ARENA_SIZE / COG_MEDIUM_PAGE_SIZE)
_Static_assert(COG_MEDIUM_ARENA_PAGES <= COG_ARENA_PAGES, "descriptors for either kind");
/* Small classes 32, 48, ..., 512 (16 bytes apart); then medium classes
 * four per doubling up to 32 KiB: 640, 768, 896, 1024, 1280, ..., 28672,
 * 32768 (at most 20 % of a block unused, as jemalloc's spacing; see
 * docs/allocator.md "Size classes"). */
#define COG_SMALL_NCLASSES ((COG_SMALL_MAX - COG_BLOCK_MIN) / 16 + 1)
#define COG_MEDIUM_NCLASSES 24
#define COG_NCLASSES (COG_SMALL_NCLASSES + COG_MEDIUM_NCLASSES)
_Static_assert(COG_MEDIUM_MAX == 32768, "medium classes: 4 per doubling from 512 to 32768");
#define COG_NKINDS 2
/* Fully free arenas kept mapped so alloc/free churn does not mmap/munmap. */
#define COG_ARENA_KEEP 2
/* Empty arenas beyond those are unmapped once they have stayed empty this
 * long (at a safe point's trim, or by the collector's idle trim, which
 * takes them all): threads that come and go (a pool of workers, a
 * benchmark's runs) reuse them instead of faulting fresh pages in. */
#define COG_ARENA_RETAIN_NS (250ull * 1000 * 1000)
/* Registry slots: 16 GiB of arenas. */
#define COG_MAX_ARENAS 16384
/* Offset of the free-list link inside a free block. */
#define COG_LINK_OFFSET 16

/* size <= COG_SMALL_MAX (the inline path reads cog_direct_class below). */
static inline unsigned cog_size_class(size_t size) {
    return size <= COG_BLOCK_MIN ? 0 : (unsigned)((size + 15) >> 4) - 2;
}
/* COG_SMALL_MAX < size <= COG_MEDIUM_MAX: lg = floor(log2(size - 1)) picks
 * the doubling, the next two bits the quarter within it. */
static inline unsigned cog_medium_class(size_t size) {
    size_t s = size - 1;
    unsigned lg = 63u - (unsigned)__builtin_clzl(s);
    return COG_SMALL_NCLASSES + (lg - 9) * 4 + (unsigned)((s >> (lg - 2)) & 3);
}
/* The class of any pooled size (size <= COG_MEDIUM_MAX). */
static inline unsigned cog_pool_class(size_t size) {
    return size <= COG_SMALL_MAX ? cog_size_class(size) : cog_medium_class(size);
}
static inline int cog_class_is_medium(unsigned cls) { return cls >= COG_SMALL_NCLASSES; }
static inline size_t cog_class_size(unsigned cls) {
    if (!cog_class_is_medium(cls)) return ((size_t)cls + 2) << 4;
    unsigned m = cls - COG_SMALL_NCLASSES, lg = 9 + m / 4;
    return ((size_t)1 << lg) + (size_t)(m % 4 + 1) * ((size_t)1 << (lg - 2));
}

/* The link lives where a dead object's ob_ref_shared was. Relaxed atomics:
 * other threads may have used that word atomically before the free, and the
 * link's own ordering comes from the list it is on (owner-only, or the
 * remote list's release/acquire). */
static inline void *cog_link_get(void *b) {
    return (void *)atomic_load_explicit(
        (_Atomic(uintptr_t) *)((char *)b + COG_LINK_OFFSET), memory_order_relaxed);
}
static inline void cog_link_set(void *b, void *next) {
    atomic_store_explicit((_Atomic(uintptr_t) *)((char *)b + COG_LINK_OFFSET),
                          (uintptr_t)next, memory_order_relaxed);
}

/* Page layout word (cog_pool.layout). 0: never used since mmap (zeroed).
 * Otherwise (cls + 1) | kind << 6, plus LIVE while the page is a pool. A
 * free page keeps its last layout: reusing it with the same layout needs
 * nothing, with another layout it needs the walk lock (see alloc_arena.c). */
#define COG_LAYOUT_OBJECT 0x40u
#define COG_LAYOUT_LIVE 0x80u
static inline uint16_t cog_layout(unsigned kind, unsigned cls) {
    return (uint16_t)((cls + 1) | (kind == COG_BLOCK_OBJECT ? COG_LAYOUT_OBJECT : 0));
}
static inline unsigned cog_layout_cls(unsigned layout) { return (layout & 0x3f) - 1; }
_Static_assert(COG_NCLASSES < 0x3f, "a class fits the layout word");

/* Where a pool is, from its owner's point of view (owner-only field). */
enum { COG_POOL_NONE = 0, COG_POOL_CUR, COG_POOL_AVAIL, COG_POOL_FULL };

/* One page's descriptor: one cache line, so pools of different owners (and
 * the remote pushes to them) do not share lines. */
typedef struct cog_pool {
    /* Owner-only (plain), the fast path's fields. */
    void *free;        /* local free list, linked at COG_LINK_OFFSET */
    char *page;        /* first block */
    struct cog_pool *prev, *next; /* heap list / arena free pages / abandoned */
    /* Relaxed: compared with the caller's heap to tell own frees from
     * remote ones (only the owner ever stores itself here), and target of
     * the remote-free hint. A static sentinel heap while abandoned (stored
     * and replaced under the abandoned set's lock: alloc_heap.c), NULL
     * while free. */
    _Atomic(struct cog_heap *) owner;
    /* Remote-free Treiber stack: pushed with CAS by any thread, taken whole
     * by the owner with one exchange (so no ABA: nobody pops one element). */
    _Atomic(void *) remote;
    uint16_t block_size;
    uint16_t capacity;         /* blocks in the page */
    /* Blocks carved (ever handed out) since init: the owner's bump index,
     * published with release for the walk. */
    _Atomic(uint16_t) carved;
    /* Allocations and frees since init (mod 2^16; remote frees counted
     * when collected): allocated blocks = allocs - frees (cog_pool_used).
     * Two counters, each with a single writer (the owner, a relaxed load
     * and store), so an allocation and a free of the same pool do not
     * each wait for the other's store to one shared count (with one, a
     * free + allocate pair in one 16 KiB pool took 5.2 ns, 3.3 in two). */
    _Atomic(uint16_t) allocs, frees;
    _Atomic(uint16_t) layout;  /* see cog_layout (walk, stats) */
    uint8_t kind, cls, where, pad;
} cog_pool;

_Static_assert(sizeof(cog_pool) == 64, "cog_pool is one cache line");

typedef struct cog_arena {
    /* Under cog_arena_lock. */
    struct cog_arena *prev, *next; /* partial or empty arena list */
    cog_pool *free_pages;          /* stack linked through cog_pool.next */
    uint32_t nfree;
    uint32_t slot;                 /* registry index */
    int list;                      /* ARENA_FULL/PARTIAL/EMPTY, or CLAIMED
                                      as some heap's home */
    /* Fixed before the arena is registered (walkers read them after the
     * registry's acquire load): COG_ARENA_SMALL or COG_ARENA_MEDIUM, its
     * page size, and its pool pages [first_page, npages). */
    uint8_t kind;
    uint8_t page_shift;
    uint16_t first_page, npages;
    uint64_t empty_since; /* CLOCK_MONOTONIC_COARSE ns; under cog_arena_lock */
    /* One cache line per descriptor: pools of different owners (and the
     * remote pushes to them) must never share one. */
    cog_pool pools[COG_ARENA_PAGES] __attribute__((aligned(64)));
    /* Young page tracking (alloc_young.c): the young epoch in which each
     * page was last listed as young by its owner (owner-only, plain: an
     * owner change goes through a lock), and two words per page for the
     * heap walker (cog_alloc_page_scratch). These fill part of the slack
     * the descriptors leave in the last metadata page. */
    uint32_t young_mark[COG_ARENA_PAGES];
    uint32_t scratch[COG_ARENA_PAGES][2];
} cog_arena;

enum { COG_ARENA_SMALL = 0, COG_ARENA_MEDIUM = 1, COG_ARENA_KINDS = 2 };

_Static_assert(offsetof(cog_arena, pools) % 64 == 0, "descriptors on their own cache lines");

/* Pages taken by the header and descriptors: the first 16 KiB page of a small
 * arena, the first 64 KiB page of a medium one (its untouched rest is
 * never faulted in). */
#define COG_ARENA_META_PAGES ((sizeof(cog_arena) + COG_PAGE_SIZE - 1) / COG_PAGE_SIZE)
_Static_assert(COG_ARENA_META_PAGES == 1, "young-page words fit the metadata's slack");
#define COG_MEDIUM_META_PAGES ((sizeof(cog_arena) + COG_MEDIUM_PAGE_SIZE - 1) / COG_MEDIUM_PAGE_SIZE)
_Static_assert(COG_MEDIUM_META_PAGES == 1, "a medium arena's metadata fits its first page");

static inline cog_arena *cog_arena_of(const void *p) {
    return (cog_arena *)((uintptr_t)p & ~(uintptr_t)(COG_ARENA_SIZE - 1));
}
static inline unsigned cog_arena_usable(const cog_arena *a) {
    return (unsigned)a->npages - a->first_page;
}
static inline size_t cog_arena_page_size(const cog_arena *a) { return (size_t)1 << a->page_shift; }
static inline char *cog_arena_page(cog_arena *a, size_t pg) {
    return (char *)a + (pg << a->page_shift);
}
static inline int cog_arena_kind_of_class(unsigned cls) {
    return cog_class_is_medium(cls) ? COG_ARENA_MEDIUM : COG_ARENA_SMALL;
}

/* The pool of a block of a small class (no arena read: the page size is
 * the kind's constant). */
static inline cog_pool *cog_pool_of(const void *p) {
    cog_arena *a = (cog_arena *)((uintptr_t)p & ~(uintptr_t)(COG_ARENA_SIZE - 1));
    return &a->pools[((uintptr_t)p >> COG_PAGE_SHIFT) & (COG_ARENA_PAGES - 1)];
}
/* The pool of a block of a medium class. */
static inline cog_pool *cog_medium_pool_of(const void *p) {
    cog_arena *a = (cog_arena *)((uintptr_t)p & ~(uintptr_t)(COG_ARENA_SIZE - 1));
    return &a->pools[((uintptr_t)p >> COG_MEDIUM_PAGE_SHIFT) & (COG_MEDIUM_ARENA_PAGES - 1)];
}

/* Per size class, the owner's pools other than the current one. */
typedef struct cog_class_lists {
    cog_pool *avail; /* have local free blocks or uncarved space */
    cog_pool *full;  /* have neither (remote frees may be pending) */
    unsigned spare;  /* empty pools kept on avail (at most COG_POOL_SPARE) */
} cog_class_lists;

/* Empty pools a class keeps instead of returning them to the arena, so a
 * pool that fills and drains repeatedly does not go through the global
 * arena lock each time. */
#define COG_POOL_SPARE 1

typedef struct cog_defer_batch cog_defer_batch;
typedef struct cog_large_hdr cog_large_hdr;
typedef struct cog_large_list {
    pthread_mutex_t lock;
    cog_large_hdr *head;
} cog_large_list;

/* The raw-block LIFO (per thread, classes 640-1024 B): see the fast path
 * at the end of this header. */
#define COG_LIFO_FIRST 31 /* cog_direct_class of 513..640 */
#define COG_LIFO_CLASSES 4
#define COG_LIFO_MAX 8
#define COG_LIFO_LEN 15u /* low bits of a head word: the list's length */

struct cog_heap {
    /* Fast path: the pool each class allocates from (never NULL: an empty
     * sentinel pool sends the first allocation to the slow path). */
    cog_pool *cur[COG_NKINDS][COG_NCLASSES];
    /* Raw blocks of 513-1024 bytes this thread freed last, per class: a
     * head word (block address | list length, blocks are 16-byte aligned)
     * whose block's link holds the previous head word. Owner-only writes;
     * relaxed atomics because cog_mem_stats reads the lengths. */
    _Atomic(uintptr_t) raw_lifo[COG_LIFO_CLASSES];
    uint32_t tid;
    uint32_t slot;       /* index in the heap table; fixed for life */
    int visiting;        /* owner: park large object frees (see alloc.h) */
    cog_large_hdr *parked;
    cog_defer_batch *defer;
    cog_class_lists lists[COG_NKINDS][COG_NCLASSES];
    /* Set by a remote freer whose push made a pool's remote list non-empty;
     * the owner then scans that class's full pools. */
    _Atomic(uint8_t) remote_hint[COG_NKINDS][COG_NCLASSES];
    /* 1 while a thread owns this heap (stats); heap structs are never freed
     * before shutdown, so a freer holding a stale owner pointer may still
     * write a hint into it harmlessly. */
    atomic_int live;
    /* Set by remote_push after a class hint: "some hint may be set", so a
     * safe point with nothing pending reads one byte, not every class's. */
    _Atomic(uint8_t) any_hint;
    /* Arenas (one per arena kind) our pages come from; cog_arena_lock. */
    struct cog_arena *home[COG_ARENA_KINDS];
    /* Owner-only: cog_heap_batch_remote_frees. `batch` is the pool whose
     * blocks batch_head..batch_tail (linked, not yet pushed) belong to. */
    int batching;
    cog_pool *batch;
    void *batch_head, *batch_tail;
    struct cog_heap *next_free; /* heap table free list, under heap lock */
    /* Young pages (alloc_young.c): the young epoch the owner last saw, and
     * the pages it listed in each of the last two epochs (by parity). The
     * owner appends to young[young_seen & 1]; the collector takes the
     * other list after the grace period that follows a flip. */
    uint32_t young_seen;
    cog_page_list young[2];
    int young_overflow[2]; /* a list could not grow: walk everything */
    /* Owner-only: mappings of freed large blocks kept for reuse
     * (alloc_large.c), linked through their headers. */
    cog_large_hdr *large_cache;
    unsigned large_cached;
    /* Large-block statistics (COG_LSTAT_*) of what this heap's owner
     * allocated, freed and cached: single writer (the owner, a relaxed
     * load and store), summed by cog_mem_stats with the global figures of
     * threads without a heap. Per heap, because one shared counter updated
     * by every thread's large alloc and free was where two threads spent
     * their time. A heap's figures outlive its thread (they may be
     * negative: it freed what others allocated); only the sum means
     * anything. */
    _Atomic(long) large_stat[4];
    /* Raw large blocks this heap allocated (alloc_large.c; any thread that
     * frees one takes the lock). Kept across thread lifetimes. Its own
     * line (heap structs are 64-byte aligned): the owner locks it per
     * large block, and it must not share a line with another heap's fast
     * path fields. */
    cog_large_list raw_large __attribute__((aligned(64)));
};

/* ---- alloc_arena.c ---- */
extern pthread_mutex_t cog_arena_lock;
extern _Atomic(cog_arena *) cog_arena_registry[COG_MAX_ARENAS];
extern atomic_uint cog_arena_hwm; /* registry slots in use are < hwm */
extern pthread_rwlock_t cog_walk_lock;
extern __thread int cog_alloc_walking;
/* Counters (relaxed; stats). */
extern atomic_ulong cog_stat_arenas, cog_stat_arenas_empty, cog_stat_bytes_mapped;
extern atomic_ulong cog_stat_arenas_mapped_total, cog_stat_arenas_unmapped_total;
extern atomic_ulong cog_stat_mmap_failures;
extern atomic_uint cog_fail_mmap_countdown;
extern __thread unsigned cog_fail_alloc_countdown __attribute__((tls_model("initial-exec")));

/* A free page for a pool of this layout, with the walk exclusion the layout
 * change needs already done; its descriptor's layout is not yet LIVE.
 * Taken from h's home arena (h may be NULL: any arena). NULL + COG_ENOMEM
 * if no arena can be mapped. */
cog_pool *cog_arena_take_page(cog_heap *h, uint16_t layout);
/* At abandon: h's home arena goes back to the shared lists. */
void cog_arena_release_home(cog_heap *h);
/* Give an empty pool's page back to its arena (may unmap an arena). */
void cog_arena_give_page(cog_pool *p);
/* Pinning (cog_alloc_pin): object pages and large object blocks. */
void cog_arena_pin(int on);
void cog_large_pin(int on);
/* Unmap fully free arenas beyond COG_ARENA_KEEP that have been empty for
 * COG_ARENA_RETAIN_NS (all of them if force), if no walk is running. */
void cog_arena_trim(void);
void cog_arena_trim_force(void);
/* Bytes of empty arenas beyond COG_ARENA_KEEP (a relaxed hint). */
size_t cog_arena_retained_bytes(void);
void cog_arena_shutdown(void);

/* ---- alloc_pool.c ---- */
extern cog_pool cog_pool_sentinel;
/* Make page p a LIVE pool of (kind, cls) owned by h. */
void cog_pool_init(cog_pool *p, cog_heap *h, unsigned kind, unsigned cls);
/* Owner: move the remote list onto the local free list. Returns the number
 * of blocks taken. */
unsigned cog_pool_collect(cog_pool *p);
/* Owner: put a remote list taken whole from p (or NULL) on its free list
 * and count its blocks as freed. Returns how many. */
unsigned cog_pool_splice_remote(cog_pool *p, void *list);
static inline uint16_t cog_pool_carved(const cog_pool *p) {
    return atomic_load_explicit(&p->carved, memory_order_relaxed); /* owner: a plain load */
}
static inline int cog_pool_has_room(const cog_pool *p) {
    return p->free != NULL || cog_pool_carved(p) < p->capacity;
}
/* Allocated blocks (exact for the owner; a racy snapshot for others). */
static inline uint16_t cog_pool_used(const cog_pool *p) {
    return (uint16_t)(atomic_load_explicit(&p->allocs, memory_order_relaxed) -
                      atomic_load_explicit(&p->frees, memory_order_relaxed));
}
static inline void cog_pool_count_frees(cog_pool *p, unsigned n) {
    COG_SOLE_WRITER_ADD(&p->frees, n);
}
/* Release an empty pool to its arena. */
void cog_pool_release(cog_pool *p);

/* ---- alloc_heap.c ---- */
extern pthread_mutex_t cog_heap_lock;
extern cog_heap *cog_heap_table[];
extern atomic_uint cog_heap_count; /* table entries in use are < count */
#define COG_MAX_HEAPS 4096
/* initial-exec as in the definition: the allocation fast path must not call
 * __tls_get_addr when cog is a shared library. */
extern __thread cog_heap *cog_tls_heap __attribute__((tls_model("initial-exec")));
/* Abandoned pools: per (kind, class) doubly linked lists under a mutex. */
extern atomic_ulong cog_stat_abandoned;

/* ---- alloc_young.c ---- */
/* Owner: pool p (object kind) is becoming the current pool of its class. */
void cog_heap_young_note(cog_heap *h, cog_pool *p);

/* ---- alloc_defer.c ---- */
void cog_defer_flush(cog_heap *h);

/* ---- alloc_large.c (blocks > COG_MEDIUM_MAX) ---- */
void *cog_large_alloc(cog_heap *h, size_t size, cog_block_kind kind);
void cog_large_free(cog_heap *self, void *p, cog_block_kind kind);
/* The size a large block was allocated with (its header's; for checks). */
size_t cog_large_size_of(const void *p);
/* Owner visit: large object blocks allocated by h. */
void cog_large_visit_heap(cog_heap *h, void (*visit)(void *, void *), void *arg);
void cog_large_visit_all(void (*visit)(void *, void *), void *arg);
/* Free the blocks h parked while visiting. */
void cog_large_release_parked(cog_heap *h);
/* Forget h as the allocating heap of its large blocks (at abandon). */
void cog_large_disown(cog_heap *h);
/* Owner of h (or its abandoner): hand h's cached mappings to the global
 * cache. */
void cog_large_flush_heap_cache(cog_heap *h);
void cog_large_shutdown(void);
enum { COG_LSTAT_COUNT, COG_LSTAT_BYTES, COG_LSTAT_CACHED, COG_LSTAT_CACHED_BYTES, COG_LSTAT_N };
extern atomic_long cog_large_stat_global[COG_LSTAT_N];
static inline void cog_large_stat_add(cog_heap *self, int i, long d) {
    if (self)
        COG_SOLE_WRITER_ADD(&self->large_stat[i], d);
    else
        atomic_fetch_add_explicit(&cog_large_stat_global[i], d, memory_order_relaxed);
}
extern atomic_uint cog_fail_malloc_countdown;

/* One-shot countdown used by both fault injectors: true on the n-th call. */
static inline int cog_fail_tick(atomic_uint *countdown) {
    unsigned n = atomic_load_explicit(countdown, memory_order_relaxed);
    while (n) {
        if (atomic_compare_exchange_weak_explicit(countdown, &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return n == 1;
    }
    return 0;
}

/* ---- the allocation fast path (declared in lib/alloc/alloc.h) ---- */

/* Owner: pop a block of pool p, which has room. The allocation count is
 * a plain single-writer store; `carved` is published with release so a
 * heap walker that reads it sees the new slot's header words as cleared at
 * pool setup (or left by the last free). */
static inline void *cog_pool_take_block(cog_pool *p) {
    void *b = p->free;
    if (b) {
        p->free = cog_link_get(b);
    } else {
        unsigned n = cog_pool_carved(p);
        b = p->page + (size_t)n * p->block_size;
        atomic_store_explicit(&p->carved, (uint16_t)(n + 1), memory_order_release);
    }
    COG_SOLE_WRITER_ADD(&p->allocs, 1);
    return b;
}

/* Inline so callers pay no call and no stack frame: the class's current
 * pool (never NULL: a sentinel with no room sends the first allocation of
 * a class to the slow path), then its free list or its bump pointer. The
 * fault-injection countdown is one thread-local load. */
/* Sizes the inline path serves: the small classes and the first four
 * medium ones, through a table indexed by size in 16-byte steps (as
 * mimalloc's direct page table up to 1 KiB): one load instead of the
 * medium classes' bit arithmetic. */
#define COG_DIRECT_MAX 1024
static const uint8_t cog_direct_class[COG_DIRECT_MAX / 16 + 1] = {
    0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    25, 26, 27, 28, 29, 30, 31, 31, 31, 31, 31, 31, 31, 31, 32, 32, 32, 32, 32, 32, 32, 32, 33, 33,
    33, 33, 33, 33, 33, 33, 34, 34, 34, 34, 34, 34, 34, 34
};

/* The raw-block LIFO, like glibc's tcache: raw blocks of the four classes
 * from 640 to 1024 bytes that the owner frees go on a per-thread list of at
 * most COG_LIFO_MAX, and its next allocation of the class takes the one
 * freed last, still in L1. Blocks of these classes come from 64 KiB pools
 * holding 64-102 of them, so a thread with a few hundred alive frees most
 * of them into pools other than the current one, whose pops then return
 * blocks freed long before (docs/performance.md "The raw-block LIFO").
 * Cached blocks stay counted as allocated in their pools, whichever heap
 * owns those (a free from the list is the block's real free, done later);
 * cog_heap_abandon empties the list. Object blocks never enter it: their
 * frees must reach their pool (the heap walk and young pages). Who frees
 * raw blocks this way: cog_mem_free, containers dying outside a window
 * (cog_storage_free_dead), storage never published.
 * Ordering: only the owner reads or writes the list and the links, so
 * relaxed atomics suffice (cog_mem_stats reads the head words' lengths as a
 * racy snapshot). A block of another heap's pool enters it only from a
 * free by this thread, which held the block alone; it reaches its pool
 * later through the ordinary free paths and their orderings. */
static inline void *cog_lifo_pop(cog_heap *h, unsigned cls) {
    uintptr_t w = atomic_load_explicit(&h->raw_lifo[cls - COG_LIFO_FIRST], memory_order_relaxed);
    if (!w) return NULL;
    void *b = (void *)(w & ~(uintptr_t)COG_LIFO_LEN);
    atomic_store_explicit(&h->raw_lifo[cls - COG_LIFO_FIRST], (uintptr_t)cog_link_get(b),
                          memory_order_relaxed);
    return b;
}

static inline void *cog_heap_alloc(cog_heap *h, size_t size, cog_block_kind kind) {
    if (__builtin_expect(size <= COG_DIRECT_MAX && cog_fail_alloc_countdown == 0, 1)) {
        unsigned cls = cog_direct_class[(size + 15) >> 4];
        if (kind == COG_BLOCK_RAW && cls >= COG_LIFO_FIRST) {
            void *b = cog_lifo_pop(h, cls);
            if (b) return b;
        }
        cog_pool *p = h->cur[kind][cls];
        if (__builtin_expect(cog_pool_has_room(p), 1)) return cog_pool_take_block(p);
    }
    return cog_heap_alloc_slow(h, size, kind);
}

/* ---- the free fast path (cog_heap_free; inline for cog_mem_free) ---- */

/* Out of line (alloc_heap.c): the owner freed into a full or now empty
 * pool; a block of someone else's pool, or of an abandoned one. */
void cog_heap_free_slow(cog_heap *h, cog_pool *p);
void cog_heap_free_not_own(cog_heap *self, cog_pool *p, void *b, cog_heap *owner);

/* The owner frees b into its pool p. */
static inline __attribute__((always_inline)) void cog_own_free(cog_heap *self, cog_pool *p,
                                                               void *b) {
    cog_link_set(b, p->free);
    p->free = b;
    cog_pool_count_frees(p, 1);
    if (__builtin_expect(cog_pool_used(p) == 0 || p->where == COG_POOL_FULL, 0))
        cog_heap_free_slow(self, p);
}

/* Free b into its pool p, ours or not. Relaxed: only this thread ever
 * stores `self` into owner, so reading self here means the pool is ours
 * and stays ours. Reading the abandoned sentinel is only a hint, checked
 * again under the lock. */
static inline __attribute__((always_inline)) void cog_pool_free(cog_heap *self, cog_pool *p,
                                                                void *b) {
    cog_heap *owner = atomic_load_explicit(&p->owner, memory_order_relaxed);
    if (__builtin_expect(self && owner == self, 1)) {
        cog_own_free(self, p, b);
        return;
    }
    cog_heap_free_not_own(self, p, b, owner); /* a tail call: the fast path saves no registers */
}

/* Onto the raw-block LIFO (above) if it has room: the pushed block's link
 * keeps the old head word, length included, so a pop needs no arithmetic. */
static inline int cog_lifo_push(cog_heap *h, void *b, size_t size) {
    _Atomic(uintptr_t) *head = &h->raw_lifo[cog_direct_class[(size + 15) >> 4] - COG_LIFO_FIRST];
    uintptr_t w = atomic_load_explicit(head, memory_order_relaxed);
    if ((w & COG_LIFO_LEN) == COG_LIFO_MAX) return 0;
    cog_link_set(b, (void *)w);
    atomic_store_explicit(head, (uintptr_t)b | ((w & COG_LIFO_LEN) + 1), memory_order_relaxed);
    return 1;
}

static inline __attribute__((always_inline)) void cog_heap_free_inline(cog_heap *self, void *b,
                                                                       size_t size,
                                                                       cog_block_kind kind) {
    cog_pool *p;
    if (__builtin_expect(size <= COG_SMALL_MAX, 1)) {
        p = cog_pool_of(b);
    } else if (size <= COG_MEDIUM_MAX) {
        if (size <= COG_DIRECT_MAX && kind == COG_BLOCK_RAW && self && cog_lifo_push(self, b, size))
            return;
        p = cog_medium_pool_of(b);
    } else {
        cog_large_free(self, b, kind);
        return;
    }
    cog_pool_free(self, p, b);
}
#endif /* COG_LIB_ALLOC_INTERNAL_H */
