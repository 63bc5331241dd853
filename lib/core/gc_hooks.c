/* lib/core/gc_hooks.c - the collector barrier flag, deferred block list and
 * allocation accounting used by the object layer. */
#include "lib/core/gc_hooks.h"

#include <limits.h>
#include <stdlib.h>

#include "lib/alloc/alloc.h"
#include "lib/base/prefetch.h"
#include "lib/core/brc.h"
#include "lib/core/object_internal.h"
#include "lib/core/thread.h"

atomic_int cog__gc_barrier;
atomic_long cog__gc_young_count;
atomic_long cog__gc_young_threshold = 2000;
atomic_int cog__gc_requested;
atomic_int cog__gc_scan_gen = -1;
_Atomic(uint64_t) cog__gc_scan_epoch;
_Atomic(uint64_t) cog__gc_window_seq, cog__gc_window_done;

static _Atomic(cog_object *) shared_deferred;
__thread int cog__gc_release_own __attribute__((tls_model("initial-exec")));
__thread uintptr_t cog__tls_excl_base __attribute__((tls_model("initial-exec")));
__thread size_t cog__tls_excl_size __attribute__((tls_model("initial-exec")));
__thread int cog__tls_excl_no_mark __attribute__((tls_model("initial-exec")));

void cog_gc_release_own_frees(int on) {
    cog__gc_release_own = on;
    cog_tstate *ts = cog_tstate_current();
    if (ts && ts->heap) cog_heap_batch_remote_frees(ts->heap, on);
}
static _Atomic(void (*)(void)) wakeup_hook;
static _Atomic(int (*)(int)) pace_hook;
atomic_long cog__gc_pace_limit = LONG_MAX;
atomic_long cog__gc_wake_above = LONG_MAX;

/* Barrier slow path. Marks matter only on objects the scan in progress may
 * make (or has made) candidates: tracked objects of its generations, and
 * objects carrying its stamp (candidates it already promoted). Touching
 * anything else needs no RMW, so old shared objects (a server's caches,
 * its interned keys) stay read-only to young collections.
 *
 * Why skipping the others is sound: the collector promotes only in the
 * stamping CAS, so an object seen with a generation above the scan's and
 * without the scan's stamp was never a candidate and never will be in this
 * scan; nothing reads marks of non-candidates (docs/design.md "Why it is
 * sound"). A load that returns an older value (generation not yet raised)
 * only makes us mark more.
 *
 * The mark writes the scan's epoch (index 0 when the object is not a
 * candidate) with the DIRTY bit, so it never needs erasing: a later scan
 * ignores a DIRTY bit under another epoch. A CAS, since the collector
 * stamps concurrently; relaxed, because the collector reads marks only
 * after a grace period, whose full barriers order this RMW before the
 * read. An operation that saw the window open before the grace period
 * that opened it ended finished before the walk began, so a stale scan
 * epoch or generation read here can only mark objects the walk then
 * treats as it finds them. */
