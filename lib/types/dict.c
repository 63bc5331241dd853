/* lib/types/dict.c - thread-safe hash maps (open addressing, linear probing).
 *
 * Locking as in lib/types/list.c: writers exclusive, new-reference readers
 * shared (probing compares keys, which dereferences other entries' keys:
 * without the lock a concurrently deleted key could be freed under us).
 * The table is an RCU-managed storage block; the collector's traverse reads
 * it with acquire and the entries with cog_ref_load, lock-free. A table
 * replaced by a resize/clear is freed after a grace period.
 */
#include <string.h>

#include "cog/bytes.h"
#include "cog/dict.h"
#include "cog/int.h"
#include "cog/str.h"
#include "cog/tuple.h"
#include "lib/base/error.h"
#include "lib/types/storage.h"

typedef struct entry {
    uint64_t hash; /* under the lock only */
    cog_ref key;   /* NULL = empty, &dummy = deleted */
    cog_ref value;
} entry;

typedef struct table {
    size_t cap; /* power of two */
    size_t used; /* live + deleted slots; under the lock */
    entry e[];
} table;

typedef struct cog_dict {
    cog_object ob;
    cog_rwspin lock;
    atomic_size_t size;
    _Atomic(table *) t;
} cog_dict;

static const cog_type dummy_type = {.name = "<deleted key>", .basic_size = sizeof(cog_object)};
static cog_object dummy = COG_IMMORTAL_HEAD(&dummy_type);

/* ---- key protocol ---------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t cog_object_hash(cog_object *o) {
    if (cog_str_check(o)) return cog_str_hash(o);
    if (cog_bytes_check(o)) return cog_bytes_hash(o);
    if (cog_int_check(o)) return mix64((uint64_t)cog_int_value(o)) | 1;
    if (cog_tuple_check(o)) {
        uint64_t h = 0x27d4eb2f165667c5ull ^ cog_tuple_size(o);
        for (size_t i = 0; i < cog_tuple_size(o); i++) {
            cog_object *it = cog_tuple_get_borrowed(o, i);
            h = mix64(h ^ (it ? cog_object_hash(it) : 0));
        }
        return h | 1;
    }
    return mix64((uint64_t)(uintptr_t)o) | 1;
}

int cog_object_equal(cog_object *a, cog_object *b) {
    if (a == b) return 1;
    if (cog_str_check(a)) return cog_str_equal(a, b);
    if (cog_bytes_check(a)) return cog_bytes_equal(a, b);
    if (cog_int_check(a)) return cog_int_check(b) && cog_int_value(a) == cog_int_value(b);
    if (cog_tuple_check(a)) {
        if (!cog_tuple_check(b) || cog_tuple_size(a) != cog_tuple_size(b)) return 0;
        for (size_t i = 0; i < cog_tuple_size(a); i++) {
            cog_object *x = cog_tuple_get_borrowed(a, i), *y = cog_tuple_get_borrowed(b, i);
            if (!x || !y || !cog_object_equal(x, y)) return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- type ------------------------------------------------------------ */

static int dict_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    table *t = atomic_load_explicit(&((cog_dict *)self)->t, memory_order_acquire);
    if (!t) return 0;
    for (size_t i = 0; i < t->cap; i++) {
        cog_object *k = cog_ref_load(&t->e[i].key);
        if (!k || k == &dummy) continue;
        int rc = visit(k, arg);
        if (rc) return rc;
        cog_object *v = cog_ref_load(&t->e[i].value);
        if (v && (rc = visit(v, arg))) return rc;
    }
    return 0;
}

/* `dead`: the dict's count reached zero (its dealloc), so no mutator can
 * still read t (cog_storage_free_dead). */
static void release_table(table *t, int dead) {
    if (!t) return;
    for (size_t i = 0; i < t->cap; i++) {
        cog_object *k = cog_ref_take(&t->e[i].key);
        cog_object *v = cog_ref_take(&t->e[i].value);
        if (k && k != &dummy) cog_decref(k);
        if (v) cog_decref(v);
    }
    if (dead)
        cog_storage_free_dead(t);
    else
        cog_storage_free_deferred(t);
}

static void dict_clear_impl(cog_dict *d, int dead) {
    cog_rwspin_wrlock(&d->lock);
    table *t = atomic_exchange_explicit(&d->t, NULL, memory_order_acq_rel);
    atomic_store_explicit(&d->size, 0, memory_order_release);
    cog_rwspin_wrunlock(&d->lock);
    release_table(t, dead);
}

static void dict_clear(cog_object *self) { dict_clear_impl((cog_dict *)self, 0); }
static void dict_dealloc(cog_object *self) { dict_clear_impl((cog_dict *)self, 1); }

const cog_type cog_dict_type = {
    .name = "dict",
    .basic_size = sizeof(cog_dict),
    .flags = COG_TYPE_GC,
    .traverse = dict_traverse,
    .clear = dict_clear,
    .dealloc = dict_dealloc,
};

