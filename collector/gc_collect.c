/* collector/gc_collect.c - one concurrent collection: generational trial
 * deletion inside a collection window (docs/design.md "Concurrent
 * collection" has the soundness argument; the step numbers match it).
 *
 *  1. open the window (grace period 1): from now on every mutator marks
 *     the objects whose count or references it changes (DIRTY) and defers
 *     freeing object blocks, so every address we hold stays readable;
 *  2. walk the heap: candidates are tracked, live, unfrozen, not yet dirty
 *     objects of generations <= gen; read each candidate's refcount and
 *     move it to the next generation (survivors stay there);
 *  3. subtract references between candidates (traverse);
 *  4. candidates still externally referenced, or dirty, are roots; mark
 *     everything reachable from them;
 *  5. grace period 2: every mark made by a mutator operation begun before
 *     it is now visible; rescue dirty unreachable objects and everything
 *     reachable from them. What remains was untouched over the whole scan,
 *     so its references were exactly what we saw: it is garbage;
 *  6. clear weak references to the garbage, run finalizers (PEP 442);
 *  7. if step 6 cleared a weak reference or ran a finalizer: grace period
 *     3, rescue again (a finalizer or a racing weakref get may have revived
 *     something: either marks it dirty);
 *  8. hand uncollectable garbage to cog_gc_garbage; clear the rest, which
 *     lets reference counting free it;
 *  9. close the window (grace period 4) and release the deferred blocks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/gc_internal.h"
#include "lib/core/brc.h"
#include "lib/base/error.h"
#include "lib/base/prefetch.h"
#include "lib/base/rcu.h"

/* Per-candidate state, indexed by the candidate number stored (+1) in the
 * scratch bits of ob_gc. */
enum { C_UNKNOWN = 0, C_REACHABLE = 1, C_GARBAGE = 2, C_SAVED = 3, C_FREED = 4, C_HANDED = 5 };

typedef struct gc_scan {
    int gen;
    int next_gen;         /* survivors' generation: gen + 1, at most 2 */
    long young_to_old;    /* candidates moved from gen 0/1 into gen 2 */
    uint64_t epoch;     /* this scan's stamp epoch, already shifted */
    int parallel;       /* helper mode: 0 alone, 1 big steps, 2 always */
    int clear_stamps;   /* the epoch wrapped: the walk erases old stamps */
    cog_object **obj;
    int32_t *refs;      /* counts minus internal references (clamped) */
    unsigned char *state;
    size_t n, cap;
    cog_object **stack; /* reachability work list */
    size_t sp, stack_cap;
    size_t part1_at;    /* where the helper's candidates start (see PART1) */
    size_t *attn;       /* unreachable candidates with weak references, a
                           finalizer or an uncollectable type (rescue_dirty) */
    size_t nattn, attn_cap;
    int oom;
} gc_scan;

/* One walker's candidates. A parallel walk has two parts: the collector's,
 * stamped with indexes from 0, and the helper's, stamped from PART1; the
 * helper's are then appended after the collector's, at part1_at, and
 * cand_index maps a PART1 stamp there. A scan of one part sets part1_at =
 * PART1 (the map is then the identity). Each part holds fewer than PART1
 * candidates (more abandons the collection, which is always safe). */
#define PART1 ((size_t)1 << 31)
typedef struct gc_part {
    gc_scan *s;
    size_t base; /* 0 or PART1 */
    cog_object **obj;
    int32_t *refs;
    size_t n, cap;
    long young_to_old;
    size_t walked; /* tracked blocks visited */
    int oom;
} __attribute__((aligned(128))) gc_part; /* the two walkers' parts on
    separate (pairs of) cache lines: each updates its own per object */

/* The helper's part and subtraction arrays, kept between collections like
 * the scan's own (`kept` below). Collector thread only, and the helper
 * during a job (the job hand-off orders them). */
static struct {
    cog_object **obj;
    int32_t *refs;
    size_t cap;
    int32_t *dec;
    size_t dec_cap;
    cog_object **stack;
    size_t stack_cap;
} kept1;

static inline uint64_t gc_load(const cog_object *o) {
    return atomic_load_explicit(&((cog_object *)o)->ob_gc, memory_order_relaxed);
}

/* A candidate's state byte, where two threads may mark at once (the root
 * scan and marking with the helper): relaxed atomics, as marking is
 * idempotent ("Step 4" below). */
static inline unsigned char state_get(const gc_scan *s, size_t i) {
    return __atomic_load_n(&s->state[i], __ATOMIC_RELAXED);
}

static inline void state_set(gc_scan *s, size_t i, unsigned char v) {
    __atomic_store_n(&s->state[i], v, __ATOMIC_RELAXED);
}

/* The passes that go through the candidates in order (subtraction, the
 * rescue, clearing) prefetch the object COG_PREFETCH_AHEAD candidates
 * ahead (lib/base/prefetch.h says why): for a million objects,
 * subtraction took 40 % less time and clearing garbage 10-15 % less
 * (docs/performance.md, "Full collections, prefetching the candidates"). */
static inline void prefetch_candidate(const gc_scan *s, size_t i, int write) {
    cog_prefetch_ahead(s->obj, i, s->n, write);
}
/* For the passes that skip reachable candidates (the root scan, and the
 * passes after marking, where they are most of a live heap's): fetch
 * only what the pass will touch. */
static inline void prefetch_unreachable(const gc_scan *s, size_t i, int write) {
    size_t k = i + COG_PREFETCH_AHEAD;
    if (k < s->n && state_get(s, k) != C_REACHABLE) cog_prefetch(s->obj[k], write);
}


