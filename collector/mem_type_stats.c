/* collector/mem_type_stats.c - cog_mem_type_stats: live objects and bytes
 * per type (pympler's summary), computed by a heap walk.
 *
 * The walk runs on the calling thread inside a collection window
 * (cog_gc_with_window), so no block it visits is released or reused with
 * another layout meanwhile. A block holds a live object when:
 *   - its ob_tid is non-zero (owned): the acquire load pairs with the
 *     release store of ob_tid in lib/core/object.c (new_object, finalize_once),
 *     which comes after ob_type and ob_size are written, so both are
 *     visible; blocks freed before the window have ob_tid 0 (stored before
 *     the window's opening grace period);
 *   - or it is MERGED with a positive count: the acquire load reads the
 *     merging CAS or a later RMW in its release sequence, and the merging
 *     thread had ob_type/ob_size (it owned or adopted the object).
 * Dead blocks have ob_tid 0 and a count of 0 or a tagged list link. The
 * figures are a snapshot: objects born or dying during the walk may or may
 * not be counted.
 */
#include <stdlib.h>
#include <string.h>

#include "cog/mem.h"
#include "collector/gc_internal.h"
#include "lib/base/error.h"

typedef struct type_table {
    cog_type_stat *slots; /* open addressing on the type pointer */
    size_t cap, used;
    int oom;
} type_table;

static size_t slot_of(const cog_type *t, size_t cap) {
    uintptr_t h = (uintptr_t)t;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

static int grow(type_table *tt) {
    size_t ncap = tt->cap ? tt->cap * 2 : 64;
    cog_type_stat *n = calloc(ncap, sizeof *n);
    if (!n) return 0;
    for (size_t i = 0; i < tt->cap; i++) {
        if (!tt->slots[i].type) continue;
        size_t j = slot_of(tt->slots[i].type, ncap);
        while (n[j].type) j = (j + 1) & (ncap - 1);
        n[j] = tt->slots[i];
    }
    free(tt->slots);
    tt->slots = n;
    tt->cap = ncap;
    return 1;
}

static void add(type_table *tt, const cog_type *t, size_t bytes) {
    if (tt->oom) return;
    if ((tt->used + 1) * 2 > tt->cap && !grow(tt)) {
        tt->oom = 1;
        return;
    }
    size_t j = slot_of(t, tt->cap);
    while (tt->slots[j].type && tt->slots[j].type != t) j = (j + 1) & (tt->cap - 1);
    cog_type_stat *s = &tt->slots[j];
    if (!s->type) {
        s->type = t;
        s->name = t->name;
        tt->used++;
    }
    s->count++;
    s->bytes += bytes;
}

static void visit_block(void *block, void *arg) {
    cog_object *o = block;
    if (!atomic_load_explicit(&o->ob_tid, memory_order_acquire)) {
        intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_acquire);
        if ((shared & COG_REF_SHARED_FLAGS) != COG_REF_MERGED ||
            (shared >> COG_REF_SHARED_SHIFT) <= 0)
            return;
    }
    add(arg, o->ob_type, cog_object_size(o));
}

static void walk(void *arg) { cog_alloc_visit_all_objects(visit_block, arg); }

static int by_bytes(const void *a, const void *b) {
    const cog_type_stat *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

long cog_mem_type_stats(cog_type_stat *out, size_t cap) {
    if (!out && cap)
        return cog_error(COG_EINVAL, "cog_mem_type_stats: out is NULL but cap is %zu", cap);
    type_table tt = {0};
    int rc = cog_gc_with_window(walk, &tt);
    if (rc != COG_OK) {
        free(tt.slots);
        return rc;
    }
    if (tt.oom) {
        free(tt.slots);
        return cog_error(COG_ENOMEM, "cog_mem_type_stats: out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < tt.cap; i++)
        if (tt.slots[i].type) tt.slots[n++] = tt.slots[i];
    if (n) qsort(tt.slots, n, sizeof *tt.slots, by_bytes);
    if (n && cap) memcpy(out, tt.slots, (n < cap ? n : cap) * sizeof *out);
    free(tt.slots);
    return (long)n;
}

int cog_mem_type_stats_print(FILE *f, size_t top) {
    cog_type_stat stats[64];
    long n = cog_mem_type_stats(stats, 64);
    if (n < 0) return (int)n;
    size_t shown = (size_t)n < 64 ? (size_t)n : 64;
    if (top && top < shown) shown = top;
    uint64_t count = 0, bytes = 0;
    fprintf(f, "%-24s %12s %14s\n", "type", "objects", "bytes");
    for (size_t i = 0; i < shown; i++) {
        fprintf(f, "%-24s %12llu %14llu\n", stats[i].name, (unsigned long long)stats[i].count,
                (unsigned long long)stats[i].bytes);
        count += stats[i].count;
        bytes += stats[i].bytes;
    }
    fprintf(f, "%-24s %12llu %14llu  (%ld types)\n", "shown", (unsigned long long)count,
            (unsigned long long)bytes, n);
    return COG_OK;
}