cog_object *cog_dict_new(void) { return cog_new(&cog_dict_type); }

int cog_dict_check(const cog_object *o) { return o->ob_type == &cog_dict_type; }

size_t cog_dict_size(cog_object *self) {
    return atomic_load_explicit(&((cog_dict *)self)->size, memory_order_acquire);
}

/* ---- probing (under the lock, either mode) --------------------------- */

/* Index of key's entry, or -1; *slot gets the first reusable slot. */
static int64_t lookup(table *t, cog_object *key, uint64_t h, size_t *slot) {
    size_t mask = t->cap - 1, i = h & mask, free_slot = SIZE_MAX;
    for (;;) {
        entry *e = &t->e[i];
        cog_object *k = atomic_load_explicit(&e->key, memory_order_relaxed);
        if (!k) {
            if (slot) *slot = free_slot != SIZE_MAX ? free_slot : i;
            return -1;
        }
        if (k == &dummy) {
            if (free_slot == SIZE_MAX) free_slot = i;
        } else if (e->hash == h && (k == key || cog_object_equal(k, key))) {
            return (int64_t)i;
        }
        i = (i + 1) & mask;
    }
}

/* Under the write lock: make sure one more entry fits (load <= 2/3). */
static int reserve(cog_dict *d) {
    table *t = atomic_load_explicit(&d->t, memory_order_relaxed);
    if (t && (t->used + 1) * 3 <= t->cap * 2) return COG_OK;
    size_t live = atomic_load_explicit(&d->size, memory_order_relaxed);
    size_t cap = 8;
    while (cap * 2 < (live + 1) * 3 * 2) cap *= 2; /* leave room to grow */
    table *nt = cog_storage_alloc(sizeof *nt + cap * sizeof(entry));
    if (!nt) return COG_ENOMEM;
    nt->cap = cap;
    for (size_t i = 0; t && i < t->cap; i++) {
        cog_object *k = atomic_load_explicit(&t->e[i].key, memory_order_relaxed);
        if (!k || k == &dummy) continue;
        size_t j = t->e[i].hash & (cap - 1);
        while (atomic_load_explicit(&nt->e[j].key, memory_order_relaxed)) j = (j + 1) & (cap - 1);
        nt->e[j].hash = t->e[i].hash;
        atomic_store_explicit(&nt->e[j].key, k, memory_order_relaxed);
        atomic_store_explicit(&nt->e[j].value, cog_ref_load(&t->e[i].value), memory_order_relaxed);
        nt->used++;
    }
    /* Release: the collector sees the filled table; references moved. */
    atomic_store_explicit(&d->t, nt, memory_order_release);
    cog_storage_free_deferred(t);
    return COG_OK;
}

static int check(cog_object *d, cog_object *key, const char *op) {
    if (!d || !cog_dict_check(d)) return cog_error(COG_EINVAL, "%s: not a dict", op);
    if (!key) return cog_error(COG_EINVAL, "%s: NULL key", op);
    return COG_OK;
}

int cog_dict_set(cog_object *self, cog_object *key, cog_object *value) {
    int rc = check(self, key, "cog_dict_set");
    if (rc) return rc;
    if (!value) return cog_error(COG_EINVAL, "cog_dict_set: NULL value");
    cog_dict *d = (cog_dict *)self;
    uint64_t h = cog_object_hash(key); /* outside the lock: may hash a str */
    cog_incref(value);
    cog_object *old = NULL;
    cog_rwspin_wrlock(&d->lock);
    if ((rc = reserve(d)) != COG_OK) {
        cog_rwspin_wrunlock(&d->lock);
        cog_decref(value);
        return rc;
    }
    table *t = atomic_load_explicit(&d->t, memory_order_relaxed);
    size_t slot = 0; /* set by lookup when the key is absent */
    int64_t i = lookup(t, key, h, &slot);
    cog__gc_barrier_touch(value);
    if (i >= 0) {
        old = atomic_exchange_explicit(&t->e[i].value, value, memory_order_acq_rel);
    } else {
        cog_incref(key);
        cog__gc_barrier_touch(key);
        entry *e = &t->e[slot];
        if (!atomic_load_explicit(&e->key, memory_order_relaxed)) t->used++;
        e->hash = h;
        /* Value before key: a traverse that sees the key sees its value. */
        atomic_store_explicit(&e->value, value, memory_order_release);
        atomic_store_explicit(&e->key, key, memory_order_release);
        atomic_store_explicit(&d->size, atomic_load_explicit(&d->size, memory_order_relaxed) + 1,
                              memory_order_release);
    }
    cog_rwspin_wrunlock(&d->lock);
    if (old) cog_decref(old);
    return COG_OK;
}

