/* lib/alloc/alloc.h - cog's small-object pool allocator (internal interface).
 *
 * Requests up to COG_MEDIUM_MAX bytes come from size-class pools carved out
 * of mmap'd arenas (16 KiB pools up to COG_SMALL_MAX, 64 KiB pools above);
 * larger ones are mapped directly, through a small cache of mappings.
 * Each attached thread owns a cog_heap. Allocation and same-thread free use
 * only the owner's heap: no lock and no atomic read-modify-write. A free from
 * another thread pushes the block onto its pool's lock-free remote-free list
 * (one CAS); the owner takes those back at its next slow path or safe point.
 *
 * Object blocks and raw blocks live in separate pools, so the owner can walk
 * its object pools and find every object it owns (used to merge reference
 * counts when a thread detaches, and later by the collector).
 *
 * Block layout invariant: a block returned to a free list keeps bytes 0..15
 * and 24..31 untouched by the allocator (an object's ob_type, ob_ref_local,
 * ob_tid and ob_gc survive the free) and stores its free-list link at offset
 * 16..23 (written and read with relaxed atomics, so it may overlap the dead
 * object's atomic ob_ref_shared). Every block is >= 32 bytes and 16-byte
 * aligned. When a page becomes an object pool the allocator zeroes ob_tid
 * and ob_gc of each block slot, so a carved block never looks live unless a
 * caller made it so.
 *
 * Design, memory-ordering arguments and benchmark figures: docs/allocator.md.
 */
#ifndef COG_LIB_ALLOC_H
#define COG_LIB_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define COG_SMALL_MAX 512    /* top of the inline fast path's classes */
#define COG_MEDIUM_MAX 32768 /* top of the pooled classes */
#define COG_BLOCK_MIN 32

typedef struct cog_heap cog_heap;

/* A page of an arena: the arena's registry slot << 8 | its page index.
 * Stable for as long as the arena is mapped; a list of ids stays safe to
 * keep because every use looks the arena up in the registry again. */
typedef uint32_t cog_page_id;
typedef struct cog_page_list {
    cog_page_id *ids;
    size_t n, cap;
} cog_page_list;
/* Append id (0, or -1 if out of memory); free the array. */
int cog_page_list_add(cog_page_list *l, cog_page_id id);
void cog_page_list_free(cog_page_list *l);

typedef enum cog_block_kind {
    COG_BLOCK_RAW = 0,    /* storage: arrays, hash tables, strings' bytes */
    COG_BLOCK_OBJECT = 1  /* starts with a cog_object header */
} cog_block_kind;

/* Create the heap of the calling thread, which is attaching, with owner id
 * tid (cog_heap_free_deferred finds it through a thread-local). Releases
 * abandoned pools that became empty; pools still in use are adopted lazily
 * by allocation slow paths. NULL + error on OOM. */
cog_heap *cog_heap_new(uint32_t tid);

/* Allocate size bytes (not zeroed) from the calling thread's heap h, which
 * must be its own. size 0 is treated as 1. NULL + cog error (COG_ENOMEM) on
 * failure. The fast path is inline (end of lib/alloc/alloc_internal.h); this is
 * everything else: fault injection, large blocks, a class's pool is empty. */
static inline void *cog_heap_alloc(cog_heap *h, size_t size, cog_block_kind kind);
void *cog_heap_alloc_slow(cog_heap *h, size_t size, cog_block_kind kind);

/* Free a block of the given size (the size passed to cog_heap_alloc) and
 * kind. Any thread, attached or not, may call it; `self` is the caller's own
 * heap or NULL. Same-heap frees are plain list pushes; others are remote. */
void cog_heap_free(cog_heap *self, void *p, size_t size, cog_block_kind kind);

/* Owner of h only: while on, frees by this thread into other heaps' pools
 * are chained privately per pool (consecutive frees to one pool cost no
 * atomic) and pushed with one CAS per run of blocks; turning it off
 * pushes what is pending. For bulk frees of another thread's objects (the
 * collector clearing garbage). */
