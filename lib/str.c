/* lib/str.c - str objects. */
#include <string.h>

#include "lib/error.h"
#include "lib/str_internal.h"

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

/* wyhash (final version 4, Wang Yi; public domain / The Unlicense), with a
 * fixed seed. Short keys (<= 16 bytes, the common case for identifiers)
 * take two overlapping loads and two 64x64->128-bit multiplies, with no
 * loop and no byte-by-byte tail; longer keys mix 16 (or 48) bytes per
 * multiply. Every output bit depends on every input bit (it passes SMHasher),
 * so tables may use any bits of it. */
static inline uint64_t wy_mix(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}
static inline uint64_t wy_r8(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint64_t wy_r4(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#define WY_P0 0x2d358dccaa6c78a5ull
#define WY_P1 0x8bb84b93962eacc9ull
#define WY_P2 0x4b33a62ed433d4a3ull
#define WY_P3 0x4d5a2da51de1aa47ull

uint64_t cog_hash_bytes(const void *key, size_t len) {
    const unsigned char *p = key;
    /* wyhash's seed step for seed 0: seed ^= wymix(seed ^ P0, P1). */
    uint64_t seed = wy_mix(WY_P0, WY_P1);
    uint64_t a, b;
    if (__builtin_expect(len <= 16, 1)) {
        if (__builtin_expect(len >= 4, 1)) {
            a = (wy_r4(p) << 32) | wy_r4(p + ((len >> 3) << 2));
            b = (wy_r4(p + len - 4) << 32) | wy_r4(p + len - 4 - ((len >> 3) << 2));
        } else if (len > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = len;
        if (__builtin_expect(i > 48, 0)) {
            uint64_t see1 = seed, see2 = seed;
            do {
                seed = wy_mix(wy_r8(p) ^ WY_P1, wy_r8(p + 8) ^ seed);
                see1 = wy_mix(wy_r8(p + 16) ^ WY_P2, wy_r8(p + 24) ^ see1);
                see2 = wy_mix(wy_r8(p + 32) ^ WY_P3, wy_r8(p + 40) ^ see2);
                p += 48;
                i -= 48;
            } while (__builtin_expect(i > 48, 1));
            seed ^= see1 ^ see2;
        }
        while (__builtin_expect(i > 16, 0)) {
            seed = wy_mix(wy_r8(p) ^ WY_P1, wy_r8(p + 8) ^ seed);
            i -= 16;
            p += 16;
        }
        a = wy_r8(p + i - 16);
        b = wy_r8(p + i - 8);
    }
    a ^= WY_P1;
    b ^= seed;
    __uint128_t r = (__uint128_t)a * b;
    a = (uint64_t)r;
    b = (uint64_t)(r >> 64);
    uint64_t h = wy_mix(a ^ WY_P0 ^ len, b ^ WY_P1);
    return h ? h : 1;
}

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
    cog_str *s = (cog_str *)cog_new_var(type, len);
    if (!s) return NULL;
    s->data[len] = '\0';
    return s;
}

cog_object *cog_str_new(const char *utf8, size_t len) {
    if (!utf8 && len) return cog_error(COG_EINVAL, "cog_str_new: NULL bytes"), NULL;
    if (!cog__utf8_valid((const unsigned char *)utf8, len))
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
