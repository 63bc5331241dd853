/* lib/core/object.c - object allocation, deallocation and introspection. */
#include <stdlib.h>
#include <string.h>

#include "lib/core/brc.h"
#include "lib/base/error.h"
#include "lib/core/gc_hooks.h"
#include "lib/core/heap_profile.h"
#include "lib/core/mem_trace.h"
#include "lib/core/object_internal.h"
#include "lib/base/rcu.h"
#include "lib/core/thread.h"
#include "lib/core/upcalls.h"

/* External definitions of the inline fast paths (C99 inline semantics), for
 * C++ callers and for calls the compiler chooses not to inline. */
extern inline void cog_incref(cog_object *o);
extern inline void cog_decref(cog_object *o);
extern inline void cog_xincref(cog_object *o);
extern inline void cog_xdecref(cog_object *o);
extern inline void cog__gc_barrier_touch(cog_object *o);
extern inline cog_object *cog_ref_load(const cog_ref *field);
extern inline void cog_ref_store(cog_ref *field, cog_object *value);
extern inline cog_object *cog_ref_take(cog_ref *field);

const cog_type cog__freed_type = {.name = "<freed object>", .basic_size = sizeof(cog_object)};

static int check_type(const cog_type *type) {
    if (!type || !type->name)
        return cog_error(COG_EINVAL, "cog_new: type is NULL or has no name");
    if (type->basic_size < sizeof(cog_object))
        return cog_error(COG_EINVAL, "cog_new: type %s: basic_size %zu is smaller than the header",
                         type->name, type->basic_size);
    if ((type->flags & COG_TYPE_GC) && !type->traverse)
        return cog_error(COG_EINVAL, "cog_new: type %s has COG_TYPE_GC but no traverse",
                         type->name);
    return COG_OK;
}

/* var: a cog_new_var object, whose ob_size (nitems) is set before the
 * object is published. Bytes from zero_end on are left as the allocator
 * gave them (cog__new_var_uninit). */
static cog_object *new_object(const cog_type *type, size_t size, int var, size_t nitems,
                              size_t zero_end) {
    cog_tstate *ts = cog_tstate_current();
    if (!ts) {
#ifdef COG_DEBUG
        cog_fatal("cog_new(%s) called from a thread not attached to cog "
                  "(call cog_thread_attach first)", type ? type->name : "NULL");
#endif
        cog_error(COG_ENOTATTACHED, "cog_new: calling thread is not attached");
        return NULL;
    }
    cog_object *o = cog_heap_alloc(ts->heap, size, COG_BLOCK_OBJECT);
    if (!o) return NULL; /* allocator set the error */
    memset((char *)o + sizeof(cog_object), 0, zero_end - sizeof(cog_object));
    o->ob_type = type;
    if (var) ((cog_varobject *)o)->ob_size = nitems;
    atomic_store_explicit(&o->ob_ref_shared, 0, memory_order_relaxed);
    atomic_store_explicit(&o->ob_ref_local, 1, memory_order_relaxed);
    /* Release publishes ob_type and ob_size to heap walks that find live
     * objects by an acquire load of ob_tid (cog_mem_type_stats); a plain
     * store on x86, so the allocation path pays nothing for it. */
    atomic_store_explicit(&o->ob_tid, ts->tid, memory_order_release);
    if (type->flags & COG_TYPE_GC) {
        /* Tracked from birth: the fields are zeroed (NULL references), so the
         * collector may traverse it at once. Born DIRTY (with the scan's
         * epoch) inside a collection window so that scan never treats it as
         * a candidate: its page may be one the scan walks. Release
         * publishes the initialised header to the collector's heap walk. */
        uint64_t gc = COG_GC_TRACKED;
        if (atomic_load_explicit(&cog__gc_barrier, memory_order_relaxed))
            gc |= COG_GC_DIRTY | atomic_load_explicit(&cog__gc_scan_epoch, memory_order_relaxed);
        atomic_store_explicit(&o->ob_gc, gc, memory_order_release);
        cog_gc_note_alloc();
    } else {
        atomic_store_explicit(&o->ob_gc, 0, memory_order_relaxed);
    }
    return o;
}

cog_object *cog_new(const cog_type *type) {
    if (check_type(type) != COG_OK) return NULL;
    if (type->item_size)
        return cog_error(COG_EINVAL, "cog_new: type %s is variable-size, use cog_new_var",
                         type->name), NULL;
    cog_object *o = new_object(type, type->basic_size, 0, 0, type->basic_size);
    if (o) {
        cog_mem_trace_hook(o, __builtin_return_address(0));
        cog_heap_profile_hook(o, type->basic_size);
    }
    return o;
}

