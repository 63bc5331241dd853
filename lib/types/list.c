/* lib/types/list.c - thread-safe lists.
 *
 * Layout: the list object holds a lock, the size and a pointer to an RCU-
 * managed item array (cog_ref items). Writers hold the lock in exclusive
 * mode; new-reference readers in shared mode. Lock-free readers
 * (cog_list_size, cog_list_get_borrowed, the collector's traverse) load the
 * array pointer with acquire and items with cog_ref_load.
 *
 * Why new-reference getters lock (docs/types.md): object blocks are not
 * RCU-deferred, so an item removed by a writer may be freed and its block
 * reused before a lock-free reader's try-incref touches its header. The
 * shared lock excludes removal between the slot read and the incref.
 *
 * Publication order for lock-free readers: a writer that grows the array
 * copies the items, publishes the new array (release), stores the new item
 * (release, cog_ref_store) and then the size (release). A reader that loads
 * the size (acquire) and then the array therefore sees an array holding at
 * least `size` valid slots, or a later one (later arrays are copies made
 * under the lock). Slots beyond the size are always NULL.
 */
#include <string.h>

#include "cog/list.h"
#include "cog/tuple.h"
#include "lib/base/error.h"
#include "lib/types/storage.h"

typedef struct list_storage {
    size_t cap;
    cog_ref items[];
} list_storage;

typedef struct cog_list {
    cog_object ob;
    cog_rwspin lock;
    atomic_size_t size;
    _Atomic(list_storage *) st;
} cog_list;

