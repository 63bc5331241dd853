/* lib/alloc/alloc_arena.c - arenas: mmap, the registry the heap walk reads, pages,
 * and returning empty arenas to the OS.
 *
 * Arenas are small (16 KiB pages) or medium (64 KiB pages); each kind has
 * its own lists under cog_arena_lock: `partial` (some pages in use, some
 * free) and `empty` (every page free). Pages come from partial arenas
 * first so empty ones stay empty; more than COG_ARENA_KEEP empty arenas of
 * a kind are unmapped (hysteresis: alloc/free churn reuses the kept ones).
 *
 * Each heap claims one arena of each kind as its home (on no list while
 * claimed)
 * and takes its pages there while it has free ones, as mimalloc gives each
 * thread its own segments. Two threads' pools then never sit on adjacent
 * pages and descriptors: without this, the owner fast paths of two
 * threads ran 1.3x slower than one (adjacent-line prefetch and pages
 * passed back and forth). A full home is let go and another claimed; the
 * home goes back to the lists when its heap is abandoned.
 *
 * The walk lock (a rwlock) keeps cog_alloc_visit_all_objects safe: the walk
 * holds it for reading; unmapping an arena and giving a page that was an
 * object pool another layout hold it for writing. So during a walk every
 * page the walker saw as an object pool of block size s keeps blocks of
 * size s at the same addresses (live, or free with their headers intact).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "lib/alloc/alloc_internal.h"
#include "lib/base/error.h"

pthread_mutex_t cog_arena_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic(cog_arena *) cog_arena_registry[COG_MAX_ARENAS];
atomic_uint cog_arena_hwm;
pthread_rwlock_t cog_walk_lock = PTHREAD_RWLOCK_INITIALIZER;
__thread int cog_alloc_walking;

atomic_ulong cog_stat_arenas, cog_stat_arenas_empty, cog_stat_bytes_mapped;
atomic_ulong cog_stat_arenas_mapped_total, cog_stat_arenas_unmapped_total;
atomic_ulong cog_stat_mmap_failures;
atomic_uint cog_fail_mmap_countdown;

enum { ARENA_FULL = 0, ARENA_PARTIAL, ARENA_EMPTY, ARENA_CLAIMED };

/* Under cog_arena_lock, per arena kind. nempty is written under the lock
 * and read relaxed by cog_arena_trim's lock-free "anything to do?" test. */
static cog_arena *partial[COG_ARENA_KINDS], *empty[COG_ARENA_KINDS];
static atomic_uint nempty_[COG_ARENA_KINDS];
static unsigned nempty(int kind) {
    return atomic_load_explicit(&nempty_[kind], memory_order_relaxed);
}
static void nempty_add(int kind, int d) { COG_SOLE_WRITER_ADD(&nempty_[kind], (unsigned)d); }

static void stat_add(atomic_ulong *c, long d) {
    atomic_fetch_add_explicit(c, (unsigned long)d, memory_order_relaxed);
}

static void list_unlink(cog_arena *a) {
    cog_arena **head = a->list == ARENA_EMPTY ? &empty[a->kind] : &partial[a->kind];
    if (a->prev) a->prev->next = a->next;
    else *head = a->next;
    if (a->next) a->next->prev = a->prev;
    a->prev = a->next = NULL;
    if (a->list == ARENA_EMPTY) {
        nempty_add(a->kind, -1);
        stat_add(&cog_stat_arenas_empty, -1);
    }
    a->list = ARENA_FULL;
}

/* Earliest time an aged trim can find something (written under
 * cog_arena_lock, read relaxed: a hint that keeps safe points from taking
 * the locks while the empty arenas are all young). */
static _Atomic(uint64_t) next_trim_ns;

size_t cog_arena_retained_bytes(void) {
    size_t n = 0;
    for (int k = 0; k < COG_ARENA_KINDS; k++)
        if (nempty(k) > COG_ARENA_KEEP) n += (nempty(k) - COG_ARENA_KEEP) * COG_ARENA_SIZE;
    return n;
}

