/* lib/types/weakref.c - weak references.
 *
 * Side table: 256 stripes keyed by referent address, each a mutex and a
 * list of records {referent, its weakrefs}. A weakref's referent field
 * changes only from the object to NULL, under the referent's stripe lock.
 *
 * Soundness of cog_weakref_get (docs/types.md "Weak references"):
 *   - clearing (cog_weakref_clear_referent) takes the stripe lock and runs
 *     before the referent's dealloc and before its memory is released, so
 *     while get holds the lock and sees referent == r, r's memory is valid;
 *   - referents are merged (shared count only) at weakref creation, so
 *     cog_try_incref on them is exact: it fails only on a dead object. A
 *     get racing with the last decref either increments first (the decref
 *     then does not reach 0) or sees MERGED|0 and returns NULL;
 *   - get reads wr->referent first without the lock (acquire) to find the
 *     stripe; if r died and its address was reused meanwhile, the re-check
 *     under the lock sees NULL (cleared under that same lock before free).
 */
#include <pthread.h>
#include <stdlib.h>

#include "cog/tryincref.h"
#include "cog/weakref.h"
#include "lib/core/brc.h"
#include "lib/base/error.h"
#include "lib/types/types_internal.h"
#include "lib/core/upcalls.h"

typedef struct weakref weakref;
typedef void (*cleared_hook_fn)(cog_object *wr);
typedef struct record record;

struct weakref {
    cog_object ob;
    /* Written under the referent's stripe lock; read lock-free only to
     * find the stripe (then re-read under it). */
    _Atomic(cog_object *) referent;
    cog_weakref_callback callback;
    void *arg;
    record *rec;          /* under the stripe lock */
    weakref *prev, *next; /* under the stripe lock */
};

struct record {
    cog_object *referent;
    weakref *head;
    record *next;
};

#define NSTRIPES 256
static struct stripe {
    pthread_mutex_t lock;
    record *records;
} stripes[NSTRIPES] = {[0 ... NSTRIPES - 1] = {PTHREAD_MUTEX_INITIALIZER, NULL}};

static struct stripe *stripe_of(const cog_object *o) {
    uintptr_t a = (uintptr_t)o >> 4;
    return &stripes[(a ^ (a >> 8) ^ (a >> 16)) % NSTRIPES];
}

static void weakref_dealloc(cog_object *self);

const cog_type cog_weakref_type = {
    .name = "weakref",
    .basic_size = sizeof(weakref),
    .dealloc = weakref_dealloc,
};

int cog_weakref_check(const cog_object *o) { return o->ob_type == &cog_weakref_type; }

static record **find(struct stripe *s, const cog_object *o) {
    record **p = &s->records;
    while (*p && (*p)->referent != o) p = &(*p)->next;
    return p;
}

/* Make o's count exact for try-incref from any thread (see header). */
static int merge_referent(cog_object *o) {
    if (cog_is_immortal(o)) return COG_OK;
    uint32_t tid = atomic_load_explicit(&o->ob_tid, memory_order_relaxed);
    if (tid == 0) return COG_OK; /* merged: only MERGED transitions from now */
    if (tid != cog__tls_tid)
        return cog_error(COG_ESTATE,
                         "cog_weakref_new: %s object is owned by thread %u; create the weakref "
                         "on that thread",
                         o->ob_type->name, tid);
    cog_brc_explicit_merge(o, 0); /* legal: we are the owner */
    return COG_OK;
}

cog_object *cog_weakref_new(cog_object *obj, cog_weakref_callback callback, void *arg) {
    if (!obj) return cog_error(COG_EINVAL, "cog_weakref_new: NULL object"), NULL;
    if (merge_referent(obj) != COG_OK) return NULL;
    weakref *wr = (weakref *)cog_new(&cog_weakref_type);
    if (!wr) return NULL;
    /* Clearing try-increfs weakrefs from any thread: make that exact too. */
    cog_brc_explicit_merge(&wr->ob, 0);
    wr->callback = callback;
    wr->arg = arg;
    if (cog_is_immortal(obj)) {
        /* Never dies, never cleared: no record needed. */
        atomic_store_explicit(&wr->referent, obj, memory_order_relaxed);
        return &wr->ob;
    }
    struct stripe *s = stripe_of(obj);
    pthread_mutex_lock(&s->lock);
    record **p = find(s, obj);
    record *r = *p;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&s->lock);
            cog_decref(&wr->ob);
            return cog_error(COG_ENOMEM, "cog_weakref_new: out of memory"), NULL;
        }
        r->referent = obj;
        *p = r;
    }
    wr->rec = r;
    wr->next = r->head;
    if (r->head) r->head->prev = wr;
    r->head = wr;
    atomic_store_explicit(&wr->referent, obj, memory_order_relaxed);
    /* Relaxed: the flag is read by the thread that frees obj, after its
     * final decrement, which is ordered after ours by the acq_rel count
     * CASes (we hold a reference while setting it). */
    atomic_fetch_or_explicit(&obj->ob_gc, COG_GC_HAS_WEAKREFS, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
    return &wr->ob;
}