static cog_object *find_locked(cog_dict *d, cog_object *key, uint64_t h) {
    table *t = atomic_load_explicit(&d->t, memory_order_relaxed);
    if (!t) return NULL;
    int64_t i = lookup(t, key, h, NULL);
    return i >= 0 ? cog_ref_load(&t->e[i].value) : NULL;
}

int cog_dict_get(cog_object *self, cog_object *key, cog_object **value) {
    int rc = check(self, key, "cog_dict_get");
    if (rc) return rc;
    cog_dict *d = (cog_dict *)self;
    uint64_t h = cog_object_hash(key);
    cog_rwspin_rdlock(&d->lock);
    cog_object *v = find_locked(d, key, h);
    if (v) cog_incref(v); /* the dict's reference keeps v alive under the lock */
    cog_rwspin_rdunlock(&d->lock);
    *value = v;
    return v != NULL;
}

cog_object *cog_dict_get_borrowed(cog_object *self, cog_object *key) {
    if (check(self, key, "cog_dict_get_borrowed")) return NULL;
    cog_dict *d = (cog_dict *)self;
    uint64_t h = cog_object_hash(key);
    cog_rwspin_rdlock(&d->lock);
    cog_object *v = find_locked(d, key, h);
    cog_rwspin_rdunlock(&d->lock);
    return v;
}

int cog_dict_pop(cog_object *self, cog_object *key, cog_object **value) {
    int rc = check(self, key, "cog_dict_pop");
    if (rc) return rc;
    cog_dict *d = (cog_dict *)self;
    uint64_t h = cog_object_hash(key);
    cog_object *k = NULL, *v = NULL;
    cog_rwspin_wrlock(&d->lock);
    table *t = atomic_load_explicit(&d->t, memory_order_relaxed);
    int64_t i = t ? lookup(t, key, h, NULL) : -1;
    if (i >= 0) {
        k = atomic_exchange_explicit(&t->e[i].key, &dummy, memory_order_acq_rel);
        v = atomic_exchange_explicit(&t->e[i].value, NULL, memory_order_acq_rel);
        atomic_store_explicit(&d->size, atomic_load_explicit(&d->size, memory_order_relaxed) - 1,
                              memory_order_release);
    }
    cog_rwspin_wrunlock(&d->lock);
    if (i < 0) {
        if (value) *value = NULL;
        return 0;
    }
    cog_decref(k);
    /* The value's reference moves to the caller (cf. cog_ref_take). */
    cog__gc_barrier_touch(v);
    if (value) *value = v;
    else cog_decref(v);
    return 1;
}

int cog_dict_del(cog_object *self, cog_object *key) { return cog_dict_pop(self, key, NULL); }

int cog_dict_clear(cog_object *self) {
    if (!self || !cog_dict_check(self)) return cog_error(COG_EINVAL, "cog_dict_clear: not a dict");
    dict_clear_impl((cog_dict *)self, 0);
    return COG_OK;
}

int cog_dict_next(cog_object *self, size_t *pos, cog_object **key, cog_object **value) {
    if (!self || !cog_dict_check(self) || !pos)
        return cog_error(COG_EINVAL, "cog_dict_next: not a dict or NULL pos");
    cog_dict *d = (cog_dict *)self;
    int found = 0;
    cog_rwspin_rdlock(&d->lock);
    table *t = atomic_load_explicit(&d->t, memory_order_relaxed);
    for (size_t i = *pos; t && i < t->cap; i++) {
        cog_object *k = cog_ref_load(&t->e[i].key);
        if (!k || k == &dummy) continue;
        if (key) cog_incref(*key = k);
        if (value) cog_incref(*value = cog_ref_load(&t->e[i].value));
        *pos = i + 1;
        found = 1;
        break;
    }
    cog_rwspin_rdunlock(&d->lock);
    return found;
}

cog_object *cog_dict_keys(cog_object *self) {
    if (!self || !cog_dict_check(self)) return cog_error(COG_EINVAL, "cog_dict_keys: not a dict"), NULL;
    cog_dict *d = (cog_dict *)self;
    for (;;) {
        size_t n = cog_dict_size(self);
        cog_object *tup = cog_tuple_new(n);
        if (!tup) return NULL;
        cog_rwspin_rdlock(&d->lock);
        if (atomic_load_explicit(&d->size, memory_order_relaxed) != n) {
            cog_rwspin_rdunlock(&d->lock);
            cog_decref(tup);
            continue;
        }
        table *t = atomic_load_explicit(&d->t, memory_order_relaxed);
        size_t j = 0;
        for (size_t i = 0; t && i < t->cap; i++) {
            cog_object *k = cog_ref_load(&t->e[i].key);
            if (!k || k == &dummy) continue;
            cog_incref(k);
            cog_tuple_init_item(tup, j++, k);
        }
        cog_rwspin_rdunlock(&d->lock);
        return tup;
    }
}
