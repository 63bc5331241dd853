/* bench/gc_bench.c - cog's full collection (cog_gc_collect(2)) of
 *   garbage: N nodes of cyclic garbage (rings, bench/gc_shape.h), all freed;
 *   live:    N live nodes in the same rings, one root reference per ring.
 * bench/gc_bench.sh runs this, bench/gc_bench_boehm.c and bench/gc_bench.py
 * on the same shape and prints the ratios.
 *
 * The garbage time includes the frees: clearing drops the last references
 * of objects the main thread owns, which biased RC queues to the owner, so
 * the timed region ends after the main thread's next cog_safepoint (where
 * they are freed), and the freed count is checked.
 *
 * usage: gc_bench [runs] [heap sizes...]   (default 5 1000000)
 * Output: "RESULT cog <garbage|live> <n> <median ms> <min ms> <max ms>". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/gc_node.h"
#include "cog/cog.h"

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
    printf("RESULT cog %s %ld %.2f %.2f %.2f\n", what, n, v[runs / 2], v[0], v[runs - 1]);
    fflush(stdout);
}

static void bench_garbage(long n, int runs) {
    double v[runs];
    for (int r = -1; r < runs; r++) { /* r = -1: warm-up, not recorded */
        gc_node_build(n, NULL);
        long before = gc_node_live();
        double t0 = now_ms();
        long found = cog_gc_collect(2);
        cog_safepoint(); /* frees the objects clearing queued to us */
        double t = now_ms() - t0;
        if (r >= 0) v[r] = t;
        long got = before - gc_node_live();
        if (found != n / GC_RING * GC_RING || got != found) {
            fprintf(stderr, "gc_bench: garbage: found %ld freed %ld of %ld\n", found, got, n);
            exit(1);
        }
    }
    report("garbage", n, v, runs);
}

static void bench_live(long n, int runs) {
    long nr = n / GC_RING;
    cog_object **roots = malloc((size_t)nr * sizeof *roots);
    if (!roots) abort();
    gc_node_build(n, roots);
    cog_gc_collect(2); /* warm-up; promotes everything to generation 2 */
    double v[runs];
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        long found = cog_gc_collect(2);
        cog_safepoint();
        v[r] = now_ms() - t0;
        if (found != 0) {
            fprintf(stderr, "gc_bench: live: %ld live objects declared garbage\n", found);
            exit(1);
        }
    }
    report("live", n, v, runs);
    long before = gc_node_live();
    for (long r = 0; r < nr; r++) cog_decref(roots[r]);
    free(roots);
    cog_gc_collect(2);
    cog_safepoint();
    if (before - gc_node_live() != nr * GC_RING) {
        fprintf(stderr, "gc_bench: live heap not freed after dropping the roots\n");
        exit(1);
    }
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1 || runs > 100) {
        fprintf(stderr, "usage: gc_bench [runs<=100] [heap sizes...]\n");
        return 2;
    }
    if (cog_init() != COG_OK) {
        fprintf(stderr, "cog_init: %s\n", cog_last_error());
        return 1;
    }
    cog_gc_disable(); /* only the collections we time */
    long def[] = {1000000};
    int nsizes = argc > 2 ? argc - 2 : 1;
    for (int s = 0; s < nsizes; s++) {
        long n = argc > 2 ? atol(argv[2 + s]) : def[s];
        bench_garbage(n, runs);
        bench_live(n, runs);
    }
    cog_shutdown();
    return 0;
}
