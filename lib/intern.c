/* lib/intern.c - the lock-free string intern table (liburcu cds_lfht).
 *
 * Protocol (see docs/types.md "Intern table"):
 *   - every canonical string is created MERGED (cog_brc_explicit_merge by
 *     its creating owner before it is published), so cog_try_incref on it
 *     is exact from any thread: it fails only once the count has reached 0;
 *   - lookup: under cog_rcu_read_lock, cds_lfht_lookup, then try-incref the
 *     string found. Its memory is valid: the interned type is
 *     COG_TYPE_DEFER_FREE, so the block is released a grace period after
 *     its dealloc unlinked it, and we are inside a read-side section;
 *   - a string found dead (try-incref failed) is about to unlink itself; we
 *     never resurrect it. Instead we cds_lfht_replace it with a fresh
 *     canonical string (its own later cds_lfht_del then fails harmlessly);
 *     if the replace fails it was unlinked meanwhile and we look again;
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
#include "lib/brc.h"
#include "lib/error.h"
#include "lib/object_internal.h"
#include "lib/str_internal.h"
#include "lib/types_internal.h"

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
 * no shared cache line on the hit path). Readers sum relaxed loads. */
static struct {
    _Alignas(64) atomic_ulong lookups;
    atomic_ulong hits;
} stats[COG_MAX_THREADS];

static inline void bump(atomic_ulong *c) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

typedef struct intern_key {
    const char *s;
    size_t len;
} intern_key;

static int match(struct cds_lfht_node *node, const void *k) {
    const intern_key *key = k;
    cog_tsan_acquire(node); /* pairs with publish(): see header comment */
    cog_str *s = ((intern_node *)node)->str;
    return s->ob.ob_size == key->len && memcmp(s->data, key->s, key->len) == 0;
}

static void publish(cog_str *s) { cog_tsan_release(cog__str_node(s)); }

int cog__intern_init(void) {
    struct cds_lfht *t = cds_lfht_new_flavor(INITIAL_BUCKETS, INITIAL_BUCKETS, 0,
                                             CDS_LFHT_ACCOUNTING, &urcu_qsbr_flavor, NULL);
    if (!t) return cog_error(COG_ENOMEM, "cog_init: cannot create the intern table");
    atomic_store(&count, 0);
    atomic_store(&buckets, INITIAL_BUCKETS);
    atomic_store(&resizing, 0);
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        atomic_store_explicit(&stats[i].lookups, 0, memory_order_relaxed);
        atomic_store_explicit(&stats[i].hits, 0, memory_order_relaxed);
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
    struct cds_lfht *t = atomic_exchange_explicit(&table, NULL, memory_order_acq_rel);
    if (!t) return;
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
    cds_lfht_node_init(&n->node);
    n->str = str;
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
        cds_lfht_resize(t, b * 4);
        atomic_store_explicit(&buckets, b * 4, memory_order_relaxed);
    }
    atomic_store_explicit(&resizing, 0, memory_order_release);
}

static cog_object *intern(const char *s, size_t len, int immortal) {
    struct cds_lfht *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t) return cog_error(COG_ESTATE, "cog_str_intern: runtime not initialised"), NULL;
    if (!cog_thread_is_attached())
        return cog_error(COG_ENOTATTACHED, "cog_str_intern: calling thread is not attached"), NULL;
    uint32_t slot = cog_thread_id() - 1;
    bump(&stats[slot].lookups);
    uint64_t h = cog_hash_bytes(s, len);
    intern_key key = {s, len};
    cog_str *fresh = NULL;
    cog_str *result = NULL;
    struct cds_lfht_iter iter;
    cog_rcu_read_lock();
    for (;;) {
        cds_lfht_lookup(t, h, match, &key, &iter);
        struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
        if (node) {
            cog_str *found = ((intern_node *)node)->str;
            if (cog_try_incref(&found->ob.ob_base)) {
                bump(&stats[slot].hits);
                result = found;
                break;
            }
            /* Dead: replace it instead of resurrecting it. */
            if (!fresh && !(fresh = make_canonical(s, len, h))) break;
            atomic_store_explicit(&fresh->state, STR_IN_TABLE, memory_order_relaxed);
            publish(fresh);
            if (cds_lfht_replace(t, &iter, h, match, &key, &cog__str_node(fresh)->node) == 0) {
                result = fresh;
                fresh = NULL;
                break;
            }
            atomic_store_explicit(&fresh->state, STR_FRESH, memory_order_relaxed);
            continue; /* unlinked meanwhile: look again */
        }
        if (!fresh && !(fresh = make_canonical(s, len, h))) break;
        /* IN_TABLE before publication: once linked, its dealloc must unlink
         * it (we hold its only reference until we return, so it cannot die
         * before we are done). */
        atomic_store_explicit(&fresh->state, STR_IN_TABLE, memory_order_relaxed);
        publish(fresh);
        struct cds_lfht_node *added =
            cds_lfht_add_unique(t, h, match, &key, &cog__str_node(fresh)->node);
        if (added == &cog__str_node(fresh)->node) {
            atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
            result = fresh;
            fresh = NULL;
            break;
        }
        /* Lost the race (not linked: reusable without a grace period). */
        atomic_store_explicit(&fresh->state, STR_FRESH, memory_order_relaxed);
    }
    if (result && immortal && !cog_is_immortal(&result->ob.ob_base)) make_immortal(result);
    cog_rcu_read_unlock();
    discard(fresh);
    maybe_grow(t);
    return result ? &result->ob.ob_base : NULL;
}

cog_object *cog_str_intern(const char *s, size_t len) {
    if (!s && len) return cog_error(COG_EINVAL, "cog_str_intern: NULL bytes"), NULL;
    if (!cog__utf8_valid((const unsigned char *)s, len))
        return cog_error(COG_EINVAL, "cog_str_intern: invalid UTF-8"), NULL;
    return intern(s, len, 0);
}

cog_object *cog_str_intern_immortal(const char *s, size_t len) {
    if (!s && len) return cog_error(COG_EINVAL, "cog_str_intern_immortal: NULL bytes"), NULL;
    if (!cog__utf8_valid((const unsigned char *)s, len))
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
     * An unattached thread dropping the last reference registers briefly. */
    int reg = !cog_thread_is_attached();
    if (reg) urcu_qsbr_register_thread();
    cog_rcu_read_lock();
    if (cds_lfht_del(t, &cog__str_node(s)->node) == 0)
        atomic_fetch_sub_explicit(&count, 1, memory_order_relaxed);
    cog_rcu_read_unlock();
    if (reg) {
        cog_rcu_offline();
        urcu_qsbr_unregister_thread();
    }
}

int cog_intern_get_stats(cog_intern_stats *out) {
    if (!out) return cog_error(COG_EINVAL, "cog_intern_get_stats: NULL");
    if (!atomic_load_explicit(&table, memory_order_acquire))
        return cog_error(COG_ESTATE, "cog_intern_get_stats: runtime not initialised");
    memset(out, 0, sizeof *out);
    long c = atomic_load_explicit(&count, memory_order_relaxed);
    out->count = c > 0 ? (uint64_t)c : 0;
    out->buckets = atomic_load_explicit(&buckets, memory_order_relaxed);
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        out->lookups += atomic_load_explicit(&stats[i].lookups, memory_order_relaxed);
        out->hits += atomic_load_explicit(&stats[i].hits, memory_order_relaxed);
    }
    return COG_OK;
}