/* The collector changes only the generation and stamp bits of ob_gc while
 * mutators may set flag bits concurrently, so it writes with a CAS. */

/* Candidate index of o in this scan, or -1: its ob_gc carries this scan's
 * epoch and a non-zero index (a mutator's dirty mark writes the epoch with
 * index 0). Stamps are not erased after a scan; the epoch tells this
 * scan's from older ones without reading obj[] (a random access per
 * reference, which was most of the cost of steps 3 and 4). Exact because
 * a stamp of the current epoch can only be this scan's: every object
 * starts with no stamp (new_object writes all of ob_gc; non-GC objects are
 * never stamped), the epoch is never 0, and when it wraps (every 4 M
 * scans) that scan walks the whole heap and erases the stamp of every
 * tracked object it does not make a candidate, so no stamp from an
 * earlier use of the same epoch survives it (objects are tracked from
 * birth to death, so that walk sees every stamped live object). o may be
 * a block freed since we loaded the pointer: pages stay object pages of
 * the same block size while the window is open (cog_alloc_pin), and a
 * freed candidate's block is kept until the window closes, so ob_gc is
 * that of a dead non-candidate (older stamp), a newer object (no stamp) or
 * a dead candidate (whose decrement is moot: dead candidates are roots). */
static inline long cand_index_map(const gc_scan *s, const cog_object *o, int two_parts) {
    uint64_t gc = atomic_load_explicit(&((cog_object *)o)->ob_gc, memory_order_relaxed);
    if ((gc & COG_GC_EPOCH_MASK) != s->epoch || !(gc & COG_GC_INDEX_MASK)) return -1;
    size_t raw = (size_t)(gc >> COG_GC_SCRATCH_SHIFT) - 1;
    if (!two_parts) return (long)raw;
    return (long)(raw < PART1 ? raw : raw - PART1 + s->part1_at);
}

static inline long cand_index(const gc_scan *s, const cog_object *o) {
    return cand_index_map(s, o, 1);
}

static uint64_t epoch; /* collector thread only (and the test hook) */

static uint64_t next_epoch(int *wrapped) {
    epoch = (epoch + ((uint64_t)1 << COG_GC_EPOCH_SHIFT)) & COG_GC_EPOCH_MASK;
    *wrapped = epoch == 0;
    if (epoch == 0) epoch = (uint64_t)1 << COG_GC_EPOCH_SHIFT;
    return epoch;
}

/* Test hook (tests/gc_test.c; not public): the next scan's epoch is the
 * one after `e` (0 .. 2^22 - 1), so a test can reach the wrap quickly.
 * Call it only while no collection runs: cog_gc_collect's hand-off to the
 * collector thread orders it. */
void cog_gc_test_set_epoch(uint64_t e) { epoch = (e << COG_GC_EPOCH_SHIFT) & COG_GC_EPOCH_MASK; }

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < need) ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np) return 0;
    *p = np;
    *cap = ncap;
    return 1;
}

/* A tracked object's reference count (cog_refcount without its case for
 * interned strings, which are never tracked). Atomic loads only: until
 * our stamp is on it, the object may die and its block be reused under
 * us (its page stays an object page, see cog_alloc_pin), and then this
 * value is discarded because the stamping CAS fails. */
static intptr_t count_of(cog_object *o) {
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    return (intptr_t)local + (shared >> COG_REF_SHARED_SHIFT);
}

/* At an epoch wrap: erase a non-candidate's stamp, unless a mutator has
 * just marked it dirty in this scan (that mark is this scan's). */
