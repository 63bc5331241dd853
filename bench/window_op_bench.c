/* bench/window_op_bench.c - what a mutator's reference operation costs
 * while a collection window is open, against the same operation outside.
 *
 * Inside a window every owner count operation takes the slow path, which
 * marks objects the scan may consider (lib/core/gc_hooks.c cog__gc_touch): an
 * object of a generation the scan collects (young) is marked once (a CAS)
 * and then only tested; an older one is only tested. The window is
 * simulated on this thread alone (the collector idle, automatic collection
 * off) by setting what the collector sets when it opens one: the barrier
 * mode, the scan's generation and epoch, this thread's fast id. These are
 * cog internals (lib/core/gc_hooks.h, cog/object.h), declared here: a
 * measurement of the mechanism, not an API use.
 *
 * Rows (ns per pair, medians of interleaved runs): owner incref+decref
 * and cog_ref_store of a field (store + drop of the old value), outside a
 * window, inside one on an old object (generation 2), inside one on a
 * young object (generation 0).
 *   usage: window_op_bench [reps] [pairs]   (default 7 50000000) */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/gc_node.h"
#include "cog/cog.h"

/* cog internals (see the header comment). */
extern atomic_int cog__gc_scan_gen;
extern _Atomic(uint64_t) cog__gc_scan_epoch;
#define WINDOW_COLLECT 1 /* lib/core/gc_hooks.h COG_WINDOW_COLLECT */
#define EPOCH (1ull << 10) /* any scan epoch (lib/core/object_internal.h) */

#define BARRIER(p) __asm__ __volatile__("" : : "r"(p) : "memory")
#define MAX_REPS 51

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void window(int open) {
    atomic_store(&cog__gc_scan_gen, open ? 0 : -1);
    atomic_store(&cog__gc_scan_epoch, EPOCH);
    atomic_store(&cog__gc_barrier, open ? WINDOW_COLLECT : 0);
    atomic_store(&cog__tls_fast_tid, open ? COG_TID_SLOW : cog__tls_tid);
}

static double pairs_incdec(cog_object *o, long n) {
    double t = now();
    for (long i = 0; i < n; i++) {
        cog_incref(o);
        BARRIER(o);
        cog_decref(o);
        BARRIER(o);
    }
    return now() - t;
}

/* Store a new reference to `value` in the field, dropping the old one. */
static double stores(bnode *holder, cog_object *value, long n) {
    double t = now();
    for (long i = 0; i < n; i++) {
        cog_incref(value);
        cog_ref_store(&holder->a, value);
        BARRIER(holder);
    }
    return now() - t;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    long n = argc > 2 ? atol(argv[2]) : 50000000L;
    if (reps < 1 || reps > MAX_REPS || n < 1) {
        fprintf(stderr, "usage: window_op_bench [reps<=%d] [pairs]\n", MAX_REPS);
        return 2;
    }
    if (cog_init() != COG_OK) return 1;
    cog_gc_disable();
    bnode *old = (bnode *)cog_new(&gc_node_type), *old_holder = (bnode *)cog_new(&gc_node_type);
    if (!old || !old_holder) return 1;
    cog_gc_collect(2); /* both generation 2 */
    bnode *young = (bnode *)cog_new(&gc_node_type), *holder = (bnode *)cog_new(&gc_node_type);
    if (!young || !holder) return 1;
    static double v[6][MAX_REPS];
    for (int r = 0; r < reps; r++) {
        v[0][r] = pairs_incdec(&young->ob, n);
        v[1][r] = stores(holder, &young->ob, n);
        window(1);
        v[2][r] = pairs_incdec(&old->ob, n);
        v[3][r] = stores(old_holder, &old->ob, n);
        v[4][r] = pairs_incdec(&young->ob, n);
        v[5][r] = stores(holder, &young->ob, n);
        window(0);
    }
    static const char *name[6] = {
        "incref+decref, no window",           "ref_store, no window",
        "incref+decref, window, old object",  "ref_store, window, old object",
        "incref+decref, window, young object", "ref_store, window, young object",
    };
    printf("window_op_bench: medians of %d interleaved runs of %ld operations\n", reps, n);
    printf("%-38s %9s %9s\n", "operation", "ns/op", "vs none");
    for (int k = 0; k < 6; k++) {
        double m = median(v[k], reps) / (double)n * 1e9;
        double base = median(v[k & 1], reps) / (double)n * 1e9;
        printf("%-38s %9.2f %8.2fx\n", name[k], m, m / base);
    }
    cog_ref_store(&holder->a, NULL);
    cog_ref_store(&old_holder->a, NULL);
    cog_decref(&old->ob);
    cog_decref(&old_holder->ob);
    cog_decref(&young->ob);
    cog_decref(&holder->ob);
    return cog_shutdown() == 0 ? 0 : 1;
}
