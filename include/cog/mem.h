/* cog/mem.h - memory statistics of cog's allocator (the counterpart of
 * Python's sys._debugmallocstats) and fault-injection test hooks.
 *
 * cog allocates blocks of up to 512 bytes from per-thread pools of one 4 KiB
 * page, carved out of 1 MiB mmap'd arenas, in 31 size classes (32, 48, ...,
 * 512 bytes); larger blocks come from malloc. See docs/allocator.md.
 */
#ifndef COG_MEM_H
#define COG_MEM_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COG_MEM_NCLASSES 31
/* Per-thread entries reported in cog_mem_info.heaps (more are counted in
 * nheaps but not listed). */
#define COG_MEM_MAX_HEAPS 64

typedef struct cog_mem_class_info {
    uint32_t block_size;   /* bytes per block */
    uint64_t pools;        /* pools (pages) of this class, both kinds */
    uint64_t object_pools; /* of which hold objects (the rest: raw storage) */
    uint64_t blocks_in_use;/* allocated, including blocks freed by another
                              thread that the owner has not collected yet */
    uint64_t blocks_free;  /* free blocks in those pools */
} cog_mem_class_info;

typedef struct cog_mem_heap_info {
    uint32_t tid;          /* owning thread's id (cog_thread_id) */
    uint64_t pools;        /* pools it owns */
    uint64_t free_blocks;  /* its cache: free blocks in those pools */
    uint64_t free_bytes;
} cog_mem_heap_info;

typedef struct cog_mem_info {
    cog_mem_class_info classes[COG_MEM_NCLASSES];
    uint64_t arenas;               /* arenas mapped now */
    uint64_t arenas_empty;         /* of which fully free (kept as a cache) */
    uint64_t bytes_mapped;         /* arenas * arena size */
    uint64_t arenas_mapped_total;  /* ever mapped since cog_init */
    uint64_t arenas_unmapped_total;/* ever returned to the OS */
    uint64_t mmap_failures;
    uint64_t pools;                /* pools in use, every class */
    uint64_t pools_abandoned;      /* of which left by detached threads */
    uint64_t pages_free;           /* arena pages not used by a pool */
    uint64_t large_objects;        /* blocks > 512 bytes (from malloc) */
    uint64_t large_bytes;
    uint32_t nheaps;               /* attached threads' heaps */
    cog_mem_heap_info heaps[COG_MEM_MAX_HEAPS];
} cog_mem_info;

/* Fill *out. Callable from any thread, attached or not, while other
 * threads allocate and free: every figure is read with relaxed atomics, so
 * the result is a racy snapshot (figures of different classes or heaps may
 * be from slightly different moments) but each figure is one that really
 * existed, and a quiescent runtime gives exact numbers. */
void cog_mem_stats(cog_mem_info *out);

/* Print cog_mem_stats() in a human-readable table to f. */
void cog_mem_stats_print(FILE *f);

/* Test hooks: make the n-th next arena mmap (resp. the n-th next malloc of
 * a large block) fail as if the system were out of memory; the allocation
 * returns NULL with cog_last_error() set and status COG_ENOMEM. One-shot;
 * 0 cancels a pending failure. */
void cog_mem_fail_mmap_after(unsigned n);
void cog_mem_fail_malloc_after(unsigned n);

/* Test hook: make the n-th next block allocation BY THE CALLING THREAD
 * (objects, container storage, string bytes; any size) fail with
 * COG_ENOMEM as above. One-shot; 0 cancels. cog_mem_fail_alloc_pending
 * returns how many allocations are left before it fires (0: fired or
 * off), so a test can tell whether a sequence reached the failure point. */
void cog_mem_fail_alloc_after(unsigned n);
unsigned cog_mem_fail_alloc_pending(void);

#ifdef __cplusplus
}
#endif
#endif /* COG_MEM_H */