static void erase_stamp(const gc_scan *s, cog_object *o, uint64_t gc) {
    while ((gc & COG_GC_STAMP_MASK) && (gc & COG_GC_EPOCH_MASK) != s->epoch &&
           !atomic_compare_exchange_weak_explicit(&o->ob_gc, &gc, gc & ~COG_GC_STAMP_MASK,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Step 2. One CAS per candidate stores its stamp (index and epoch) and
 * already moves it to the next generation, as if it survives: the garbage
 * among the candidates is freed, so its generation does not matter, and
 * this saves a second pass (and a second CAS) over the survivors. The CAS
 * expects exactly the value the tests below passed, so it fails if a
 * mutator marked the object or its free set DEAD in between (we then test
 * again): a DEAD object is never stamped, which is what lets a freeing
 * mutator decide from the value its DEAD RMW returns whether we may read
 * the block (cog_gc_must_defer). Release pairs with that RMW's acquire.
 * Returns the generation the object is left in (gc_walk.c carries its
 * page), -1 if it is dead or frozen. */
static inline int add_candidate(gc_part *p, cog_object *o, uint64_t gc) {
    gc_scan *s = p->s;
    if (p->n == p->cap && !p->oom) {
        size_t cap = p->cap;
        if (p->n + 1 >= PART1 || !grow((void **)&p->obj, &cap, p->n + 1, sizeof *p->obj) ||
            !grow((void **)&p->refs, &p->cap, p->n + 1, sizeof *p->refs))
            p->oom = 1;
    }
    int32_t refs;
    for (;;) {
        if (!(gc & COG_GC_TRACKED) || (gc & (COG_GC_DEAD | COG_GC_FROZEN | COG_GC_PENDING))) {
            if (s->clear_stamps) erase_stamp(s, o, gc);
            return -1;
        }
        int gen = cog_gc_generation(gc);
        if (p->oom || gen > s->gen || cog_gc_is_dirty(gc, s->epoch) ||
            cog_gc_is_candidate(gc, s->epoch)) {
            if (s->clear_stamps) erase_stamp(s, o, gc);
            return gen;
        }
        if (atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed) == COG_IMMORTAL) {
            /* Never garbage: out of the young generations for good. */
            uint64_t old = gc;
            while (!atomic_compare_exchange_weak_explicit(
                &o->ob_gc, &old, (old & ~(COG_GC_GEN_MASK | COG_GC_STAMP_MASK)) |
                                     (2ull << COG_GC_GEN_SHIFT),
                memory_order_relaxed, memory_order_relaxed)) {
            }
            return 2;
        }
        /* Reading the count now rather than in a later pass saves a trip
         * through memory; it is the same value: a candidate is quiet (not
         * dirty) or rescued, and a quiet object's count is constant over
         * the window (docs/design.md "Why it is sound"). 32 bits halve the
         * memory traffic of steps 3-4; a larger count saturates at
         * INT32_MAX, which visit_subtract never decrements, so such an
         * object is always a root (conservative: at worst garbage
         * survives, never the reverse). */
        intptr_t rc = count_of(o);
        refs = rc > INT32_MAX ? INT32_MAX : (int32_t)rc;
        uint64_t want = (gc & ~(COG_GC_STAMP_MASK | COG_GC_GEN_MASK | COG_GC_DIRTY)) |
                        ((uint64_t)(p->base + p->n + 1) << COG_GC_SCRATCH_SHIFT) | s->epoch |
                        ((uint64_t)s->next_gen << COG_GC_GEN_SHIFT);
        if (atomic_compare_exchange_weak_explicit(&o->ob_gc, &gc, want, memory_order_release,
                                                  memory_order_relaxed))
            break;
    }
    if (cog_gc_generation(gc) < 2 && s->next_gen == 2) p->young_to_old++;
    p->obj[p->n] = o;
    p->refs[p->n] = refs;
    p->n++;
    return s->next_gen;
}

/* ---- step 2 (collector/gc_walk.c chooses the pages), by one or two threads ---- */

/* gc_walk.c's page visitor (block_size 0: one large object block). Each
 * candidate costs a CAS on its ob_gc, a locked instruction that waits for
 * the line, exclusive; on young pages a mutator on another core has
 * usually just written that line. Asking for it (exclusive) this many
 * blocks ahead overlaps those waits: under server_bench's all-cyclic
 * load with two workers the walk took 23 -> 19 ns per block
 * (docs/performance.md, "Full collections, prefetching the candidates"). */
#define WALK_AHEAD 16
static unsigned walk_page(void *arg, char *first, size_t block_size, unsigned n) {
    gc_part *p = arg;
    unsigned left = 0;
    for (unsigned b = 0; b < n; b++) {
        cog_object *o = (cog_object *)(first + (size_t)b * block_size);
        if (b + WALK_AHEAD < n) {
            cog_object *next = (cog_object *)((char *)o + WALK_AHEAD * block_size);
            cog_prefetch(&next->ob_gc, 1);
            cog_prefetch(&next->ob_ref_local, 0); /* the count's line, if another */
        }
        uint64_t gc = cog_gc_tracked_header(o);
        if (!gc) continue;
        p->walked++;
        int g = add_candidate(p, o, gc);
        if (g == 0) left |= GC_LEFT_GEN0;
        if (g == 1) left |= GC_LEFT_GEN1;
    }
    return left;
}

/* Below this many candidates one thread subtracts. */
#define PARALLEL_MIN_CANDIDATES 100000

/* COG_GC_PARALLEL: 0 = the collector scans alone; 1 (default) = with the
 * helper for scans above the size limits; 2 = with the helper always
 * (tests). Read once (collector thread only). */
static int parallel_mode(void) {
    static int mode = -1;
    if (mode < 0) {
        const char *e = getenv("COG_GC_PARALLEL");
        mode = e && (e[0] == '0' || e[0] == '2') && !e[1] ? e[0] - '0' : 1;
    }
    return mode;
}

/* The split mode for this scan. By default the helper thread takes the
 * second halves only while a core is left over by the threads that are
 * online (the collector among them) and those in a paced wait (offline,
 * but spinning on their CPU or soon back): on a machine whose mutators
 * keep every core busy, one more runnable thread only makes them wait for
 * a CPU. Looked at here and again at every job the scan posts
 * (gc_helper.c). With no core spare the halves are posted only if pacing
 * has assistants, which take them at their safe points. */
static int scan_parallel_mode(void) {
    int mode = parallel_mode();
    int spare = cog_gc_spare_core();
    uint32_t who;
    cog_gc_helper_use_thread(mode == 2   ? COG_GC_HELPER_ALWAYS
                             : mode == 1 && spare ? COG_GC_HELPER_IF_SPARE
                                                  : COG_GC_HELPER_NEVER);
    if (mode != 1) return mode;
    return spare || cog_gc_pacing_assistants(&who, 1) ? 1 : 0;
}

/* Whether steps 3 and 4 of a scan of s->n candidates share the work. */
static int helper_for_candidates(const gc_scan *s) {
    return s->parallel && s->n > 1 && (s->parallel == 2 || s->n >= PARALLEL_MIN_CANDIDATES);
}

static int walk(gc_scan *s, size_t *walked) {
    static gc_part part[2]; /* collector thread (and the helper during a job) */
    part[0] = (gc_part){.s = s, .base = 0, .obj = s->obj, .refs = s->refs, .cap = s->cap};
    part[1] = (gc_part){.s = s, .base = PART1, .obj = kept1.obj, .refs = kept1.refs,
                        .cap = kept1.cap};
    int helped = cog_gc_walk_run(s->gen, s->clear_stamps, walk_page, &part[0], &part[1],
                                 s->parallel);
    *walked = part[0].walked + part[1].walked;
    gc_part *p0 = &part[0], *p1 = &part[1];
    kept1.obj = p1->obj, kept1.refs = p1->refs, kept1.cap = p1->cap;
    s->obj = p0->obj, s->refs = p0->refs, s->cap = p0->cap;
    s->n = p0->n;
    s->part1_at = s->n;
    s->young_to_old = p0->young_to_old + p1->young_to_old;
    s->oom = p0->oom || p1->oom;
    if (!helped) s->part1_at = PART1; /* one part: cand_index maps nothing */
    if (!helped || s->oom || p1->n == 0) return helped;
    size_t need = s->n + p1->n, cap = s->cap;
    if (!grow((void **)&s->obj, &cap, need, sizeof *s->obj) ||
        !grow((void **)&s->refs, &s->cap, need, sizeof *s->refs)) {
        s->oom = 1;
        return helped;
    }
    memcpy(s->obj + s->n, p1->obj, p1->n * sizeof *s->obj);
    memcpy(s->refs + s->n, p1->refs, p1->n * sizeof *s->refs);
    s->n = need;
    return helped;
}

/* The hot visitors come in two copies: scans of one part (young
 * collections, small heaps) skip the part mapping in cand_index. */
static inline int subtract_one(gc_scan *s, cog_object *child, int two_parts) {
    long i = cand_index_map(s, child, two_parts);
    if (i >= 0 && s->refs[i] != INT32_MAX) s->refs[i]--;
    return 0;
}
static int visit_subtract(cog_object *child, void *arg) { return subtract_one(arg, child, 1); }
static int visit_subtract_1(cog_object *child, void *arg) { return subtract_one(arg, child, 0); }
/* ---- step 3, by one or two threads: the helper counts its half's
 * internal references in dec[] (no shared writes), merged afterwards ---- */

typedef struct sub_job {
    gc_scan *s;
    int32_t *dec;
    size_t lo, hi;
} sub_job;

static int visit_count(cog_object *child, void *arg) {
    sub_job *j = arg;
    long i = cand_index(j->s, child);
    if (i >= 0) j->dec[i]++;
    return 0;
}

/* A DEAD object is being (or was) deallocated: its fields may be cleared or
 * stale, so it is never traversed. Everything it referenced was decref'd by
 * its dealloc inside the window, hence is dirty and a root by itself. */
static void traverse_with(cog_object *o, cog_visitproc visit, void *arg) {
    if (gc_load(o) & COG_GC_DEAD) return;
    o->ob_type->traverse(o, visit, arg);
}

static void traverse(gc_scan *s, cog_object *o, cog_visitproc visit) {
    traverse_with(o, visit, s);
}

static void subtract_helper(void *arg) {
    sub_job *j = arg;
    for (size_t i = j->lo; i < j->hi; i++) {
        prefetch_candidate(j->s, i, 0);
        traverse_with(j->s->obj[i], visit_count, j);
    }
}

static int subtract(gc_scan *s) {
    static sub_job j; /* collector thread (and the helper during a job) */
    size_t split = s->n;
    if (helper_for_candidates(s)) {
        if (kept1.dec_cap < s->n) {
            free(kept1.dec);
            kept1.dec = malloc(s->n * sizeof *kept1.dec);
            kept1.dec_cap = kept1.dec ? s->n : 0;
        }
        if (kept1.dec) {
            memset(kept1.dec, 0, s->n * sizeof *kept1.dec);
            j = (sub_job){.s = s, .dec = kept1.dec, .lo = s->n / 2, .hi = s->n};
            if (cog_gc_helper_post(subtract_helper, &j)) split = s->n / 2;
        }
    }
    cog_visitproc visit = s->part1_at == PART1 ? visit_subtract_1 : visit_subtract;
    for (size_t i = 0; i < split; i++) {
        prefetch_candidate(s, i, 0);
        traverse(s, s->obj[i], visit);
        cog_gc_slice_point(i);
    }
    if (split == s->n) return 0;
    cog_gc_helper_wait();
    for (size_t i = 0; i < s->n; i++)
        if (s->refs[i] != INT32_MAX) s->refs[i] -= j.dec[i];
    return 1;
}

/* Step 4 (and the rescues of 5 and 7): marking. A mark context is one
 * marking thread's work list. With two threads marking at once, a state
 * byte is read and set with relaxed atomics: both may see an object
 * unmarked and both traverse it, which costs a little duplicate work and
 * nothing else (marking is idempotent). On a failed stack growth the
 * child is marked but its subtree may not be: the collection is abandoned
 * (ctx->oom), which frees nothing. */
typedef struct mark_ctx {
    gc_scan *s;
    cog_object **stack;
    size_t sp, cap;
    int oom;
} __attribute__((aligned(128))) mark_ctx; /* two of them: no shared line */

static inline int reach_one(mark_ctx *c, cog_object *child, int two_parts) {
    long i = cand_index_map(c->s, child, two_parts);
    if (i >= 0 && state_get(c->s, (size_t)i) != C_REACHABLE) {
        state_set(c->s, (size_t)i, C_REACHABLE);
        if (!grow((void **)&c->stack, &c->cap, c->sp + 1, sizeof *c->stack)) {
            c->oom = 1;
            return 0;
        }
        c->stack[c->sp++] = child;
    }
    return 0;
}
static int visit_reach(cog_object *child, void *arg) { return reach_one(arg, child, 1); }
static int visit_reach_1(cog_object *child, void *arg) { return reach_one(arg, child, 0); }

static void mark_from(mark_ctx *c, size_t i) {
    cog_visitproc visit = c->s->part1_at == PART1 ? visit_reach_1 : visit_reach;
    state_set(c->s, i, C_REACHABLE);
    c->sp = 0;
    traverse_with(c->s->obj[i], visit, c);
    /* The work list is the context's: a slice may end in mid-subgraph. */
    for (size_t k = 0; c->sp > 0; k++) {
        traverse_with(c->stack[--c->sp], visit, c);
        cog_gc_slice_point(k);
    }
}

/* The collector's own mark context, on the scan's kept stack. */
static mark_ctx own_ctx(gc_scan *s) {
    return (mark_ctx){.s = s, .stack = s->stack, .cap = s->stack_cap};
}

static void own_ctx_done(gc_scan *s, const mark_ctx *c) {
    s->stack = c->stack;
    s->stack_cap = c->cap;
    s->oom |= c->oom;
}

typedef struct mark_job {
    mark_ctx ctx[2];
    size_t lo[2], hi[2];
} mark_job;

static void mark_roots(mark_job *j, int w) {
    mark_ctx *c = &j->ctx[w];
    gc_scan *s = c->s;
    for (size_t i = j->lo[w]; i < j->hi[w] && !c->oom; i++) {
        /* Candidates ahead that no root has reached yet are where the
         * next roots' marking goes, in a heap allocated in the order it
         * is linked (each of bench/gc_bench's live rings: 12.6 -> 4-7 ms
         * for a million objects); in a heap of garbage, where no root
         * comes, they cost a wasted fetch each (0.4 -> 1.5 ms). */
        prefetch_unreachable(s, i, 0);
        if (state_get(s, i) != C_REACHABLE && s->refs[i] > 0) mark_from(c, i);
        cog_gc_slice_point(i);
    }
}

static void mark_helper(void *arg) { mark_roots(arg, 1); }

/* Step 4: roots are the candidates still externally referenced; mark
 * everything reachable from them. Objects that became dirty or DEAD since
 * the walk are roots too, but step 5 rescues them after G2 anyway, so this
 * step reads no header of its own. Big scans split the roots between the
 * collector and the helper. Returns whether the helper took part. */
static int mark(gc_scan *s) {
    static mark_job j; /* collector thread (and the helper during a job) */
    j.ctx[0] = own_ctx(s);
    j.ctx[1] = (mark_ctx){.s = s, .stack = kept1.stack, .cap = kept1.stack_cap};
    j.lo[0] = 0, j.hi[0] = s->n;
    int helped = 0;
    if (helper_for_candidates(s)) {
        j.lo[1] = s->n / 2, j.hi[1] = s->n;
        if (cog_gc_helper_post(mark_helper, &j)) helped = 1, j.hi[0] = s->n / 2;
    }
    mark_roots(&j, 0);
    if (helped) cog_gc_helper_wait();
    kept1.stack = j.ctx[1].stack, kept1.stack_cap = j.ctx[1].cap;
    s->oom |= j.ctx[1].oom;
    own_ctx_done(s, &j.ctx[0]);
    return helped;
}

/* Steps 5 and 7: everything unreachable that is dirty now, or reachable
 * from such an object, survives. Returns the number still garbage. */
static size_t rescue_dirty(gc_scan *s) {
    size_t garbage = 0;
    mark_ctx c = own_ctx(s);
    s->nattn = 0;
    for (size_t i = 0; i < s->n && !c.oom; i++) {
        prefetch_unreachable(s, i, 0);
        cog_gc_slice_point(i);
        if (s->state[i] == C_REACHABLE) continue;
        cog_object *o = s->obj[i];
        uint64_t gc = gc_load(o);
        /* A candidate keeps this scan's epoch: its DIRTY bit is this
         * scan's mark. */
        if (gc & (COG_GC_DIRTY | COG_GC_DEAD)) {
            mark_from(&c, i);
            continue;
        }
        /* While the header is at hand, note what step 6 must look at, so
         * it need not read every garbage header again. Exact for what ends
         * up garbage: the type is fixed, and creating a weak reference
         * takes a strong one, which an object left unreachable and quiet
         * by G2 has nobody holding (an earlier one made it a root, a later
         * one would have marked it dirty). */
        const cog_type *t = o->ob_type;
        if ((gc & COG_GC_HAS_WEAKREFS_FLAG) || t->finalize ||
            (t->flags & COG_TYPE_UNCOLLECTABLE)) {
            if (!grow((void **)&s->attn, &s->attn_cap, s->nattn + 1, sizeof *s->attn)) {
                c.oom = 1; /* abandons the collection: always safe */
                break;
            }
            s->attn[s->nattn++] = i;
        }
    }
    own_ctx_done(s, &c);
    for (size_t i = 0; i < s->n; i++)
        if (s->state[i] != C_REACHABLE) s->state[i] = C_GARBAGE, garbage++;
    return garbage;
}

static void print_object(const char *what, cog_object *o) {
    fprintf(stderr, "cog gc: %s <%s %p>\n", what, o->ob_type->name, (void *)o);
}

/* Step 8 for uncollectable garbage: an uncollectable object keeps what it
 * references, so all garbage reachable from one (everything, under
 * SAVEALL) goes to the garbage list instead of being cleared. */
static int visit_save(cog_object *child, void *arg) {
    gc_scan *s = arg;
    long i = cand_index(s, child);
    if (i >= 0 && s->state[i] == C_GARBAGE) {
        s->state[i] = C_SAVED;
        if (!grow((void **)&s->stack, &s->stack_cap, s->sp + 1, sizeof *s->stack)) {
            s->oom = 1;
            return 0;
        }
        s->stack[s->sp++] = child;
    }
    return 0;
}

static long save_uncollectable(gc_scan *s, unsigned debug) {
    int saveall = (debug & COG_GC_DEBUG_SAVEALL) != 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->state[i] != C_GARBAGE) continue;
        if (!saveall && !(s->obj[i]->ob_type->flags & COG_TYPE_UNCOLLECTABLE)) continue;
        s->state[i] = C_SAVED;
        s->sp = 0;
        traverse(s, s->obj[i], visit_save);
        while (s->sp > 0) traverse(s, s->stack[--s->sp], visit_save);
    }
    long saved = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->state[i] != C_SAVED) continue;
        if (debug & COG_GC_DEBUG_UNCOLLECTABLE) print_object("uncollectable", s->obj[i]);
        cog_incref(s->obj[i]);
        cog_gc_garbage_append(s->obj[i]);
        saved++;
    }
    return saved;
}