static uint64_t coarse_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void list_push(cog_arena *a, int list) {
    cog_arena **head = list == ARENA_EMPTY ? &empty[a->kind] : &partial[a->kind];
    if (list == ARENA_EMPTY) {
        a->empty_since = coarse_now_ns();
        uint64_t due = a->empty_since + COG_ARENA_RETAIN_NS;
        if (due < atomic_load_explicit(&next_trim_ns, memory_order_relaxed))
            atomic_store_explicit(&next_trim_ns, due, memory_order_relaxed);
    }
    a->list = list;
    a->prev = NULL;
    a->next = *head;
    if (*head) (*head)->prev = a;
    *head = a;
    if (list == ARENA_EMPTY) {
        nempty_add(a->kind, 1);
        stat_add(&cog_stat_arenas_empty, 1);
    }
}

/* mmap COG_ARENA_SIZE bytes aligned to their size (over-map, trim). */
static cog_arena *map_arena(void) {
    if (cog_fail_tick(&cog_fail_mmap_countdown)) {
        stat_add(&cog_stat_mmap_failures, 1);
        cog_error(COG_ENOMEM, "out of memory: arena mmap failed (injected)");
        return NULL;
    }
    size_t len = 2 * COG_ARENA_SIZE;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        stat_add(&cog_stat_mmap_failures, 1);
        cog_error(COG_ENOMEM, "out of memory: arena mmap of %zu bytes failed: %s", len,
                  strerror(errno));
        return NULL;
    }
    char *a = (char *)(((uintptr_t)m + COG_ARENA_SIZE - 1) & ~(uintptr_t)(COG_ARENA_SIZE - 1));
    if (a > m) munmap(m, (size_t)(a - m));
    size_t tail = (size_t)(m + len - (a + COG_ARENA_SIZE));
    if (tail) munmap(a + COG_ARENA_SIZE, tail);
    return (cog_arena *)a;
}

/* Under cog_arena_lock: register a fresh (zeroed) arena of `kind` and put
 * its pages on its free stack. The release store publishes the
 * registration (and the kind's page geometry) before any of its pages is
 * handed out (they are handed out after this, by us or under the lock), so
 * a walk that finds a live pool also finds its arena. */
static int register_arena(cog_arena *a, int kind) {
    unsigned hwm = atomic_load_explicit(&cog_arena_hwm, memory_order_relaxed);
    unsigned slot = 0;
    while (slot < hwm && atomic_load_explicit(&cog_arena_registry[slot], memory_order_relaxed))
        slot++;
    if (slot == COG_MAX_ARENAS) return -1;
    a->slot = slot;
    a->kind = (uint8_t)kind;
    a->page_shift = kind == COG_ARENA_MEDIUM ? COG_MEDIUM_PAGE_SHIFT : COG_PAGE_SHIFT;
    a->first_page = kind == COG_ARENA_MEDIUM ? COG_MEDIUM_META_PAGES : COG_ARENA_META_PAGES;
    a->npages = (uint16_t)(COG_ARENA_SIZE >> a->page_shift);
    for (size_t i = a->npages; i-- > a->first_page;) {
        a->pools[i].next = a->free_pages;
        a->free_pages = &a->pools[i];
    }
    a->nfree = cog_arena_usable(a);
    atomic_store_explicit(&cog_arena_registry[slot], a, memory_order_release);
    if (slot == hwm) atomic_store_explicit(&cog_arena_hwm, hwm + 1, memory_order_release);
    stat_add(&cog_stat_arenas, 1);
    stat_add(&cog_stat_bytes_mapped, (long)COG_ARENA_SIZE);
    stat_add(&cog_stat_arenas_mapped_total, 1);
    return 0;
}

/* Under cog_arena_lock: pop a free page of a, fixing the lists. */
static cog_pool *pop_page(cog_arena *a) {
    cog_pool *p = a->free_pages;
    a->free_pages = p->next;
    p->next = NULL;
    a->nfree--;
    if (a->list == ARENA_CLAIMED) {
        /* stays its heap's home until the heap takes the next page */
    } else if (a->list == ARENA_EMPTY) {
        list_unlink(a);
        if (a->nfree) list_push(a, ARENA_PARTIAL);
    } else if (a->nfree == 0) {
        list_unlink(a);
    }
    return p;
}

