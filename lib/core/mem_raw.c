/* lib/core/mem_raw.c - raw memory for embedders (cog/mem.h "Raw memory"):
 * the calling thread's heap, sized frees. */
#include <string.h>

#include "cog/mem.h"
#include "lib/alloc/alloc.h"
#include "lib/base/error.h"

void *cog_mem_alloc(size_t size) {
    cog_heap *h = cog_tls_heap;
    if (__builtin_expect(!h, 0))
        return cog_error(COG_ENOTATTACHED, "cog_mem_alloc: calling thread is not attached"), NULL;
    return cog_heap_alloc(h, size, COG_BLOCK_RAW);
}

static void check_size(const void *p, size_t size, const char *fn) {
#ifdef COG_DEBUG
    char why[160];
    if (cog_alloc_check_raw(p, size, why, sizeof why))
        cog_fatal("%s(%p, %zu): the block %s", fn, p, size, why);
#else
    (void)p, (void)size, (void)fn;
#endif
}

void cog_mem_free(void *p, size_t size) {
    if (!p) return;
    check_size(p, size, "cog_mem_free");
    cog_heap_free_inline(cog_tls_heap, p, size, COG_BLOCK_RAW);
}

/* Same block when both sizes are pooled and of one class (size 0 is in
 * the smallest class, as cog_heap_alloc treats it as 1). */
static int same_class(size_t a, size_t b) {
    return a <= COG_MEDIUM_MAX && b <= COG_MEDIUM_MAX && cog_pool_class(a) == cog_pool_class(b);
}

void *cog_mem_realloc(void *p, size_t old_size, size_t new_size) {
    if (!p) return cog_mem_alloc(new_size);
    check_size(p, old_size, "cog_mem_realloc");
    if (!cog_tls_heap)
        return cog_error(COG_ENOTATTACHED, "cog_mem_realloc: calling thread is not attached"),
               NULL;
    if (same_class(old_size, new_size)) return p;
    void *q = cog_mem_alloc(new_size);
    if (!q) return NULL;
    memcpy(q, p, old_size < new_size ? old_size : new_size);
    cog_mem_free(p, old_size);
    return q;
}
