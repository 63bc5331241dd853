/* lib/types/str_internal.h - str internals shared by str.c and intern.c. The
 * str object's layout and the deferred counts of interned strings are in
 * lib/core/upcalls.h, because the object model reads them too. */
#ifndef COG_LIB_STR_INTERNAL_H
#define COG_LIB_STR_INTERNAL_H

#include <stdatomic.h>

#include "cog/str.h"
#include "lib/base/rcu.h"
#include "lib/core/upcalls.h"

/* The intern table's node, stored after an interned string's bytes. The
 * review head and state belong to the deferred-count protocol of mortal
 * canonical strings (lib/types/intern.c "Deferred counts"): at most one review
 * of a string is in flight, and it uses this head. */
typedef struct intern_node {
    struct cds_lfht_node node;
    cog_str *str;
    cog_rcu_head review;
    atomic_uint review_state; /* RV_* in lib/types/intern.c */
} intern_node;

static inline intern_node *cog__str_node(cog_str *s) {
    uintptr_t p = (uintptr_t)(s->data + s->ob.ob_size + 1);
    return (intern_node *)((p + 7) & ~(uintptr_t)7);
}

int cog__utf8_valid(const unsigned char *s, size_t len);

/* Unaligned loads for the inline helpers below (memcpy compiles to one
 * mov; no alignment or aliasing assumptions). */
static inline uint64_t cog__load8(const void *p) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}
static inline uint32_t cog__load4(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/* wyhash (final version 4, Wang Yi; public domain / The Unlicense), with a
 * fixed seed. Short keys (<= 16 bytes, the common case for identifiers)
 * take two overlapping loads and two 64x64->128-bit multiplies, with no
 * loop and no byte-by-byte tail; longer keys mix 16 (or 48) bytes per
 * multiply. Every output bit depends on every input bit (it passes SMHasher),
 * so tables may use any bits of it. */
/* 64x64 -> 128-bit multiply: *a = low half, *b = high half. */
static inline void wy_mum(uint64_t *a, uint64_t *b) {
#ifdef __SIZEOF_INT128__
    __uint128_t r = (__uint128_t)*a * *b;
    *a = (uint64_t)r;
    *b = (uint64_t)(r >> 64);
#else /* same result from 32-bit halves (wyhash's portable path) */
    uint64_t ha = *a >> 32, hb = *b >> 32, la = (uint32_t)*a, lb = (uint32_t)*b;
    uint64_t rh = ha * hb, rm0 = ha * lb, rm1 = hb * la, rl = la * lb;
    uint64_t t = rl + (rm0 << 32), c = t < rl;
    uint64_t lo = t + (rm1 << 32);
    c += lo < t;
    *a = lo;
    *b = rh + (rm0 >> 32) + (rm1 >> 32) + c;
#endif
}
static inline uint64_t wy_mix(uint64_t a, uint64_t b) {
    wy_mum(&a, &b);
    return a ^ b;
}
#define wy_r8(p) cog__load8(p)
#define wy_r4(p) ((uint64_t)cog__load4(p))

#define WY_P0 0x2d358dccaa6c78a5ull
#define WY_P1 0x8bb84b93962eacc9ull
#define WY_P2 0x4b33a62ed433d4a3ull
#define WY_P3 0x4d5a2da51de1aa47ull

static inline uint64_t cog__hash_bytes_inline(const void *key, size_t len) {
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
    wy_mum(&a, &b);
    uint64_t h = wy_mix(a ^ WY_P0 ^ len, b ^ WY_P1);
    return h ? h : 1;
}

/* cog__utf8_valid with an inline pure-ASCII test first: OR the bytes
 * together a word at a time (overlapping the last word) and check the top
 * bits; only strings with a non-ASCII byte take the full validator. */
static inline int cog__utf8_valid_fast(const unsigned char *s, size_t len) {
    if (len >= 8) {
        uint64_t acc = cog__load8(s + len - 8);
        for (size_t i = 0; i + 8 < len; i += 8) acc |= cog__load8(s + i);
        if (!(acc & 0x8080808080808080ull)) return 1;
    } else if (len >= 4) {
        if (!((cog__load4(s) | cog__load4(s + len - 4)) & 0x80808080u)) return 1;
    } else {
        unsigned acc = 0;
        for (size_t i = 0; i < len; i++) acc |= s[i];
        if (!(acc & 0x80)) return 1;
    }
    return cog__utf8_valid(s, len);
}

/* Equality of len bytes, inlined for short keys: whole words, the last one
 * overlapping, instead of a call to memcmp. */
static inline int cog__bytes_equal(const char *a, const char *b, size_t len) {
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            if (cog__load8(a + i) != cog__load8(b + i)) return 0;
        return cog__load8(a + len - 8) == cog__load8(b + len - 8);
    }
    if (len >= 4)
        return cog__load4(a) == cog__load4(b) && cog__load4(a + len - 4) == cog__load4(b + len - 4);
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Allocate an uninitialised-bytes string of the given type and length. */
cog_str *cog__str_alloc(const cog_type *type, size_t len);
/* Interned dealloc: unlink from the table (intern.c). */
void cog__intern_unlink(cog_str *s);

/* Test hook: called by the review's first step right after it moved a
 * string to the DYING state (on liburcu's call_rcu thread). NULL normally. */
extern void (*_Atomic cog__intern_review_hook)(cog_str *s);
#endif