void cog__gc_touch(cog_object *o) {
    if (cog__gc_release_own) return; /* the collector past its verdict */
    int gen = atomic_load_explicit(&cog__gc_scan_gen, memory_order_relaxed);
    uint64_t epoch = atomic_load_explicit(&cog__gc_scan_epoch, memory_order_relaxed);
    uint64_t gc = atomic_load_explicit(&o->ob_gc, memory_order_relaxed);
    while (cog_gc_mark_wanted(gc, gen, epoch)) {
        /* A candidate (this scan's epoch) keeps its index; anything else
         * gets the epoch with index 0. */
        uint64_t want = (gc & COG_GC_EPOCH_MASK) == epoch
                            ? gc | COG_GC_DIRTY
                            : (gc & ~COG_GC_STAMP_MASK) | epoch | COG_GC_DIRTY;
        if (atomic_compare_exchange_weak_explicit(&o->ob_gc, &gc, want, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

/* The acquire load of the mode pairs with the collector's stores: the one
 * that opens the window (a stamp we found was written after it, and the
 * DEAD RMW that returned the stamp is acquire, the stamping CAS release)
 * and the one that closes it (after its last read of any block, so a
 * closed window means the block is ours again). */
int cog_gc_must_defer(uint64_t gc_at_death) {
    if (cog__gc_release_own) return 0; /* the collector freeing garbage */
    int mode = atomic_load_explicit(&cog__gc_barrier, memory_order_acquire);
    if (mode == COG_WINDOW_CLOSED) return 0;
    if (mode == COG_WINDOW_INSPECT) return 1;
    return cog_gc_is_candidate(gc_at_death,
                               atomic_load_explicit(&cog__gc_scan_epoch, memory_order_relaxed));
}

/* Each attached thread keeps two lists, each for the windows up to its
 * tag; a block deferred while both hold other windows joins the newer
 * one (its tag only grows: a later release is always safe). Owner-only,
 * plain pointers. */
typedef struct own_deferred {
    cog_object *head;
    uint64_t tag;
} own_deferred;
static __thread own_deferred own[2] __attribute__((tls_model("initial-exec")));

static void push(cog_object **head, cog_object *o) {
    atomic_store_explicit(&o->ob_ref_shared, cog_link_encode(*head), memory_order_relaxed);
    *head = o;
}

/* Treiber push onto the shared list. Release publishes the block's
 * contents (ob_type, for its size) to the collector's acquire exchange in
 * cog_gc_release_shared_deferred. There is no pop of single elements, so no ABA. */
static void push_shared(cog_object *first, cog_object *last) {
    cog_object *head = atomic_load_explicit(&shared_deferred, memory_order_relaxed);
    do {
        atomic_store_explicit(&last->ob_ref_shared, cog_link_encode(head), memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&shared_deferred, &head, first,
                                                    memory_order_release, memory_order_relaxed));
}

void cog_gc_defer_block(cog_object *o) {
    if (!cog_tstate_current()) {
        push_shared(o, o);
        return;
    }
    /* The window that made us defer is the latest opened (its opening
     * store is ordered before our decision, see cog_gc_must_defer). */
    uint64_t tag = atomic_load_explicit(&cog__gc_window_seq, memory_order_relaxed);
    own_deferred *d = own[0].tag == tag || !own[0].head ? &own[0]
                    : own[1].tag == tag || !own[1].head ? &own[1]
                    : own[0].tag > own[1].tag ? &own[0] : &own[1];
    if (tag > d->tag) d->tag = tag;
    push(&d->head, o);
}

static void release_chain(cog_object *o) {
    while (o) {
        cog_object *next = cog_gc_deferred_next(o);
        cog_object_free_block(o);
        o = next;
    }
}

void cog_gc_release_deferred(void) {
    if (!own[0].head && !own[1].head) return;
    uint64_t done = atomic_load_explicit(&cog__gc_window_done, memory_order_acquire);
    for (int i = 0; i < 2; i++) {
        if (!own[i].head || own[i].tag > done) continue;
        cog_object *chain = own[i].head;
        own[i].head = NULL;
        release_chain(chain);
    }
}

void cog_gc_deferred_thread_exit(void) {
    cog_gc_release_deferred();
    for (int i = 0; i < 2; i++) {
        cog_object *first = own[i].head, *last = first;
        if (!first) continue;
        own[i].head = NULL;
        while (cog_gc_deferred_next(last)) last = cog_gc_deferred_next(last);
        push_shared(first, last);
    }
}

void cog_gc_inbox_push(cog_tstate *ts, cog_gc_batch *b) {
    cog_gc_batch *head = atomic_load_explicit(&ts->gc_inbox, memory_order_relaxed);
    do {
        b->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&ts->gc_inbox, &head, b, memory_order_release,
                                                    memory_order_relaxed));
}

/* Batches taken from the inbox and not yet freed, and how far the
 * oldest one has got (owner-only). */
static __thread cog_gc_batch *taken __attribute__((tls_model("initial-exec")));
static __thread size_t taken_at __attribute__((tls_model("initial-exec")));
static __thread int taken_phase __attribute__((tls_model("initial-exec")));

int cog_gc_inbox_pending(const cog_tstate *ts) {
    return taken || atomic_load_explicit(&((cog_tstate *)ts)->gc_inbox, memory_order_relaxed);
}

/* A batch is one collection's garbage, closed under references: nothing
 * outside it can reach its objects, and no other thread will free any of
 * them. It is freed as the collector's clear_garbage
 * frees: first each object not ours already is adopted (its whole count
 * becomes our biased local count, cog_brc_adopt_unreachable, under its
 * owner's merge_lock) and we take a reference to it (none is freed while
 * its neighbours still point at it; an owner increment, which takes no
 * lock, so it may run under the merge_lock as in the collector's
 * clear_garbage), then each clear with the exclusive-take rule of
 * cog_ref_take, then the references go and reference counting frees
 * everything on our owner fast paths (blocks of other threads' pools go
 * back to them as remote frees). Three passes, not four: each pass reads
 * every header of a batch that may not fit in the cache. The passes may
 * each stop and resume at a later safe point, so the time between
 * quiescent states stays bounded: until the last pass every object is
 * still held, by us or (not yet adopted) by the garbage itself. */
enum { PASS_ADOPT_HOLD, PASS_CLEAR, PASS_DROP };

static size_t advance(cog_gc_batch *b, size_t budget) {
    size_t done = 0;
    cog_brc_adopter adopter = {0};
    for (; taken_at < b->n && done < budget; taken_at++, done++) {
        cog_object *o = b->obj[taken_at];
        /* Each pass reads and writes every header of a batch that may be
         * bigger than the cache (lib/base/prefetch.h). */
        cog_prefetch_ahead(b->obj, taken_at, b->n, 1);
        if (taken_phase == PASS_ADOPT_HOLD) {
            cog_brc_adopt_unreachable(&adopter, o);
            cog_incref(o);
        } else if (taken_phase == PASS_CLEAR) {
            if (!o->ob_type->clear) continue;
            cog_clear_garbage_object(o);
        } else {
            cog_decref(o);
        }
    }
    /* No merge_lock is held past this call: a safe point may come next. */
    cog_brc_adopt_done(&adopter);
    return done;
}

size_t cog_gc_inbox_process(size_t budget) {
    cog_tstate *ts = cog_tstate_current();
    if (!ts) return 0;
    if (atomic_load_explicit(&ts->gc_inbox, memory_order_relaxed)) {
        /* Acquire pairs with the collector's release push: the batches and
         * the flags it set on their objects are visible. Appended after
         * the batch in progress, oldest first. */
        cog_gc_batch *b = atomic_exchange_explicit(&ts->gc_inbox, NULL, memory_order_acquire);
        cog_gc_batch *fifo = NULL;
        while (b) {
            cog_gc_batch *next = b->next;
            b->next = fifo;
            fifo = b;
            b = next;
        }
        cog_gc_batch **end = &taken;
        while (*end) end = &(*end)->next;
        *end = fifo;
    }
    size_t done = 0;
    while (taken && done < budget) {
        cog_gc_batch *b = taken;
        done += advance(b, budget - done);
        if (taken_at < b->n) break;
        taken_at = 0;
        if (taken_phase++ < PASS_DROP) continue;
        taken_phase = PASS_ADOPT_HOLD;
        taken = b->next;
        free(b);
    }
    return done;
}

void cog_gc_release_shared_deferred(void) {
    release_chain(atomic_exchange_explicit(&shared_deferred, NULL, memory_order_acquire));
}

cog_object *cog_gc_deferred_next(cog_object *o) {
    return cog_link_decode(atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed));
}

void cog_gc_set_pace_hook(int (*hook)(int how)) {
    atomic_store_explicit(&pace_hook, hook, memory_order_release);
}

/* Whether this thread is one of pacing's assistants (collector/gc_pacing.c
 * keeps the list; this keeps other safe points off its lock). */
static __thread int assisting __attribute__((tls_model("initial-exec")));

static void call_pace_hook(int how) {
    int (*hook)(int) = atomic_load_explicit(&pace_hook, memory_order_acquire);
    assisting = hook ? hook(how) : 0;
}

/* Two relaxed loads; both values are heuristics (see gc_pacing.c). */
void cog_gc_maybe_pace(void) {
    int over = atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed) >
               atomic_load_explicit(&cog__gc_pace_limit, memory_order_relaxed);
    if (over || assisting) call_pace_hook(over);
}

void cog_gc_pace_thread_exit(void) {
    if (assisting) call_pace_hook(-1);
}

void cog_gc_set_wakeup_hook(void (*hook)(void)) {
    atomic_store_explicit(&wakeup_hook, hook, memory_order_release);
}

/* Each thread batches (allocations - deallocations) of tracked objects and
 * adds them to the global counter every COG_GC_COUNT_BATCH, at safe points
 * and when it detaches: threads allocating in parallel then
 * share the counter's cache line once per batch, not once per object. The
 * counter is a heuristic trigger, so relaxed RMWs suffice (it only must not
 * tear); a thread's unflushed batch is at most COG_GC_COUNT_BATCH off. */
#define COG_GC_COUNT_BATCH 64
static __thread long young_batch __attribute__((tls_model("initial-exec")));

static void wake(void) {
    void (*hook)(void) = atomic_load_explicit(&wakeup_hook, memory_order_acquire);
    if (hook) hook();
}

static void flush_young(void) {
    long delta = young_batch;
    young_batch = 0;
    long n = atomic_fetch_add_explicit(&cog__gc_young_count, delta, memory_order_relaxed) + delta;
    if (delta <= 0) return;
    if (n > atomic_load_explicit(&cog__gc_young_threshold, memory_order_relaxed) &&
        !atomic_load_explicit(&cog__gc_requested, memory_order_relaxed) &&
        !atomic_exchange_explicit(&cog__gc_requested, 1, memory_order_relaxed))
        wake();
    /* A collector holding back for its duty cap is woken once when the
     * count passes the bound at which the cap gives way. */
    else if (n > atomic_load_explicit(&cog__gc_wake_above, memory_order_relaxed) &&
             atomic_exchange_explicit(&cog__gc_wake_above, LONG_MAX, memory_order_relaxed) !=
                 LONG_MAX)
        wake();
}

void cog_gc_note_alloc(void) {
    if (++young_batch >= COG_GC_COUNT_BATCH) flush_young();
}

void cog_gc_note_dealloc(void) {
    if (--young_batch <= -COG_GC_COUNT_BATCH) flush_young();
}

void cog_gc_flush_young(void) {
    if (young_batch) flush_young();
}

long cog_gc_young_unflushed(void) { return young_batch; }
