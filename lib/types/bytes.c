/* lib/types/bytes.c - bytes objects. */
#include <string.h>

#include "cog/bytes.h"
#include "cog/str.h"
#include "lib/base/error.h"
#include "lib/core/object_internal.h"

typedef struct cog_bytes {
    cog_varobject ob;
    _Atomic uint64_t hash; /* 0 until computed; idempotent racy cache */
    unsigned char data[];
} cog_bytes;

const cog_type cog_bytes_type = {
    .name = "bytes",
    .basic_size = offsetof(cog_bytes, data) + 1,
    .item_size = 1,
};

cog_object *cog_bytes_new(const void *p, size_t len) {
    if (!p && len) return cog_error(COG_EINVAL, "cog_bytes_new: NULL data"), NULL;
    /* Not zeroed: the copy below fills every byte. */
    cog_bytes *b = (cog_bytes *)cog__new_var_uninit(&cog_bytes_type, len);
    if (!b) return NULL;
    if (len) memcpy(b->data, p, len);
    b->data[len] = 0;
    return &b->ob.ob_base;
}

int cog_bytes_check(const cog_object *o) { return o->ob_type == &cog_bytes_type; }

const unsigned char *cog_bytes_data(const cog_object *o) { return ((const cog_bytes *)o)->data; }

size_t cog_bytes_len(const cog_object *o) { return ((const cog_varobject *)o)->ob_size; }

uint64_t cog_bytes_hash(cog_object *o) {
    cog_bytes *b = (cog_bytes *)o;
    uint64_t h = atomic_load_explicit(&b->hash, memory_order_relaxed);
    if (!h) {
        h = cog_hash_bytes(b->data, b->ob.ob_size);
        atomic_store_explicit(&b->hash, h, memory_order_relaxed);
    }
    return h;
}

int cog_bytes_equal(cog_object *a, cog_object *b) {
    if (a == b) return 1;
    if (!cog_bytes_check(a) || !cog_bytes_check(b)) return 0;
    size_t n = cog_bytes_len(a);
    return n == cog_bytes_len(b) && memcmp(cog_bytes_data(a), cog_bytes_data(b), n) == 0;
}
