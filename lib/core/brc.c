/* lib/core/brc.c - biased reference counting slow paths.
 *
 * Protocol (Choi et al., PACT 2018; CPython PEP 703), see docs/design.md:
 *   - the owner changes ob_ref_local with relaxed load/store (inline, in
 *     cog/object.h); everyone else changes ob_ref_shared atomically;
 *   - when a non-owner would take the shared count below zero while the
 *     object is neither queued nor merged, it instead sets QUEUED (keeping
 *     the reference it was dropping) and queues the object to the owner;
 *   - the owner merges local into shared at a safe point (dropping the
 *     queue's reference), or when its local count reaches zero, or at detach;
 *     after a merge ob_tid is 0 and every thread uses the shared count;
 *   - the object is deallocated by whichever thread sees the merged total
 *     reach zero. All transitions of ob_ref_shared are single CASes, so they
 *     are totally ordered and exactly one thread observes zero.
 *
 * Memory ordering: decrementing CASes are acq_rel, and a thread that
 * deallocates has therefore acquired every earlier decrement (the RMWs form
 * one release sequence on ob_ref_shared), so all writes any thread made to
 * the object before dropping its reference happen-before the dealloc.
 * Increments are relaxed: the incrementing thread already holds a reference,
 * so the object cannot be freed under it.
 */
#include "lib/core/brc.h"

#include <stdlib.h>

#include "lib/base/error.h"
#include "lib/core/gc_hooks.h"
#include "lib/core/object_internal.h"
#include "lib/core/upcalls.h"

#define SHARED_ONE ((intptr_t)1 << COG_REF_SHARED_SHIFT)

static inline intptr_t shared_count(intptr_t shared) {
    return shared >> COG_REF_SHARED_SHIFT; /* arithmetic shift: gcc/clang */
}

/* Everything the inline fast paths in cog/object.h leave out. The owner
 * test here uses the thread's real id (cog__tls_tid), not the fast id that
 * is COG_TID_SLOW during collection windows. */
void cog__incref_slow(cog_object *o) {
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    if (local == COG_IMMORTAL) return;
    cog_gc_count_barrier(o);
    if (atomic_load_explicit(&o->ob_tid, memory_order_relaxed) == cog__tls_tid)
        atomic_store_explicit(&o->ob_ref_local, local + 1, memory_order_relaxed);
    else
        cog__incref_shared(o);
}

void cog__decref_slow(cog_object *o) {
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    if (local == COG_IMMORTAL) return;
    cog_gc_count_barrier(o);
    if (atomic_load_explicit(&o->ob_tid, memory_order_relaxed) == cog__tls_tid) {
        atomic_store_explicit(&o->ob_ref_local, local - 1, memory_order_relaxed);
        if (local == 1) cog__merge_zero_local(o);
    } else if (o->ob_type == &cog__str_interned_type) {
        /* Canonical strings are merged from birth; mortal ones in the table
         * keep deferred counts (lib/types/intern.c "Deferred counts"), whose zero
         * is only tentative: never deallocate them from here. */
        if (!cog__intern_decref_cached((cog_str *)o)) cog__intern_decref((cog_str *)o);
    } else {
        cog__decref_shared(o);
    }
}

void cog__incref_shared(cog_object *o) {
    atomic_fetch_add_explicit(&o->ob_ref_shared, SHARED_ONE, memory_order_relaxed);
}

static void queue_to_owner(cog_object *o, uint32_t owner_tid);

void cog__decref_shared(cog_object *o) {
    /* The owner's id, read BEFORE the CAS that may queue: once our CAS has
     * set QUEUED, the owner may merge the object (detach, a weakref, its
     * queue) and store ob_tid = 0 before we get to read it. Reading it
     * first is exact: if our CAS finds no flags, no merge had completed,
     * so ob_tid still held the owner's id (a merge stores 0 only after its
     * own CAS on ob_ref_shared, which our acq_rel CAS precedes; so our load
     * happens-before that store and cannot see it). Queuing to an owner
     * that merged or detached meanwhile is fine: see queue_to_owner and
     * merge_queued_object, which merge with extra = -1 whatever the state. */
    uint32_t owner = atomic_load_explicit(&o->ob_tid, memory_order_relaxed);
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    intptr_t desired;
    int queue;
    do {
        queue = (shared == 0); /* count 0, not queued, not merged */
        desired = queue ? COG_REF_QUEUED : shared - SHARED_ONE;
#ifdef COG_DEBUG
        if ((shared & COG_REF_SHARED_FLAGS) == COG_REF_MERGED && shared_count(shared) <= 0)
            cog_fatal("reference count underflow: decref of %p (type %s) whose count is 0",
                      (void *)o, o->ob_type ? o->ob_type->name : "?");
#endif
    } while (!atomic_compare_exchange_weak_explicit(&o->ob_ref_shared, &shared, desired,
                                                    memory_order_acq_rel,
                                                    memory_order_relaxed));
    if (queue) {
        /* The queue now holds the reference we were dropping. */
        queue_to_owner(o, owner);
    } else if (desired == COG_REF_MERGED) {
        cog_object_dealloc(o);
    }
}

