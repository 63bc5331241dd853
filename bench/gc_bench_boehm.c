/* bench/gc_bench_boehm.c - Boehm GC (libgc-dev) full collection,
 * GC_gcollect(), on the shape of bench/gc_shape.h: N nodes of cyclic
 * garbage, and N live nodes reachable from a root array. Boehm traces from
 * the roots, so its cost follows the live heap (mark) plus a sweep of the
 * garbage's blocks; cog's and CPython's trial deletion work on every
 * tracked object. Same output format as bench/gc_bench.c.
 * usage: gc_bench_boehm [runs] [heap sizes...] */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/gc_shape.h"

typedef struct bnode {
    struct bnode *a, *b;
} bnode;

static bnode **roots; /* GC_MALLOC'd: scanned as part of the heap */

static void build(long n, int keep) {
    bnode *ring[GC_RING];
    for (long r = 0; r < n / GC_RING; r++) {
        for (int i = 0; i < GC_RING; i++) ring[i] = GC_MALLOC(sizeof(bnode));
        for (int i = 0; i < GC_RING; i++) {
            ring[i]->a = ring[gc_shape_a(i)];
            ring[i]->b = ring[gc_shape_b(i)];
        }
        if (keep) roots[r] = ring[0];
    }
    /* a conservative collector would keep a ring alive through a stale
     * stack slot: wipe the temporaries */
    memset(ring, 0, sizeof ring);
    __asm__ volatile("" : : "r"(ring) : "memory");
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, long n, double *v, int runs) {
    qsort(v, (size_t)runs, sizeof *v, cmp_double);
    printf("RESULT boehm %s %ld %.2f %.2f %.2f\n", what, n, v[runs / 2], v[0], v[runs - 1]);
    fflush(stdout);
}

static double timed_collect(void) {
    GC_enable();
    double t0 = now_ms();
    GC_gcollect();
    double t = now_ms() - t0;
    GC_disable();
    return t;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1 || runs > 100) return 2;
    GC_INIT();
    GC_disable(); /* only the collections we time */
    int nsizes = argc > 2 ? argc - 2 : 1;
    for (int s = 0; s < nsizes; s++) {
        long n = argc > 2 ? atol(argv[2 + s]) : 1000000;
        double v[runs];
        for (int r = -1; r < runs; r++) { /* r = -1: warm-up */
            build(n, 0);
            double t = timed_collect();
            if (r >= 0) v[r] = t;
        }
        report("garbage", n, v, runs);

        roots = GC_MALLOC((size_t)(n / GC_RING) * sizeof *roots);
        build(n, 1);
        timed_collect(); /* warm-up */
        size_t live = GC_get_heap_size() - GC_get_free_bytes();
        for (int r = 0; r < runs; r++) v[r] = timed_collect();
        report("live", n, v, runs);
        if (live < (size_t)n * sizeof(bnode)) {
            fprintf(stderr, "gc_bench_boehm: live heap %zu bytes < %ld nodes\n", live, n);
            return 1;
        }
        roots = NULL;
        timed_collect();
    }
    return 0;
}
