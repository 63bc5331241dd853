/* lib/alloc/alloc_large.c - blocks larger than COG_MEDIUM_MAX, mapped directly.
 *
 * Each block is its own mapping (a whole number of pages) with a header
 * before the returned pointer linking it into a list: object blocks into
 * one global list (what the heap walk visits, by allocation number), raw
 * blocks into their allocating heap's list (see object_list below). The
 * lists let shutdown unmap what is left.
 *
 * Freed mappings are cached instead of unmapped, and an allocation takes
 * the smallest cached mapping that fits and is less than twice its size,
 * so a server that allocates and frees a large buffer per request maps
 * nothing in steady state (glibc's malloc does the same with its dynamic
 * mmap threshold). Two levels: the freeing thread's heap keeps up to
 * HEAP_CACHE_SLOTS mappings of at most HEAP_CACHE_MAX_LEN each (owner
 * only, no lock: a thread that frees and allocates buffers reuses its own);
 * beyond that a global cache (LARGE_CACHE_SLOTS mappings, at most
 * LARGE_CACHE_BYTES, under a mutex). A heap's cache goes to the global one
 * when it is abandoned; the collector's idle trim empties the global one.
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

/* Object blocks: one list, newest first (the walk reads it by allocation
 * number). Raw blocks are listed only so shutdown can unmap them: on the
 * list of the heap that allocated them (hd->heap; a heap struct outlives
 * its thread and its list stays with it), under that heap's own mutex, so
 * threads that allocate and free their own buffers never share a lock or
 * a line (one global list took two threads' pairs of 64 KiB blocks to 15x
 * one thread's time; address-striped lists still 4x). */
static cog_large_list object_list = {PTHREAD_MUTEX_INITIALIZER, NULL};
static uint64_t large_seq; /* under object_list.lock */

static cog_large_list *list_of(const cog_large_hdr *hd, unsigned kind) {
    return kind == COG_BLOCK_OBJECT ? &object_list : &hd->heap->raw_large;
}
atomic_long cog_large_stat_global[COG_LSTAT_N];
static atomic_size_t global_cache_bytes; /* cache_bytes, for lock-free readers */
atomic_uint cog_fail_malloc_countdown;

static cog_large_hdr *hdr_of(void *p) { return (cog_large_hdr *)p - 1; }

size_t cog_large_size_of(const void *p) { return hdr_of((void *)p)->size; }

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

/* Both levels' figures; self: the calling thread's heap or NULL. */
static void cache_stats_add(cog_heap *self, long n, long bytes) {
    cog_large_stat_add(self, COG_LSTAT_CACHED, n);
    cog_large_stat_add(self, COG_LSTAT_CACHED_BYTES, bytes);
}

/* Under cache_lock. */
static mapping cache_remove(unsigned i) {
    mapping m = cache[i];
    memmove(&cache[i], &cache[i + 1], (ncache - i - 1) * sizeof cache[0]);
    ncache--;
    cache_bytes -= m.len;
    atomic_store_explicit(&global_cache_bytes, cache_bytes, memory_order_relaxed);
    return m;
}

/* A cached mapping of `have` bytes may serve a block needing `want`: big
 * enough, and less than twice as big (no 1 MiB mapping kept busy by a
 * 40 KiB block). Both cache levels pick the smallest that fits. */
static int fits(size_t have, size_t want) { return have >= want && have / 2 < want; }

/* A mapping of at least len bytes (page multiple): the best cached fit,
 * else a new one. NULL on failure. */
