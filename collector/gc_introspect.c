/* collector/gc_introspect.c - cog_gc_get_objects, cog_gc_get_referrers and
 * cog_gc_get_referents (Python's gc.get_objects / get_referrers /
 * get_referents) while the collector and mutators run.
 *
 * Why it is safe:
 *  - the heap walk runs on the calling thread inside a collection window
 *    the collector holds open for it (cog_gc_with_window). In a window no
 *    object block is released, so every block the walk or a traverse finds
 *    stays readable until we are done, even if its object dies meanwhile;
 *  - a block found that way may hold a dying object, so references are
 *    taken only with cog_try_incref, which refuses dead objects (count 0,
 *    merged-dead, or a tagged list link, lib/core/object_internal.h) and takes a
 *    reference by a CAS ordered against the dropper's CAS otherwise;
 *  - DEAD objects are never traversed (their fields may be cleared), and
 *    traverse reads reference fields atomically as an online RCU reader,
 *    exactly as the collector does (docs/design.md "Concurrent collection").
 *
 * An object owned by ANOTHER thread whose shared count is 0 is counted only
 * by its owner's plain stores, so cog_try_incref refuses it (racing the
 * owner's last decref cannot be ordered). Those are set aside during the
 * walk (their out slots reserved) and, after it but still inside the
 * window, referenced through their owner's cooperation (cog_owner_incref,
 * lib/core/owner_ref.h: as the owner, by the owner or a stand-in while it is
 * offline); the ones the owner
 * finds already dying are dropped from the result.
 */
#include <stdlib.h>

#include "collector/gc_internal.h"
#include "cog/runtime.h"
#include "cog/tryincref.h"
#include "lib/base/error.h"
#include "lib/core/owner_ref.h"

typedef struct pending {
    size_t slot;  /* index in out */
    uint32_t tid; /* owner */
} pending;

typedef struct take_ctx {
    cog_object **out;
    size_t cap;
    size_t found;  /* references taken or reserved (<= cap) plus matches beyond cap */
    size_t stored; /* slots of out used (references, or reserved for pending) */
    uint32_t self; /* caller's thread id */
    pending *pend; /* owner-private objects of other threads, resolved later */
    size_t npend, pend_cap;
    int truncated; /* something was found with out already full */
    int oom;
} take_ctx;

/* Store a NEW reference to o if there is room; beyond cap only count.
 * Called during walks and traversals, so it never blocks. */
static void take(take_ctx *c, cog_object *o) {
    if (c->stored == c->cap) {
        c->found++;
        c->truncated = 1;
        return;
    }
    if (!cog_try_incref(o)) {
        /* Dead, or private to another (live) owner: ask that owner later. */
        uint32_t tid = atomic_load_explicit(&o->ob_tid, memory_order_relaxed);
        if (tid == 0 || tid == c->self) return;
        if (c->npend == c->pend_cap) {
            size_t ncap = c->pend_cap ? c->pend_cap * 2 : 256;
            pending *p = realloc(c->pend, ncap * sizeof *p);
            if (!p) {
                c->oom = 1;
                return;
            }
            c->pend = p;
            c->pend_cap = ncap;
        }
        c->pend[c->npend++] = (pending){c->stored, tid};
    }
    c->out[c->stored++] = o;
    c->found++;
}

static int by_tid(const void *a, const void *b) {
    const pending *x = a, *y = b;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* After the walk, still in the window (the reserved objects' memory is
 * valid): take the set-aside references owner by owner, then close the
 * gaps left by objects their owners were freeing. */
static void resolve_pending(take_ctx *c) {
    if (c->npend == 0) return;
    qsort(c->pend, c->npend, sizeof *c->pend, by_tid);
    cog_object **objs = malloc(c->npend * sizeof *objs);
    unsigned char *taken = malloc(c->npend);
    if (!objs || !taken) c->oom = 1;
    for (size_t i = 0; i < c->npend;) {
        size_t j = i;
        while (j < c->npend && c->pend[j].tid == c->pend[i].tid) j++;
        if (objs && taken) {
            for (size_t k = i; k < j; k++) objs[k - i] = c->out[c->pend[k].slot];
            cog_owner_incref(c->pend[i].tid, objs, j - i, taken);
        }
        for (size_t k = i; k < j; k++)
            if (!objs || !taken || !taken[k - i]) c->out[c->pend[k].slot] = NULL;
        i = j;
    }
    free(objs);
    free(taken);
    size_t n = 0;
    for (size_t i = 0; i < c->stored; i++)
        if (c->out[i]) c->out[n++] = c->out[i];
    c->found -= c->stored - n;
    /* Truncated (more found than cap): the caller reads min(result, cap)
     * entries, some of which we just emptied. */
    for (size_t i = n; i < c->stored; i++) c->out[i] = NULL;
    c->stored = n;
}

/* ---- get_objects --------------------------------------------------------- */

typedef struct objects_ctx {
    take_ctx t;
    int gen; /* -1: every tracked object, frozen ones included */
} objects_ctx;

static void objects_visit(cog_object *o, uint64_t gc, void *arg) {
    objects_ctx *c = arg;
    if (gc & (COG_GC_DEAD | COG_GC_PENDING)) return; /* dying, or garbage */
    if (c->gen >= 0 && ((gc & COG_GC_FROZEN) ||
                        (int)((gc & COG_GC_GEN_MASK) >> COG_GC_GEN_SHIFT) != c->gen))
        return;
    take(&c->t, o);
}

static void objects_run(void *arg) {
    objects_ctx *c = arg;
    cog_gc_walk(objects_visit, c);
    resolve_pending(&c->t);
}

/* Result of a call: on out of memory (only the bookkeeping of set-aside
 * objects can fail) drop every reference taken and report COG_ENOMEM. */
static long finish(take_ctx *c, int rc, const char *fn) {
    free(c->pend);
    if (rc != COG_OK) return rc;
    if (c->oom) {
        for (size_t i = 0; i < c->stored; i++) cog_xdecref(c->out[i]);
        return cog_error(COG_ENOMEM, "%s: out of memory", fn);
    }
    /* A result <= cap promises the exact list. Objects found while out was
     * full were only counted; if set-aside objects that died then freed
     * slots, the count can drop to cap or below with those objects never
     * stored: still report a truncation. (Seen as a NULL inside an
     * "untruncated" result by gc_introspect_test, about 1 run in 75.) */
    if (c->truncated && c->found <= c->cap) c->found = c->cap + 1;
    return (long)c->found;
}

static int check_out(const char *fn, cog_object **out, size_t cap) {
    if (!out && cap)
        return cog_error(COG_EINVAL, "%s: out is NULL but cap is %zu", fn, cap);
    return COG_OK;
}

long cog_gc_get_objects(int generation, cog_object **out, size_t cap) {
    if (generation < -1 || generation >= COG_GC_GENERATIONS)
        return cog_error(COG_EINVAL, "cog_gc_get_objects: generation %d is not -1, 0, 1 or 2",
                         generation);
    int rc = check_out("cog_gc_get_objects", out, cap);
    if (rc != COG_OK) return rc;
    objects_ctx c = {.t = {.out = out, .cap = cap, .self = cog_thread_id()}, .gen = generation};
    rc = cog_gc_with_window(objects_run, &c);
    return finish(&c.t, rc, "cog_gc_get_objects");
}

/* ---- get_referrers ------------------------------------------------------- */

typedef struct referrers_ctx {
    take_ctx t;
    cog_object *const *targets; /* sorted copy */
    size_t n;
} referrers_ctx;

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(cog_object *const *)a, y = (uintptr_t)*(cog_object *const *)b;
    return x < y ? -1 : x > y;
}

