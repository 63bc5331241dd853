/* collector/gc_walk.c - step 2's heap walk: which pages a scan visits.
 *
 * A young scan (generation 0 or 1) visits only the pages that may hold
 * objects of its generations, so it costs what the young generation
 * holds, not what the heap holds:
 *   - the pages the heaps listed as young in the epoch that ended when
 *     the scan's window opened (lib/alloc/alloc.h "Young pages"): every page
 *     that received an allocation since the previous scan;
 *   - carry0: pages where the previous scan left generation-0 objects it
 *     did not promote (touched during its window, or born in it);
 *   - carry1, for generation-1 scans: pages that received generation-1
 *     objects (promoted by generation-0 scans) since the last scan that
 *     rebuilt it;
 *   - large object blocks numbered at or above the floor of its
 *     generations (the large list is newest first).
 * Invariant: every object of generation 0 lives in a page of some heap's
 * current young list, of the list being gathered, or of carry0; every
 * object of generation 1 in a page of carry1; every large object of
 * generation g <= 1 is numbered at or above floor[g]. A scan keeps it:
 * it visits every such page, and each object it leaves in generation 0 or
 * moves to generation 1 puts its page back on carry0 or carry1.
 *
 * A full scan (generation 2; the first scan; the one at which the stamp
 * epoch wraps, which must see every object; any scan after pages were
 * lost to an allocation failure) visits every page of every arena and
 * every large object, and rebuilds carry0, carry1 and the floors.
 * Completeness is all that is at stake here: a page missed only delays
 * collecting its garbage to a full scan; which objects are candidates
 * never affects soundness (docs/design.md "Why it is sound").
 *
 * Pages are visited at most once per scan (the walk mark in the page's
 * first scratch word), so a candidate is never stamped twice; the second
 * word dedups carry1 within an era. Both words are the collector's (and
 * its helper's, on disjoint pages). Everything runs between
 * cog_alloc_walk_begin/end: no arena is unmapped and no page changes
 * layout meanwhile.
 */
#include <string.h>

#include "collector/gc_internal.h"
#include "lib/alloc/alloc.h"

/* Collector thread only (the helper touches only its walker and the
 * pages it claims). */
static struct {
    cog_page_list young;  /* pages the heaps listed as young */
    cog_page_list plan;   /* this scan's pages, each once */
    cog_page_list carry0, carry1;
    uint32_t scan_no;     /* walk mark of this scan (scratch word 0) */
    uint32_t carry1_era;  /* carry1 membership mark (scratch word 1) */
    uint64_t floor[2];    /* large object floors of generations 0 and 1 */
    uint32_t young_old;   /* young epoch flipped away by walk_prepare */
    int lost;             /* a list was lost: the next scan is full */
} w = {.lost = 1};

/* Each walking thread's results. */
typedef struct gc_walker {
    void *part;
    cog_page_list carry0, carry1;
    uint64_t floor0, floor1; /* lowest numbers of large objects left in 0 / 1 */
    int oom;
} __attribute__((aligned(128))) gc_walker;

typedef struct walk_job {
    gc_walker walker[2];
    gc_page_fn fn;
    _Alignas(128) atomic_size_t next; /* plan chunks are handed out in order */
} walk_job;

static walk_job j; /* collector thread (and the helper during a job) */

#define CHUNK 16 /* pages per claim */

static uint32_t next_mark(uint32_t m) { return m + 1 ? m + 1 : 1; /* never 0 */ }

void cog_gc_walk_prepare(void) { w.young_old = cog_alloc_young_flip(); }

/* A walked page goes back on carry0 if it still holds generation-0
 * objects, and on carry1 (once per era) if it holds generation-1 ones. */
static void carry_page(gc_walker *k, cog_page_id id, uint32_t *scratch, int has0, int has1) {
    if (has0 && cog_page_list_add(&k->carry0, id) != 0) k->oom = 1;
    if (has1 && scratch[1] != w.carry1_era) {
        scratch[1] = w.carry1_era;
        if (cog_page_list_add(&k->carry1, id) != 0) k->oom = 1;
    }
}

static void walk_pages(int wi) {
    gc_walker *k = &j.walker[wi];
    for (;;) {
        size_t at = atomic_fetch_add_explicit(&j.next, CHUNK, memory_order_relaxed);
        if (at >= w.plan.n) break;
        size_t end = at + CHUNK < w.plan.n ? at + CHUNK : w.plan.n;
        for (size_t i = at; i < end; i++) {
            char *first;
            size_t bs;
            unsigned n;
            uint32_t *scratch;
            if (!cog_alloc_page_blocks(w.plan.ids[i], &first, &bs, &n, &scratch)) continue;
            unsigned left = j.fn(k->part, first, bs, n);
            carry_page(k, w.plan.ids[i], scratch, left & GC_LEFT_GEN0, left & GC_LEFT_GEN1);
            if (cog_gc_slice_due()) {
                /* A slice's end (gc_slice.c): the read lock is released
                 * by the thread that took it, and no lock is held across
                 * a yield. Between pages it protects nothing we keep:
                 * pages are read under it one at a time, their layout
                 * afresh, and candidates' memory stays pinned by the
                 * window, as between the walk and the scan's later
                 * steps. (One walker in a sliced scan: no helper.) */
                cog_alloc_walk_end();
                cog_gc_slice_yield();
                cog_alloc_walk_begin();
            }
        }
    }
}

