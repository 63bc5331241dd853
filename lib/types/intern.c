/* lib/types/intern.c - the lock-free string intern table (liburcu cds_lfht).
 *
 * Protocol (see docs/types.md "Intern table"):
 *   - every canonical string is created MERGED (cog_brc_explicit_merge by
 *     its creating owner before it is published), so its whole count is in
 *     the shared field plus, for mortal strings, per-thread deferred deltas
 *     ("Deferred counts" below): any thread can take a reference exactly
 *     (canonical_acquire), which fails only once the string is DEAD;
 *   - lookup: under cog_rcu_read_lock, cds_lfht_lookup, then
 *     canonical_acquire on the string found. Its memory is valid: the
 *     interned type is COG_TYPE_DEFER_FREE, so the block is released a grace
 *     period after its dealloc unlinked it, and we are inside a read-side
 *     section;
 *   - a string found DEAD (canonical_acquire failed) is about to unlink
 *     itself; we never resurrect it. Instead we cds_lfht_replace it with a
 *     fresh canonical string (its own later cds_lfht_del then fails
 *     harmlessly); if the replace fails it was unlinked meanwhile and we
 *     look again;
 *   - insertion uses cds_lfht_add_unique; if another thread won, we loop
 *     back to the lookup step with its node (which may itself be dead).
 * TSan cannot see liburcu's publication barriers: we release the string
 * before publishing it and acquire it in the match function, which is
 * exactly the rcu_assign_pointer/rcu_dereference edge cds_lfht provides.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cog/intern.h"
#include "cog/runtime.h"
#include "cog/tryincref.h"
#include "lib/core/brc.h"
#include "lib/base/error.h"
#include "lib/core/object_internal.h"
#include "lib/types/str_internal.h"
#include "lib/core/thread.h"
#include "lib/types/types_internal.h"

#define INITIAL_BUCKETS 1024

/* Pull lib/types_init.o (which registers the init/shutdown hooks) into any
 * program that uses the intern table: lib is a static library. */
static const int *const types_anchor __attribute__((used)) = &cog__types_anchor;

static _Atomic(struct cds_lfht *) table;
static atomic_long count;
/* Bucket count we asked for (the table is resized by us, not by liburcu's
 * auto-resize worker: that worker's completion handshake is invisible to
 * TSan and raced at cds_lfht_destroy). One resizer at a time. */
static atomic_ulong buckets;
static atomic_int resizing;

/* Per-thread counters indexed by thread id: an id belongs to one attached
 * thread at a time (reuse after detach is ordered by the registry lock), so
 * each slot has a single writer and a relaxed load+store suffices (no RMW,
 * no shared cache line on the hit path). Readers sum relaxed loads. A hit
 * bumps only `lookups`; the rare calls that do not find a live string bump
 * `misses`, and hits = lookups - misses. */
static struct {
    _Alignas(64) atomic_ulong lookups;
    atomic_ulong misses;
} stats[COG_MAX_THREADS];

/* Review states of a canonical string and the reviews in flight: see
 * "Deferred counts" below. */
enum { RV_IDLE = 0, RV_QUEUED = 1, RV_AGAIN = 2 };

/* Reviews requested and not finished (cog_str_intern_sync waits for 0). */
static atomic_long reviews_inflight;
static void flush_one(cog_str *s);

static inline void bump(atomic_ulong *c) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* ---- The lookaside ("hint") array --------------------------------------
 * The lfht is the table: it alone decides uniqueness (add_unique/replace)
 * and membership. In front of it sits a lock-free, read-mostly cache of
 * pointers to canonical strings, so that a hit costs one cache line of
 * hints plus the string itself instead of lfht's bit-reversed bucket
 * lookup, split-ordered walk and indirect match callback. It is a pure
 * accelerator: an entry is only a hint, verified on every use against the
 * string's own bytes and confirmed by canonical_acquire; a hint that is
 * missing, stale or torn just sends the lookup to the lfht.
 *
 * Layout: 4-way sets of {hash, str} entries, one cache line per set, set
 * index = hash & mask. Invariants (docs/types.md "Intern table"):
 *  (H1) only a thread that HOLDS a reference to a canonical string stores it
 *       into an entry (hint_put, before intern returns that reference);
 *  (H2) the string's dealloc clears every entry of its set in the CURRENT
 *       array that still points at it (hint_drop, in cog__intern_unlink),
 *       before its block's deferred free is queued;
 *  (H3) an array replaced by a bigger one (or at shutdown) is freed only
 *       after a grace period, and new arrays start empty (nothing is copied,
 *       so no entry is ever written without (H1)).
 * Why a reader never dereferences freed memory: by (H1) every store of s
 * happens-before s's death, the review's CAS to DEAD ("Deferred counts"
 * below): the storing thread still held its reference, and that reference
 * was dropped either by an RMW on the shared count (acq_rel, in the release
 * sequence that the acq_rel DEAD CAS reads after) or by a -1 in the
 * thread's own delta cache, which is then cancelled or flushed before the
 * thread's next quiescent state, and that state precedes the end of the
 * grace period the DEAD CAS waited for. Hence the store happens-before
 * (H2)'s clearing CAS, which by coherence sees that store (or a later
 * value). So after (H2) the
 * current array no longer leads to s, and s is freed a grace period later:
 * a reader that could still load s from any array was inside a read-side
 * section that began before that grace period (a reader starting later
 * loads the hints pointer after (H2) and sees the current array or a newer
 * one, empty of s: publication is release/acquire and the grace period is a
 * full barrier). A stale array (H3) is reachable only from read sections
 * that began before it was replaced, which its own grace period covers.
 * Why a hit returns THE canonical string: a string entered the hints only
 * while live and linked; a string that is not DEAD is never unlinked (only
 * its dealloc after DEAD, a replace that found it DEAD, or shutdown unlink
 * it), and canonical_acquire fails exactly when it is DEAD (NORMAL counts,
 * tentative zeros included, are incremented; DYING is revived; DEAD is
 * terminal). So "bytes equal and canonical_acquire succeeded" implies it is
 * the linked canonical one.
 * Ordering of an entry's two words: the writer stores hash (relaxed) then
 * str (release); the reader loads hash (relaxed, a filter only) then str
 * (acquire), which makes the string's bytes, written before the writer
 * obtained it, visible (release/acquire chain from its creator). A torn pair
 * fails verification and falls back to the lfht. */
