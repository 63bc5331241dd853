/* cog/object.h - objects, types and biased reference counting.
 *
 * Every cog object starts with a cog_object header (32 bytes, see
 * docs/design.md "Object header"):
 *
 *   ob_type        the object's type (never changes after cog_new)
 *   ob_ref_local   reference count of the owning thread; only the owner
 *                  writes it, with plain (relaxed atomic) loads and stores
 *   ob_tid         id of the owning thread (the allocator); 0 once the
 *                  counts are merged and every thread uses ob_ref_shared
 *   ob_ref_shared  count of all other threads, atomic, shifted left by 2;
 *                  the low 2 bits say QUEUED (waiting for the owner to merge)
 *                  or MERGED (owner gave up its local count)
 *   ob_gc          collector state (tracked, generation, finalized, marks)
 *
 * The true reference count is ob_ref_local + (ob_ref_shared >> 2). It may
 * transiently look negative from another thread's point of view; it is never
 * freed until the owner (or the thread that merges for it) sees it reach 0.
 *
 * Immortal objects have ob_ref_local == COG_IMMORTAL; cog_incref/cog_decref
 * on them do nothing and they are never freed (PEP 683).
 *
 * Thread-safety: cog_incref/cog_decref may be called from any attached
 * thread on any object the caller holds a reference to (or, for incref,
 * borrows from a container it holds). Calling them on an object you do not
 * hold is a bug, caught in debug builds where detectable.
 */
#ifndef COG_OBJECT_H
#define COG_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "cog/error.h"

