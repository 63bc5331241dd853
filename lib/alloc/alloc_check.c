/* lib/alloc/alloc_check.c - the debug check of a sized raw free
 * (cog_mem_free, cog_mem_realloc with COG_DEBUG): is the block what its
 * size says? Slow (it scans the arena registry); debug builds only. A
 * pooled block must be the start of a live raw block of the size's class;
 * a mapped one (above 32 KiB) must carry that size in its header. */
#include <stdio.h>

#include "lib/alloc/alloc_internal.h"

static cog_arena *registered_arena(uintptr_t base) {
    unsigned hwm = atomic_load_explicit(&cog_arena_hwm, memory_order_acquire);
    for (unsigned i = 0; i < hwm; i++) {
        cog_arena *a = atomic_load_explicit(&cog_arena_registry[i], memory_order_acquire);
        if ((uintptr_t)a == base) return a;
    }
    return NULL;
}

int cog_alloc_check_raw(const void *p, size_t size, char *why, size_t n) {
    if ((uintptr_t)p & 15) return snprintf(why, n, "is not 16-byte aligned: not a cog block"), -1;
    cog_arena *a = registered_arena((uintptr_t)p & ~(uintptr_t)(COG_ARENA_SIZE - 1));
    if (size > COG_MEDIUM_MAX) {
        if (a)
            return snprintf(why, n, "lies in a pool, so it was allocated with at most %d bytes",
                            COG_MEDIUM_MAX), -1;
        /* Not in an arena, so a mapped block (or not cog's at all: the
         * header read may then fault, which a debug build accepts). */
        size_t was = cog_large_size_of(p);
        if (was != size)
            return snprintf(why, n, "is a mapped block allocated with %zu bytes", was), -1;
        return 0;
    }
    if (!a)
        return snprintf(why, n, "is not in a pool: allocated with more than %d bytes, or not "
                        "by cog", COG_MEDIUM_MAX), -1;
    unsigned want = cog_pool_class(size);
    if (a->kind != cog_arena_kind_of_class(want))
        return snprintf(why, n, "is a %s block, but %zu bytes is a %s size",
                        a->kind == COG_ARENA_MEDIUM ? "medium (513-32768 B)" : "small (<= 512 B)",
                        size, cog_class_is_medium(want) ? "medium" : "small"), -1;
    cog_pool *pl = a->kind == COG_ARENA_MEDIUM ? cog_medium_pool_of(p) : cog_pool_of(p);
    unsigned layout = atomic_load_explicit(&pl->layout, memory_order_relaxed);
    if (!(layout & COG_LAYOUT_LIVE)) return snprintf(why, n, "is in a free page (freed twice?)"), -1;
    if (layout & COG_LAYOUT_OBJECT) return snprintf(why, n, "is an object's block"), -1;
    unsigned cls = cog_layout_cls(layout);
    if (cls != want)
        return snprintf(why, n, "is a %zu-byte block, where %zu bytes take a %zu-byte one: "
                        "allocated with another size", cog_class_size(cls), size,
                        cog_class_size(want)), -1;
    if ((size_t)((const char *)p - pl->page) % pl->block_size)
        return snprintf(why, n, "is not the start of a block"), -1;
    return 0;
}
