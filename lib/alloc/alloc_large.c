/* lib/alloc/alloc_large.c - blocks larger than COG_MEDIUM_MAX, mapped directly.
 *
 * Each block is its own mapping (a whole number of pages) with a header
 * before the returned pointer linking it into a per-kind global list (a
 * mutex each: a block this size costs a page fault per 4 KiB to fill
 * anyway). The object list is what the heap walk visits; both lists let
 * shutdown unmap what is left.
 *
 * Freed mappings go to a small cache (LARGE_CACHE_SLOTS mappings, at most
 * LARGE_CACHE_BYTES) instead of munmap, and an allocation takes the
 * smallest cached mapping that fits and is less than twice its size, so a
 * server that allocates and frees a large buffer per request maps nothing
 * in steady state (glibc's malloc does the same with its dynamic mmap
 * threshold; with pools up to 32 KiB, what is left here is rare enough
 * that a mutex is no cost). The collector's idle trim empties the cache.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/alloc/alloc_internal.h"
#include "lib/base/error.h"

struct cog_large_hdr {
    cog_large_hdr *prev, *next;
    cog_heap *heap;              /* allocating heap (object kind; owner visit) */
    cog_large_hdr *parked_next;  /* on heap->parked while its owner visits */
    size_t size;
    uint64_t seq; /* allocation number (object kind): the list is newest first */
    size_t map_len; /* bytes mapped, header included */
    size_t pad;
};

_Static_assert(sizeof(cog_large_hdr) % 16 == 0, "large header keeps 16-byte alignment");

static pthread_mutex_t large_lock[COG_NKINDS] = {PTHREAD_MUTEX_INITIALIZER,
                                                 PTHREAD_MUTEX_INITIALIZER};
static cog_large_hdr *large_list[COG_NKINDS]; /* under large_lock[kind] */
static uint64_t large_seq;                    /* under large_lock[OBJECT] */
atomic_ulong cog_stat_large_count, cog_stat_large_bytes;
atomic_ulong cog_stat_large_cached, cog_stat_large_cached_bytes;
atomic_uint cog_fail_malloc_countdown;

static cog_large_hdr *hdr_of(void *p) { return (cog_large_hdr *)p - 1; }

/* ---- the mapping cache ---- */

#define LARGE_CACHE_SLOTS 16
#define LARGE_CACHE_BYTES ((size_t)64 << 20)
typedef struct mapping {
    void *base;
    size_t len;
} mapping;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping cache[LARGE_CACHE_SLOTS]; /* oldest first; under cache_lock */
static unsigned ncache;
static size_t cache_bytes;

static void cache_stats(void) {
    atomic_store_explicit(&cog_stat_large_cached, ncache, memory_order_relaxed);
    atomic_store_explicit(&cog_stat_large_cached_bytes, cache_bytes, memory_order_relaxed);
}

/* Under cache_lock. */
static mapping cache_remove(unsigned i) {
    mapping m = cache[i];
    memmove(&cache[i], &cache[i + 1], (ncache - i - 1) * sizeof cache[0]);
    ncache--;
    cache_bytes -= m.len;
    return m;
}

/* A mapping of at least len bytes (page multiple): the best cached fit
 * under 2 * len, else a new one. NULL on failure. */
static void *take_mapping(size_t len, size_t *got) {
    pthread_mutex_lock(&cache_lock);
    unsigned best = LARGE_CACHE_SLOTS;
    for (unsigned i = 0; i < ncache; i++)
        if (cache[i].len >= len && cache[i].len / 2 < len &&
            (best == LARGE_CACHE_SLOTS || cache[i].len < cache[best].len))
            best = i;
    if (best != LARGE_CACHE_SLOTS) {
        mapping m = cache_remove(best);
        cache_stats();
        pthread_mutex_unlock(&cache_lock);
        *got = m.len;
        return m.base;
    }
    pthread_mutex_unlock(&cache_lock);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    *got = len;
    return m;
}