#ifdef __cplusplus
extern "C" {
#define COG_ATOMIC(T) T /* same size and alignment as the C11 atomic */
#else
#include <stdatomic.h>
#define COG_ATOMIC(T) _Atomic(T)
#endif

typedef struct cog_type cog_type;

typedef struct cog_object {
    const cog_type *ob_type;
    COG_ATOMIC(uint32_t) ob_ref_local;
    COG_ATOMIC(uint32_t) ob_tid;
    COG_ATOMIC(intptr_t) ob_ref_shared;
    COG_ATOMIC(uint64_t) ob_gc;
} cog_object;

/* Header of variable-size objects (strings, tuples): ob_size items of the
 * type's item_size follow the type's basic_size bytes. */
typedef struct cog_varobject {
    cog_object ob_base;
    size_t ob_size;
} cog_varobject;

/* Called by traverse for each reference an object holds. A non-zero return
 * stops the traversal and is returned by traverse. */
typedef int (*cog_visitproc)(cog_object *ref, void *arg);

/* Type flags. */
#define COG_TYPE_GC 0x1u            /* instances hold references: track for cycle GC */
#define COG_TYPE_UNCOLLECTABLE 0x2u /* cycles through it go to gc garbage */
/* The object's memory is released only after an RCU grace period, for
 * objects that lock-free readers may still be looking at when they die
 * (interned strings found through the intern table, for example). */
#define COG_TYPE_DEFER_FREE 0x4u

/* A type: user code defines its own types as static const cog_type. */
struct cog_type {
    const char *name;   /* shown in errors, stats and debug messages */
    size_t basic_size;  /* bytes including the header; >= sizeof(cog_object) */
    size_t item_size;   /* bytes per item for variable-size types, else 0 */
    uint32_t flags;     /* COG_TYPE_* */
    /* Visit every reference the object holds (required with COG_TYPE_GC). */
    int (*traverse)(cog_object *self, cog_visitproc visit, void *arg);
    /* Drop the references the object holds (breaks cycles; may be NULL when
     * traverse is NULL). Must leave the object safe to dealloc. */
    void (*clear)(cog_object *self);
    /* Finalizer (PEP 442): runs at most once, before the object is freed;
     * it may resurrect the object by storing a new reference. May be NULL. */
    void (*finalize)(cog_object *self);
    /* Release what the object owns (decref its references, free external
     * resources). cog frees the object's memory afterwards. May be NULL. */
    void (*dealloc)(cog_object *self);
};

/* ob_ref_local of an immortal object. */
#define COG_IMMORTAL UINT32_MAX
#define COG_REF_SHARED_SHIFT 2
#define COG_REF_SHARED_FLAGS 0x3
#define COG_REF_QUEUED 0x2
#define COG_REF_MERGED 0x3

/* Static initialiser of an immortal object's header. */
#define COG_IMMORTAL_HEAD(type_ptr) \
    { (type_ptr), COG_IMMORTAL, 0, 0, 0 }

/* Allocate a zeroed instance of a fixed-size type with reference count 1,
 * owned by the calling thread. NULL on failure (see cog_last_error()). */
cog_object *cog_new(const cog_type *type);
/* Allocate a variable-size instance with nitems items (ob_size = nitems). */
cog_object *cog_new_var(const cog_type *type, size_t nitems);

/* Total reference count (owner + shared). Exact only when no other thread is
 * changing it; for tests, debugging and introspection. Immortal objects
 * report COG_IMMORTAL. */
int64_t cog_refcount(const cog_object *o);
/* 1 if the object is immortal. */
int cog_is_immortal(const cog_object *o);
/* Make an object immortal (it will never be freed). Only for objects the
 * caller owns and that no other thread can see yet. Ownership is given up
 * (ob_tid becomes 0), so every later count operation is a no-op. */
void cog_set_immortal(cog_object *o);
/* Bytes occupied by the object. */
size_t cog_object_size(const cog_object *o);

/* ---- Reference fields of GC objects ------------------------------------
 * A field of a GC-tracked object that holds a reference must be a cog_ref
 * and be written with cog_ref_store / cog_ref_take: the background collector
 * reads these fields while mutators run (atomically, so no torn pointer) and
 * the store applies the collector's barrier (see docs/design.md
 * "Concurrent collection"). Reads by the mutator use cog_ref_load. */
typedef COG_ATOMIC(cog_object *) cog_ref;

/* Collector barrier: non-zero while a collection window is open. Mutators
 * read it relaxed; the collector publishes changes with an RCU grace period,
 * which orders the flag before every later mutator operation. */
extern COG_ATOMIC(int) cog__gc_barrier;
/* Barrier slow path: mark a tracked object as touched during the window. */
void cog__gc_touch(cog_object *o);

/* Slow paths, out of line (do not call directly). */
void cog__incref_slow(cog_object *o);
void cog__decref_slow(cog_object *o);
void cog__incref_shared(cog_object *o);
void cog__decref_shared(cog_object *o);
void cog__merge_zero_local(cog_object *o);
void cog__debug_check(const cog_object *o, const char *op);

#ifndef __cplusplus
/* Thread id of the calling thread as stored in ob_tid; never 0 for
 * attached threads, COG_TID_UNATTACHED otherwise, so an unattached thread
 * is never taken for an owner and uses the atomic path. */
#define COG_TID_UNATTACHED UINT32_MAX
/* cog__tls_fast_tid while a collection window is open: it matches no
 * object's ob_tid, so every owner operation takes the slow path, which
 * applies the collector barrier. */
#define COG_TID_SLOW (UINT32_MAX - 1)
extern __thread uint32_t cog__tls_tid __attribute__((tls_model("initial-exec")));
/* The id the inline fast paths compare ob_tid with: the thread's id outside
 * collection windows, COG_TID_SLOW inside one, COG_TID_UNATTACHED when not
 * attached. Only the collector (under the thread registry lock) and the
 * thread itself write it; relaxed suffices because the collector publishes
 * changes with an RCU grace period (see docs/design.md "The window"). */
extern __thread COG_ATOMIC(uint32_t) cog__tls_fast_tid __attribute__((tls_model("initial-exec")));
/* The object whose fields only the calling thread can reach right now,
 * [cog__tls_excl_base, + cog__tls_excl_size), or size 0: an object being
 * deallocated (its count is zero) while its type's `dealloc` runs, and a
 * garbage object whose verdict is final while the collector (or the
 * assistant it was handed to) runs its `clear` (cog__tls_excl_no_mark: no
 * barrier mark either). cog_ref_take of a field inside that range needs
 * no atomic exchange (docs/design.md "Exclusive takes"). Set and restored
 * by the runtime only; three scalars, not a struct, so that saving them
 * right after a nested restore reads exactly what was stored (a wider
 * load across narrower stores defeats store forwarding). */
extern __thread uintptr_t cog__tls_excl_base __attribute__((tls_model("initial-exec")));
extern __thread size_t cog__tls_excl_size __attribute__((tls_model("initial-exec")));
extern __thread int cog__tls_excl_no_mark __attribute__((tls_model("initial-exec")));

inline void cog__gc_barrier_touch(cog_object *o) {
    if (__builtin_expect(atomic_load_explicit(&cog__gc_barrier, memory_order_relaxed), 0))
        cog__gc_touch(o);
}

/* The owner fast paths: one comparison of ob_tid with the thread's fast id,
 * then a relaxed load and a relaxed store of ob_ref_local. Only the owner
 * ever writes ob_ref_local, so no RMW is needed; the relaxed atomics only
 * tell the compiler and TSan that other threads may read the field.
 * Everything else goes to the slow path: immortal objects (ob_tid is 0),
 * objects owned by other threads or merged, an owner's last local
 * reference, and every operation inside a collection window. */
inline void cog_incref(cog_object *o) {
#ifdef COG_DEBUG
    cog__debug_check(o, "incref");
#endif
    if (__builtin_expect(atomic_load_explicit(&o->ob_tid, memory_order_relaxed) ==
                             atomic_load_explicit(&cog__tls_fast_tid, memory_order_relaxed),
                         1)) {
        uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
        atomic_store_explicit(&o->ob_ref_local, local + 1, memory_order_relaxed);
    } else {
        cog__incref_slow(o);
    }
}

inline void cog_decref(cog_object *o) {
#ifdef COG_DEBUG
    cog__debug_check(o, "decref");
#endif
    if (__builtin_expect(atomic_load_explicit(&o->ob_tid, memory_order_relaxed) ==
                             atomic_load_explicit(&cog__tls_fast_tid, memory_order_relaxed),
                         1)) {
        uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
        if (__builtin_expect(local != 1, 1)) {
            atomic_store_explicit(&o->ob_ref_local, local - 1, memory_order_relaxed);
            return;
        }
    }
    cog__decref_slow(o);
}

inline void cog_xincref(cog_object *o) {
    if (o) cog_incref(o);
}

inline void cog_xdecref(cog_object *o) {
    if (o) cog_decref(o);
}

/* Borrowed read of a reference field: valid while the caller holds a
 * reference to the object owning the field and no other thread overwrites
 * it. Acquire pairs with the release in cog_ref_store, so the referent's
 * initialised contents are visible. */
inline cog_object *cog_ref_load(const cog_ref *field) {
    return atomic_load_explicit(field, memory_order_acquire);
}

/* Store `value` (a reference the caller gives away, or NULL) into a field
 * and drop the reference the field held before. Not atomic with respect to
 * other writers of the same field: serialise writers (e.g. a lock in the
 * owning object) if several threads may write it. */
inline void cog_ref_store(cog_ref *field, cog_object *value) {
    if (value) cog__gc_barrier_touch(value);
    cog_object *old = atomic_exchange_explicit(field, value, memory_order_acq_rel);
    if (old) cog_decref(old);
}

/* Take the field's reference out (the field becomes NULL) and return it.
 * Atomic with respect to other takers and writers of the field: exactly one
 * caller gets the reference. An empty field costs a load and no RMW (the
 * take happened at that load). A field of the object the calling thread
 * alone can reach (cog__tls_excl_base: the object a `dealloc` or a
 * garbage `clear` is tearing down) has no other taker or writer, so a load
 * and a store do: an exchange is a locked instruction, and those were most
 * of the cost of freeing garbage and a large part of deallocating. Any
 * other field, of any object, is taken with the exchange. Acquire pairs
 * with cog_ref_store's release, as the exchange's did. */
inline cog_object *cog_ref_take(cog_ref *field) {
    cog_object *old = atomic_load_explicit(field, memory_order_acquire);
    if (!old) return NULL;
    if ((uintptr_t)field - cog__tls_excl_base < cog__tls_excl_size) {
        atomic_store_explicit(field, NULL, memory_order_relaxed);
        /* A garbage clear's verdict is final: no mark. */
        if (!cog__tls_excl_no_mark) cog__gc_barrier_touch(old);
        return old;
    }
    old = atomic_exchange_explicit(field, NULL, memory_order_acq_rel);
    if (old) cog__gc_barrier_touch(old);
    return old;
}
#else
void cog_incref(cog_object *o);
void cog_decref(cog_object *o);
void cog_xincref(cog_object *o);
void cog_xdecref(cog_object *o);
cog_object *cog_ref_load(const cog_ref *field);
void cog_ref_store(cog_ref *field, cog_object *value);
cog_object *cog_ref_take(cog_ref *field);
#endif

#ifdef __cplusplus
}
#endif
#endif /* COG_OBJECT_H */