/* Survivors were moved to the next generation by the walk; account for
 * the ones that entered generation 2 (CPython's long_lived_pending, which
 * gates full collections). Garbage is counted as if it had been young,
 * which is what it almost always is. */
static void account_promotions(const gc_scan *s, const gc_result *r) {
    long promoted = s->young_to_old - r->collected - r->uncollectable;
    if (promoted > 0)
        atomic_fetch_add_explicit(&cog__gc.long_lived_pending, promoted, memory_order_relaxed);
}

/* Step 8 for collectable garbage: break the cycles with each object's clear
 * and let reference counting free them.
 *
 * The garbage is unreachable, so the collector adopts it: it moves each
 * object's whole count into its own biased local count
 * (cog_brc_adopt_unreachable). Its increfs and decrefs below are then plain
 * owner operations: no atomics, no queueing to the mutator that allocated
 * the object, and the objects are freed right here. The window is closed
 * (no barrier marks, nothing deferred), and with cog_gc_release_own_frees
 * the garbage's flag changes are plain stores and frees into other
 * threads' pools are batched, so clearing costs about what freeing the
 * same objects costs a single-threaded program. */
static void clear_garbage(gc_scan *s, unsigned debug, gc_result *out) {
    if (debug & COG_GC_DEBUG_COLLECTABLE)
        for (size_t i = 0; i < s->n; i++)
            if (s->state[i] == C_GARBAGE) print_object("collectable", s->obj[i]);
    /* Pacing assist: garbage owned by threads that outran us goes back to
     * them (gc_assist.c). */
    out->assisted = cog_gc_assist_hand_out(s->obj, s->state, s->n, C_GARBAGE, C_HANDED);
    out->collected += (long)out->assisted;
    /* A hand-out takes all of the garbage (every C_GARBAGE became
     * C_HANDED), so the passes below would only skip it. They would not
     * skip cheaply: their write prefetches pull each handed object's line
     * away from the assistant that is freeing it (docs/performance.md,
     * "Clearing passes skipped after a hand-out"). */
    if (out->assisted) return;
    /* Adopt each object and hold a reference to it while clearing, so none
     * is freed (and its neighbours' fields left dangling) mid-way. */
    cog_brc_adopter adopter = {0};
    for (size_t i = 0; i < s->n; i++) {
        prefetch_unreachable(s, i, 1);
        if (s->state[i] != C_GARBAGE) continue;
        cog_brc_adopt_unreachable(&adopter, s->obj[i]);
        cog_incref(s->obj[i]);
    }
    cog_brc_adopt_done(&adopter);
    cog_gc_release_own_frees(1);
    for (size_t i = 0; i < s->n; i++) {
        cog_object *o = s->obj[i];
        prefetch_unreachable(s, i, 1);
        if (s->state[i] != C_GARBAGE) continue;
        if (o->ob_type->clear) cog_clear_garbage_object(o);
        out->collected++;
    }
    for (size_t i = 0; i < s->n; i++) {
        prefetch_unreachable(s, i, 1);
        if (s->state[i] == C_GARBAGE) {
            s->state[i] = C_FREED;
            cog_decref(s->obj[i]);
        }
    }
    cog_gc_release_own_frees(0);
}