/* Keep a freed mapping, evicting the oldest ones to stay within the
 * cache's bounds (unmapped outside the lock). */
static void give_mapping(void *base, size_t len) {
    if (len > LARGE_CACHE_BYTES / 4) {
        munmap(base, len);
        return;
    }
    mapping victims[LARGE_CACHE_SLOTS];
    unsigned nv = 0;
    pthread_mutex_lock(&cache_lock);
    while (ncache && (ncache == LARGE_CACHE_SLOTS || cache_bytes + len > LARGE_CACHE_BYTES))
        victims[nv++] = cache_remove(0);
    cache[ncache++] = (mapping){base, len};
    cache_bytes += len;
    cache_stats();
    pthread_mutex_unlock(&cache_lock);
    for (unsigned i = 0; i < nv; i++) munmap(victims[i].base, victims[i].len);
}

size_t cog_alloc_cached_bytes(void) {
    return atomic_load_explicit(&cog_stat_large_cached_bytes, memory_order_relaxed);
}

void cog_alloc_release_cached(void) {
    mapping victims[LARGE_CACHE_SLOTS];
    pthread_mutex_lock(&cache_lock);
    unsigned nv = ncache;
    memcpy(victims, cache, nv * sizeof cache[0]);
    ncache = 0;
    cache_bytes = 0;
    cache_stats();
    pthread_mutex_unlock(&cache_lock);
    for (unsigned i = 0; i < nv; i++) munmap(victims[i].base, victims[i].len);
}