void cog_heap_batch_remote_frees(cog_heap *h, int on);

/* Owner only: take back blocks other threads freed into this heap's pools and
 * release empty pools/arenas (with hysteresis). Cheap when nothing is pending. */
void cog_heap_collect(cog_heap *h);

/* Owner only: call visit(block, arg) for every carved block of every object
 * pool this heap owns (free blocks included) and every large object block
 * allocated through it. The visitor must check the header itself (a block
 * whose ob_tid is the owner's id is live; freed blocks have ob_tid 0). Until
 * the owner's next cog_heap_collect or cog_heap_abandon, large object blocks
 * the owner frees are parked instead of returned to malloc, so the visitor's
 * caller may keep the addresses and re-read their headers. */
void cog_heap_visit_objects(cog_heap *h, void (*visit)(void *block, void *arg),
                            void *arg);

/* Owner only, at detach: give every pool to the runtime's abandoned set
 * (blocks still in use stay valid; later frees to them stay correct) and
 * free the heap. */
void cog_heap_abandon(cog_heap *h);

/* Any thread: return abandoned pools that frees from other threads have
 * emptied to their arenas (one mutex, a walk of the abandoned pools).
 * Called when a heap is created and by the collector after each
 * collection. */
void cog_alloc_sweep_abandoned(void);

/* Make h the calling thread's current heap (the one deferred frees batch
 * into) and return the previous one. Only for a forked child detaching a
 * vanished thread on its behalf (lib/core/thread.c). */
cog_heap *cog_heap_swap_current(cog_heap *h);

/* Any thread: unmap the cached mappings of freed large blocks (they are
 * otherwise kept for reuse). */
void cog_alloc_release_cached(void);
/* Bytes those cached mappings hold (relaxed read: a hint). */
size_t cog_alloc_cached_bytes(void);
/* The collector's idle trim: unmap the cached large mappings and every
 * empty arena beyond the few kept (without waiting for them to age), and
 * the bytes that would give back (a relaxed hint). */
void cog_alloc_trim_idle(void);
size_t cog_alloc_idle_bytes(void);

/* Runtime teardown (no thread attached): unmap everything. */
void cog_alloc_shutdown(void);

/* Free p (allocated with this size and kind) after an RCU grace period: for
 * memory that lock-free readers or the collector may still be reading.
 * Attached threads batch the requests per heap (flushed when a batch fills
 * and at cog_heap_collect/cog_heap_abandon) and queue one cog_rcu_call per
 * batch; other threads queue one call per block. The block is untouched
 * until then. Aborts (cog_fatal) only if a 1.5 KiB batch cannot be
 * malloc'd, as lib/core/object.c does for deferred object frees. */
void cog_heap_free_deferred(void *p, size_t size, cog_block_kind kind);

/* Call visit(block, arg) for every carved block of every object pool of
 * every arena (owned, abandoned, anything) and for every live large object
 * block. Callable from any thread, attached or not, concurrently with all
 * other allocator activity. Blocks may be free or allocated: the visitor
 * must read only the header words it needs, with atomics (ob_gc at offset
 * 24 says whether it is a tracked live object; bytes 0..15 and 24..31 of a
 * free block are never written by the allocator). No arena is unmapped, and
 * no page visited as an object pool is reused with another layout, until
 * the walk returns. The visitor may allocate and free, but must not call
 * this function again. */
void cog_alloc_visit_all_objects(void (*visit)(void *block, void *arg), void *arg);

/* Walks by page (the collector's, collector/gc_walk.c, which may share
 * one between threads): each participating thread brackets its part with
 * walk_begin/walk_end (the walk lock, read side; the guarantees above hold
 * between the two calls) and visits pages with cog_alloc_page_blocks and
 * large blocks with cog_alloc_walk_large_since (below). */
