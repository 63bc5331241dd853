/* lib/types/str.c - str objects. */
#include <string.h>

#include "lib/base/error.h"
#include "lib/core/object_internal.h"
#include "lib/types/str_internal.h"

const cog_type cog_str_type = {
    .name = "str",
    .basic_size = offsetof(cog_str, data) + 1,
    .item_size = 1,
};

static void interned_dealloc(cog_object *o) { cog__intern_unlink((cog_str *)o); }

/* Interned strings are found by lock-free lookups that may still hold the
 * pointer when the last reference goes: DEFER_FREE keeps the block (and its
 * table node) valid for a grace period after the dealloc unlinked it. */
const cog_type cog__str_interned_type = {
    .name = "str",
    .basic_size = offsetof(cog_str, data) + 1 + 7 + sizeof(intern_node),
    .item_size = 1,
    .flags = COG_TYPE_DEFER_FREE,
    .dealloc = interned_dealloc,
};

/* The body is inline in lib/types/str_internal.h (the intern hit path uses it). */
uint64_t cog_hash_bytes(const void *key, size_t len) { return cog__hash_bytes_inline(key, len); }

int cog__utf8_valid(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path: 8 bytes at a time while no byte has its top bit
         * set (identifiers and keys are usually pure ASCII). */
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (len - i - 1 < n) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += n + 1;
    }
    return 1;
}

cog_str *cog__str_alloc(const cog_type *type, size_t len) {
    /* Every caller copies len bytes in before sharing it. */
    cog_str *s = (cog_str *)cog__new_var_uninit(type, len);
    if (!s) return NULL;
    s->data[len] = '\0';
    return s;
}

cog_object *cog_str_new(const char *utf8, size_t len) {
    if (!utf8 && len) return cog_error(COG_EINVAL, "cog_str_new: NULL bytes"), NULL;
    if (!cog__utf8_valid_fast((const unsigned char *)utf8, len))
        return cog_error(COG_EINVAL, "cog_str_new: invalid UTF-8"), NULL;
    cog_str *s = cog__str_alloc(&cog_str_type, len);
    if (!s) return NULL;
    if (len) memcpy(s->data, utf8, len);
    return &s->ob.ob_base;
}

cog_object *cog_str_from_cstr(const char *s) {
    if (!s) return cog_error(COG_EINVAL, "cog_str_from_cstr: NULL"), NULL;
    return cog_str_new(s, strlen(s));
}

int cog_str_check(const cog_object *o) {
    return o->ob_type == &cog_str_type || o->ob_type == &cog__str_interned_type;
}

const char *cog_str_data(const cog_object *o) { return ((const cog_str *)o)->data; }

size_t cog_str_len(const cog_object *o) { return ((const cog_varobject *)o)->ob_size; }

/* Racy but idempotent: every thread stores the same value, relaxed atomics
 * keep it tear-free; the bytes it hashes are immutable. */
uint64_t cog_str_hash(cog_object *o) {
    cog_str *s = (cog_str *)o;
    uint64_t h = atomic_load_explicit(&s->hash, memory_order_relaxed);
    if (!h) {
        h = cog_hash_bytes(s->data, s->ob.ob_size);
        atomic_store_explicit(&s->hash, h, memory_order_relaxed);
    }
    return h;
}

int cog_str_equal_bytes(cog_object *o, const char *p, size_t len) {
    cog_str *s = (cog_str *)o;
    return s->ob.ob_size == len && memcmp(s->data, p, len) == 0;
}

int cog_str_equal(cog_object *a, cog_object *b) {
    if (a == b) return 1;
    if (!cog_str_check(a) || !cog_str_check(b)) return 0;
    cog_str *x = (cog_str *)a, *y = (cog_str *)b;
    if (x->ob.ob_size != y->ob.ob_size) return 0;
    if (cog_str_hash(a) != cog_str_hash(b)) return 0;
    return memcmp(x->data, y->data, x->ob.ob_size) == 0;
}

int cog_str_is_interned(const cog_object *o) {
    if (o->ob_type != &cog__str_interned_type) return 0;
    return atomic_load_explicit(&((cog_str *)o)->state, memory_order_relaxed) >= STR_IN_TABLE;
}