/* A page from a newly mapped arena of `kind` (whose layout is 0: nothing
 * to wait for). NULL + COG_ENOMEM on failure. */
static cog_pool *take_fresh_page(cog_heap *h, int kind) {
    cog_arena *a = map_arena();
    if (!a) return NULL;
    pthread_mutex_lock(&cog_arena_lock);
    if (register_arena(a, kind) != 0) {
        pthread_mutex_unlock(&cog_arena_lock);
        munmap(a, COG_ARENA_SIZE);
        stat_add(&cog_stat_mmap_failures, 1);
        cog_error(COG_ENOMEM, "out of memory: %d arenas mapped", COG_MAX_ARENAS);
        return NULL;
    }
    a->list = ARENA_FULL;
    if (h && !h->home[kind]) {
        a->list = ARENA_CLAIMED;
        h->home[kind] = a;
    } else {
        list_push(a, ARENA_EMPTY);
    }
    cog_pool *p = pop_page(a);
    pthread_mutex_unlock(&cog_arena_lock);
    return p;
}

/* Under cog_arena_lock: a free page of `kind` for h, from its home arena,
 * claiming a listed arena as the new home when the old one is full. NULL
 * if no arena of the kind has a free page (the caller maps one). */
static cog_pool *take_listed_page(cog_heap *h, int kind) {
    cog_arena *a = h ? h->home[kind] : NULL;
    if (a && a->nfree) return pop_page(a);
    if (a) {
        a->list = ARENA_FULL; /* full: let it go; frees relist it */
        h->home[kind] = NULL;
    }
    a = partial[kind] ? partial[kind] : empty[kind];
    if (!a) return NULL;
    if (h) {
        list_unlink(a);
        a->list = ARENA_CLAIMED;
        h->home[kind] = a;
    }
    return pop_page(a);
}

static int over_keep(void) { return cog_arena_retained_bytes() != 0; }

void cog_arena_release_home(cog_heap *h) {
    pthread_mutex_lock(&cog_arena_lock);
    for (int k = 0; k < COG_ARENA_KINDS; k++) {
        cog_arena *a = h->home[k];
        h->home[k] = NULL;
        if (!a) continue;
        a->list = ARENA_FULL;
        if (a->nfree == cog_arena_usable(a)) list_push(a, ARENA_EMPTY);
        else if (a->nfree) list_push(a, ARENA_PARTIAL);
    }
    int trim = over_keep();
    pthread_mutex_unlock(&cog_arena_lock);
    if (trim) cog_arena_trim();
}

/* Zero ob_tid (offset 12) and ob_gc (offset 24) of every block slot of the
 * new block size, so no slot of a new object pool looks live. Atomic stores:
 * a walker may read these words (once the page is LIVE again). */
static void clear_headers(cog_pool *p, unsigned cls) {
    cog_arena *a = cog_arena_of(p);
    char *page = cog_arena_page(a, (size_t)(p - a->pools));
    size_t bs = cog_class_size(cls), page_size = cog_arena_page_size(a);
    for (size_t off = 0; off + bs <= page_size; off += bs) {
        atomic_store_explicit((_Atomic(uint32_t) *)(page + off + 12), 0, memory_order_relaxed);
        atomic_store_explicit((_Atomic(uint64_t) *)(page + off + 24), 0, memory_order_relaxed);
    }
}