/* The scan's arrays outlive a collection (collector thread only). Mapping
 * and unmapping megabytes per collection would take the process's mmap
 * lock for writing every time, stalling any mutator that page-faults
 * meanwhile (measured: multi-millisecond probe stalls at 1 M objects).
 * They are given back when the scans of a whole second have used under a
 * quarter of them (cog_gc_shrink_scan_buffers, after a collection), or
 * when the collector has had nothing to do for a while (gc_thread.c "idle
 * trim"): a spike's arrays must not outlive it. Not at once: a young
 * collection right after a full one freed the full one's arrays (1.7 ms
 * of munmap for 1 M candidates, inside the collection, before waiting
 * mutators were told it was done) and the next grew new ones, faulting
 * every page in (its walk 0.30 instead of 0.08 ms beside 1 M old
 * objects); and a server's next full collection needs them again. */
static struct {
    cog_object **obj;
    int32_t *refs;
    size_t cap;
    unsigned char *state;
    size_t state_cap;
    cog_object **stack;
    size_t stack_cap;
    size_t *attn;
    size_t attn_cap;
} kept;

#define KEEP_MIN ((size_t)1 << 16)
#define KEEP_UNUSED_NS 1000000000u
static atomic_ullong keep_unused_ns = KEEP_UNUSED_NS; /* a test hook sets it */
/* cog_gc_scan_buffer_bytes as of the collector's last change, for tests
 * (relaxed: a snapshot that cog_gc_collect's hand-back orders). */
