/* lib/types/tuple.c - tuples. */
#include <stdarg.h>

#include "cog/tuple.h"
#include "lib/base/error.h"

typedef struct cog_tuple {
    cog_varobject ob;
    cog_ref items[];
} cog_tuple;

static int tuple_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    cog_tuple *t = (cog_tuple *)self;
    for (size_t i = 0; i < t->ob.ob_size; i++) {
        /* cog_ref_load: the collector may run while the creator fills it. */
        cog_object *o = cog_ref_load(&t->items[i]);
        if (o) {
            int rc = visit(o, arg);
            if (rc) return rc;
        }
    }
    return 0;
}

static void tuple_clear(cog_object *self) {
    cog_tuple *t = (cog_tuple *)self;
    for (size_t i = 0; i < t->ob.ob_size; i++) cog_xdecref(cog_ref_take(&t->items[i]));
}

const cog_type cog_tuple_type = {
    .name = "tuple",
    .basic_size = sizeof(cog_tuple),
    .item_size = sizeof(cog_ref),
    .flags = COG_TYPE_GC,
    .traverse = tuple_traverse,
    .clear = tuple_clear,
    .dealloc = tuple_clear,
};

cog_object *cog_tuple_new(size_t n) { return cog_new_var(&cog_tuple_type, n); }

int cog_tuple_check(const cog_object *o) { return o->ob_type == &cog_tuple_type; }

size_t cog_tuple_size(const cog_object *t) { return ((const cog_varobject *)t)->ob_size; }

int cog_tuple_init_item(cog_object *self, size_t i, cog_object *item) {
    cog_tuple *t = (cog_tuple *)self;
    if (!cog_tuple_check(self) || i >= t->ob.ob_size || !item)
        return cog_error(COG_EINVAL, "cog_tuple_init_item: bad tuple, index %zu or item", i);
    if (cog_ref_load(&t->items[i]))
        return cog_error(COG_EINVAL, "cog_tuple_init_item: item %zu already set", i);
    cog_ref_store(&t->items[i], item);
    return COG_OK;
}

cog_object *cog_tuple_from_array(size_t n, cog_object *const *items) {
    for (size_t i = 0; i < n; i++)
        if (!items[i]) return cog_error(COG_EINVAL, "cog_tuple_from_array: item %zu is NULL", i), NULL;
    cog_object *t = cog_tuple_new(n);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++) {
        cog_incref(items[i]);
        cog_ref_store(&((cog_tuple *)t)->items[i], items[i]);
    }
    return t;
}

cog_object *cog_tuple_pack(size_t n, ...) {
    cog_object *t = cog_tuple_new(n);
    if (!t) return NULL;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        cog_object *o = va_arg(ap, cog_object *);
        if (!o) {
            va_end(ap);
            cog_decref(t);
            return cog_error(COG_EINVAL, "cog_tuple_pack: item %zu is NULL", i), NULL;
        }
        cog_incref(o);
        cog_ref_store(&((cog_tuple *)t)->items[i], o);
    }
    va_end(ap);
    return t;
}

cog_object *cog_tuple_get_borrowed(cog_object *self, size_t i) {
    cog_tuple *t = (cog_tuple *)self;
    if (i >= t->ob.ob_size)
        return cog_error(COG_EINVAL, "tuple index %zu out of range (size %zu)", i, t->ob.ob_size),
               NULL;
    return cog_ref_load(&t->items[i]);
}

cog_object *cog_tuple_get(cog_object *t, size_t i) {
    cog_object *o = cog_tuple_get_borrowed(t, i);
    if (o) cog_incref(o);
    return o;
}
