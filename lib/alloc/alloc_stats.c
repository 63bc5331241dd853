/* lib/alloc/alloc_stats.c - cog_mem_stats and the fault-injection setters. */
#include <string.h>

#include "cog/mem.h"
#include "lib/alloc/alloc_internal.h"

_Static_assert(COG_MEM_NCLASSES == COG_NCLASSES, "cog/mem.h class count");

static uint64_t ld(atomic_ulong *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* Pools are read under the walk lock (arenas stay mapped) and the heap
 * lock (the heaps we map owners to stay as they are; heap structs are never
 * freed before shutdown, and `slot` is fixed at creation). Every pool field
 * read is a relaxed atomic. */
void cog_mem_stats(cog_mem_info *out) {
    static const uint16_t none = 0xffff;
    uint16_t index[COG_MAX_HEAPS];
    memset(out, 0, sizeof *out);
    for (unsigned c = 0; c < COG_NCLASSES; c++) {
        out->classes[c].block_size = (uint32_t)cog_class_size(c);
        out->classes[c].pool_bytes =
            (uint32_t)(cog_class_is_medium(c) ? COG_MEDIUM_PAGE_SIZE : COG_PAGE_SIZE);
    }

    /* Large blocks: the global figures plus every heap's (live or not). */
    long large[COG_LSTAT_N];
    for (int k = 0; k < COG_LSTAT_N; k++)
        large[k] = atomic_load_explicit(&cog_large_stat_global[k], memory_order_relaxed);
    pthread_mutex_lock(&cog_heap_lock);
    unsigned nh = atomic_load_explicit(&cog_heap_count, memory_order_relaxed);
    for (unsigned i = 0; i < nh; i++) {
        cog_heap *h = cog_heap_table[i];
        for (int k = 0; k < COG_LSTAT_N; k++)
            large[k] += atomic_load_explicit(&h->large_stat[k], memory_order_relaxed);
        index[i] = none;
        if (!atomic_load_explicit(&h->live, memory_order_relaxed)) continue;
        if (out->nheaps < COG_MEM_MAX_HEAPS) {
            index[i] = (uint16_t)out->nheaps;
            out->heaps[out->nheaps].tid = h->tid;
        }
        out->nheaps++;
    }
    pthread_rwlock_rdlock(&cog_walk_lock);
    unsigned hwm = atomic_load_explicit(&cog_arena_hwm, memory_order_acquire);
    for (unsigned i = 0; i < hwm; i++) {
        cog_arena *a = atomic_load_explicit(&cog_arena_registry[i], memory_order_acquire);
        if (!a) continue;
        for (size_t pg = a->first_page; pg < a->npages; pg++) {
            cog_pool *p = &a->pools[pg];
            unsigned layout = atomic_load_explicit(&p->layout, memory_order_relaxed);
            if (!(layout & COG_LAYOUT_LIVE)) {
                out->pages_free++;
                continue;
            }
            unsigned cls = cog_layout_cls(layout);
            size_t bs = cog_class_size(cls);
            uint64_t cap = cog_arena_page_size(a) / bs;
            uint64_t used = cog_pool_used(p);
            if (used > cap) used = cap; /* torn snapshot of a reused page */
            cog_mem_class_info *ci = &out->classes[cls];
            ci->pools++;
            if (layout & COG_LAYOUT_OBJECT) ci->object_pools++;
            ci->blocks_in_use += used;
            ci->blocks_free += cap - used;
            out->pools++;
            cog_heap *owner = atomic_load_explicit(&p->owner, memory_order_relaxed);
            if (owner && owner->slot < nh && index[owner->slot] != none) {
                cog_mem_heap_info *hi = &out->heaps[index[owner->slot]];
                hi->pools++;
                hi->free_blocks += cap - used;
                hi->free_bytes += (cap - used) * bs;
            }
        }
    }
    /* Blocks on a thread's raw-block LIFO are counted as allocated by
     * their pools but are free: report them so (and in the heap's cache). */
    for (unsigned i = 0; i < nh; i++) {
        cog_heap *h = cog_heap_table[i];
        if (!atomic_load_explicit(&h->live, memory_order_relaxed)) continue;
        for (unsigned c = 0; c < COG_LIFO_CLASSES; c++) {
            uint64_t n = atomic_load_explicit(&h->raw_lifo[c], memory_order_relaxed) & COG_LIFO_LEN;
            cog_mem_class_info *ci = &out->classes[COG_LIFO_FIRST + c];
            if (n > ci->blocks_in_use) n = ci->blocks_in_use; /* racy snapshot */
            ci->blocks_in_use -= n;
            ci->blocks_free += n;
            if (index[i] != none) {
                out->heaps[index[i]].free_blocks += n;
                out->heaps[index[i]].free_bytes += n * ci->block_size;
            }
        }
    }
    pthread_rwlock_unlock(&cog_walk_lock);
    pthread_mutex_unlock(&cog_heap_lock);

    out->arenas = ld(&cog_stat_arenas);
    out->arenas_empty = ld(&cog_stat_arenas_empty);
    out->bytes_mapped = ld(&cog_stat_bytes_mapped);
    out->arenas_mapped_total = ld(&cog_stat_arenas_mapped_total);
    out->arenas_unmapped_total = ld(&cog_stat_arenas_unmapped_total);
    out->mmap_failures = ld(&cog_stat_mmap_failures);
    out->pools_abandoned = ld(&cog_stat_abandoned);
    out->large_objects = (uint64_t)large[COG_LSTAT_COUNT];
    out->large_bytes = (uint64_t)large[COG_LSTAT_BYTES];
    out->large_cached = (uint64_t)large[COG_LSTAT_CACHED];
    out->large_cached_bytes = (uint64_t)large[COG_LSTAT_CACHED_BYTES];
}

void cog_mem_stats_print(FILE *f) {
    cog_mem_info m;
    cog_mem_stats(&m);
    fprintf(f, "cog allocator: %d size classes (%zu-byte pools up to %d bytes, %zu-byte "
               "pools up to %d), %zu KiB arenas\n",
            COG_NCLASSES, COG_PAGE_SIZE, COG_SMALL_MAX, COG_MEDIUM_PAGE_SIZE, COG_MEDIUM_MAX,
            COG_ARENA_SIZE / 1024);
    fprintf(f, "%6s %8s %8s %12s %12s\n", "class", "size", "pools", "in use", "free");
    for (unsigned c = 0; c < COG_NCLASSES; c++) {
        const cog_mem_class_info *ci = &m.classes[c];
        if (!ci->pools) continue;
        fprintf(f, "%6u %8u %8llu %12llu %12llu\n", c, ci->block_size,
                (unsigned long long)ci->pools, (unsigned long long)ci->blocks_in_use,
                (unsigned long long)ci->blocks_free);
    }
    fprintf(f, "arenas: %llu mapped (%llu empty, kept), %llu bytes; %llu mapped and %llu "
               "unmapped in total; %llu mmap failures\n",
            (unsigned long long)m.arenas, (unsigned long long)m.arenas_empty,
            (unsigned long long)m.bytes_mapped, (unsigned long long)m.arenas_mapped_total,
            (unsigned long long)m.arenas_unmapped_total, (unsigned long long)m.mmap_failures);
    fprintf(f, "pools: %llu in use (%llu abandoned), %llu free pages\n",
            (unsigned long long)m.pools, (unsigned long long)m.pools_abandoned,
            (unsigned long long)m.pages_free);
    fprintf(f, "large blocks: %llu, %llu bytes; %llu mappings cached (%llu bytes)\n",
            (unsigned long long)m.large_objects, (unsigned long long)m.large_bytes,
            (unsigned long long)m.large_cached, (unsigned long long)m.large_cached_bytes);
    fprintf(f, "thread heaps: %u\n", m.nheaps);
    for (unsigned i = 0; i < m.nheaps && i < COG_MEM_MAX_HEAPS; i++)
        fprintf(f, "  tid %4u: %llu pools, %llu free blocks cached (%llu bytes)\n",
                m.heaps[i].tid, (unsigned long long)m.heaps[i].pools,
                (unsigned long long)m.heaps[i].free_blocks,
                (unsigned long long)m.heaps[i].free_bytes);
}

void cog_alloc_fail_mmap_after(unsigned n) {
    atomic_store_explicit(&cog_fail_mmap_countdown, n, memory_order_relaxed);
}
void cog_alloc_fail_malloc_after(unsigned n) {
    atomic_store_explicit(&cog_fail_malloc_countdown, n, memory_order_relaxed);
}
void cog_mem_fail_mmap_after(unsigned n) { cog_alloc_fail_mmap_after(n); }
void cog_mem_fail_alloc_after(unsigned n) { cog_fail_alloc_countdown = n; }
unsigned cog_mem_fail_alloc_pending(void) { return cog_fail_alloc_countdown; }
void cog_mem_fail_malloc_after(unsigned n) { cog_alloc_fail_malloc_after(n); }
