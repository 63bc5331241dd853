/* lib/alloc.h - cog's small-object pool allocator (internal interface).
 *
 * Requests up to COG_SMALL_MAX bytes come from size-class pools (one page
 * each) carved out of mmap'd arenas; larger ones go to the system allocator.
 * Each attached thread owns a cog_heap. Allocation and same-thread free use
 * only the owner's heap: no lock and no atomic read-modify-write. A free from
 * another thread pushes the block onto its pool's lock-free remote-free list
 * (one CAS); the owner takes those back at its next slow path or safe point.
 *
 * Object blocks and raw blocks live in separate pools, so the owner can walk
 * its object pools and find every object it owns (used to merge reference
 * counts when a thread detaches, and later by the collector).
 *
 * Block layout invariant: a free block keeps bytes 0..15 untouched by the
 * allocator (an object's ob_type, ob_ref_local, ob_tid survive the free) and
 * stores its free-list link at offset 16. Every block is >= 32 bytes and
 * 16-byte aligned.
 */
#ifndef COG_LIB_ALLOC_H
#define COG_LIB_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define COG_SMALL_MAX 512
#define COG_BLOCK_MIN 32

typedef struct cog_heap cog_heap;

typedef enum cog_block_kind {
    COG_BLOCK_RAW = 0,    /* storage: arrays, hash tables, strings' bytes */
    COG_BLOCK_OBJECT = 1  /* starts with a cog_object header */
} cog_block_kind;

/* Create the heap of a thread that is attaching, with owner id tid. May
 * adopt pools abandoned by threads that detached. NULL + error on OOM. */
cog_heap *cog_heap_new(uint32_t tid);

/* Allocate size bytes (not zeroed) from the calling thread's heap h, which
 * must be its own. size 0 is treated as 1. NULL + cog error (COG_ENOMEM) on
 * failure. */
void *cog_heap_alloc(cog_heap *h, size_t size, cog_block_kind kind);

/* Free a block of the given size (the size passed to cog_heap_alloc) and
 * kind. Any thread, attached or not, may call it; `self` is the caller's own
 * heap or NULL. Same-heap frees are plain list pushes; others are remote. */
void cog_heap_free(cog_heap *self, void *p, size_t size, cog_block_kind kind);

/* Owner only: take back blocks other threads freed into this heap's pools and
 * release empty pools/arenas (with hysteresis). Cheap when nothing is pending. */
void cog_heap_collect(cog_heap *h);

/* Owner only: call visit(block, arg) for every object block that may be
 * allocated in this heap (carved and not on a free list of this heap after
 * collecting remote frees), including large object blocks. The visitor must
 * check the header itself (a block whose ob_tid is the owner's id is live). */
void cog_heap_visit_objects(cog_heap *h, void (*visit)(void *block, void *arg),
                            void *arg);

/* Owner only, at detach: give every pool to the runtime's abandoned set
 * (blocks still in use stay valid; later frees to them stay correct) and
 * free the heap. */
void cog_heap_abandon(cog_heap *h);

/* Runtime teardown (no thread attached): unmap everything. */
void cog_alloc_shutdown(void);

/* Fault injection for tests: make the n-th next arena mmap fail (0 = off). */
void cog_alloc_fail_mmap_after(unsigned n);
#endif /* COG_LIB_ALLOC_H */