static atomic_size_t kept_bytes;

void cog_gc_test_set_keep_unused_ns(uint64_t ns) {
    atomic_store_explicit(&keep_unused_ns, ns ? ns : KEEP_UNUSED_NS, memory_order_relaxed);
}

size_t cog_gc_test_scan_buffer_bytes(void) {
    return atomic_load_explicit(&kept_bytes, memory_order_relaxed);
}
/* When the arrays last fitted (a scan used over a quarter of them), and
 * what the scans since then needed at most. */
static struct {
    size_t n, nattn;
    uint64_t fit_ns;
} need;

static void arrays_fit_now(void) {
    need.fit_ns = cog_gc_now_ns();
    need.n = need.nattn = 0;
}

static void take_buffers(gc_scan *s) {
    s->obj = kept.obj;
    s->refs = kept.refs;
    s->cap = kept.cap;
    s->stack = kept.stack;
    s->stack_cap = kept.stack_cap;
    s->attn = kept.attn;
    s->attn_cap = kept.attn_cap;
}

/* State bytes for n candidates, zeroed. NULL if out of memory. */
static unsigned char *take_state(size_t n) {
    if (n > kept.state_cap) {
        free(kept.state);
        kept.state = malloc(n);
        kept.state_cap = kept.state ? n : 0;
        if (!kept.state) return NULL;
    }
    memset(kept.state, 0, n);
    return kept.state;
}