cog_object *cog_weakref_get(cog_object *self) {
    weakref *wr = (weakref *)self;
    /* Acquire pairs with nothing racy: the value is only a stripe hint. */
    cog_object *r = atomic_load_explicit(&wr->referent, memory_order_acquire);
    if (!r) return NULL;
    struct stripe *s = stripe_of(r);
    cog_object *result = NULL;
    pthread_mutex_lock(&s->lock);
    if (atomic_load_explicit(&wr->referent, memory_order_relaxed) == r && cog_try_incref(r))
        result = r;
    pthread_mutex_unlock(&s->lock);
    return result;
}

int cog_weakref_is_dead(cog_object *self) {
    cog_object *r = cog_weakref_get(self);
    if (!r) return 1;
    cog_decref(r);
    return 0;
}

static void unlink_wr(weakref *wr) {
    record *r = wr->rec;
    if (wr->prev) wr->prev->next = wr->next;
    else r->head = wr->next;
    if (wr->next) wr->next->prev = wr->prev;
    wr->prev = wr->next = NULL;
    wr->rec = NULL;
}

static void weakref_dealloc(cog_object *self) {
    weakref *wr = (weakref *)self;
    cog_object *r = atomic_load_explicit(&wr->referent, memory_order_acquire);
    if (!r) return; /* cleared */
    struct stripe *s = stripe_of(r);
    record *dead = NULL;
    pthread_mutex_lock(&s->lock);
    /* rec is NULL for immortal referents (never linked). */
    if (atomic_load_explicit(&wr->referent, memory_order_relaxed) == r && wr->rec) {
        record *rec = wr->rec;
        unlink_wr(wr);
        atomic_store_explicit(&wr->referent, NULL, memory_order_relaxed);
        if (!rec->head) {
            record **p = find(s, r);
            *p = rec->next;
            dead = rec;
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(dead);
}

/* Test hook (tests/weakref_concurrent_test.c): called under the stripe
 * lock right after a weakref's referent is cleared; the weakref may be
 * freed by then (compare it, do not read it). Relaxed: a test sets it
 * before the threads it watches exist. */
_Atomic(cleared_hook_fn) cog__weakref_cleared_hook;

void cog_weakref_clear_referent(cog_object *o) {
    struct stripe *s = stripe_of(o);
    weakref *run = NULL; /* weakrefs whose callbacks we run, linked by next */
    pthread_mutex_lock(&s->lock);
    record **p = find(s, o);
    record *r = *p;
    if (!r) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    *p = r->next;
    for (weakref *wr = r->head, *next; wr; wr = next) {
        next = wr->next;
        wr->rec = NULL;
        wr->prev = wr->next = NULL;
        /* The reference for the callback is taken while wr->referent is
         * still set: a weakref whose count reached zero meanwhile is in (or
         * entering) weakref_dealloc, which reads the referent without the
         * lock and frees the weakref at once if it is NULL. So the clearing
         * store below is the last thing we do to a weakref we hold no
         * reference to (release: our writes to it come before its free),
         * and one whose count was zero fails the try-incref (weakrefs are
         * merged at creation, so it is exact) and gets no callback. With
         * the store first, a dying weakref could be freed and its block
         * reused before the try-incref, which then counted on the
         * allocator's free-list link (or a new object) and ran a callback
         * on freed memory (fuzz_threads campaign 14). */
        if (wr->callback && cog_try_incref(&wr->ob)) {
            wr->next = run;
            run = wr;
        }
        atomic_store_explicit(&wr->referent, NULL, memory_order_release);
        cleared_hook_fn hook =
            atomic_load_explicit(&cog__weakref_cleared_hook, memory_order_relaxed);
        if (hook) hook(&wr->ob);
    }
    pthread_mutex_unlock(&s->lock);
    free(r);
    while (run) {
        weakref *wr = run;
        run = wr->next;
        wr->next = NULL;
        wr->callback(&wr->ob, wr->arg);
        cog_decref(&wr->ob);
    }
}

/* cog_shutdown: no other thread runs. Records of referents still alive
 * (leaked by the program) are dropped; their weakrefs read as dead. */
void cog__weakref_shutdown(void) {
    for (int i = 0; i < NSTRIPES; i++) {
        struct stripe *s = &stripes[i];
        pthread_mutex_lock(&s->lock);
        record *r = s->records;
        s->records = NULL;
        pthread_mutex_unlock(&s->lock);
        while (r) {
            record *next = r->next;
            for (weakref *wr = r->head; wr; wr = wr->next) {
                atomic_store_explicit(&wr->referent, NULL, memory_order_relaxed);
                wr->rec = NULL;
            }
            free(r);
            r = next;
        }
    }
}