void cog_alloc_walk_begin(void);
void cog_alloc_walk_end(void);

/* Pin object memory: until the matching unpin, no object page is given
 * back to its arena (an object pool that empties keeps its layout, so its
 * blocks stay object blocks of the same size at the same addresses) and no
 * large object block goes back to malloc; both are released at unpin.
 * Nests. The collector pins while a window is open: it may read ob_gc of
 * a block freed under it through a pointer it loaded before the free
 * (collector/gc_collect.c), and with the pin that read finds an object
 * header, never reused raw memory. */
void cog_alloc_pin(void);
void cog_alloc_unpin(void);

/* ---- Young pages (alloc_young.c): finding the objects allocated since
 * the last young collection without visiting every block.
 *
 * A pool only receives allocations while it is its owner's current pool
 * of a class, and it becomes current only in the allocation slow path.
 * So each heap lists (once per young epoch) the object pages that became
 * current, and right after the quiescent state of a safe point that finds
 * the epoch changed it lists its current pools again under the new epoch.
 * The collector flips the epoch before the grace period that opens a
 * window; after it, every attached thread has passed a quiescent state
 * and seen the flip (or is offline, and lists its current pools again
 * when it comes online), so nothing is appended to the old epoch's lists
 * any more and they hold every page that received an allocation before
 * the flip. */

/* Collector: start a new young epoch; returns the old one. */
uint32_t cog_alloc_young_flip(void);
/* Collector, after the grace period that followed the flip to old + 1:
 * append to *out every page listed in epoch `old` by any heap (attached,
 * or abandoned since) and empty those lists. Returns 0, or -1 if some
 * list overflowed or *out could not grow (then the caller must walk the
 * whole heap: pages were lost). */
int cog_alloc_young_gather(uint32_t old, cog_page_list *out);
/* Owner, right after the quiescent state of a safe point, after coming
 * online and after attaching: follow an epoch flip. */
void cog_heap_young_sync(cog_heap *h);

/* Between cog_alloc_walk_begin/end: the blocks of page id, if it is a
 * live object pool now (*first, *block_size, and *n blocks carved so far;
 * returns 1), else 0. `scratch` gets two words reserved for the walker
 * (zero when the arena was mapped, never touched by the allocator), or
 * NULL if no arena is mapped there. */
int cog_alloc_page_blocks(cog_page_id id, char **first, size_t *block_size, unsigned *n,
                          uint32_t **scratch);
/* The id of every page of every mapped arena (for a walk of everything),
 * appended to *out; -1 if out of memory. Between walk_begin/end. */
int cog_alloc_all_pages(cog_page_list *out);
/* Large object blocks are numbered in allocation order; the list the walk
 * reads is newest first. Number of the newest, and a walk of the blocks
 * numbered >= floor (newest first; live or being freed: the visitor
 * checks headers as for pools). */
uint64_t cog_alloc_large_newest(void);
void cog_alloc_walk_large_since(uint64_t floor, void (*visit)(void *block, uint64_t seq, void *arg),
                                void *arg);

/* Debug check of a sized raw free (alloc_check.c): 0 if p is the start of
 * a live raw block of size's class, else -1 with the reason ("is ...") in
 * why. Scans the arena registry: for COG_DEBUG builds only. */
int cog_alloc_check_raw(const void *p, size_t size, char *why, size_t n);

/* Fault injection for tests: make the n-th next arena mmap fail (0 = off).
 * One-shot: later mmaps succeed again. */
void cog_alloc_fail_mmap_after(unsigned n);
/* Same for the mapping of a large (> COG_MEDIUM_MAX) block. */
void cog_alloc_fail_malloc_after(unsigned n);

/* Last: the layouts the inline fast path needs (that header includes this
 * one first, so either include order defines everything). */
#include "lib/alloc/alloc_internal.h"
#endif /* COG_LIB_ALLOC_H */