#define HINT_WAYS 4

typedef struct hint_entry {
    _Atomic uint64_t hash;
    _Atomic(cog_str *) str;
} hint_entry;

typedef struct hint_set {
    _Alignas(64) hint_entry e[HINT_WAYS];
} hint_set;

typedef struct hint_table {
    cog_rcu_head head; /* freed after a grace period (H3) */
    uint64_t mask;     /* sets - 1 */
    hint_set *sets;
} hint_table;

static _Atomic(hint_table *) hints;
/* Victim choice when a set is full: a per-thread rotating counter. */
static __thread unsigned hint_victim;

static hint_table *hint_table_new(unsigned long buckets) {
    /* One set (4 entries, 64 bytes) per bucket: the lfht holds 0.5..2
     * strings per bucket, so a set holds as many on average. Strings that
     * do not fit their set still hit, through the lfht: ~4% of them at the
     * worst load (Poisson(2)), ~0.4% at 1 per set. (Half a set per bucket
     * sent 5% of the benchmark's hits to the lfht.) */
    unsigned long nsets = buckets;
    hint_table *ht = malloc(sizeof *ht);
    if (!ht) return NULL;
    ht->sets = aligned_alloc(64, nsets * sizeof(hint_set));
    if (!ht->sets) {
        free(ht);
        return NULL;
    }
    memset(ht->sets, 0, nsets * sizeof(hint_set));
    ht->mask = nsets - 1;
    return ht;
}

static void hint_table_free_cb(cog_rcu_head *head) {
    hint_table *ht = (hint_table *)head;
    free(ht->sets);
    free(ht);
}

/* Publish a new array (release: its zeroed sets are visible to acquirers)
 * and retire the old one after a grace period (H3). */
static void hint_table_swap(hint_table *nt) {
    hint_table *old = atomic_exchange_explicit(&hints, nt, memory_order_acq_rel);
    if (old) cog_rcu_call(&old->head, hint_table_free_cb);
}

/* Lock-free hit path: a new reference to the canonical string equal to
 * (s, len) with hash h, or NULL if the hints do not have a live one. Runs in
 * the caller's read-side section. */
static inline cog_str *hint_get(const char *s, size_t len, uint64_t h);

/* Remember c (the caller holds a reference to it: (H1)). */
static void hint_put(cog_str *c, uint64_t h) {
    hint_table *ht = atomic_load_explicit(&hints, memory_order_acquire);
    if (!ht) return;
    hint_set *set = &ht->sets[h & ht->mask];
    int victim = -1;
    for (int i = 0; i < HINT_WAYS; i++) {
        cog_str *x = atomic_load_explicit(&set->e[i].str, memory_order_relaxed);
        if (x == c) return;
        if (!x && victim < 0) victim = i;
    }
    if (victim < 0) victim = (int)(hint_victim++ % HINT_WAYS);
    atomic_store_explicit(&set->e[victim].hash, h, memory_order_relaxed);
    atomic_store_explicit(&set->e[victim].str, c, memory_order_release);
}

/* (H2): s is dead (its dealloc is running); no thread can store it again. */
static void hint_drop(cog_str *s) {
    hint_table *ht = atomic_load_explicit(&hints, memory_order_acquire);
    if (!ht) return;
    uint64_t h = atomic_load_explicit(&s->hash, memory_order_relaxed);
    hint_set *set = &ht->sets[h & ht->mask];
    for (int i = 0; i < HINT_WAYS; i++) {
        cog_str *expect = s;
        atomic_compare_exchange_strong_explicit(&set->e[i].str, &expect, NULL,
                                                memory_order_relaxed, memory_order_relaxed);
    }
}

typedef struct intern_key {
    const char *s;
    size_t len;
} intern_key;

static int match(struct cds_lfht_node *node, const void *k) {
    const intern_key *key = k;
    cog_tsan_acquire(node); /* pairs with publish(): see header comment */
    cog_str *s = ((intern_node *)node)->str;
    return s->ob.ob_size == key->len && cog__bytes_equal(s->data, key->s, key->len);
}

static void publish(cog_str *s) { cog_tsan_release(cog__str_node(s)); }

int cog__intern_init(void) {
    struct cds_lfht *t = cds_lfht_new_flavor(INITIAL_BUCKETS, INITIAL_BUCKETS, 0,
                                             CDS_LFHT_ACCOUNTING, &urcu_qsbr_flavor, NULL);
    if (!t) return cog_error(COG_ENOMEM, "cog_init: cannot create the intern table");
    hint_table *ht = hint_table_new(INITIAL_BUCKETS);
    if (!ht) {
        cds_lfht_destroy(t, NULL);
        return cog_error(COG_ENOMEM, "cog_init: cannot create the intern table");
    }
    atomic_store_explicit(&hints, ht, memory_order_release);
    atomic_store(&count, 0);
    atomic_store(&buckets, INITIAL_BUCKETS);
    atomic_store(&resizing, 0);
    atomic_store(&reviews_inflight, 0);
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        atomic_store_explicit(&stats[i].lookups, 0, memory_order_relaxed);
        atomic_store_explicit(&stats[i].misses, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&table, t, memory_order_release);
    return COG_OK;
}

typedef struct immortal_free {
    cog_rcu_head head;
    cog_object *o;
} immortal_free;

static void free_immortal_cb(cog_rcu_head *head) {
    immortal_free *f = (immortal_free *)head;
    cog_object_free_block(f->o);
    free(f);
}