void cog__merge_zero_local(cog_object *o) {
    /* Owner's local count just reached 0. Acquire pairs with the release in
     * other threads' decrementing CASes (see header comment). */
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_acquire);
    if (shared == 0) {
        /* No other thread holds or ever held a counted reference that is
         * still outstanding: total is 0. */
        cog_object_dealloc(o);
        return;
    }
    /* Give up ownership: from now on the shared count is the whole count.
     * ob_tid is cleared first; the MERGED flag published by the CAS is what
     * other threads act on. */
    atomic_store_explicit(&o->ob_tid, 0, memory_order_relaxed);
    intptr_t desired;
    do {
        desired = (shared & ~(intptr_t)COG_REF_SHARED_FLAGS) | COG_REF_MERGED;
    } while (!atomic_compare_exchange_weak_explicit(&o->ob_ref_shared, &shared, desired,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire));
    if (desired == COG_REF_MERGED) cog_object_dealloc(o);
}

intptr_t cog_brc_explicit_merge(cog_object *o, intptr_t extra) {
    /* A merge moves count between the two fields; the collector reads them
     * with two loads, so it must treat the object as changing. */
    cog__gc_barrier_touch(o);
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    intptr_t total, desired;
    do {
        total = shared_count(shared) + (intptr_t)local + extra;
        /* Shift as unsigned: total is negative after a refcount underflow
         * (misuse), and a signed left shift of it would be undefined
         * behaviour before the debug check below can report it. */
        desired = (intptr_t)((uintptr_t)total << COG_REF_SHARED_SHIFT) | COG_REF_MERGED;
    } while (!atomic_compare_exchange_weak_explicit(&o->ob_ref_shared, &shared, desired,
                                                    memory_order_acq_rel,
                                                    memory_order_relaxed));
    atomic_store_explicit(&o->ob_ref_local, 0, memory_order_relaxed);
    /* Release: an adopter that reads ob_tid 0 without the merge_lock (the
     * merge of a detach it raced with) reads the merged counts after it
     * (acquire in cog_brc_adopt_unreachable). */
    atomic_store_explicit(&o->ob_tid, 0, memory_order_release);
    return total;
}

/* Merge a queued object, dropping the queue's reference. */
static void merge_queued_object(cog_object *o) {
    intptr_t total = cog_brc_explicit_merge(o, -1);
    if (total == 0) cog_object_dealloc(o);
#ifdef COG_DEBUG
    else if (total < 0)
        cog_fatal("reference count underflow while merging %p (type %s)", (void *)o,
                  o->ob_type->name);
#endif
}

static void queue_to_owner(cog_object *o, uint32_t owner_tid) {
    cog_tstate *owner = cog_tstate_lookup(owner_tid);
    pthread_mutex_lock(&owner->queue_lock);
    if (!owner->attached) {
        /* The owner has detached (and merged every object it owned, so this
         * object's local count is 0 and nobody will write it again; the
         * owner's unlock after that merge happens-before our lock). Merge
         * here on its behalf. If the slot has since been reused, `attached`
         * is 1 and the new thread merges it: merging does not depend on who
         * does it once the local count is 0. */
        pthread_mutex_unlock(&owner->queue_lock);
        merge_queued_object(o);
        return;
    }
    if (owner->queue_len == owner->queue_cap) {
        size_t cap = owner->queue_cap ? owner->queue_cap * 2 : 64;
        cog_object **q = realloc(owner->queue, cap * sizeof *q);
        if (!q) cog_fatal("out of memory growing a reference-count merge queue");
        owner->queue = q;
        owner->queue_cap = cap;
    }
    owner->queue[owner->queue_len++] = o;
    atomic_store_explicit(&owner->queue_pending, 1, memory_order_relaxed);
    pthread_mutex_unlock(&owner->queue_lock);
}

/* Take the whole queue under the lock, merge outside it (merging may run
 * deallocators, which may queue more objects, possibly to ourselves). */
