/* bench/latency_hist.h - a log-linear latency histogram (HdrHistogram's
 * layout, 32 sub-buckets per power of two: every value is within 3% of
 * its bucket's lower edge) that fits in 16 KiB, so a benchmark can record
 * millions of samples without a growing array skewing its own RSS. */
#ifndef COG_BENCH_LATENCY_HIST_H
#define COG_BENCH_LATENCY_HIST_H

#include <stdint.h>
#include <string.h>

#define LH_SUB_BITS 5
#define LH_SUB (1u << LH_SUB_BITS)
#define LH_BUCKETS ((64 - LH_SUB_BITS + 1) * LH_SUB)

typedef struct latency_hist {
    uint64_t count[LH_BUCKETS];
    uint64_t n, max;
} latency_hist;

static inline unsigned lh_bucket(uint64_t v) {
    if (v < LH_SUB) return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - LH_SUB_BITS;
    return ((shift + 1) << LH_SUB_BITS) + (unsigned)((v >> shift) & (LH_SUB - 1));
}

/* Lower edge of bucket b. */
static inline uint64_t lh_value(unsigned b) {
    if (b < LH_SUB) return b;
    unsigned shift = (b >> LH_SUB_BITS) - 1;
    return (uint64_t)((b & (LH_SUB - 1)) | LH_SUB) << shift;
}

static inline void lh_add(latency_hist *h, uint64_t v) {
    h->count[lh_bucket(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

static inline void lh_merge(latency_hist *into, const latency_hist *from) {
    for (unsigned b = 0; b < LH_BUCKETS; b++) into->count[b] += from->count[b];
    into->n += from->n;
    if (from->max > into->max) into->max = from->max;
}

/* The value at quantile q (0..1): the lower edge of the bucket holding the
 * q-th sample, capped by the exact maximum. */
static inline uint64_t lh_quantile(const latency_hist *h, double q) {
    if (!h->n) return 0;
    uint64_t want = (uint64_t)(q * (double)(h->n - 1)), acc = 0;
    for (unsigned b = 0; b < LH_BUCKETS; b++) {
        acc += h->count[b];
        if (acc > want) return lh_value(b) < h->max ? lh_value(b) : h->max;
    }
    return h->max;
}
#endif