void *cog_large_alloc(cog_heap *h, size_t size, cog_block_kind kind) {
    if (size > SIZE_MAX / 2) {
        cog_error(COG_ENOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
    if (cog_fail_tick(&cog_fail_malloc_countdown)) {
        cog_error(COG_ENOMEM, "out of memory allocating %zu bytes (injected)", size);
        return NULL;
    }
    size_t len = (sizeof(cog_large_hdr) + size + COG_PAGE_SIZE - 1) & ~(COG_PAGE_SIZE - 1);
    size_t got;
    cog_large_hdr *hd = take_mapping(len, &got);
    if (!hd) {
        cog_error(COG_ENOMEM, "out of memory: mmap of %zu bytes failed: %s", len,
                  strerror(errno));
        return NULL;
    }
    hd->map_len = got;
    hd->heap = kind == COG_BLOCK_OBJECT ? h : NULL;
    hd->parked_next = NULL;
    hd->size = size;
    hd->prev = NULL;
    pthread_mutex_lock(&large_lock[kind]);
    hd->seq = kind == COG_BLOCK_OBJECT ? ++large_seq : 0;
    hd->next = large_list[kind];
    if (hd->next) hd->next->prev = hd;
    large_list[kind] = hd;
    pthread_mutex_unlock(&large_lock[kind]);
    atomic_fetch_add_explicit(&cog_stat_large_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&cog_stat_large_bytes, size, memory_order_relaxed);
    return hd + 1;
}

/* Under large_lock[COG_BLOCK_OBJECT]: pins nest (cog_alloc_pin); object
 * blocks freed while pinned wait on pinned_list (through parked_next),
 * off the walk's list, until the last unpin. */
static unsigned pins;
static cog_large_hdr *pinned_list;

static void drop(cog_large_hdr *hd) {
    atomic_fetch_sub_explicit(&cog_stat_large_count, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&cog_stat_large_bytes, hd->size, memory_order_relaxed);
    give_mapping(hd, hd->map_len);
}

static void release(cog_large_hdr *hd, unsigned kind) {
    pthread_mutex_lock(&large_lock[kind]);
    if (hd->prev) hd->prev->next = hd->next;
    else large_list[kind] = hd->next;
    if (hd->next) hd->next->prev = hd->prev;
    int keep = kind == COG_BLOCK_OBJECT && pins;
    if (keep) {
        hd->parked_next = pinned_list;
        pinned_list = hd;
    }
    pthread_mutex_unlock(&large_lock[kind]);
    if (!keep) drop(hd);
}

void cog_large_pin(int on) {
    cog_large_hdr *release_now = NULL;
    pthread_mutex_lock(&large_lock[COG_BLOCK_OBJECT]);
    if (on) {
        pins++;
    } else if (--pins == 0) {
        release_now = pinned_list;
        pinned_list = NULL;
    }
    pthread_mutex_unlock(&large_lock[COG_BLOCK_OBJECT]);
    while (release_now) {
        cog_large_hdr *hd = release_now;
        release_now = hd->parked_next;
        drop(hd);
    }
}

void cog_large_free(cog_heap *self, void *p, cog_block_kind kind) {
    cog_large_hdr *hd = hdr_of(p);
    if (kind == COG_BLOCK_OBJECT && self && self->visiting) {
        /* The owner's visitor may hold this address: keep the block (and
         * its dead header) until the next collect/abandon. */
        hd->parked_next = self->parked;
        self->parked = hd;
        return;
    }
    release(hd, kind);
}

void cog_large_release_parked(cog_heap *h) {
    while (h->parked) {
        cog_large_hdr *hd = h->parked;
        h->parked = hd->parked_next;
        release(hd, COG_BLOCK_OBJECT);
    }
}

static void visit_list(cog_heap *h, int all, void (*visit)(void *, void *), void *arg) {
    pthread_mutex_lock(&large_lock[COG_BLOCK_OBJECT]);
    for (cog_large_hdr *hd = large_list[COG_BLOCK_OBJECT]; hd; hd = hd->next)
        if (all || hd->heap == h) visit(hd + 1, arg);
    pthread_mutex_unlock(&large_lock[COG_BLOCK_OBJECT]);
}

uint64_t cog_alloc_large_newest(void) {
    pthread_mutex_lock(&large_lock[COG_BLOCK_OBJECT]);
    uint64_t seq = large_seq;
    pthread_mutex_unlock(&large_lock[COG_BLOCK_OBJECT]);
    return seq;
}

void cog_alloc_walk_large_since(uint64_t floor, void (*visit)(void *block, uint64_t seq, void *arg),
                                void *arg) {
    pthread_mutex_lock(&large_lock[COG_BLOCK_OBJECT]);
    for (cog_large_hdr *hd = large_list[COG_BLOCK_OBJECT]; hd && hd->seq >= floor; hd = hd->next)
        visit(hd + 1, hd->seq, arg);
    pthread_mutex_unlock(&large_lock[COG_BLOCK_OBJECT]);
}

void cog_large_visit_heap(cog_heap *h, void (*visit)(void *, void *), void *arg) {
    visit_list(h, 0, visit, arg);
}

void cog_large_visit_all(void (*visit)(void *, void *), void *arg) {
    visit_list(NULL, 1, visit, arg);
}

void cog_large_disown(cog_heap *h) {
    pthread_mutex_lock(&large_lock[COG_BLOCK_OBJECT]);
    for (cog_large_hdr *hd = large_list[COG_BLOCK_OBJECT]; hd; hd = hd->next)
        if (hd->heap == h) hd->heap = NULL;
    pthread_mutex_unlock(&large_lock[COG_BLOCK_OBJECT]);
}

void cog_large_shutdown(void) {
    pins = 0;
    while (pinned_list) {
        cog_large_hdr *hd = pinned_list;
        pinned_list = hd->parked_next;
        munmap(hd, hd->map_len);
    }
    for (unsigned k = 0; k < COG_NKINDS; k++) {
        pthread_mutex_lock(&large_lock[k]);
        cog_large_hdr *hd = large_list[k];
        large_list[k] = NULL;
        pthread_mutex_unlock(&large_lock[k]);
        while (hd) {
            cog_large_hdr *next = hd->next;
            munmap(hd, hd->map_len);
            hd = next;
        }
    }
    cog_alloc_release_cached();
    atomic_store_explicit(&cog_stat_large_count, 0, memory_order_relaxed);
    atomic_store_explicit(&cog_stat_large_bytes, 0, memory_order_relaxed);
}