/* Runs in cog_shutdown with no other user thread attached. Immortal strings
 * are released after the final grace period (nobody may use them after
 * cog_shutdown); mortal ones still referenced are unlinked and stay the
 * holders' responsibility (their dealloc then finds them unlinked). */
void cog__intern_shutdown(void) {
    if (!atomic_load_explicit(&table, memory_order_acquire)) return;
    /* Settle the deferred counts first: our own deltas (every other thread
     * has detached, which flushed its), then every pending review, which
     * needs the table. Afterwards no delta is left anywhere, so strings
     * unlinked below are plain merged strings (state FRESH). */
    cog__intern_flush_if_dirty();
    while (atomic_load_explicit(&reviews_inflight, memory_order_acquire) > 0) cog_rcu_barrier();
    /* And drop our cache: its tags would otherwise route decrefs of strings
     * this thread still holds into it after they became plain (FRESH). */
    cog__intern_thread_detach();
    struct cds_lfht *t = atomic_exchange_explicit(&table, NULL, memory_order_acq_rel);
    if (!t) return;
    /* Before any string is released below: no lookup may find one through
     * the hints any more; the array itself goes after a grace period. */
    hint_table_swap(NULL);
    struct cds_lfht_iter iter;
    struct cds_lfht_node *node;
    cog_rcu_read_lock();
    cds_lfht_for_each(t, &iter, node) {
        cog_str *s = ((intern_node *)node)->str;
        if (cds_lfht_del(t, node) != 0) continue;
        atomic_fetch_sub(&count, 1);
        if (atomic_exchange(&s->state, STR_FRESH) == STR_IMMORTAL) {
            immortal_free *f = malloc(sizeof *f);
            if (!f) continue; /* leak it rather than free it early */
            f->o = &s->ob.ob_base;
            cog_rcu_call(&f->head, free_immortal_cb);
        }
    }
    cog_rcu_read_unlock();
    if (cds_lfht_destroy(t, NULL) != 0) cog_fatal("intern table not empty at shutdown");
}

/* A fresh canonical string: merged so try-incref on it is exact. */
static cog_str *make_canonical(const char *s, size_t len, uint64_t h) {
    cog_str *str = cog__str_alloc(&cog__str_interned_type, len);
    if (!str) return NULL;
    if (len) memcpy(str->data, s, len);
    atomic_store_explicit(&str->hash, h, memory_order_relaxed);
    atomic_store_explicit(&str->state, STR_FRESH, memory_order_relaxed);
    intern_node *n = cog__str_node(str);
    memset(n, 0, sizeof *n); /* past the data: not zeroed by cog__str_alloc */
    cds_lfht_node_init(&n->node);
    n->str = str;
    atomic_store_explicit(&n->review_state, RV_IDLE, memory_order_relaxed);
    /* We are the owner (just allocated it): merging is legal here. */
    cog_brc_explicit_merge(&str->ob.ob_base, 0);
    return str;
}

/* Drop a fresh string that never got into the table. Its state is FRESH,
 * so its dealloc does not touch the table. */
static void discard(cog_str *s) {
    if (s) cog_decref(&s->ob.ob_base);
}

static void make_immortal(cog_str *s) {
    /* Settle our deferred count first: the reference we keep forever is
     * then counted in S itself, so no review can take S to DEAD (a review
     * in flight finds S > 0, or DYING with our +1 in it, and backs off). */
    flush_one(s);
    /* The caller keeps the reference it holds forever, so the count can
     * never reach 0 even though decrefs that read ob_ref_local before this
     * store still decrement the shared count; later ones see IMMORTAL and do
     * nothing. Nobody else writes ob_ref_local of a merged object. */
    atomic_store_explicit(&s->ob.ob_base.ob_ref_local, COG_IMMORTAL, memory_order_relaxed);
    atomic_store_explicit(&s->state, STR_IMMORTAL, memory_order_relaxed);
}

/* Keep chains short: grow x4 when there are more than 2 strings per bucket.
 * Called outside our read-side section: cds_lfht_resize waits for grace
 * periods (liburcu takes a QSBR caller offline while it waits). The caller
 * holds only references, no RCU-protected pointers. */
static void maybe_grow(struct cds_lfht *t) {
    unsigned long b = atomic_load_explicit(&buckets, memory_order_relaxed);
    if ((unsigned long)atomic_load_explicit(&count, memory_order_relaxed) <= 2 * b) return;
    if (atomic_exchange_explicit(&resizing, 1, memory_order_acquire)) return;
    b = atomic_load_explicit(&buckets, memory_order_relaxed);
    if ((unsigned long)atomic_load_explicit(&count, memory_order_relaxed) > 2 * b) {
        /* liburcu takes us offline while it waits: flush first (lib/base/rcu.h). */
        cog__intern_flush_if_dirty();
        cds_lfht_resize(t, b * 4);
        atomic_store_explicit(&buckets, b * 4, memory_order_relaxed);
        /* Fresh, empty hints sized for the new table (H3); they refill on
         * lfht hits. If the allocation fails the old array stays (correct,
         * only more crowded). */
        hint_table *ht = hint_table_new(b * 4);
        if (ht) hint_table_swap(ht);
    }
    atomic_store_explicit(&resizing, 0, memory_order_release);
}