cog_pool *cog_arena_take_page(cog_heap *h, uint16_t layout) {
    int kind = cog_arena_kind_of_class(cog_layout_cls(layout));
    pthread_mutex_lock(&cog_arena_lock);
    cog_pool *p = take_listed_page(h, kind);
    pthread_mutex_unlock(&cog_arena_lock);
    if (!p) return take_fresh_page(h, kind);
    /* We own the page now; its layout is only written by its owner. */
    uint16_t old = atomic_load_explicit(&p->layout, memory_order_relaxed);
    if (old == layout) return p; /* same blocks at the same addresses */
    int was_object = (old & COG_LAYOUT_OBJECT) != 0;
    if (was_object) {
        /* A walk may still be reading this page as the old object pool:
         * wait for it. A walker's own visitor cannot wait for itself, so it
         * gets a fresh page instead. */
        if (cog_alloc_walking) {
            cog_arena_give_page(p);
            return take_fresh_page(NULL, kind);
        }
        pthread_rwlock_wrlock(&cog_walk_lock);
    }
    atomic_store_explicit(&p->carved, 0, memory_order_relaxed);
    if ((layout & COG_LAYOUT_OBJECT) && old != 0) clear_headers(p, cog_layout_cls(layout));
    atomic_store_explicit(&p->layout, layout, memory_order_relaxed);
    if (was_object) pthread_rwlock_unlock(&cog_walk_lock);
    return p;
}

/* Under cog_arena_lock: pins nest; object pages given back while pinned
 * wait on pinned_pages (linked through cog_pool.next). */
static unsigned pins;
static cog_pool *pinned_pages;

/* Under cog_arena_lock: put page p on its arena's free stack. Returns
 * whether empty arenas should be trimmed. */
static int free_page_locked(cog_pool *p) {
    cog_arena *a = cog_arena_of(p);
    int claimed = a->list == ARENA_CLAIMED; /* a home stays off the lists */
    if (a->nfree == 0 && !claimed) list_push(a, ARENA_PARTIAL);
    p->next = a->free_pages;
    a->free_pages = p;
    a->nfree++;
    if (a->nfree == cog_arena_usable(a) && !claimed) {
        list_unlink(a);
        list_push(a, ARENA_EMPTY);
    }
    return nempty(a->kind) > COG_ARENA_KEEP;
}

void cog_arena_give_page(cog_pool *p) {
    /* Not LIVE any more: new walks skip it (its blocks are all free). */
    uint16_t layout = atomic_load_explicit(&p->layout, memory_order_relaxed);
    atomic_store_explicit(&p->layout, (uint16_t)(layout & ~COG_LAYOUT_LIVE),
                          memory_order_relaxed);
    pthread_mutex_lock(&cog_arena_lock);
    int trim = 0;
    if (pins && (layout & COG_LAYOUT_OBJECT)) {
        p->next = pinned_pages; /* keeps its layout until unpinned */
        pinned_pages = p;
    } else {
        trim = free_page_locked(p);
    }
    pthread_mutex_unlock(&cog_arena_lock);
    if (trim) cog_arena_trim();
}

void cog_alloc_pin(void) {
    cog_arena_pin(1);
    cog_large_pin(1);
}

void cog_alloc_unpin(void) {
    cog_large_pin(0);
    cog_arena_pin(0);
}

void cog_arena_pin(int on) {
    pthread_mutex_lock(&cog_arena_lock);
    int trim = 0;
    if (on) {
        pins++;
    } else if (--pins == 0) {
        while (pinned_pages) {
            cog_pool *p = pinned_pages;
            pinned_pages = p->next;
            trim |= free_page_locked(p);
        }
    }
    pthread_mutex_unlock(&cog_arena_lock);
    if (trim) cog_arena_trim();
}

static void unmap_arena(cog_arena *a) {
    munmap(a, COG_ARENA_SIZE);
    stat_add(&cog_stat_arenas, -1);
    stat_add(&cog_stat_bytes_mapped, -(long)COG_ARENA_SIZE);
    stat_add(&cog_stat_arenas_unmapped_total, 1);
}

