/* lib/core/upcalls.h - what the object model calls in the built-in types.
 *
 * The object model sits below the built-in types (docs/design.md
 * "Layers"), but two of those types change how every object is counted and
 * freed: interned strings keep their own refcount regime (deferred per-thread
 * deltas, lib/types/intern.c "Deferred counts"), which cog_decref, cog_refcount,
 * cog_try_incref and thread detach dispatch to; and a dying object's weak
 * references are cleared before its dealloc. Those functions are declared
 * here, below, and defined in the types' files; the str layout is here too
 * because the decref fast path reads a string's state inline. Nothing else
 * of the types may be used from below. */
#ifndef COG_LIB_UPCALLS_H
#define COG_LIB_UPCALLS_H

#include <stdatomic.h>
#include <stdint.h>

#include "cog/object.h"
#include "cog/str.h"
#include "lib/base/rcu.h"

/* ---- The str object (lib/types/str.c, lib/types/intern.c) --------------------------- */
enum {
    STR_PLAIN = 0,     /* not interned */
    STR_FRESH = 1,     /* interned type, not (or no longer) in the table */
    STR_IN_TABLE = 2,  /* mortal canonical string, linked in the table */
    STR_IMMORTAL = 3,  /* immortal canonical string, linked in the table */
};

typedef struct cog_str {
    cog_varobject ob;           /* ob_size = length in bytes */
    _Atomic uint64_t hash;      /* 0 until computed */
    atomic_uint state;          /* STR_* */
    char data[];                /* ob_size bytes + NUL; interned: + node */
} cog_str;

/* The type of interned strings (lib/types/intern.c). */
extern const cog_type cog__str_interned_type;

/* ---- Deferred counts of mortal canonical strings (lib/types/intern.c) ---------
 * cog_decref of a merged, mortal interned string (lib/core/brc.c routes it
 * here): a per-thread cached decrement, or an atomic one that requests a
 * review instead of deallocating when the shared count reaches 0. */
void cog__intern_decref(cog_str *s);

/* The calling thread's delta cache (lib/types/intern.c "Deferred counts"): a
 * direct-mapped array of {string, delta}, heap-allocated at the thread's
 * first hit and freed at detach, so non-NULL only on attached threads. Only
 * its owner thread touches it (plain memory). */
typedef struct cog__dslot {
    cog_str *s;
    intptr_t delta;
} cog__dslot;
#define COG__DCACHE_BITS 9
#define COG__DCACHE_SLOTS (1u << COG__DCACHE_BITS)
extern __thread cog__dslot *cog__intern_dcache __attribute__((tls_model("initial-exec")));

static inline cog__dslot *cog__dslot_in(cog__dslot *c, const cog_str *s) {
    /* Fibonacci hashing of the address: blocks are 16-byte aligned and
     * neighbours in a pool must not collide. */
    return &c[((uintptr_t)s * 0x9E3779B97F4A7C15ull) >> (64 - COG__DCACHE_BITS)];
}

static inline void cog__dslot_add(cog__dslot *e, intptr_t d) {
    intptr_t old = e->delta, nd = old + d;
    e->delta = nd;
    cog__intern_dirty += (unsigned)(nd != 0) - (unsigned)(old != 0);
}

/* The decref fast path, inlined into lib/core/brc.c: a -1 in the cache when the
 * string is a mortal canonical one in the table and this thread's slot
 * holds it. 0: not handled, call cog__intern_decref. The state is stable
 * (the caller holds a reference, so the string is not dead) and on the
 * header's cache line, which the caller has just read. */
static inline int cog__intern_decref_cached(cog_str *s) {
    cog__dslot *c = cog__intern_dcache;
    if (!c || atomic_load_explicit(&s->state, memory_order_relaxed) != STR_IN_TABLE) return 0;
    cog__dslot *e = cog__dslot_in(c, s);
    if (e->s != s) return 0;
    cog__dslot_add(e, -1);
    return 1;
}
/* cog_try_incref of an interned string (lib/core/tryincref.c): exact under the
 * deferred-count protocol (fails only once the string is DEAD). */
int cog__intern_try_incref(cog_str *s);
/* cog_refcount of an interned string: flushes the calling thread's cached
 * deltas first, then decodes the shared count (see lib/types/intern.c). */
int64_t cog__intern_refcount(cog_str *s);
/* Detach: flush the calling thread's cache and free it (lib/core/thread.c). */
void cog__intern_thread_detach(void);

/* ---- Weak references (lib/types/weakref.c) ------------------------------------ */
/* ob_gc flag: the object has (or had) weakrefs; set with atomic fetch_or.
 * Bits 0x1..0x10 are the collector's (lib/core/object_internal.h). */
#define COG_GC_HAS_WEAKREFS 0x20u

/* Clear every weakref to o, then run their callbacks with no lock held, on
 * the calling thread. o must be dead (count 0, dealloc not yet run) or
 * cyclic garbage found by the collector; its memory must stay valid during
 * the call. Idempotent: a second call finds nothing to clear. Call from the
 * free path before type->dealloc:
 *     if (gc & COG_GC_HAS_WEAKREFS) cog_weakref_clear_referent(o); */
void cog_weakref_clear_referent(cog_object *o);
#endif