static cog_object *new_var(const cog_type *type, size_t nitems, int zero_items, void *caller) {
    if (check_type(type) != COG_OK) return NULL;
    if (type->basic_size < sizeof(cog_varobject))
        return cog_error(COG_EINVAL, "cog_new_var: type %s has no room for ob_size",
                         type->name), NULL;
    /* Overflow-checked without a division (a 64-bit div was a tenth of a
     * small string's new+free). */
    size_t size;
    if (__builtin_mul_overflow(type->item_size, nitems, &size) ||
        __builtin_add_overflow(size, type->basic_size, &size))
        return cog_error(COG_EINVAL, "cog_new_var: %zu items of type %s overflow", nitems,
                         type->name), NULL;
    /* A GC object's items are traversed from birth: always zeroed. */
    int zero_all = zero_items || (type->flags & COG_TYPE_GC);
    cog_object *o = new_object(type, size, 1, nitems, zero_all ? size : type->basic_size);
    if (o) {
        cog_mem_trace_hook(o, caller);
        cog_heap_profile_hook(o, size);
    }
    return o;
}

cog_object *cog_new_var(const cog_type *type, size_t nitems) {
    return new_var(type, nitems, 1, __builtin_return_address(0));
}

cog_object *cog__new_var_uninit(const cog_type *type, size_t nitems) {
    return new_var(type, nitems, 0, __builtin_return_address(0));
}

size_t cog_object_size(const cog_object *o) {
    const cog_type *t = o->ob_type;
    if (!t->item_size) return t->basic_size;
    return t->basic_size + t->item_size * ((const cog_varobject *)o)->ob_size;
}

int64_t cog_refcount(const cog_object *o) {
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    if (local == COG_IMMORTAL) return COG_IMMORTAL;
    /* Interned strings keep deferred per-thread counts (lib/types/intern.c). */
    if (o->ob_type == &cog__str_interned_type) return cog__intern_refcount((cog_str *)o);
    intptr_t shared = atomic_load_explicit(&o->ob_ref_shared, memory_order_relaxed);
    return (int64_t)local + (int64_t)(shared >> COG_REF_SHARED_SHIFT);
}

int cog_is_immortal(const cog_object *o) {
    return atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed) == COG_IMMORTAL;
}

void cog_set_immortal(cog_object *o) {
    atomic_store_explicit(&o->ob_ref_local, COG_IMMORTAL, memory_order_relaxed);
    /* Unowned: the inline fast paths never match ob_tid 0, and the slow
     * paths return at the COG_IMMORTAL test. An owned immortal would have
     * its "local" count incremented by the owner's fast path, and the
     * owner's detach would merge it like any other object. */
    atomic_store_explicit(&o->ob_tid, 0, memory_order_relaxed);
}

/* Run the finalizer once (PEP 442). The object is dead (count 0) and only
 * this thread can see it, so we own it outright: revive it with one local
 * reference, finalize, and drop that reference. Returns 1 if the finalizer
 * resurrected it (someone else now holds a reference). */
static int finalize_once(cog_object *o, cog_tstate *ts) {
    uint64_t gc = atomic_fetch_or_explicit(&o->ob_gc, COG_GC_FINALIZED, memory_order_relaxed);
    if (gc & COG_GC_FINALIZED) return 0;
    atomic_store_explicit(&o->ob_ref_shared, 0, memory_order_relaxed);
    atomic_store_explicit(&o->ob_ref_local, 1, memory_order_relaxed);
    /* Release, as in new_object: heap walks read ob_type after ob_tid. */
    atomic_store_explicit(&o->ob_tid, ts->tid, memory_order_release);
    o->ob_type->finalize(o);
    /* If nobody took a reference this decref comes straight back here (the
     * FINALIZED bit stops a second finalization) and frees the object. */
    cog_decref(o);
    return 1;
}

/* Flag changes of a dying object's ob_gc. Inside a collection window
 * they race with the collector (its walk CASes stamps, mutators set DIRTY
 * marks), so they are RMWs there. Two cases have no other writer, and a
 * load and a store do (the locked RMWs were a large part of freeing: two
 * per object, 14 % of a worker's time in server_bench's tree shape):
 *   - the collector freeing garbage after its verdict
 *     (cog__gc_release_own): only it can reach those objects;
 *   - an online attached thread that finds no window open
 *     (no_window_writer). docs/design.md "Frees outside a window" has the
 *     argument.
 * `plain` is that test, made by the caller in the same operation (no
 * quiescent state in between). set_gc_flag returns ob_gc as it was;
 * acq_rel: acquire pairs with the walk's release CAS (see
 * cog_gc_must_defer), release orders our earlier writes before it. */