/* ---- Deferred counts ----------------------------------------------------
 * A mortal hit used to cost two atomic RMWs on the string's shared count
 * (try-incref, then the caller's decref), so the string's header line moved
 * between cores on nearly every cross-thread hit. Instead, as in RadixVM's
 * Refcache (Clements et al., EuroSys 2013) adapted to a weak table with QSBR
 * grace periods, a hit only READS the shared count S and adds +1 to a
 * per-thread delta; the true count is R(s) = S(s) + sum over threads of
 * delta_t(s). (docs/types.md "Intern table" has the same argument.)
 *
 * Shared count states of a mortal canonical string (count = S >> 2, flags
 * stay MERGED in every state):
 *   NORMAL  count > DYING_MAX: alive. count <= 0 is possible and is only a
 *           TENTATIVE zero (unflushed deltas may hold references);
 *   DYING   DEAD_MAX < count <= DYING_MAX: a review moved an exact 0 to
 *           -DYING_BIAS and waits a grace period; flushes and increments
 *           just add to it, a hit REVIVES it with one CAS;
 *   DEAD    count <= DEAD_MAX (stored as DEAD_COUNT): terminal; the string
 *           is unlinked and freed a grace period later.
 *
 * Per-thread cache: a direct-mapped TLS array of {s, delta} keyed by the
 * pointer, used only by attached threads. Hits (canonical_acquire) add +1;
 * cog_decref (cog__intern_decref) adds -1 when the slot holds s, else does
 * an atomic decrement. A slot holding another string with delta != 0 is
 * flushed before reuse. Deltas are flushed (atomic add to S) before EVERY
 * quiescent state or offline period of the thread (lib/base/rcu.h wrappers, and
 * before cds_lfht_resize), and at detach; so no non-zero delta survives a
 * quiescent state, and a slot's pointer with delta 0 is just a tag (it may
 * name freed memory: it is compared, never dereferenced).
 *
 * Whoever takes S to count <= 0 in the NORMAL zone (an atomic decrement, a
 * flush, a revive) does NOT deallocate: it requests a REVIEW (at most one in
 * flight per string; a request during one sets RV_AGAIN and the review runs
 * once more). Reviews run as cog_rcu_call callbacks (liburcu's call_rcu
 * thread, online; they run no user code and take no lock mutators hold):
 *   step 1, a grace period after the request: if count == 0 exactly, CAS it
 *           to -DYING_BIAS (DYING) and queue step 2; otherwise done (a later
 *           change to <= 0 requests a new review);
 *   step 2, a grace period after the DYING CAS: if S == -DYING_BIAS exactly,
 *           CAS it to DEAD and deallocate (unlink, hints, deferred free: the
 *           ordinary interned dealloc). If S is DYING but not exactly that,
 *           CAS the bias back out (count -= -DYING_BIAS); if that leaves
 *           count <= 0, review again. If S is NORMAL it was revived: done.
 *
 * Why step 2 never frees a string someone holds (all S updates are RMWs,
 * totally ordered; the grace-period facts are QSBR's: a read-side section
 * not waited for by a grace period began after it started and sees every
 * write made before it started):
 *   - positive deltas only come from hits. A hit that read S before the
 *     DYING CAS ran in a read-side section that began before step 2's grace
 *     period started (that period starts after the CAS; a section beginning
 *     later would have read DYING). So the section ended, at a quiescent
 *     state preceded by the flush of that +1, before the period ended: the
 *     +1 is in S when step 2 reads it, and S != -DYING_BIAS unless a
 *     matching -1 was applied as well (then that reference is gone);
 *   - a hit that reads S after the DYING CAS revives with a CAS, totally
 *     ordered with step 2's CAS: either the revive comes first (S leaves
 *     DYING, step 2 sees it) or step 2 comes first (the revive sees DEAD
 *     and fails: the lookup treats it as a miss);
 *   - increments by holders (cog_incref) are atomic and land in S;
 *   - negative unflushed deltas only make S over-estimate R: the string
 *     lives longer (until they are flushed and reviewed), never shorter.
 *   So at step 2, S == -DYING_BIAS means no reference exists and none can
 *   be created (a lookup must revive, which fails against DEAD): R == 0.
 *   Step 1's grace period is not needed for safety; it lets the deltas
 *   that caused the tentative zero be flushed first, so that a string
 *   whose count only looked like 0 is not moved to DYING and back.
 * Ordering for the free itself: every access a holder made to s happens-
 * before the DEAD CAS: its reference was dropped by an RMW on S (acq_rel,
 * in S's release sequence, which the acq_rel DEAD CAS reads after), or the
 * +1 and -1 cancelled in its cache before its next quiescent state, which
 * precedes the end of step 2's grace period (cog_rcu_quiescent releases
 * cog_rcu_hb_token, callbacks acquire it: the same edge for TSan).
 * canonical_acquire / cog__intern_try_incref in each state: NORMAL
 * increments (the cache, or an atomic add), DYING revives, DEAD fails. So a
 * lookup fails on a string exactly when it is DEAD, which is what the hint
 * argument above relies on.
 *
 * Memory of s while a review is queued: only step 2 frees it, so a queued
 * review's head stays valid. A requester that just took S to <= 0 no longer
 * holds a reference, but it is inside a read-side section (attached threads
 * are online; unattached ones register first, see shared_decref_unattached),
 * and the death of s needs a grace period that began after its decrement,
 * plus another before the free. */
#define SHARED_ONE ((intptr_t)1 << COG_REF_SHARED_SHIFT)
#define DYING_BIAS ((intptr_t)1 << 40)
#define DYING_MAX (-((intptr_t)1 << 39)) /* count <= DYING_MAX: DYING or DEAD */
#define DEAD_MAX (-((intptr_t)1 << 58))  /* count <= DEAD_MAX: DEAD */
#define DEAD_COUNT (-((intptr_t)1 << 59))

static inline intptr_t enc_delta(intptr_t d) {
    return (intptr_t)((uintptr_t)d << COG_REF_SHARED_SHIFT); /* no UB for d < 0 */
}
static inline intptr_t enc(intptr_t count) { return enc_delta(count) | COG_REF_MERGED; }
static inline intptr_t cnt(intptr_t shared) { return shared >> COG_REF_SHARED_SHIFT; }

/* Atomic: tests set it while the call_rcu thread may be reading it. */
void (*_Atomic cog__intern_review_hook)(cog_str *s);

typedef cog__dslot dslot;
#define DCACHE_SLOTS COG__DCACHE_SLOTS
/* The array is on the heap (allocated by the thread's first hit, freed at
 * detach) and only its pointer is TLS: a large initial-exec TLS block would
 * make libcog.so fail to dlopen ("cannot allocate memory in static TLS
 * block"), and a dynamic TLS model would cost a call per access. */
