/* bench/gc_young_bench.c - a young collection beside an old heap (issue 14):
 * cog_gc_collect(0) of Y nodes of cyclic garbage (default 10000, env
 * YOUNG=n) beside N live old nodes in generation 2, for each N. A young
 * collection should cost O(young): its time must not grow with N.
 * bench/gc_young_bench.sh runs this and bench/gc_young_bench.py (CPython's
 * gc.collect(0)) on the same shape (bench/gc_shape.h) and prints both.
 *
 * Only cog_gc_collect(0) is timed. It includes the frees, as CPython's
 * does: the main thread waits offline, so the collector frees its garbage
 * as its owner. The cog_safepoint between rounds (untimed) does whatever
 * is left for the main thread. Checked: each collection finds exactly the
 * young garbage (no old node), and after the rounds only the old heap is
 * left.
 *
 * usage: gc_young_bench [rounds] [old sizes...]   (default 7 0 1000000 4000000)
 * Output: "YOUNG cog <old n> <median ms> <min ms> <max ms>" per size, then
 * a table of each median's growth over the first size's (0 old). */
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

static void fail(long n, const char *msg, long got, long want) {
    fprintf(stderr, "gc_young_bench: old %ld: %s: %ld, expected %ld\n", n, msg, got, want);
    exit(1);
}

/* Median young-collection time beside n old nodes. */
static double bench_old(long n, long young, int rounds) {
    long nr = n / GC_RING, old = nr * GC_RING, ny = young / GC_RING * GC_RING;
    cog_object **roots = malloc((size_t)(nr ? nr : 1) * sizeof *roots);
    if (!roots) abort();
    gc_node_build(n, roots);
    cog_gc_collect(2); /* promotes the old heap to generation 2 */
    long in2 = cog_gc_get_objects(2, NULL, 0);
    if (in2 < old) fail(n, "objects in generation 2", in2, old);
    double v[rounds];
    for (int r = -1; r < rounds; r++) { /* r = -1: warm-up, not recorded */
        gc_node_build(young, NULL);
        double t0 = now_ms();
        long found = cog_gc_collect(0);
        double t = now_ms() - t0;
        cog_safepoint(); /* frees the young garbage clearing queued to us */
        if (found != ny) fail(n, "young collection found", found, ny);
        if (r >= 0) v[r] = t;
    }
    long live = gc_node_live();
    if (live != old) fail(n, "nodes live after the rounds", live, old);
    qsort(v, (size_t)rounds, sizeof *v, cmp_double);
    printf("YOUNG cog %ld %.3f %.3f %.3f\n", n, v[rounds / 2], v[0], v[rounds - 1]);
    fflush(stdout);
    /* Drop the old heap before the next size. */
    for (long r = 0; r < nr; r++) cog_decref(roots[r]);
    free(roots);
    cog_gc_collect(2);
    cog_safepoint();
    if ((live = gc_node_live()) != 0) fail(n, "nodes left after dropping the old heap", live, 0);
    return v[rounds / 2];
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    long young = getenv("YOUNG") ? atol(getenv("YOUNG")) : 10000;
    if (rounds < 1 || rounds > 100 || young < GC_RING) {
        fprintf(stderr, "usage: [YOUNG=n>=%d] gc_young_bench [rounds<=100] [old sizes...]\n",
                GC_RING);
        return 2;
    }
    if (cog_init() != COG_OK) {
        fprintf(stderr, "cog_init: %s\n", cog_last_error());
        return 1;
    }
    cog_gc_disable(); /* only the collections we time */
    long def[] = {0, 1000000, 4000000};
    int nsizes = argc > 2 ? argc - 2 : 3;
    long sizes[nsizes];
    double med[nsizes];
    for (int s = 0; s < nsizes; s++) {
        sizes[s] = argc > 2 ? atol(argv[2 + s]) : def[s];
        med[s] = bench_old(sizes[s], young, rounds);
    }
    printf("\ngen-0 collection of %ld young nodes, %d rounds; growth = median / median "
           "beside %ld old\n%12s %10s %8s\n",
           young / GC_RING * GC_RING, rounds, sizes[0], "old nodes", "median ms", "growth");
    for (int s = 0; s < nsizes; s++)
        printf("%12ld %10.3f %7.2fx\n", sizes[s], med[s], med[s] / med[0]);
    cog_shutdown();
    return 0;
}