static inline uint64_t set_gc_flag(cog_object *o, uint64_t flag, int plain) {
    if (plain) {
        uint64_t gc = atomic_load_explicit(&o->ob_gc, memory_order_relaxed);
        atomic_store_explicit(&o->ob_gc, gc | flag, memory_order_relaxed);
        return gc;
    }
    return atomic_fetch_or_explicit(&o->ob_gc, flag, memory_order_acq_rel);
}

static inline void clear_gc_flag(cog_object *o, uint64_t flag, int plain) {
    if (plain)
        atomic_store_explicit(&o->ob_gc, atomic_load_explicit(&o->ob_gc, memory_order_relaxed) & ~flag,
                              memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&o->ob_gc, ~flag, memory_order_relaxed);
}

/* Whether the calling thread may change a dying object's ob_gc with a
 * plain load and store (above): no walk can run until its operation ends
 * (cog_thread_outside_window has the argument). */
static inline int no_window_writer(const cog_tstate *ts) {
    return cog__gc_release_own || cog_thread_outside_window(ts);
}

void cog_object_free_block(cog_object *o) {
    const cog_type *type = o->ob_type;
    size_t size = cog_object_size(o);
    cog_tstate *ts = cog_tstate_current();
    /* Only GC objects are ever TRACKED (and nobody else sets it on an
     * object whose last reference is being dropped): the others skip the
     * RMW, a quarter of a small string's new+free. */
    if (atomic_load_explicit(&o->ob_gc, memory_order_relaxed) & COG_GC_TRACKED)
        clear_gc_flag(o, COG_GC_TRACKED, no_window_writer(ts));
#ifdef COG_DEBUG
    atomic_store_explicit(&o->ob_gc, (uint64_t)(uintptr_t)type, memory_order_relaxed);
    o->ob_type = &cog__freed_type;
#else
    (void)type;
#endif
    cog_heap_free(ts ? ts->heap : NULL, o, size, COG_BLOCK_OBJECT);
}

/* Inside a collection window the collector may hold this block's address
 * and read it until the window closes: only a candidate of the scan in
 * progress, whose free is deferred (cog_gc_must_defer). Any other block
 * is released at once: the collector may still read its ob_gc through a
 * pointer it loaded from a field, but the allocator keeps object pages
 * object pages of the same block size while a window is open
 * (cog_alloc_pin), so that read finds this dead object's ob_gc or a newer
 * object's, never the current scan's stamp. */
static void release_block(cog_object *o, uint64_t gc_at_death) {
    if (cog_gc_must_defer(gc_at_death)) {
        cog_gc_defer_block(o);
        return;
    }
    cog_object_free_block(o);
}

typedef struct deferred_free {
    cog_rcu_head head;
    cog_object *o;
    uint64_t gc_at_death;
} deferred_free;

static void deferred_free_cb(cog_rcu_head *head) {
    deferred_free *d = (deferred_free *)head;
    release_block(d->o, d->gc_at_death);
    free(d);
}

/* COG_TYPE_DEFER_FREE: lock-free readers may still be reading the object;
 * release it after a grace period. Waiting for the grace period here instead
 * would be wrong (the caller may itself be reading RCU-protected memory), so
 * a failure to get 32 bytes is fatal, loudly. */
static void defer_free_rcu(cog_object *o, uint64_t gc_at_death) {
    deferred_free *d = malloc(sizeof *d);
    if (!d) cog_fatal("out of memory deferring the free of %p (type %s)", (void *)o,
                      o->ob_type->name);
    d->o = o;
    d->gc_at_death = gc_at_death;
    cog_rcu_call(&d->head, deferred_free_cb);
}