/* Whether an array of cap elements of which the last scan needed `used`
 * is worth keeping. */
static int oversized(size_t cap, size_t used) { return cap > KEEP_MIN && cap / 4 > used; }

static void drop_if_oversized(void **p, size_t *cap, size_t used) {
    if (!oversized(*cap, used)) return;
    free(*p);
    *p = NULL, *cap = 0;
}

/* take_buffers' reverse; also the tests' view of the bytes kept. */
static void put_buffers(const gc_scan *s) {
    kept.obj = s->obj;
    kept.refs = s->refs;
    kept.cap = s->cap;
    kept.stack = s->stack;
    kept.stack_cap = s->stack_cap;
    kept.attn = s->attn;
    kept.attn_cap = s->attn_cap;
    atomic_store_explicit(&kept_bytes, cog_gc_scan_buffer_bytes(), memory_order_relaxed);
}

static void keep_buffers(gc_scan *s) {
    put_buffers(s);
    if (!oversized(s->cap, s->n)) {
        arrays_fit_now();
    } else {
        if (s->n > need.n) need.n = s->n;
        if (s->nattn > need.nattn) need.nattn = s->nattn;
    }
}

void cog_gc_shrink_scan_buffers(void) {
    if (!oversized(kept.cap, need.n) ||
        cog_gc_now_ns() - need.fit_ns <
            atomic_load_explicit(&keep_unused_ns, memory_order_relaxed))
        return;
    gc_scan held = {.n = need.n, .nattn = need.nattn};
    gc_scan *s = &held;
    take_buffers(s);
    if (oversized(s->cap, s->n)) {
        free(s->obj);
        free(s->refs);
        free(kept.state);
        s->obj = NULL, s->refs = NULL, s->cap = 0;
        kept.state = NULL, kept.state_cap = 0;
    }
    drop_if_oversized((void **)&s->stack, &s->stack_cap, s->n);
    drop_if_oversized((void **)&s->attn, &s->attn_cap, s->nattn);
    /* The helper's arrays follow the same rule (each holds at most n). */
    if (oversized(kept1.cap, s->n)) {
        free(kept1.obj);
        free(kept1.refs);
        kept1.obj = NULL, kept1.refs = NULL, kept1.cap = 0;
    }
    drop_if_oversized((void **)&kept1.dec, &kept1.dec_cap, s->n);
    drop_if_oversized((void **)&kept1.stack, &kept1.stack_cap, s->n);
    arrays_fit_now();
    put_buffers(s);
}

size_t cog_gc_scan_buffer_bytes(void) {
    return kept.cap * (sizeof *kept.obj + sizeof *kept.refs) + kept.state_cap +
           kept.stack_cap * sizeof *kept.stack + kept.attn_cap * sizeof *kept.attn +
           kept1.cap * (sizeof *kept1.obj + sizeof *kept1.refs) +
           kept1.dec_cap * sizeof *kept1.dec + kept1.stack_cap * sizeof *kept1.stack;
}

void cog_gc_trim_scan_buffers(void) {
    free(kept1.obj);
    free(kept1.refs);
    free(kept1.dec);
    free(kept1.stack);
    memset(&kept1, 0, sizeof kept1);
    free(kept.obj);
    free(kept.refs);
    free(kept.state);
    free(kept.stack);
    free(kept.attn);
    memset(&kept, 0, sizeof kept);
    atomic_store_explicit(&kept_bytes, 0, memory_order_relaxed);
}

