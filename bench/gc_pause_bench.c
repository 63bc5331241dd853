/* bench/gc_pause_bench.c - mutator stalls while full collections run.
 *
 * A latency-probe thread (attached) loops: read the clock, record the time
 * since the previous iteration, do a few small object operations (allocate
 * a node into a 64-slot ring, freeing the one it replaces; incref/decref a
 * node of the big heap, which it does not own), cog_safepoint(). Any stall
 * the collector causes a mutator - a wait at a safe point, a slow barrier,
 * a lock - shows up as a long iteration.
 *
 * For each heap size N (live nodes, bench/gc_shape.h rings) the probe
 * records two histograms over the same wall time: "idle" (no collection:
 * the machine's own noise, preemption by other processes included) and
 * "gc" (the main thread runs cog_gc_collect(2) back to back). Percentiles
 * of iteration time are printed for both; the claim is that the gc ones do
 * not grow with N.
 *
 * usage: gc_pause_bench [seconds per phase] [heap sizes...]
 *        (default 2 100000 1000000)
 * Output: "PAUSE <n> <idle|gc> <samples> <p50> <p99> <p99.9> <max>" (ns),
 *         "GCTIME <n> <collections> <median ms>".
 * PAUSE_HIST=file also writes "<n> <phase> <ns> <fraction of iterations
 * >= ns>" lines (the plot's survival function). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/gc_node.h"
#include "cog/cog.h"

/* Histogram: 10 ns buckets below 100 us, 10 us buckets up to 1 s. */
#define FINE 10000
#define COARSE 100000
#define NB (FINE + COARSE)
typedef struct hist {
    uint64_t b[NB];
    uint64_t n, max;
} hist;

static inline void hist_add(hist *h, uint64_t ns) {
    size_t i = ns < 100000 ? ns / 10 : FINE + (ns - 100000) / 10000;
    if (i >= NB) i = NB - 1;
    h->b[i]++;
    h->n++;
    if (ns > h->max) h->max = ns;
}

static uint64_t bucket_ns(size_t i) { /* upper edge of bucket i */
    return i < FINE ? (i + 1) * 10 : 100000 + (i - FINE + 1) * 10000;
}

static uint64_t hist_pct(const hist *h, double p) {
    uint64_t want = (uint64_t)(p * (double)h->n), acc = 0;
    for (size_t i = 0; i < NB; i++) {
        acc += h->b[i];
        if (acc > want) return bucket_ns(i) < h->max ? bucket_ns(i) : h->max;
    }
    return h->max;
}

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static hist hists[2];              /* 0 idle, 1 gc */
static atomic_int phase = -1;      /* -1: don't record, 0/1: histogram */
static atomic_int stop;
static cog_object *shared_node;    /* owned by main: probe uses shared RC path */
static atomic_int probe_ready;

static void *probe(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) abort();
    cog_object *slots[64] = {0};
    unsigned k = 0;
    atomic_store(&probe_ready, 1);
    uint64_t prev = now_ns();
    int prev_phase = -1;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t t = now_ns();
        int ph = atomic_load_explicit(&phase, memory_order_relaxed);
        /* an iteration that straddles a phase change belongs to neither */
        if (ph >= 0 && ph == prev_phase) hist_add(&hists[ph], t - prev);
        prev = t;
        prev_phase = ph;

        cog_object *o = cog_new(&gc_node_type);
        if (!o) abort();
        cog_object *old = slots[k & 63];
        slots[k & 63] = o;
        k++;
        if (old) cog_decref(old);
        cog_incref(shared_node);
        cog_decref(shared_node);
        cog_safepoint();
    }
    for (int i = 0; i < 64; i++) cog_xdecref(slots[i]);
    cog_thread_detach();
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_hist(FILE *f, long n, const char *name, const hist *h) {
    uint64_t above = h->n;
    for (size_t i = 0; i < NB; i++) {
        if (!h->b[i]) continue;
        fprintf(f, "%ld %s %llu %.9g\n", n, name, (unsigned long long)(i < FINE ? i * 10 : 100000 + (i - FINE) * 10000),
                (double)above / (double)h->n);
        above -= h->b[i];
    }
    fprintf(f, "%ld %s %llu %.9g\n\n\n", n, name, (unsigned long long)h->max, 1.0 / (double)h->n);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    long def[] = {100000, 1000000};
    int nsizes = argc > 2 ? argc - 2 : 2;
    FILE *hf = getenv("PAUSE_HIST") ? fopen(getenv("PAUSE_HIST"), "w") : NULL;
    if (cog_init() != COG_OK) return 1;
    cog_gc_disable(); /* only the collections this bench asks for */

    for (int s = 0; s < nsizes; s++) {
        long n = argc > 2 ? atol(argv[2 + s]) : def[s];
        long nr = n / GC_RING;
        cog_object **roots = malloc((size_t)nr * sizeof *roots);
        if (!roots) abort();
        gc_node_build(n, roots);
        shared_node = roots[0];
        cog_gc_collect(2); /* warm-up: promote the heap */
        memset(hists, 0, sizeof hists);
        atomic_store(&stop, 0);
        atomic_store(&probe_ready, 0);
        pthread_t t;
        pthread_create(&t, NULL, probe, NULL);
        while (!atomic_load(&probe_ready)) cog_safepoint();

        /* idle phase: main waits offline, nothing collects */
        cog_thread_offline();
        atomic_store(&phase, 0);
        struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
        nanosleep(&ts, NULL);
        atomic_store(&phase, -1);
        cog_thread_online();

        /* gc phase: back-to-back full collections for the same time */
        double times[1000];
        int nc = 0;
        atomic_store(&phase, 1);
        uint64_t start = now_ns();
        while (nc < 1000 && (double)(now_ns() - start) < secs * 1e9) {
            uint64_t t0 = now_ns();
            cog_gc_collect(2);
            times[nc++] = (double)(now_ns() - t0) / 1e6;
        }
        atomic_store(&phase, -1);
        atomic_store(&stop, 1);
        cog_thread_offline();
        pthread_join(t, NULL);
        cog_thread_online();

        static const char *names[2] = {"idle", "gc"};
        for (int ph = 0; ph < 2; ph++) {
            const hist *h = &hists[ph];
            printf("PAUSE %ld %s %llu %llu %llu %llu %llu\n", n, names[ph], (unsigned long long)h->n,
                   (unsigned long long)hist_pct(h, 0.5), (unsigned long long)hist_pct(h, 0.99),
                   (unsigned long long)hist_pct(h, 0.999), (unsigned long long)h->max);
            if (hf) print_hist(hf, n, names[ph], h);
        }
        qsort(times, (size_t)nc, sizeof *times, cmp_double);
        printf("GCTIME %ld %d %.2f\n", n, nc, times[nc / 2]);
        fflush(stdout);

        for (long r = 0; r < nr; r++) cog_decref(roots[r]);
        free(roots);
        cog_gc_collect(2);
        cog_safepoint();
    }
    if (hf) fclose(hf);
    cog_shutdown();
    return 0;
}
