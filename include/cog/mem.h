/* cog/mem.h - memory statistics of cog's allocator (the counterpart of
 * Python's sys._debugmallocstats), allocation tracing, raw memory for the
 * embedder's own buffers (cog_mem_alloc / cog_mem_free) and
 * fault-injection test hooks.
 *
 * cog allocates blocks of up to 32 KiB from per-thread pools carved out of
 * 1 MiB mmap'd arenas, in 55 size classes: 31 small ones (32, 48, ..., 512
 * bytes) in 16 KiB pools and 24 medium ones (640, 768, 896, 1024, 1280, ...,
 * 32768 bytes: four per doubling) in 64 KiB pools. Larger blocks are mapped
 * directly, through a small cache of mappings. See docs/allocator.md.
 */
#ifndef COG_MEM_H
#define COG_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cog/error.h"
#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COG_MEM_NCLASSES 55
/* Per-thread entries reported in cog_mem_info.heaps (more are counted in
 * nheaps but not listed). */
#define COG_MEM_MAX_HEAPS 64

typedef struct cog_mem_class_info {
    uint32_t block_size;   /* bytes per block */
    uint32_t pool_bytes;   /* bytes per pool: 16384 (small) or 65536 (medium) */
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
    uint64_t large_objects;        /* blocks > 32 KiB (mapped directly) */
    uint64_t large_bytes;
    uint64_t large_cached;         /* mappings of freed large blocks kept for reuse */
    uint64_t large_cached_bytes;
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

/* ---- Per-type summary (pympler's summary.summarize) -------------------- */

typedef struct cog_type_stat {
    const cog_type *type;
    const char *name;  /* type->name */
    uint64_t count;    /* live objects of the type */
    uint64_t bytes;    /* sum of cog_object_size() of those objects */
} cog_type_stat;

/* Count live objects (every type, tracked or not, small and large) and
 * their bytes per type, by a heap walk. Sorted by bytes, largest first
 * (ties: more objects, then name). Stores at most cap entries in out and
 * returns the number of types found (may exceed cap), or a negative
 * cog_status: COG_ENOTATTACHED from an unattached thread, COG_ESTATE on the
 * collector thread (finalizers, gc callbacks) or when not running,
 * COG_EINVAL if out is NULL and cap > 0, COG_ENOMEM.
 *
 * Thread-safe while mutators and the collector run: the walk runs on the
 * calling thread inside a collection window (see cog_gc_get_objects; the
 * caller waits offline for it). The result is a snapshot: objects born or
 * freed during the walk may or may not be counted. It costs a walk of the
 * whole heap (a few ns per block); nothing is paid when it is not called.
 * Type names must stay valid (types are normally static). */
long cog_mem_type_stats(cog_type_stat *out, size_t cap);

/* Print the top `top` entries (0: up to 64) of cog_mem_type_stats to f.
 * Returns COG_OK or the error of cog_mem_type_stats. */
int cog_mem_type_stats_print(FILE *f, size_t top);

/* ---- Allocation tracing (tracemalloc's idea) ----------------------------
 * Records the call site (return address of the cog_new / cog_new_var call)
 * and type of one allocation in every `sample_every` per thread, and
 * aggregates them per (site, type). Off by default; when off the allocation
 * path pays one relaxed load and a predictable branch. Sites beyond
 * COG_MEM_TRACE_MAX_SITES are counted in the `dropped` figure of
 * cog_mem_trace_top. All functions are thread-safe. */
#define COG_MEM_TRACE_MAX_SITES 4096

typedef struct cog_trace_site {
    const void *caller;    /* return address in the allocating function */
    const char *type_name;
    uint64_t samples;      /* sampled allocations at this site */
    uint64_t bytes;        /* their bytes (multiply by sample_every to estimate) */
} cog_trace_site;

/* Start (or change the rate of) tracing: 1 records every allocation.
 * COG_EINVAL for 0. Existing records are kept. */
int cog_mem_trace_start(unsigned sample_every);
/* Stop recording (records are kept until cog_mem_trace_clear). */
void cog_mem_trace_stop(void);
/* Current rate, 0 when off. */
unsigned cog_mem_trace_sample_every(void);
/* Copy up to cap sites, most samples first; returns the number of sites
 * recorded (may exceed cap). *dropped (if not NULL) receives the samples
 * that found the site table full. */
size_t cog_mem_trace_top(cog_trace_site *out, size_t cap, uint64_t *dropped);
/* Forget every record. */
void cog_mem_trace_clear(void);
/* Print the top `top` sites (0: 20) to f, with symbol names where the
 * dynamic linker knows them (dladdr). */
void cog_mem_trace_print(FILE *f, size_t top);

/* ---- Raw memory ----
 * Blocks for an embedder's own buffers (what CPython's PyMem_Malloc is to
 * an extension), from the calling thread's cog heap: up to 32 KiB from the
 * same per-thread pools as cog's own container storage, with no lock and
 * no atomic read-modify-write on the owner's paths; larger ones mapped
 * directly through a cache of mappings. Blocks are 16-byte aligned and
 * not zeroed. Raw blocks are never scanned by the collector: do not store
 * the only reference to an object in one. cog_shutdown unmaps every
 * block, raw ones included: none may be used or freed after it.
 *
 * The interface is sized, like C23's free_sized and jemalloc's sdallocx:
 * cog_mem_free and cog_mem_realloc take the size the block was allocated
 * (or last reallocated) with, which spares a header or a lookup per
 * block. Passing another size is undefined; debug builds (COG_DEBUG)
 * check it and abort with a message naming the block and both sizes.
 *
 * Any thread may free a block, attached or not: a free by the thread
 * that allocated it is a list push; others' frees go back to the owner
 * lock-free. Up to 8 raw blocks per class of 513-1024 bytes that a thread
 * frees wait on a per-thread list, and its next allocations of the class
 * take them back newest first (docs/allocator.md "The raw-block LIFO"). */

/* size bytes (size 0 is treated as 1). NULL + COG_ENOTATTACHED if the
 * calling thread is not attached, NULL + COG_ENOMEM when memory runs out
 * (or cog_mem_fail_alloc_after fires). */
void *cog_mem_alloc(size_t size);
/* Resize p (allocated with old_size; NULL: like cog_mem_alloc(new_size))
 * to new_size, keeping min(old_size, new_size) bytes. Returns p itself
 * when both sizes fall in the same size class. On failure returns NULL
 * with the error set and p untouched. Needs an attached thread. */
void *cog_mem_realloc(void *p, size_t old_size, size_t new_size);
/* Free p, allocated with `size` bytes. NULL is ignored. Any thread. */
void cog_mem_free(void *p, size_t size);

/* Test hooks: make the n-th next arena mmap (resp. the n-th next mapping
 * of a block above 32 KiB, a cached mapping's reuse included; the name
 * is from when those came from malloc) fail as if the system were out of
 * memory; the allocation returns NULL with cog_last_error() set and
 * status COG_ENOMEM. One-shot; 0 cancels a pending failure. */
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