__thread cog__dslot *cog__intern_dcache __attribute__((tls_model("initial-exec")));
#define dcache cog__intern_dcache
__thread unsigned cog__intern_dirty __attribute__((tls_model("initial-exec")));
#define dslot_in cog__dslot_in
#define dslot_add cog__dslot_add

static void review_step1(cog_rcu_head *h);

/* cog_rcu_call and cds_lfht_del need a registered liburcu reader, online:
 * attached threads are, and so is the call_rcu thread (which runs the
 * reviews). An unattached thread registers for the duration; reader_enter
 * nests (a temporary reader may queue a review or unlink). */
static __thread int temp_reader;

static int reader_enter(void) {
    if (temp_reader || cog_thread_is_attached() || cog_rcu_in_callback()) return 0;
    urcu_qsbr_register_thread();
    temp_reader = 1;
    return 1;
}

static void reader_leave(int reg) {
    if (!reg) return;
    cog_rcu_offline();
    urcu_qsbr_unregister_thread();
    temp_reader = 0;
}

static void review_queue(intern_node *n, void (*fn)(cog_rcu_head *)) {
    int reg = reader_enter();
    cog_rcu_call(&n->review, fn);
    reader_leave(reg);
}

/* S just reached count <= 0 (NORMAL zone). RMWs on review_state (acq_rel)
 * are totally ordered: a request either starts a review (IDLE -> QUEUED) or
 * is seen by the running one when it tries QUEUED -> IDLE (it finds AGAIN
 * and reviews once more), so no tentative zero goes unreviewed. */