static int is_target(const referrers_ctx *c, const cog_object *o) {
    return bsearch(&o, c->targets, c->n, sizeof *c->targets, cmp_ptr) != NULL;
}

/* Stops the traversal (non-zero) at the first reference to a target. */
static int referrer_child(cog_object *child, void *arg) {
    return is_target(arg, child);
}

static void referrers_visit(cog_object *o, uint64_t gc, void *arg) {
    referrers_ctx *c = arg;
    if (gc & (COG_GC_DEAD | COG_GC_PENDING)) return; /* dying, or garbage */
    if (o->ob_type->traverse(o, referrer_child, c)) take(&c->t, o);
}

static void referrers_run(void *arg) {
    referrers_ctx *c = arg;
    cog_gc_walk(referrers_visit, c);
    resolve_pending(&c->t);
}

long cog_gc_get_referrers(cog_object *const *objs, size_t n, cog_object **out, size_t cap) {
    if (!objs && n) return cog_error(COG_EINVAL, "cog_gc_get_referrers: objs is NULL");
    int rc = check_out("cog_gc_get_referrers", out, cap);
    if (rc != COG_OK) return rc;
    if (n == 0) return 0;
    cog_object **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return cog_error(COG_ENOMEM, "cog_gc_get_referrers: out of memory");
    for (size_t i = 0; i < n; i++) sorted[i] = objs[i];
    qsort(sorted, n, sizeof *sorted, cmp_ptr);
    referrers_ctx c = {.t = {.out = out, .cap = cap, .self = cog_thread_id()}, .targets = sorted,
                       .n = n};
    rc = cog_gc_with_window(referrers_run, &c);
    free(sorted);
    return finish(&c.t, rc, "cog_gc_get_referrers");
}

/* ---- get_referents ------------------------------------------------------- */

typedef struct referents_ctx {
    take_ctx t;
    cog_object *const *objs;
    size_t n;
} referents_ctx;

static int referent_child(cog_object *child, void *arg) {
    take(arg, child);
    return 0;
}

/* The caller holds references to objs, so none is dead; their children may
 * die concurrently (another thread removes and drops one), which the window
 * and cog_try_incref cover. */
static void referents_run(void *arg) {
    referents_ctx *c = arg;
    for (size_t i = 0; i < c->n; i++) {
        cog_object *o = c->objs[i];
        if (o->ob_type->traverse && !(atomic_load_explicit(&o->ob_gc, memory_order_acquire) &
                                      COG_GC_DEAD))
            o->ob_type->traverse(o, referent_child, &c->t);
    }
    resolve_pending(&c->t);
}

long cog_gc_get_referents(cog_object *const *objs, size_t n, cog_object **out, size_t cap) {
    if (!objs && n) return cog_error(COG_EINVAL, "cog_gc_get_referents: objs is NULL");
    int rc = check_out("cog_gc_get_referents", out, cap);
    if (rc != COG_OK) return rc;
    for (size_t i = 0; i < n; i++)
        if (!objs[i]) return cog_error(COG_EINVAL, "cog_gc_get_referents: objs[%zu] is NULL", i);
    if (n == 0) return 0;
    referents_ctx c = {.t = {.out = out, .cap = cap, .self = cog_thread_id()}, .objs = objs,
                       .n = n};
    rc = cog_gc_with_window(referents_run, &c);
    return finish(&c.t, rc, "cog_gc_get_referents");
}
