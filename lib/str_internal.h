/* lib/str_internal.h - str layout shared by str.c and intern.c (internal). */
#ifndef COG_LIB_STR_INTERNAL_H
#define COG_LIB_STR_INTERNAL_H

#include <stdatomic.h>

#include "cog/str.h"
#include "lib/rcu.h"

enum {
    STR_PLAIN = 0,     /* not interned */
    STR_FRESH = 1,     /* interned type, not (or no longer) in the table */
    STR_IN_TABLE = 2,  /* mortal canonical string, linked in the table */
    STR_IMMORTAL = 3,  /* immortal canonical string, linked in the table */
};

typedef struct cog_str {
    cog_varobject ob;           /* ob_size = length in bytes */
    _Atomic uint64_t hash;      /* 0 until computed */
    atomic_uint state;          /* STR_* */
    char data[];                /* ob_size bytes + NUL; interned: + node */
} cog_str;

/* The intern table's node, stored after an interned string's bytes. The
 * review head and state belong to the deferred-count protocol of mortal
 * canonical strings (lib/intern.c "Deferred counts"): at most one review
 * of a string is in flight, and it uses this head. */
typedef struct intern_node {
    struct cds_lfht_node node;
    cog_str *str;
    cog_rcu_head review;
    atomic_uint review_state; /* RV_* in lib/intern.c */
} intern_node;

extern const cog_type cog__str_interned_type;

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

/* ---- Deferred counts of mortal canonical strings (lib/intern.c) ---------
 * cog_decref of a merged, mortal interned string (lib/brc.c routes it
 * here): a per-thread cached decrement, or an atomic one that requests a
 * review instead of deallocating when the shared count reaches 0. */
void cog__intern_decref(cog_str *s);

/* The calling thread's delta cache (lib/intern.c "Deferred counts"): a
 * direct-mapped array of {string, delta}, heap-allocated at the thread's
 * first hit and freed at detach, so non-NULL only on attached threads. Only
 * its owner thread touches it (plain memory). */
typedef struct cog__dslot {
    cog_str *s;
    intptr_t delta;
} cog__dslot;
#define COG__DCACHE_BITS 9
#define COG__DCACHE_SLOTS (1u << COG__DCACHE_BITS)
extern __thread cog__dslot *cog__intern_dcache __attribute__((tls_model("initial-exec")));

static inline cog__dslot *cog__dslot_in(cog__dslot *c, const cog_str *s) {
    /* Fibonacci hashing of the address: blocks are 16-byte aligned and
     * neighbours in a pool must not collide. */
    return &c[((uintptr_t)s * 0x9E3779B97F4A7C15ull) >> (64 - COG__DCACHE_BITS)];
}

static inline void cog__dslot_add(cog__dslot *e, intptr_t d) {
    intptr_t old = e->delta, nd = old + d;
    e->delta = nd;
    cog__intern_dirty += (unsigned)(nd != 0) - (unsigned)(old != 0);
}

/* The decref fast path, inlined into lib/brc.c: a -1 in the cache when the
 * string is a mortal canonical one in the table and this thread's slot
 * holds it. 0: not handled, call cog__intern_decref. The state is stable
 * (the caller holds a reference, so the string is not dead) and on the
 * header's cache line, which the caller has just read. */
static inline int cog__intern_decref_cached(cog_str *s) {
    cog__dslot *c = cog__intern_dcache;
    if (!c || atomic_load_explicit(&s->state, memory_order_relaxed) != STR_IN_TABLE) return 0;
    cog__dslot *e = cog__dslot_in(c, s);
    if (e->s != s) return 0;
    cog__dslot_add(e, -1);
    return 1;
}
/* cog_try_incref of an interned string (lib/tryincref.c): exact under the
 * deferred-count protocol (fails only once the string is DEAD). */
int cog__intern_try_incref(cog_str *s);
/* cog_refcount of an interned string: flushes the calling thread's cached
 * deltas first, then decodes the shared count (see lib/intern.c). */
int64_t cog__intern_refcount(cog_str *s);
/* Detach: flush the calling thread's cache and free it (lib/thread.c). */
void cog__intern_thread_detach(void);
/* Test hook: called by the review's first step right after it moved a
 * string to the DYING state (on liburcu's call_rcu thread). NULL normally. */
extern void (*_Atomic cog__intern_review_hook)(cog_str *s);
#endif
