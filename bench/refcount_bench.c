/* bench/refcount_bench.c - cost of cog's biased reference counting.
 *
 *   owner:  incref+decref pairs by the object's owner thread (the inline
 *           fast path: relaxed load + relaxed store, no RMW)
 *   plain:  the same pairs on a plain non-atomic counter (the floor)
 *   atomic: the same pairs with atomic fetch_add/fetch_sub (what a
 *           conventional thread-safe refcount costs)
 *   cross:  two non-owner threads on one shared object (cog's atomic
 *           shared path) vs two threads on one plain atomic counter
 *
 * Every variant runs the identical loop shape: inc, barrier, dec, barrier.
 * The barrier is an empty asm with a "memory" clobber and the counter's
 * address as input, so the compiler must really store and reload the
 * counter around each step and cannot fold inc+dec into nothing or hoist it
 * out of the loop; it emits no instruction itself. The non-atomic variant
 * is thus a real load/add/store per step, like the owner path.
 *
 * Each measurement is repeated (default 7 times, interleaving the
 * variants) and the median is reported. Run:
 *   bazel run --config=opt //bench:refcount_bench [-- reps owner_pairs cross_pairs]
 * Target (issue 3): owner path <= 1.3x the plain non-atomic time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cog/cog.h"

#define BARRIER(p) __asm__ __volatile__("" : : "r"(p) : "memory")
#define MAX_REPS 101

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
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const cog_type bench_type = {.name = "Bench", .basic_size = sizeof(cog_object)};

/* ---- single thread: seconds for n pairs ------------------------------- */

static double run_plain(long n) {
    long *counter = malloc(sizeof *counter);
    *counter = 1;
    double t = now();
    for (long i = 0; i < n; i++) {
        ++*counter;
        BARRIER(counter);
        --*counter;
        BARRIER(counter);
    }
    t = now() - t;
    if (*counter != 1) abort();
    free(counter);
    return t;
}

static double run_atomic(long n) {
    atomic_long *counter = malloc(sizeof *counter);
    atomic_init(counter, 1);
    double t = now();
    for (long i = 0; i < n; i++) {
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
        BARRIER(counter);
        atomic_fetch_sub_explicit(counter, 1, memory_order_acq_rel);
        BARRIER(counter);
    }
    t = now() - t;
    if (atomic_load(counter) != 1) abort();
    free(counter);
    return t;
}

static double run_owner(cog_object *o, long n) {
    double t = now();
    for (long i = 0; i < n; i++) {
        cog_incref(o);
        BARRIER(o);
        cog_decref(o);
        BARRIER(o);
    }
    t = now() - t;
    if (cog_refcount(o) != 1) abort();
    return t;
}

/* ---- two threads on one counter --------------------------------------- */

typedef struct cross_arg {
    int use_cog;
    long n;
    cog_object *obj;
    atomic_long *counter;
    atomic_int *ready;
} cross_arg;

static void *cross_worker(void *p) {
    cross_arg *a = p;
    if (a->use_cog && cog_thread_attach() != COG_OK) abort();
    /* Start together so the two loops really overlap. */
    atomic_fetch_add(a->ready, 1);
    while (atomic_load(a->ready) < 2) {
    }
    if (a->use_cog) {
        cog_object *o = a->obj;
        for (long i = 0; i < a->n; i++) {
            cog_incref(o);
            BARRIER(o);
            cog_decref(o);
            BARRIER(o);
        }
        cog_thread_detach();
    } else {
        atomic_long *c = a->counter;
        for (long i = 0; i < a->n; i++) {
            atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
            BARRIER(c);
            atomic_fetch_sub_explicit(c, 1, memory_order_acq_rel);
            BARRIER(c);
        }
    }
    return NULL;
}

/* Wall seconds for 2 threads doing n pairs each. */
static double run_cross(int use_cog, cog_object *o, long n) {
    atomic_long counter = 1;
    atomic_int ready = 0;
    cross_arg a = {use_cog, n, o, &counter, &ready};
    pthread_t t[2];
    cog_thread_offline(); /* we block in join: do not hold up grace periods */
    double start = now();
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, cross_worker, &a) != 0) abort();
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    double el = now() - start;
    cog_thread_online();
    cog_safepoint();
    if (use_cog ? cog_refcount(o) != 1 : atomic_load(&counter) != 1) abort();
    return el;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    long n1 = argc > 2 ? atol(argv[2]) : 200000000L;
    long n2 = argc > 3 ? atol(argv[3]) : 20000000L;
    if (reps < 1 || reps > MAX_REPS || n1 < 1 || n2 < 1) {
        fprintf(stderr, "usage: refcount_bench [reps<=%d] [owner_pairs] [cross_pairs]\n",
                MAX_REPS);
        return 2;
    }
    if (cog_init() != COG_OK) {
        fprintf(stderr, "cog_init: %s\n", cog_last_error());
        return 1;
    }
    cog_object *mine = cog_new(&bench_type);   /* owned by this thread */
    cog_object *shared = cog_new(&bench_type); /* the cross threads are not owners */
    if (!mine || !shared) return 1;

    static double plain[MAX_REPS], atom[MAX_REPS], owner[MAX_REPS], xcog[MAX_REPS],
        xatom[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        plain[r] = run_plain(n1);
        atom[r] = run_atomic(n1);
        owner[r] = run_owner(mine, n1);
        xatom[r] = run_cross(0, NULL, n2);
        xcog[r] = run_cross(1, shared, n2);
    }
    double mp = median(plain, reps), ma = median(atom, reps), mo = median(owner, reps);
    double mxa = median(xatom, reps), mxc = median(xcog, reps);

    printf("refcount_bench: medians of %d runs; single thread %ld pairs, "
           "cross-thread 2 x %ld pairs\n", reps, n1, n2);
    printf("%-34s %10s %14s\n", "variant", "ns/pair", "M pairs/s");
#define ROW(name, secs, pairs) \
    printf("%-34s %10.3f %14.1f\n", name, (secs) / (double)(pairs) * 1e9, \
           (double)(pairs) / (secs) / 1e6)
    ROW("plain non-atomic counter", mp, n1);
    ROW("plain atomic counter", ma, n1);
    ROW("cog owner (cog_incref/decref)", mo, n1);
    ROW("cross: plain atomic, 2 threads", mxa, 2 * n2);
    ROW("cross: cog shared path, 2 threads", mxc, 2 * n2);
    printf("ratio owner / plain non-atomic:  %.2fx (target <= 1.30x: %s)\n", mo / mp,
           mo / mp <= 1.3 ? "met" : "NOT met");
    printf("ratio owner / plain atomic:      %.2fx\n", mo / ma);
    printf("ratio cross cog / plain atomic:  %.2fx\n", mxc / mxa);

    cog_decref(mine);
    cog_decref(shared);
    return cog_shutdown() == COG_OK ? 0 : 1;
}
