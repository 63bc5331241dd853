/* lib/alloc/alloc_large.c - blocks larger than COG_SMALL_MAX, from malloc.
 *
 * Each block has a header before the returned pointer linking it into a
 * per-kind global list (a mutex each: large blocks are rare and expensive
 * anyway). The object list is what the heap walk visits; both lists let
 * shutdown free what is left and keep the blocks reachable for LeakSanitizer
 * when they are referenced only from arena memory it does not scan.
 */
#include <stdlib.h>

#include "lib/alloc/alloc_internal.h"
#include "lib/base/error.h"

struct cog_large_hdr {
    cog_large_hdr *prev, *next;
    cog_heap *heap;              /* allocating heap (object kind; owner visit) */
    cog_large_hdr *parked_next;  /* on heap->parked while its owner visits */
    size_t size;
    uint64_t seq; /* allocation number (object kind): the list is newest first */
};

_Static_assert(sizeof(cog_large_hdr) % 16 == 0, "large header keeps 16-byte alignment");

static pthread_mutex_t large_lock[COG_NKINDS] = {PTHREAD_MUTEX_INITIALIZER,
                                                 PTHREAD_MUTEX_INITIALIZER};
static cog_large_hdr *large_list[COG_NKINDS]; /* under large_lock[kind] */
static uint64_t large_seq;                    /* under large_lock[OBJECT] */
atomic_ulong cog_stat_large_count, cog_stat_large_bytes;
atomic_uint cog_fail_malloc_countdown;

static cog_large_hdr *hdr_of(void *p) { return (cog_large_hdr *)p - 1; }

void *cog_large_alloc(cog_heap *h, size_t size, cog_block_kind kind) {
    if (size > SIZE_MAX / 2) {
        cog_error(COG_ENOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
    cog_large_hdr *hd = cog_fail_tick(&cog_fail_malloc_countdown) ? NULL
                                                                  : malloc(sizeof *hd + size);
    if (!hd) {
        cog_error(COG_ENOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
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
    free(hd);
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
        free(hd);
    }
    for (unsigned k = 0; k < COG_NKINDS; k++) {
        pthread_mutex_lock(&large_lock[k]);
        cog_large_hdr *hd = large_list[k];
        large_list[k] = NULL;
        pthread_mutex_unlock(&large_lock[k]);
        while (hd) {
            cog_large_hdr *next = hd->next;
            free(hd);
            hd = next;
        }
    }
    atomic_store_explicit(&cog_stat_large_count, 0, memory_order_relaxed);
    atomic_store_explicit(&cog_stat_large_bytes, 0, memory_order_relaxed);
}