void cog_gc_free_scan_buffers(void) {
    cog_gc_walk_free();
    cog_gc_trim_scan_buffers();
}

void cog_gc_run_collection(int gen, gc_result *out) {
    gc_scan s = {.gen = gen, .next_gen = gen < 2 ? gen + 1 : 2};
    out->sliced = cog_gc_slice_running_here();
    if (out->sliced) {
        /* Threads outnumber the cores: no helper thread, and no job to
         * wait for inside a slice. */
        cog_gc_helper_use_thread(COG_GC_HELPER_NEVER);
        s.parallel = 0;
    } else {
        s.parallel = scan_parallel_mode();
    }
    take_buffers(&s);
    unsigned debug = atomic_load_explicit(&cog__gc.debug, memory_order_relaxed);
    out->collected = out->uncollectable = 0;
    out->assisted = 0;
    out->parallel = 0;
    memset(out->phase_ns, 0, sizeof out->phase_ns);
    out->window_ns = 0;
    int window_open;
    uint64_t t = cog_gc_now_ns(), t_next;
#define PHASE_DONE(ph) (t_next = cog_gc_now_ns(), out->phase_ns[ph] += t_next - t, t = t_next)

    /* 1-2 */
    s.epoch = next_epoch(&s.clear_stamps);
    cog_gc_walk_prepare();
    cog_gc_window_open(gen, s.epoch);
    window_open = 1;
    out->parallel = walk(&s, &out->walked);
    out->scanned = s.n;
    PHASE_DONE(GC_PH_WALK);
    if (!s.oom) s.state = take_state(s.n ? s.n : 1);
    if (s.oom || !s.state) {
        /* Out of memory: abandon this collection (nothing is freed, which is
         * always safe; leftover scratch indexes are harmless, see
         * cand_index). */
        s.state = NULL;
        goto finish;
    }
    /* 3 */
    out->parallel |= subtract(&s);
    PHASE_DONE(GC_PH_SUBTRACT);

    /* 4 */
    out->parallel |= mark(&s);
    PHASE_DONE(GC_PH_MARK);
    if (s.oom) goto finish; /* a subtree may be unmarked: free nothing */
    /* Every candidate reachable: no garbage, whatever happens next (the
     * rescues only make candidates reachable), so G2 would decide
     * nothing. Most young collections of a server whose garbage is
     * acyclic end here, and their window closes a grace period early. */
    if (!memchr(s.state, C_UNKNOWN, s.n)) goto finish;

    /* 5 */
    cog_gc_grace_period();
    if (rescue_dirty(&s) == 0 || s.oom) goto finish;

    /* 6. Weak references first (so a callback or finalizer cannot reach a
     * garbage object through one), then finalizers; both run here with no
     * collector lock held, and may touch anything: the window is still
     * open, so whatever they touch is marked and rescued in step 7. */
    int may_revive = 0;  /* did anything run that could create a reference? */
    int finalizers = 0;  /* garbage with a finalizer */
    int uncollectable = (debug & COG_GC_DEBUG_SAVEALL) != 0;
    for (size_t k = 0; k < s.nattn; k++) {
        size_t i = s.attn[k];
        if (s.state[i] != C_GARBAGE) continue;
        cog_object *o = s.obj[i];
        may_revive |= cog_gc_clear_weakrefs(o);
        finalizers |= o->ob_type->finalize != NULL;
        uncollectable |= (o->ob_type->flags & COG_TYPE_UNCOLLECTABLE) != 0;
    }
    for (size_t k = 0; finalizers && k < s.nattn; k++) {
        size_t i = s.attn[k];
        cog_object *o = s.obj[i];
        if (s.state[i] != C_GARBAGE || !o->ob_type->finalize) continue;
        uint64_t gc = atomic_fetch_or_explicit(&o->ob_gc, COG_GC_FINALIZED, memory_order_relaxed);
        if (!(gc & COG_GC_FINALIZED)) {
            o->ob_type->finalize(o);
            may_revive = 1;
        }
    }

    /* 7. Only a weakref get racing with step 6 or a finalizer can have
     * created a reference to the garbage; without either, G2's verdict
     * stands and the grace period is saved. */
    if (may_revive) {
        cog_gc_grace_period();
        /* Marking treats any state but REACHABLE alike: GARBAGE can stay. */
        if (rescue_dirty(&s) == 0 || s.oom) goto finish;
    }

    /* The verdict is final. From here on the collector reads only the
     * garbage and what it refers to: no mutator can reach the garbage (so
     * none frees it or marks it), and what it refers to is alive (the
     * garbage holds references to it). Neither marks nor kept blocks
     * matter any more, so the window closes before step 8: mutators pay
     * the window only for the scan, not for the clearing. */
    out->window_ns = cog_gc_window_close();
    window_open = 0;
    PHASE_DONE(GC_PH_VERDICT);

    /* 8 */
    if (uncollectable) out->uncollectable = save_uncollectable(&s, debug);
    /* Out of memory while saving: garbage an uncollectable object refers
     * to may be unmarked; clear nothing (a later collection finds it). */
    if (!s.oom) clear_garbage(&s, debug, out);
    PHASE_DONE(GC_PH_CLEAR);

finish:
    /* 9 (when the scan ended early, the window is still open) */
    if (window_open) out->window_ns = cog_gc_window_close();
    account_promotions(&s, out);
    keep_buffers(&s);
    if (!out->phase_ns[GC_PH_CLEAR]) PHASE_DONE(GC_PH_VERDICT); /* ended early */
#undef PHASE_DONE
}