static void review_request(cog_str *s) {
    intern_node *n = cog__str_node(s);
    unsigned st = atomic_load_explicit(&n->review_state, memory_order_relaxed);
    for (;;) {
        if (st == RV_AGAIN) return;
        unsigned want = st == RV_IDLE ? RV_QUEUED : RV_AGAIN;
        if (atomic_compare_exchange_weak_explicit(&n->review_state, &st, want,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            if (st == RV_IDLE) {
                atomic_fetch_add_explicit(&reviews_inflight, 1, memory_order_relaxed);
                review_queue(n, review_step1);
            }
            return;
        }
    }
}

/* The review of n is over (string alive): go idle, or review again if a
 * request came meanwhile (or `again`). Runs in a callback. */
static void review_done(intern_node *n, int again) {
    unsigned st = RV_QUEUED;
    if (!again && atomic_compare_exchange_strong_explicit(&n->review_state, &st, RV_IDLE,
                                                          memory_order_acq_rel,
                                                          memory_order_relaxed)) {
        /* Release: sync's acquire load of 0 sees this review's effects. */
        atomic_fetch_sub_explicit(&reviews_inflight, 1, memory_order_release);
        return;
    }
    atomic_store_explicit(&n->review_state, RV_QUEUED, memory_order_relaxed);
    cog_rcu_call(&n->review, review_step1);
}

static int is_immortal(cog_str *s) {
    return atomic_load_explicit(&s->ob.ob_base.ob_ref_local, memory_order_relaxed) ==
           COG_IMMORTAL;
}

static void review_step2(cog_rcu_head *h) {
    intern_node *n = caa_container_of(h, intern_node, review);
    cog_str *s = n->str;
    _Atomic intptr_t *S = &s->ob.ob_base.ob_ref_shared;
    /* Acquire (and acq_rel CASes): we read S after the holders' releasing
     * decrements and flushes (see the ordering argument above). */
    intptr_t v = atomic_load_explicit(S, memory_order_acquire);
    int again = 0;
    for (;;) {
        intptr_t c = cnt(v);
        if (c > DYING_MAX) break; /* revived */
        if (v == enc(-DYING_BIAS) && !is_immortal(s)) {
            if (atomic_compare_exchange_weak_explicit(S, &v, enc(DEAD_COUNT),
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
                /* DEAD: nobody holds it and no lookup can take it. The
                 * ordinary dealloc unlinks it, drops its hints (H2) and
                 * frees its block a grace period later. */
                cog_object_dealloc(&s->ob.ob_base);
                atomic_fetch_sub_explicit(&reviews_inflight, 1, memory_order_release);
                return;
            }
            continue;
        }
        /* DYING with flushed deltas or increments: take the bias back out. */
        if (atomic_compare_exchange_weak_explicit(S, &v, v + enc_delta(DYING_BIAS),
                                                  memory_order_acq_rel, memory_order_acquire)) {
            again = c + DYING_BIAS <= 0;
            break;
        }
    }
    review_done(n, again);
}

static void review_step1(cog_rcu_head *h) {
    intern_node *n = caa_container_of(h, intern_node, review);
    cog_str *s = n->str;
    _Atomic intptr_t *S = &s->ob.ob_base.ob_ref_shared;
    intptr_t v = atomic_load_explicit(S, memory_order_acquire);
    /* Only an exact 0 may start dying: a negative count means positive
     * deltas are still unflushed (their flush will request again). */
    while (v == enc(0) && !is_immortal(s)) {
        if (atomic_compare_exchange_weak_explicit(S, &v, enc(-DYING_BIAS), memory_order_acq_rel,
                                                  memory_order_acquire)) {
            void (*hook)(cog_str *) = atomic_load_explicit(&cog__intern_review_hook,
                                                           memory_order_acquire);
            if (hook) hook(s);
            cog_rcu_call(&n->review, review_step2);
            return;
        }
    }
    review_done(n, 0);
}

/* Add d to S (a flushed delta or an atomic decrement). acq_rel: a negative
 * d drops references, so it releases like brc's decrements, and the review
 * that later reads S acquires it. A result in the NORMAL zone at or below 0
 * requests a review. */
static void shared_add(cog_str *s, intptr_t d) {
    intptr_t old = atomic_fetch_add_explicit(&s->ob.ob_base.ob_ref_shared, enc_delta(d),
                                             memory_order_acq_rel);
#ifdef COG_DEBUG
    if (cnt(old) <= DEAD_MAX)
        cog_fatal("reference count of dead interned string %p changed (use after free)",
                  (void *)s);
#endif
    intptr_t c = cnt(old) + d;
    if (c <= 0 && c > DYING_MAX) review_request(s);
}

void cog__intern_flush(void) {
    /* Each slot is cleared before its add: the add may queue a review, and
     * nothing it calls flushes again, but a cleared slot is safe anyway. */
    dslot *c = dcache;
    for (unsigned i = 0; c && i < DCACHE_SLOTS && cog__intern_dirty; i++) {
        dslot *e = &c[i];
        intptr_t d = e->delta;
        if (!d) continue;
        e->delta = 0;
        cog__intern_dirty--;
        shared_add(e->s, d);
    }
}

/* Flush the calling thread's delta for s alone (make_immortal). */
static void flush_one(cog_str *s) {
    if (!dcache) return;
    dslot *e = dslot_in(dcache, s);
    if (e->s != s || !e->delta) return;
    intptr_t d = e->delta;
    e->delta = 0;
    cog__intern_dirty--;
    shared_add(s, d);
}

/* The calling thread's cache, allocated on its first hit. NULL if out of
 * memory: the hit then takes the atomic path. */
static __attribute__((noinline)) dslot *dcache_alloc(void) {
    dcache = calloc(DCACHE_SLOTS, sizeof(dslot));
    return dcache;
}

void cog__intern_thread_detach(void) {
    cog__intern_flush_if_dirty();
    free(dcache);
    dcache = NULL;
}

/* +1 in the calling thread's cache (hit path); 0 if there is no cache. */
static inline int dcache_inc(cog_str *s) {
    dslot *c = dcache;
    if (__builtin_expect(!c, 0) && !(c = dcache_alloc())) return 0;
    dslot *e = dslot_in(c, s);
    if (__builtin_expect(e->s != s, 0)) {
        if (e->delta) {
            cog_str *x = e->s;
            intptr_t d = e->delta;
            e->delta = 0;
            cog__intern_dirty--;
            shared_add(x, d);
        }
        e->s = s;
    }
    dslot_add(e, 1);
    return 1;
}

/* The atomic acquisition: NORMAL +1, DYING revive, DEAD fail. Relaxed CAS,
 * as cog_try_incref: it is totally ordered with step 2's CAS and with the
 * decrements, and the string's contents were published by the table. */
static int acquire_atomic(cog_str *s, intptr_t shared) {
    cog_object *o = &s->ob.ob_base;
    for (;;) {
        if ((shared & COG_REF_SHARED_FLAGS) != COG_REF_MERGED) return 0; /* never for these */
        intptr_t c = cnt(shared);
        if (c <= DEAD_MAX) return 0;
        intptr_t want = c > DYING_MAX ? shared + SHARED_ONE : shared + enc_delta(DYING_BIAS + 1);
        if (atomic_compare_exchange_weak_explicit(&o->ob_ref_shared, &shared, want,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            cog__gc_barrier_touch(o);
            /* Revived (or incremented) onto a tentative zero: review it. */
            if (cnt(want) <= 0) review_request(s);
            return 1;
        }
    }
}

int cog__intern_try_incref(cog_str *s) {
    cog_object *o = &s->ob.ob_base;
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == STR_IN_TABLE)
        return acquire_atomic(s, shared);
    /* Not (or no longer) in the table: plain merged counting, dead at 0. */
    for (;;) {
        if ((shared & COG_REF_SHARED_FLAGS) != COG_REF_MERGED || cnt(shared) <= 0) return 0;
        if (atomic_compare_exchange_weak_explicit(&o->ob_ref_shared, &shared,
                                                  shared + SHARED_ONE, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            cog__gc_barrier_touch(o);
            return 1;
        }
    }
}

/* The hit path's acquisition of a canonical string found in the table or
 * the hints (attached thread, inside a read-side section). Immortal: no
 * count. NORMAL: one relaxed LOAD of S and +1 in this thread's cache, no
 * write to the string (why that is enough: the argument above; the load
 * only has to tell NORMAL from DYING/DEAD, and coherence plus the grace
 * periods do the rest). Anything else goes to the atomic path. */
static inline int canonical_acquire(cog_str *s) {
    cog_object *o = &s->ob.ob_base;
    if (atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed) == COG_IMMORTAL) return 1;
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    /* No need to look at s->state: a string reachable from the table or
     * the hints is IN_TABLE, immortal (tested above) or DEAD (its count
     * says so: the unlink that makes it FRESH comes after DEAD). */
    if (__builtin_expect((shared & COG_REF_SHARED_FLAGS) == COG_REF_MERGED &&
                             cnt(shared) > DYING_MAX,
                         1)) {
        cog__gc_barrier_touch(o);
        if (__builtin_expect(dcache_inc(s), 1)) return 1;
    }
    return cog__intern_try_incref(s);
}

/* Atomic decrement by a thread that is not attached: it is no RCU reader,
 * so once its decrement may have made the count 0 (another thread's review
 * could then free the string) it must not touch the string again. So a
 * decrement that may reach 0 is done registered and inside a read-side
 * section, like cog__intern_unlink does. */
static void shared_decref_unattached(cog_str *s) {
    _Atomic intptr_t *S = &s->ob.ob_base.ob_ref_shared;
    intptr_t v = atomic_load_explicit(S, memory_order_relaxed);
    while (cnt(v) > 1 || (cnt(v) <= DYING_MAX && cnt(v) > DEAD_MAX)) {
        /* Cannot reach a NORMAL count <= 0: no review to request. acq_rel
         * as every decrement (lib/core/brc.c). */
        if (atomic_compare_exchange_weak_explicit(S, &v, v - SHARED_ONE, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return;
    }
    int reg = reader_enter();
    cog_rcu_read_lock();
    shared_add(s, -1);
    cog_rcu_read_unlock();
    reader_leave(reg);
}

void cog__intern_decref(cog_str *s) {
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != STR_IN_TABLE) {
        /* Never published (lost an insert race) or unlinked at shutdown: no
         * thread has a delta on it; plain merged counting. The state is
         * stable: we hold a reference, so s is not dying. */
        cog__decref_shared(&s->ob.ob_base);
        return;
    }
    if (cog_tstate_current()) {
        if (cog__intern_decref_cached(s)) return; /* plain: thread-local */
        shared_add(s, -1);
        return;
    }
    shared_decref_unattached(s);
}

/* Introspection: our own deltas are flushed first (so a single-threaded
 * caller sees the exact count); other threads' unflushed deltas are not
 * visible. Acquire, as brc's cog_refcount readers expect nothing more than
 * a recent value; DYING is decoded as the count it would be restored to. */
int64_t cog__intern_refcount(cog_str *s) {
    if (cog_tstate_current()) cog__intern_flush_if_dirty();
    intptr_t c = cnt(atomic_load_explicit(&s->ob.ob_base.ob_ref_shared, memory_order_acquire));
    if (c <= DEAD_MAX) return 0;
    if (c <= DYING_MAX) return c + DYING_BIAS;
    return c;
}

int cog_str_intern_sync(void) {
    if (!atomic_load_explicit(&table, memory_order_acquire))
        return cog_error(COG_ESTATE, "cog_str_intern_sync: runtime not initialised");
    cog_tstate *ts = cog_tstate_current();
    int was_online = ts && !ts->offline;
    /* Offline flushes our deltas (lib/base/rcu.h) and lets grace periods and
     * other threads' owner requests proceed while we wait. */
    if (was_online) cog_thread_offline();
    else cog__intern_flush_if_dirty();
    /* Step 1 of a review queued before us runs by the first barrier, its
     * step 2 by the second; reviews requested again meanwhile keep us
     * going until none is in flight. Acquire pairs with review_done. */
    int rounds = 0;
    do {
        cog_rcu_barrier();
        rounds++;
    } while (rounds < 2 || atomic_load_explicit(&reviews_inflight, memory_order_acquire) > 0);
    if (was_online) cog_thread_online();
    return COG_OK;
}

static inline cog_str *hint_get(const char *s, size_t len, uint64_t h) {
    hint_table *ht = atomic_load_explicit(&hints, memory_order_acquire);
    if (__builtin_expect(!ht, 0)) return NULL;
    hint_set *set = &ht->sets[h & ht->mask];
    /* Branch-free match of the 4 hashes: which way holds a string depends
     * on insertion history, so a loop that tests way by way mispredicts
     * (measured ~15% slower). Entries of equal hash are the same string
     * except for 64-bit collisions (or a torn pair), so the first match is
     * verified and anything else goes to the lfht. */
#define HINT_WAY_MATCH(i) \
    ((unsigned)(atomic_load_explicit(&set->e[i].hash, memory_order_relaxed) == h) << (i))
    _Static_assert(HINT_WAYS == 4, "unrolled for 4 ways");
    unsigned m = HINT_WAY_MATCH(0) | HINT_WAY_MATCH(1) | HINT_WAY_MATCH(2) | HINT_WAY_MATCH(3);
#undef HINT_WAY_MATCH
    if (!m) return NULL;
    int i = __builtin_ctz(m);
    cog_str *c = atomic_load_explicit(&set->e[i].str, memory_order_acquire);
    /* Bytes and length are immutable and the block is valid (see the proof
     * above), even if c died meanwhile: canonical_acquire decides. */
    if (c && c->ob.ob_size == len && cog__bytes_equal(c->data, s, len) && canonical_acquire(c))
        return c;
    return NULL;
}

/* The miss path: insert a fresh canonical string, or replace a dying one.
 * Called inside the read-side section with the result of the first lookup
 * in `iter`; returns a new reference or NULL (error set). Counts a miss
 * unless it ends up finding a live string after all, and sets *inserted when
 * it added a string (so the caller checks the table's load). */
static cog_str *intern_slow(struct cds_lfht *t, struct cds_lfht_iter *iter, const char *s,
                            size_t len, uint64_t h, intern_key *key, atomic_ulong *misses,
                            int *inserted, cog_str **leftover) {
    cog_str *fresh = NULL;
    cog_str *result = NULL;
    for (;;) {
        struct cds_lfht_node *node = cds_lfht_iter_get_node(iter);
        if (node) {
            cog_str *found = ((intern_node *)node)->str;
            if (canonical_acquire(found)) {
                *leftover = fresh;
                return found;
            }
            /* Dead: replace it instead of resurrecting it. */
            if (!fresh && !(fresh = make_canonical(s, len, h))) break;
            atomic_store_explicit(&fresh->state, STR_IN_TABLE, memory_order_relaxed);
            publish(fresh);
            if (cds_lfht_replace(t, iter, h, match, key, &cog__str_node(fresh)->node) == 0) {
                result = fresh;
                fresh = NULL;
                break;
            }
            atomic_store_explicit(&fresh->state, STR_FRESH, memory_order_relaxed);
        } else {
            if (!fresh && !(fresh = make_canonical(s, len, h))) break;
            /* IN_TABLE before publication: once linked, its dealloc must
             * unlink it (we hold its only reference until we return, so it
             * cannot die before we are done). */
            atomic_store_explicit(&fresh->state, STR_IN_TABLE, memory_order_relaxed);
            publish(fresh);
            struct cds_lfht_node *added =
                cds_lfht_add_unique(t, h, match, key, &cog__str_node(fresh)->node);
            if (added == &cog__str_node(fresh)->node) {
                atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
                *inserted = 1;
                result = fresh;
                fresh = NULL;
                break;
            }
            /* Lost the race (not linked: reusable without a grace period). */
            atomic_store_explicit(&fresh->state, STR_FRESH, memory_order_relaxed);
        }
        /* Replaced/unlinked meanwhile, or lost the insert race: look again. */
        cds_lfht_lookup(t, h, match, key, iter);
    }
    /* A leftover fresh string never got in (state FRESH): the caller drops
     * it after the read-side section; no grace period is needed for it. */
    *leftover = fresh;
    bump(misses);
    return result;
}

/* Everything except a hint hit: the lfht lookup, insert or replace, and
 * filling the hints. Out of line so that the hit path stays small. */
static __attribute__((noinline)) cog_str *intern_table(struct cds_lfht *t, const char *s,
                                                      size_t len, uint64_t h,
                                                      atomic_ulong *misses) {
    intern_key key = {s, len};
    struct cds_lfht_iter iter;
    cog_str *result, *leftover = NULL;
    int inserted = 0;
    cog_rcu_read_lock();
    cds_lfht_lookup(t, h, match, &key, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node && canonical_acquire(((intern_node *)node)->str))
        result = ((intern_node *)node)->str;
    else
        result = intern_slow(t, &iter, s, len, h, &key, misses, &inserted, &leftover);
    /* We hold a reference to result: (H1). */
    if (result) hint_put(result, h);
    cog_rcu_read_unlock();
    discard(leftover);
    if (inserted) maybe_grow(t); /* only inserts add load */
    return result;
}

static inline __attribute__((always_inline)) cog_object *intern(const char *s, size_t len,
                                                                int immortal) {
    struct cds_lfht *t = atomic_load_explicit(&table, memory_order_acquire);
    if (__builtin_expect(!t, 0))
        return cog_error(COG_ESTATE, "cog_str_intern: runtime not initialised"), NULL;
    cog_tstate *ts = cog_tstate_current();
    if (__builtin_expect(!ts, 0))
        return cog_error(COG_ENOTATTACHED, "cog_str_intern: calling thread is not attached"), NULL;
    uint32_t slot = ts->tid - 1;
    bump(&stats[slot].lookups);
    uint64_t h = cog__hash_bytes_inline(s, len);
    /* The hit path: no lock, no shared write but the string's count. */
    cog_rcu_read_lock();
    cog_str *result = hint_get(s, len, h);
    cog_rcu_read_unlock();
    if (__builtin_expect(!result, 0)) result = intern_table(t, s, len, h, &stats[slot].misses);
    /* We hold a reference, so the string cannot die under make_immortal. */
    if (result && immortal && !cog_is_immortal(&result->ob.ob_base)) make_immortal(result);
    return result ? &result->ob.ob_base : NULL;
}

cog_object *cog_str_intern(const char *s, size_t len) {
    if (!s && len) return cog_error(COG_EINVAL, "cog_str_intern: NULL bytes"), NULL;
    if (!cog__utf8_valid_fast((const unsigned char *)s, len))
        return cog_error(COG_EINVAL, "cog_str_intern: invalid UTF-8"), NULL;
    return intern(s, len, 0);
}

cog_object *cog_str_intern_immortal(const char *s, size_t len) {
    if (!s && len) return cog_error(COG_EINVAL, "cog_str_intern_immortal: NULL bytes"), NULL;
    if (!cog__utf8_valid_fast((const unsigned char *)s, len))
        return cog_error(COG_EINVAL, "cog_str_intern_immortal: invalid UTF-8"), NULL;
    return intern(s, len, 1);
}

cog_object *cog_str_intern_obj(cog_object *str) {
    if (!str || !cog_str_check(str))
        return cog_error(COG_EINVAL, "cog_str_intern_obj: not a str"), NULL;
    if (cog_str_is_interned(str)) {
        cog_incref(str);
        return str;
    }
    /* Already valid UTF-8. */
    return intern(cog_str_data(str), cog_str_len(str), 0);
}

/* Dealloc of an interned string (count 0). Only strings still marked
 * IN_TABLE are linked; a failing del means a lookup already replaced us. */
void cog__intern_unlink(cog_str *s) {
    unsigned st = atomic_exchange_explicit(&s->state, STR_FRESH, memory_order_relaxed);
    if (st != STR_IN_TABLE) return;
    struct cds_lfht *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t) return;
    /* cds_lfht_del needs a registered RCU reader; attached threads are.
     * An unattached thread dropping the last reference registers briefly;
     * the reviews (lib/types/intern.c "Deferred counts") run on liburcu's call_rcu
     * thread, which is registered and online already. */
    int reg = reader_enter();
    cog_rcu_read_lock();
    hint_drop(s); /* (H2): before the deferred free is queued */
    if (cds_lfht_del(t, &cog__str_node(s)->node) == 0)
        atomic_fetch_sub_explicit(&count, 1, memory_order_relaxed);
    cog_rcu_read_unlock();
    reader_leave(reg);
}

int cog_intern_get_stats(cog_intern_stats *out) {
    if (!out) return cog_error(COG_EINVAL, "cog_intern_get_stats: NULL");
    if (!atomic_load_explicit(&table, memory_order_acquire))
        return cog_error(COG_ESTATE, "cog_intern_get_stats: runtime not initialised");
    memset(out, 0, sizeof *out);
    long c = atomic_load_explicit(&count, memory_order_relaxed);
    out->count = c > 0 ? (uint64_t)c : 0;
    out->buckets = atomic_load_explicit(&buckets, memory_order_relaxed);
    uint64_t misses = 0;
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        out->lookups += atomic_load_explicit(&stats[i].lookups, memory_order_relaxed);
        misses += atomic_load_explicit(&stats[i].misses, memory_order_relaxed);
    }
    /* Each slot's misses never exceed its lookups (same writer, lookups
     * bumped first), but the two sums are not one snapshot: clamp. */
    out->hits = out->lookups > misses ? out->lookups - misses : 0;
    return COG_OK;
}