static void *take_mapping(cog_heap *self, size_t len, size_t *got) {
    pthread_mutex_lock(&cache_lock);
    unsigned best = LARGE_CACHE_SLOTS;
    for (unsigned i = 0; i < ncache; i++)
        if (fits(cache[i].len, len) &&
            (best == LARGE_CACHE_SLOTS || cache[i].len < cache[best].len))
            best = i;
    if (best != LARGE_CACHE_SLOTS) {
        mapping m = cache_remove(best);
        pthread_mutex_unlock(&cache_lock);
        cache_stats_add(self, -1, -(long)m.len);
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
static void give_mapping(cog_heap *self, void *base, size_t len) {
    if (len > LARGE_CACHE_BYTES / 4) {
        munmap(base, len);
        return;
    }
    mapping victims[LARGE_CACHE_SLOTS];
    unsigned nv = 0;
    long freed = 0;
    pthread_mutex_lock(&cache_lock);
    while (ncache && (ncache == LARGE_CACHE_SLOTS || cache_bytes + len > LARGE_CACHE_BYTES))
        victims[nv++] = cache_remove(0);
    cache[ncache++] = (mapping){base, len};
    cache_bytes += len;
    atomic_store_explicit(&global_cache_bytes, cache_bytes, memory_order_relaxed);
    pthread_mutex_unlock(&cache_lock);
    for (unsigned i = 0; i < nv; i++) {
        munmap(victims[i].base, victims[i].len);
        freed += (long)victims[i].len;
    }
    cache_stats_add(self, 1 - (long)nv, (long)len - freed);
}

void cog_alloc_trim_idle(void) {
    cog_alloc_release_cached();
    cog_arena_trim_force();
}

size_t cog_alloc_idle_bytes(void) {
    return cog_alloc_cached_bytes() + cog_arena_retained_bytes();
}

size_t cog_alloc_cached_bytes(void) {
    return atomic_load_explicit(&global_cache_bytes, memory_order_relaxed);
}

void cog_alloc_release_cached(void) {
    mapping victims[LARGE_CACHE_SLOTS];
    pthread_mutex_lock(&cache_lock);
    unsigned nv = ncache;
    memcpy(victims, cache, nv * sizeof cache[0]);
    size_t bytes = cache_bytes;
    ncache = 0;
    cache_bytes = 0;
    atomic_store_explicit(&global_cache_bytes, 0, memory_order_relaxed);
    pthread_mutex_unlock(&cache_lock);
    for (unsigned i = 0; i < nv; i++) munmap(victims[i].base, victims[i].len);
    cache_stats_add(NULL, -(long)nv, -(long)bytes);
}

/* ---- the per-heap level (owner only) ---- */

#define HEAP_CACHE_SLOTS 4
#define HEAP_CACHE_MAX_LEN ((size_t)1 << 20)

/* Owner of h: take the cached mapping *pp off h's cache. */
static cog_large_hdr *heap_cache_unlink(cog_heap *h, cog_large_hdr **pp) {
    cog_large_hdr *hd = *pp;
    *pp = hd->next;
    h->large_cached--;
    cache_stats_add(h, -1, -(long)hd->map_len);
    return hd;
}

/* Owner of h: its best cached fit for len bytes, or NULL. */
static cog_large_hdr *heap_cache_take(cog_heap *h, size_t len) {
    cog_large_hdr **best = NULL;
    for (cog_large_hdr **pp = &h->large_cache; *pp; pp = &(*pp)->next)
        if (fits((*pp)->map_len, len) && (!best || (*pp)->map_len < (*best)->map_len))
            best = pp;
    return best ? heap_cache_unlink(h, best) : NULL;
}

/* Owner of h (the freeing thread's own heap): keep the mapping if there is
 * room. */
static int heap_cache_give(cog_heap *h, cog_large_hdr *hd) {
    if (h->large_cached == HEAP_CACHE_SLOTS || hd->map_len > HEAP_CACHE_MAX_LEN) return 0;
    hd->next = h->large_cache;
    h->large_cache = hd;
    h->large_cached++;
    cache_stats_add(h, 1, (long)hd->map_len);
    return 1;
}

void cog_large_flush_heap_cache(cog_heap *h) {
    while (h->large_cache) {
        cog_large_hdr *hd = heap_cache_unlink(h, &h->large_cache);
        give_mapping(h, hd, hd->map_len);
    }
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
    size_t len = (sizeof(cog_large_hdr) + size + 4095) & ~(size_t)4095;
    size_t got = 0;
    cog_large_hdr *hd = h ? heap_cache_take(h, len) : NULL;
    if (hd) got = hd->map_len;
    else hd = take_mapping(h, len, &got);
    if (!hd) {
        cog_error(COG_ENOMEM, "out of memory: mmap of %zu bytes failed: %s", len,
                  strerror(errno));
        return NULL;
    }
    hd->map_len = got;
    hd->heap = h; /* raw: the list's owner for good; object: cleared at abandon */
    hd->parked_next = NULL;
    hd->size = size;
    hd->prev = NULL;
    cog_large_list *l = list_of(hd, kind);
    pthread_mutex_lock(&l->lock);
    hd->seq = kind == COG_BLOCK_OBJECT ? ++large_seq : 0;
    hd->next = l->head;
    if (hd->next) hd->next->prev = hd;
    l->head = hd;
    pthread_mutex_unlock(&l->lock);
    cog_large_stat_add(h, COG_LSTAT_COUNT, 1);
    cog_large_stat_add(h, COG_LSTAT_BYTES, (long)size);
    return hd + 1;
}

/* Under object_list.lock: pins nest (cog_alloc_pin); object
 * blocks freed while pinned wait on pinned_list (through parked_next),
 * off the walk's list, until the last unpin. */
static unsigned pins;
static cog_large_hdr *pinned_list;

/* self: the calling thread's own heap, or NULL. */
static void drop(cog_large_hdr *hd, cog_heap *self) {
    cog_large_stat_add(self, COG_LSTAT_COUNT, -1);
    cog_large_stat_add(self, COG_LSTAT_BYTES, -(long)hd->size);
    if (!self || !heap_cache_give(self, hd)) give_mapping(self, hd, hd->map_len);
}

static void release(cog_large_hdr *hd, unsigned kind, cog_heap *self) {
    cog_large_list *l = list_of(hd, kind);
    pthread_mutex_lock(&l->lock);
    if (hd->prev) hd->prev->next = hd->next;
    else l->head = hd->next;
    if (hd->next) hd->next->prev = hd->prev;
    int keep = kind == COG_BLOCK_OBJECT && pins;
    if (keep) {
        hd->parked_next = pinned_list;
        pinned_list = hd;
    }
    pthread_mutex_unlock(&l->lock);
    if (!keep) drop(hd, self);
}

void cog_large_pin(int on) {
    cog_large_hdr *release_now = NULL;
    pthread_mutex_lock(&object_list.lock);
    if (on) {
        pins++;
    } else if (--pins == 0) {
        release_now = pinned_list;
        pinned_list = NULL;
    }
    pthread_mutex_unlock(&object_list.lock);
    while (release_now) {
        cog_large_hdr *hd = release_now;
        release_now = hd->parked_next;
        drop(hd, NULL); /* any thread unpins */
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
    release(hd, kind, self);
}

void cog_large_release_parked(cog_heap *h) {
    while (h->parked) {
        cog_large_hdr *hd = h->parked;
        h->parked = hd->parked_next;
        release(hd, COG_BLOCK_OBJECT, h);
    }
}

static void visit_list(cog_heap *h, int all, void (*visit)(void *, void *), void *arg) {
    pthread_mutex_lock(&object_list.lock);
    for (cog_large_hdr *hd = object_list.head; hd; hd = hd->next)
        if (all || hd->heap == h) visit(hd + 1, arg);
    pthread_mutex_unlock(&object_list.lock);
}

uint64_t cog_alloc_large_newest(void) {
    pthread_mutex_lock(&object_list.lock);
    uint64_t seq = large_seq;
    pthread_mutex_unlock(&object_list.lock);
    return seq;
}

void cog_alloc_walk_large_since(uint64_t floor, void (*visit)(void *block, uint64_t seq, void *arg),
                                void *arg) {
    pthread_mutex_lock(&object_list.lock);
    for (cog_large_hdr *hd = object_list.head; hd && hd->seq >= floor; hd = hd->next)
        visit(hd + 1, hd->seq, arg);
    pthread_mutex_unlock(&object_list.lock);
}

void cog_large_visit_heap(cog_heap *h, void (*visit)(void *, void *), void *arg) {
    visit_list(h, 0, visit, arg);
}

void cog_large_visit_all(void (*visit)(void *, void *), void *arg) {
    visit_list(NULL, 1, visit, arg);
}

void cog_large_disown(cog_heap *h) {
    pthread_mutex_lock(&object_list.lock);
    for (cog_large_hdr *hd = object_list.head; hd; hd = hd->next)
        if (hd->heap == h) hd->heap = NULL;
    pthread_mutex_unlock(&object_list.lock);
}

void cog_large_shutdown(void) {
    pins = 0;
    while (pinned_list) {
        cog_large_hdr *hd = pinned_list;
        pinned_list = hd->parked_next;
        munmap(hd, hd->map_len);
    }
    /* Called by cog_alloc_shutdown, heap table locked, before the heaps
     * are freed. */
    unsigned nh = atomic_load_explicit(&cog_heap_count, memory_order_relaxed);
    for (int i = -1; i < (int)nh; i++) {
        cog_large_list *l = i < 0 ? &object_list : &cog_heap_table[i]->raw_large;
        pthread_mutex_lock(&l->lock);
        cog_large_hdr *hd = l->head;
        l->head = NULL;
        pthread_mutex_unlock(&l->lock);
        while (hd) {
            cog_large_hdr *next = hd->next;
            munmap(hd, hd->map_len);
            hd = next;
        }
    }
    cog_alloc_release_cached();
    for (int i = 0; i < COG_LSTAT_N; i++)
        atomic_store_explicit(&cog_large_stat_global[i], 0, memory_order_relaxed);
}