static int drain_queue(cog_tstate *ts, int detaching) {
    pthread_mutex_lock(&ts->queue_lock);
    cog_object **q = ts->queue;
    size_t n = ts->queue_len;
    ts->queue = NULL;
    ts->queue_len = ts->queue_cap = 0;
    atomic_store_explicit(&ts->queue_pending, 0, memory_order_relaxed);
    if (detaching) ts->attached = 0;
    pthread_mutex_unlock(&ts->queue_lock);
    for (size_t i = 0; i < n; i++) merge_queued_object(q[i]);
    free(q);
    return n != 0;
}

void cog_brc_merge_queued(cog_tstate *ts) {
    while (atomic_load_explicit(&ts->queue_pending, memory_order_relaxed) && drain_queue(ts, 0)) {
    }
}

typedef struct owned_list {
    uint32_t tid;
    cog_object **items;
    size_t len, cap;
} owned_list;

static void collect_owned(void *block, void *arg) {
    owned_list *l = arg;
    cog_object *o = block;
    /* Only the owner ever sets ob_tid to its own id; dead and foreign blocks
     * in our pools have another id or 0. */
    if (atomic_load_explicit(&o->ob_tid, memory_order_relaxed) != l->tid) return;
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        cog_object **items = realloc(l->items, cap * sizeof *items);
        if (!items) cog_fatal("out of memory while detaching a thread");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = o;
}

void cog_brc_release_ownership(cog_tstate *ts) {
    cog_brc_merge_queued(ts);
    /* Collect first, merge after: merging may deallocate, which frees blocks
     * in the pools being walked. */
    owned_list owned = {.tid = ts->tid};
    cog_heap_visit_objects(ts->heap, collect_owned, &owned);
    /* Merging may deallocate; deallocators never take a merge_lock (only
     * adopters do: the collector and assistants freeing handed-out
     * garbage, each holding one at a time and calling nothing under it). */
    pthread_mutex_lock(&ts->merge_lock);
    for (size_t i = 0; i < owned.len; i++) {
        cog_object *o = owned.items[i];
        /* A deallocator run by an earlier merge may have dropped this
         * object's last owner reference and freed it (dealloc clears ob_tid
         * and the freed block keeps it, see lib/alloc/alloc.h). */
        if (atomic_load_explicit(&o->ob_tid, memory_order_relaxed) != ts->tid) continue;
        /* References queued after the drain above are settled by the final
         * drain below, so extra is 0 here. */
        if (cog_brc_explicit_merge(o, 0) == 0) cog_object_dealloc(o);
    }
    pthread_mutex_unlock(&ts->merge_lock);
    free(owned.items);
    /* Final drain; marks the thread detached under the queue lock so that
     * later enqueuers merge on our behalf instead. Objects we deallocate
     * here can only queue to other threads (we own nothing any more), or to
     * this slot, which is now detached, so they are merged inline. */
    drain_queue(ts, 1);
}

void cog_brc_adopt_unreachable(cog_brc_adopter *a, cog_object *o) {
    if (cog_is_immortal(o)) return;
    /* Acquire: pairs with the release in cog_brc_explicit_merge when a
     * detach merged the object just now, so 0 comes with the merged
     * counts (the other values are ordered by the merge_lock below). */
    uint32_t tid = atomic_load_explicit(&o->ob_tid, memory_order_acquire);
    if (tid == cog__tls_tid) return;
    if (tid != 0) {
        cog_tstate *owner = cog_tstate_lookup(tid);
        if (a->locked != owner) {
            cog_brc_adopt_done(a);
            pthread_mutex_lock(&owner->merge_lock);
            a->locked = owner;
        }
        /* Under the lock the owner is not in its detach walk; if the walk
         * ran before we took the lock it merged the object (ob_tid 0, made
         * visible to us by its unlock), which the code below handles. */
    }
    /* Nobody else can touch the counts of an unreachable object: the
     * owner's last write of ob_ref_local happened before the object became
     * unreachable, and the collector's grace periods since then (full
     * barriers on the owner's side) order it before these loads; an
     * assistant adopting garbage handed to it is ordered after those by
     * the hand-out's release push and its acquire take. A garbage
     * object is never QUEUED (the queue's reference would have made it a
     * root), so the shared field holds a plain count or MERGED. */
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    intptr_t total = shared_count(shared) + (intptr_t)local;
    atomic_store_explicit(&o->ob_ref_shared, 0, memory_order_relaxed);
    atomic_store_explicit(&o->ob_ref_local, (uint32_t)total, memory_order_relaxed);
    atomic_store_explicit(&o->ob_tid, cog__tls_tid, memory_order_relaxed);
}

void cog_brc_adopt_done(cog_brc_adopter *a) {
    if (a->locked) pthread_mutex_unlock(&a->locked->merge_lock);
    a->locked = NULL;
}