static void free_object(cog_object *o, cog_tstate *ts) {
    const cog_type *type = o->ob_type;
    uint64_t gc_at_death = 0;
    if (type->flags & COG_TYPE_GC) {
        /* DEAD tells the collector not to traverse it from now on, and
         * freezes its stamp: the walk never makes a DEAD object a
         * candidate. It stays TRACKED-visible until its block is really
         * released. */
        gc_at_death = set_gc_flag(o, COG_GC_DEAD, no_window_writer(ts));
        /* Garbage handed out by the collector (pacing assist) was counted
         * out of the young generation when the collection that found it
         * ended, like all the garbage it found. */
        if (!(gc_at_death & COG_GC_PENDING)) cog_gc_note_dealloc();
    }
    /* Weak references must stop seeing the object before its fields are
     * torn down and its block can be reused (cog_weakref_get would
     * otherwise try-incref freed memory). After the finalizer (which ran in
     * cog_object_dealloc and may have resurrected it), before dealloc, as
     * CPython's subtype_dealloc. Relaxed read: the flag was set by a thread
     * holding a reference, ordered before our final decrement by the
     * acq_rel count CASes (see cog_weakref_new). */
    uint64_t flags = atomic_load_explicit(&o->ob_gc, memory_order_relaxed);
    if (flags & COG_GC_HAS_WEAKREFS) cog_weakref_clear_referent(o);
    /* The heap profiler's sample goes before the block can be reused. Same
     * ordering argument: the allocating thread set the flag before it could
     * publish the object. */
    if (flags & COG_GC_SAMPLED) cog__heap_profile_forget(o);
    if (type->dealloc) {
        /* Count zero: nobody else can reach o's fields (docs/design.md
         * "Exclusive takes"). Saved and restored: deallocs nest. */
        cog_excl_saved was = cog_excl_set((uintptr_t)o, cog_object_size(o), 0);
        type->dealloc(o);
        cog_excl_restore(was);
    }
    /* Freed blocks must never carry a live owner id: the detach walk and the
     * collector use ob_tid / ob_gc to recognise live objects. */
    atomic_store_explicit(&o->ob_tid, 0, memory_order_relaxed);
    if (type->flags & COG_TYPE_DEFER_FREE) {
        defer_free_rcu(o, gc_at_death);
        return;
    }
    release_block(o, gc_at_death);
}

void cog_clear_garbage_object(cog_object *o) {
    cog_excl_saved was = cog_excl_set((uintptr_t)o, cog_object_size(o), 1);
    o->ob_type->clear(o);
    cog_excl_restore(was);
}

/* A dealloc that a clear or another dealloc triggers keeps the caller's
 * exclusive range until its own free_object sets one: the outer object's
 * fields stay reachable only by this thread (its count is zero, or it is
 * final garbage), so inheriting the range lets nothing take them plainly
 * that others could take (see cog_ref_take). */
void cog_object_dealloc(cog_object *o) {
    cog_tstate *ts = cog_tstate_current();
    if (o->ob_type->finalize && ts && finalize_once(o, ts)) return;
    if (!ts) {
        /* Unattached threads may drop references (safe on the shared path)
         * but have no trashcan; free directly. */
        free_object(o, NULL);
        return;
    }
    /* Trashcan: freeing a long chain would otherwise recurse once per link.
     * Past the depth limit, park the object (its count is 0, so its
     * ob_ref_shared field is ours to reuse as a link) and let the outermost
     * call free it. */
    if (ts->dealloc_depth >= COG_DEALLOC_DEPTH) {
        atomic_store_explicit(&o->ob_ref_shared, cog_link_encode(ts->dealloc_pending),
                              memory_order_relaxed);
        ts->dealloc_pending = o;
        return;
    }
    ts->dealloc_depth++;
    free_object(o, ts);
    if (ts->dealloc_depth == 1) {
        while (ts->dealloc_pending) {
            cog_object *next = ts->dealloc_pending;
            ts->dealloc_pending = cog_link_decode(atomic_load_explicit(&next->ob_ref_shared,
                                                                        memory_order_relaxed));
            free_object(next, ts);
        }
    }
    ts->dealloc_depth--;
}

void cog__debug_check(const cog_object *o, const char *op) {
    if (!o) cog_fatal("cog_%s(NULL)", op);
    if (!cog_tstate_current())
        cog_fatal("cog_%s(%p, type %s) called from a thread not attached to cog "
                  "(call cog_thread_attach first)",
                  op, (const void *)o, o->ob_type ? o->ob_type->name : "?");
    if (o->ob_type == &cog__freed_type) {
        const cog_type *was = (const cog_type *)(uintptr_t)atomic_load_explicit(
            &o->ob_gc, memory_order_relaxed);
        cog_fatal("cog_%s of freed object %p (type %s)", op, (const void *)o,
                  was ? was->name : "unknown");
    }
    uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
    if (local == 0 && atomic_load_explicit(&o->ob_tid, memory_order_relaxed) == cog__tls_tid)
        cog_fatal("reference count underflow: cog_%s of %p (type %s) whose count is 0", op,
                  (const void *)o, o->ob_type->name);
}