static int list_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    cog_list *l = (cog_list *)self;
    /* The collector traverses as an RCU reader: the array stays valid. */
    list_storage *st = atomic_load_explicit(&l->st, memory_order_acquire);
    if (!st) return 0;
    for (size_t i = 0; i < st->cap; i++) {
        cog_object *o = cog_ref_load(&st->items[i]);
        if (o) {
            int rc = visit(o, arg);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Detach the whole array under the lock; release items and free the array
 * outside it: after a grace period, or at once if the list is dead and no
 * window can read it (cog_storage_free_dead). */
static void list_clear_impl(cog_list *l, int dead) {
    cog_rwspin_wrlock(&l->lock);
    list_storage *st = atomic_exchange_explicit(&l->st, NULL, memory_order_acq_rel);
    size_t n = atomic_load_explicit(&l->size, memory_order_relaxed);
    atomic_store_explicit(&l->size, 0, memory_order_release);
    cog_rwspin_wrunlock(&l->lock);
    if (!st) return;
    for (size_t i = 0; i < n; i++) {
        cog_object *o = cog_ref_take(&st->items[i]);
        if (o) cog_decref(o);
    }
    if (dead)
        cog_storage_free_dead(st);
    else
        cog_storage_free_deferred(st);
}

static void list_clear(cog_object *self) { list_clear_impl((cog_list *)self, 0); }
static void list_dealloc(cog_object *self) { list_clear_impl((cog_list *)self, 1); }

const cog_type cog_list_type = {
    .name = "list",
    .basic_size = sizeof(cog_list),
    .flags = COG_TYPE_GC,
    .traverse = list_traverse,
    .clear = list_clear,
    .dealloc = list_dealloc,
};

cog_object *cog_list_new(void) { return cog_new(&cog_list_type); }

int cog_list_check(const cog_object *o) { return o->ob_type == &cog_list_type; }

size_t cog_list_size(cog_object *self) {
    return atomic_load_explicit(&((cog_list *)self)->size, memory_order_acquire);
}

/* Python-style index normalisation; -1 if out of range. */
static int64_t norm(int64_t i, size_t n) {
    if (i < 0) i += (int64_t)n;
    return (i < 0 || (uint64_t)i >= n) ? -1 : i;
}

/* Under the write lock: make room for one more item. */
static int reserve_one(cog_list *l, size_t n) {
    list_storage *st = atomic_load_explicit(&l->st, memory_order_relaxed);
    if (st && n < st->cap) return COG_OK;
    size_t cap = st ? st->cap * 2 : 8;
    list_storage *ns = cog_storage_alloc(sizeof *ns + cap * sizeof(cog_ref));
    if (!ns) return COG_ENOMEM;
    ns->cap = cap;
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&ns->items[i], cog_ref_load(&st->items[i]), memory_order_relaxed);
    /* Release: readers that see the new array see its copied items. The
     * item references move; the old array is freed without releasing them. */
    atomic_store_explicit(&l->st, ns, memory_order_release);
    cog_storage_free_deferred(st);
    return COG_OK;
}

static int check(cog_object *list, cog_object *item, const char *op) {
    if (!list || !cog_list_check(list)) return cog_error(COG_EINVAL, "%s: not a list", op);
    if (!item) return cog_error(COG_EINVAL, "%s: NULL item", op);
    return COG_OK;
}

int cog_list_insert(cog_object *self, int64_t index, cog_object *item) {
    int rc = check(self, item, "cog_list_insert");
    if (rc) return rc;
    cog_list *l = (cog_list *)self;
    cog_incref(item);
    cog_rwspin_wrlock(&l->lock);
    size_t n = atomic_load_explicit(&l->size, memory_order_relaxed);
    if ((rc = reserve_one(l, n)) != COG_OK) {
        cog_rwspin_wrunlock(&l->lock);
        cog_decref(item);
        return rc;
    }
    list_storage *st = atomic_load_explicit(&l->st, memory_order_relaxed);
    if (index < 0) index += (int64_t)n;
    size_t at = index < 0 ? 0 : ((uint64_t)index > n ? n : (size_t)index);
    /* Shift right, last first: a lock-free borrowed reader may see an item
     * twice or a neighbour, never a freed one (items are not released). */
    for (size_t i = n; i > at; i--)
        atomic_store_explicit(&st->items[i], cog_ref_load(&st->items[i - 1]), memory_order_release);
    cog__gc_barrier_touch(item);
    atomic_store_explicit(&st->items[at], item, memory_order_release);
    atomic_store_explicit(&l->size, n + 1, memory_order_release);
    cog_rwspin_wrunlock(&l->lock);
    return COG_OK;
}

int cog_list_append(cog_object *self, cog_object *item) {
    return cog_list_insert(self, INT64_MAX, item);
}

int cog_list_set(cog_object *self, int64_t index, cog_object *item) {
    int rc = check(self, item, "cog_list_set");
    if (rc) return rc;
    cog_list *l = (cog_list *)self;
    cog_incref(item);
    cog_rwspin_wrlock(&l->lock);
    size_t n = atomic_load_explicit(&l->size, memory_order_relaxed);
    int64_t i = norm(index, n);
    if (i < 0) {
        cog_rwspin_wrunlock(&l->lock);
        cog_decref(item);
        return cog_error(COG_EINVAL, "cog_list_set: index %lld out of range (size %zu)",
                         (long long)index, n);
    }
    list_storage *st = atomic_load_explicit(&l->st, memory_order_relaxed);
    cog__gc_barrier_touch(item);
    cog_object *old = atomic_exchange_explicit(&st->items[i], item, memory_order_acq_rel);
    cog_rwspin_wrunlock(&l->lock);
    cog_decref(old); /* outside the lock: its dealloc may use this list */
    return COG_OK;
}

cog_object *cog_list_get(cog_object *self, int64_t index) {
    if (!self || !cog_list_check(self)) return cog_error(COG_EINVAL, "cog_list_get: not a list"), NULL;
    cog_list *l = (cog_list *)self;
    cog_rwspin_rdlock(&l->lock);
    size_t n = atomic_load_explicit(&l->size, memory_order_relaxed);
    int64_t i = norm(index, n);
    cog_object *o = NULL;
    if (i >= 0) {
        o = cog_ref_load(&atomic_load_explicit(&l->st, memory_order_relaxed)->items[i]);
        cog_incref(o); /* the list's reference keeps o alive while we hold the lock */
    }
    cog_rwspin_rdunlock(&l->lock);
    if (!o)
        cog_error(COG_EINVAL, "cog_list_get: index %lld out of range (size %zu)", (long long)index, n);
    return o;
}

cog_object *cog_list_get_borrowed(cog_object *self, int64_t index) {
    cog_list *l = (cog_list *)self;
    /* Acquire on size, then array: see the publication order above. */
    size_t n = atomic_load_explicit(&l->size, memory_order_acquire);
    int64_t i = norm(index, n);
    list_storage *st = atomic_load_explicit(&l->st, memory_order_acquire);
    cog_object *o = NULL;
    if (i >= 0 && st && (size_t)i < st->cap) o = cog_ref_load(&st->items[i]);
    if (!o)
        cog_error(COG_EINVAL, "cog_list_get_borrowed: index %lld out of range (size %zu)",
                  (long long)index, n);
    return o;
}

cog_object *cog_list_pop(cog_object *self, int64_t index) {
    if (!self || !cog_list_check(self)) return cog_error(COG_EINVAL, "cog_list_pop: not a list"), NULL;
    cog_list *l = (cog_list *)self;
    cog_rwspin_wrlock(&l->lock);
    size_t n = atomic_load_explicit(&l->size, memory_order_relaxed);
    int64_t i = norm(index, n);
    if (i < 0) {
        cog_rwspin_wrunlock(&l->lock);
        return cog_error(COG_EINVAL, "cog_list_pop: index %lld out of range (size %zu)",
                         (long long)index, n), NULL;
    }
    list_storage *st = atomic_load_explicit(&l->st, memory_order_relaxed);
    cog_object *o = cog_ref_load(&st->items[i]);
    for (size_t k = (size_t)i; k + 1 < n; k++)
        atomic_store_explicit(&st->items[k], cog_ref_load(&st->items[k + 1]), memory_order_release);
    /* Size first, then clear the last slot: slots >= size are NULL. */
    atomic_store_explicit(&l->size, n - 1, memory_order_release);
    atomic_store_explicit(&st->items[n - 1], NULL, memory_order_release);
    cog_rwspin_wrunlock(&l->lock);
    /* The reference moves to the caller: the collector must see it moved
     * (as cog_ref_take does). */
    cog__gc_barrier_touch(o);
    return o;
}

int cog_list_clear(cog_object *self) {
    if (!self || !cog_list_check(self)) return cog_error(COG_EINVAL, "cog_list_clear: not a list");
    list_clear_impl((cog_list *)self, 0);
    return COG_OK;
}

cog_object *cog_list_snapshot(cog_object *self) {
    if (!self || !cog_list_check(self))
        return cog_error(COG_EINVAL, "cog_list_snapshot: not a list"), NULL;
    cog_list *l = (cog_list *)self;
    for (;;) {
        size_t n = cog_list_size(self);
        /* Allocate outside the lock, then fill under it if the size held. */
        cog_object *t = cog_tuple_new(n);
        if (!t) return NULL;
        cog_rwspin_rdlock(&l->lock);
        if (atomic_load_explicit(&l->size, memory_order_relaxed) != n) {
            cog_rwspin_rdunlock(&l->lock);
            cog_decref(t);
            continue;
        }
        list_storage *st = atomic_load_explicit(&l->st, memory_order_relaxed);
        for (size_t i = 0; i < n; i++) {
            cog_object *o = cog_ref_load(&st->items[i]);
            cog_incref(o);
            cog_tuple_init_item(t, i, o);
        }
        cog_rwspin_rdunlock(&l->lock);
        return t;
    }
}