static void walk_helper(void *arg) {
    (void)arg;
    cog_alloc_walk_begin();
    walk_pages(1);
    cog_alloc_walk_end();
}

/* Large objects: the collector's walker, after its pages. */
static void visit_large(void *block, uint64_t seq, void *arg) {
    gc_walker *k = arg;
    unsigned left = j.fn(k->part, block, 0, 1);
    if ((left & GC_LEFT_GEN0) && seq < k->floor0) k->floor0 = seq;
    if ((left & GC_LEFT_GEN1) && seq < k->floor1) k->floor1 = seq;
}

/* Add every page of `from` to the plan, each once (walk mark). */
static int plan_add(const cog_page_list *from) {
    for (size_t i = 0; i < from->n; i++) {
        char *first;
        size_t bs;
        unsigned n;
        uint32_t *scratch;
        cog_page_id id = from->ids[i];
        /* Pages of unmapped arenas are dropped here (their scratch words
         * are gone with them); pages not live now keep their place, so
         * that a page live again by the time we walk is still walked. */
        cog_alloc_page_blocks(id, &first, &bs, &n, &scratch);
        if (!scratch) continue;
        if (scratch[0] == w.scan_no) continue;
        scratch[0] = w.scan_no;
        if (cog_page_list_add(&w.plan, id) != 0) return -1;
    }
    return 0;
}

static int append_all(cog_page_list *to, const cog_page_list *from) {
    for (size_t i = 0; i < from->n; i++)
        if (cog_page_list_add(to, from->ids[i]) != 0) return -1;
    return 0;
}

int cog_gc_walk_run(int gen, int full, gc_page_fn fn, void *part0, void *part1, int parallel) {
    full |= gen >= 2 || w.lost;
    w.lost = 0;
    /* Before the walk lock: gathering takes cog_heap_lock, which
     * cog_mem_stats holds while it takes the walk lock. */
    w.young.n = 0;
    if (cog_alloc_young_gather(w.young_old, &w.young) != 0) full = 1;
    cog_alloc_walk_begin();
    int rebuild1 = full || gen >= 1;
    w.scan_no = next_mark(w.scan_no);
    if (rebuild1) w.carry1_era = next_mark(w.carry1_era);
    w.plan.n = 0;
    int planned;
    if (full) {
        planned = cog_alloc_all_pages(&w.plan);
        for (size_t i = 0; planned == 0 && i < w.plan.n; i++) {
            char *first;
            size_t bs;
            unsigned n;
            uint32_t *scratch;
            cog_alloc_page_blocks(w.plan.ids[i], &first, &bs, &n, &scratch);
            if (scratch) scratch[0] = w.scan_no;
        }
    } else {
        planned = plan_add(&w.young);
        if (planned == 0) planned = plan_add(&w.carry0);
        if (planned == 0 && gen >= 1) planned = plan_add(&w.carry1);
    }
    w.carry0.n = 0;
    if (rebuild1) w.carry1.n = 0;

    uint64_t newest = cog_alloc_large_newest();
    j.fn = fn;
    for (int i = 0; i < 2; i++) {
        gc_walker *k = &j.walker[i];
        k->part = i ? part1 : part0;
        k->carry0.n = k->carry1.n = 0;
        k->floor0 = k->floor1 = newest + 1;
        k->oom = planned != 0;
    }
    atomic_store_explicit(&j.next, 0, memory_order_relaxed);
    int helped = parallel && part1 && w.plan.n >= (parallel > 1 ? 1 : GC_PARALLEL_MIN_PAGES) &&
                 cog_gc_helper_post(walk_helper, NULL);
    walk_pages(0);
    /* Large objects: below floor[g] there is no object of generation g. */
    uint64_t floor = full       ? 0
                     : gen == 0 ? w.floor[0]
                                : (w.floor[0] < w.floor[1] ? w.floor[0] : w.floor[1]);
    cog_alloc_walk_large_since(floor, visit_large, &j.walker[0]);
    cog_alloc_walk_end();
    if (helped) cog_gc_helper_wait();

    int oom = 0;
    uint64_t f0 = newest + 1, f1 = rebuild1 ? newest + 1 : w.floor[1];
    for (int i = 0; i < 2; i++) {
        gc_walker *k = &j.walker[i];
        oom |= k->oom || append_all(&w.carry0, &k->carry0) || append_all(&w.carry1, &k->carry1);
        if (k->floor0 < f0) f0 = k->floor0;
        if (k->floor1 < f1) f1 = k->floor1;
    }
    w.floor[0] = f0;
    w.floor[1] = f1;
    /* Pages or candidates lost to an allocation failure: the next scan
     * walks everything, which restores the invariant. */
    w.lost = oom;
    return helped;
}

void cog_gc_walk_free(void) {
    cog_page_list_free(&w.young);
    cog_page_list_free(&w.plan);
    cog_page_list_free(&w.carry0);
    cog_page_list_free(&w.carry1);
    for (int i = 0; i < 2; i++) {
        cog_page_list_free(&j.walker[i].carry0);
        cog_page_list_free(&j.walker[i].carry1);
    }
    w.lost = 1;
}
