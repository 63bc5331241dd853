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
 *    merged-dead, or a tagged list link, lib/object_internal.h) and takes a
 *    reference by a CAS ordered against the dropper's CAS otherwise;
 *  - DEAD objects are never traversed (their fields may be cleared), and
 *    traverse reads reference fields atomically as an online RCU reader,
 *    exactly as the collector does (docs/design.md "Concurrent collection").
 *
 * What that costs: cog_try_incref cannot take a reference to an object owned
 * by ANOTHER thread whose shared count is 0 (only the owner's private count
 * is in use, and racing its last decref cannot be ordered). Such objects are
 * skipped (counted in *skipped where reported). Objects owned by the caller,
 * merged (shared between threads) and immortal objects are found exactly.
 */
#include <stdlib.h>

#include "collector/gc_internal.h"
#include "cog/tryincref.h"
#include "lib/error.h"

typedef struct take_ctx {
    cog_object **out;
    size_t cap;
    size_t found;   /* references taken (<= cap) plus matches beyond cap */
    size_t stored;  /* references stored in out */
    size_t skipped; /* matches whose reference could not be taken */
} take_ctx;

/* Store a NEW reference to o if there is room; beyond cap only count. */
static void take(take_ctx *c, cog_object *o) {
    if (c->stored == c->cap) {
        c->found++;
        return;
    }
    if (!cog_try_incref(o)) {
        c->skipped++;
        return;
    }
    c->out[c->stored++] = o;
    c->found++;
}

/* ---- get_objects --------------------------------------------------------- */

typedef struct objects_ctx {
    take_ctx t;
    int gen; /* -1: every tracked object, frozen ones included */
} objects_ctx;

static void objects_visit(cog_object *o, uint64_t gc, void *arg) {
    objects_ctx *c = arg;
    if (gc & COG_GC_DEAD) return;
    if (c->gen >= 0 && ((gc & COG_GC_FROZEN) ||
                        (int)((gc & COG_GC_GEN_MASK) >> COG_GC_GEN_SHIFT) != c->gen))
        return;
    take(&c->t, o);
}

static void objects_run(void *arg) { cog_gc_walk(objects_visit, arg); }

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
    objects_ctx c = {.t = {.out = out, .cap = cap}, .gen = generation};
    rc = cog_gc_with_window(objects_run, &c);
    return rc == COG_OK ? (long)c.t.found : rc;
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
    if (gc & COG_GC_DEAD) return;
    if (o->ob_type->traverse(o, referrer_child, c)) take(&c->t, o);
}

static void referrers_run(void *arg) { cog_gc_walk(referrers_visit, arg); }

long cog_gc_get_referrers(cog_object *const *objs, size_t n, cog_object **out, size_t cap) {
    if (!objs && n) return cog_error(COG_EINVAL, "cog_gc_get_referrers: objs is NULL");
    int rc = check_out("cog_gc_get_referrers", out, cap);
    if (rc != COG_OK) return rc;
    if (n == 0) return 0;
    cog_object **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return cog_error(COG_ENOMEM, "cog_gc_get_referrers: out of memory");
    for (size_t i = 0; i < n; i++) sorted[i] = objs[i];
    qsort(sorted, n, sizeof *sorted, cmp_ptr);
    referrers_ctx c = {.t = {.out = out, .cap = cap}, .targets = sorted, .n = n};
    rc = cog_gc_with_window(referrers_run, &c);
    free(sorted);
    return rc == COG_OK ? (long)c.t.found : rc;
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
}

long cog_gc_get_referents(cog_object *const *objs, size_t n, cog_object **out, size_t cap) {
    if (!objs && n) return cog_error(COG_EINVAL, "cog_gc_get_referents: objs is NULL");
    int rc = check_out("cog_gc_get_referents", out, cap);
    if (rc != COG_OK) return rc;
    for (size_t i = 0; i < n; i++)
        if (!objs[i]) return cog_error(COG_EINVAL, "cog_gc_get_referents: objs[%zu] is NULL", i);
    if (n == 0) return 0;
    referents_ctx c = {.t = {.out = out, .cap = cap}, .objs = objs, .n = n};
    rc = cog_gc_with_window(referents_run, &c);
    return rc == COG_OK ? (long)c.t.found : rc;
}