static void trim(int force) {
    if (!over_keep()) return;
    uint64_t now = coarse_now_ns();
    if (!force && now < atomic_load_explicit(&next_trim_ns, memory_order_relaxed)) return;
    /* Never block here: a walk in progress (possibly our own caller's)
     * just postpones the unmap to a later trim. */
    if (cog_alloc_walking || pthread_rwlock_trywrlock(&cog_walk_lock) != 0) return;
    cog_arena *victims = NULL;
    uint64_t next = UINT64_MAX;
    pthread_mutex_lock(&cog_arena_lock);
    for (int k = 0; k < COG_ARENA_KINDS; k++) {
        /* The list is newest first: keep the newest COG_ARENA_KEEP, unmap
         * the older ones that have aged (or all, forced). */
        unsigned seen = 0;
        for (cog_arena *a = empty[k], *nx; a; a = nx) {
            nx = a->next;
            if (++seen <= COG_ARENA_KEEP) continue;
            if (!force && now < a->empty_since + COG_ARENA_RETAIN_NS) {
                if (a->empty_since + COG_ARENA_RETAIN_NS < next)
                    next = a->empty_since + COG_ARENA_RETAIN_NS;
                continue;
            }
            list_unlink(a);
            atomic_store_explicit(&cog_arena_registry[a->slot], NULL, memory_order_relaxed);
            a->next = victims;
            victims = a;
        }
    }
    atomic_store_explicit(&next_trim_ns, next, memory_order_relaxed);
    pthread_mutex_unlock(&cog_arena_lock);
    while (victims) {
        cog_arena *a = victims;
        victims = a->next;
        unmap_arena(a);
    }
    pthread_rwlock_unlock(&cog_walk_lock);
}

void cog_arena_trim(void) { trim(0); }
void cog_arena_trim_force(void) { trim(1); }

void cog_arena_shutdown(void) {
    pthread_mutex_lock(&cog_arena_lock);
    unsigned hwm = atomic_load_explicit(&cog_arena_hwm, memory_order_relaxed);
    for (unsigned i = 0; i < hwm; i++) {
        cog_arena *a = atomic_load_explicit(&cog_arena_registry[i], memory_order_relaxed);
        if (!a) continue;
        atomic_store_explicit(&cog_arena_registry[i], NULL, memory_order_relaxed);
        unmap_arena(a);
    }
    atomic_store_explicit(&cog_arena_hwm, 0, memory_order_relaxed);
    for (int k = 0; k < COG_ARENA_KINDS; k++) {
        partial[k] = empty[k] = NULL;
        atomic_store_explicit(&nempty_[k], 0, memory_order_relaxed);
    }
    pins = 0;
    pinned_pages = NULL;
    atomic_store_explicit(&cog_stat_arenas_empty, 0, memory_order_relaxed);
    pthread_mutex_unlock(&cog_arena_lock);
}

/* The heap walk. Acquire loads pair with register_arena's release (arena
 * contents), cog_pool_init's release of the layout (carved reset, cleared
 * headers) and the owner's release store of carved (a carved block's
 * header words are initialised or cleared). */
void cog_alloc_walk_begin(void) {
    pthread_rwlock_rdlock(&cog_walk_lock);
    cog_alloc_walking++;
}

void cog_alloc_walk_end(void) {
    cog_alloc_walking--;
    pthread_rwlock_unlock(&cog_walk_lock);
}

static unsigned walk_arenas(void) {
    return atomic_load_explicit(&cog_arena_hwm, memory_order_acquire);
}

static void walk_arena(unsigned slot, void (*visit)(void *block, void *arg), void *arg) {
    cog_arena *a = atomic_load_explicit(&cog_arena_registry[slot], memory_order_acquire);
    if (!a) return;
    for (size_t pg = a->first_page; pg < a->npages; pg++) {
        cog_pool *p = &a->pools[pg];
        unsigned layout = atomic_load_explicit(&p->layout, memory_order_acquire);
        if ((layout & (COG_LAYOUT_LIVE | COG_LAYOUT_OBJECT)) != (COG_LAYOUT_LIVE | COG_LAYOUT_OBJECT))
            continue;
        size_t bs = cog_class_size(cog_layout_cls(layout));
        unsigned n = atomic_load_explicit(&p->carved, memory_order_acquire);
        char *page = cog_arena_page(a, pg);
        for (unsigned j = 0; j < n; j++) visit(page + j * bs, arg);
    }
}

void cog_alloc_visit_all_objects(void (*visit)(void *block, void *arg), void *arg) {
    cog_alloc_walk_begin();
    unsigned hwm = walk_arenas();
    for (unsigned i = 0; i < hwm; i++) walk_arena(i, visit, arg);
    cog_large_visit_all(visit, arg);
    cog_alloc_walk_end();
}
