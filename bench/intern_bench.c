/* bench/intern_bench.c - intern-table hit lookups: cog's lock-free table vs
 * a mutex-guarded hash table vs GLib's g_intern_string, 1 and 2 threads.
 *
 *   bazel run --config=opt //bench:intern_bench [-- runs ops_per_thread [only]]
 *   (defaults 7 runs, 2M lookups per thread; `only` = cog, immortal, mutex or
 *   glib runs just that implementation, e.g. under callgrind)
 *
 * Every lookup hits (all keys are interned beforehand). Fairness:
 *   - the same 4096 keys (random order, same generator) for every
 *     implementation; cog's immortal variant uses a second key set of the
 *     same shape and lengths, so that all variants can be interleaved run by
 *     run (immortalising cannot be undone) and all see the same machine load;
 *   - the mutex table hashes with cog_hash_bytes (the same function cog's
 *     table uses), compares the full hash before the bytes, and has a bucket
 *     per two keys; its lock is a default glibc mutex (PTHREAD_MUTEX_
 *     INITIALIZER: no spinning, contended waiters sleep in futex), as
 *     g_intern_string's G_LOCK is; GLib uses its own g_str_hash and strcmp;
 *   - cog pays the API's full cost: cog_str_intern (UTF-8 validation, the
 *     new reference) + cog_decref, and a cog_safepoint every 1024 lookups as
 *     the thread rules require.
 *
 * Reported per configuration: medians over the runs of the wall-clock
 * throughput of all threads (Mops/s), and of the CPU time per lookup (ns,
 * from each thread's CLOCK_THREAD_CPUTIME_ID), plus, for 2 threads, the
 * CONCURRENCY: sum of the threads' CPU times / wall time. About 2.0 means the
 * two threads really ran at the same time on two cores; about 1.0 means the
 * (busy) machine ran them one after the other, and the 2-thread figure says
 * nothing about contention. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cog/cog.h"

/* GLib's prototype (glib/gstrfuncs.h; gchar is char). Declared here rather
 * than including <glib.h>: Bazel's include checking rejects glib's
 * glibconfig.h directory (outside the execution root and the toolchain's
 * builtin include dirs). */
const char *g_intern_string(const char *string);

#define NKEYS 4096
#define MAX_RUNS 51

static char keys[NKEYS][24], ikeys[NKEYS][24];
static size_t lens[NKEYS], ilens[NKEYS];
static long ops = 2000000L;

/* ---- mutex-guarded chained hash table (the baseline) ---- */
typedef struct mnode { struct mnode *next; uint64_t h; size_t len; char s[]; } mnode;
#define MBUCKETS 2048 /* 2 keys per bucket, like cog's table after growth */
static mnode *mtab[MBUCKETS];
static pthread_mutex_t mlock = PTHREAD_MUTEX_INITIALIZER;

static const char *mutex_intern(const char *s, size_t n) {
    uint64_t h = cog_hash_bytes(s, n);
    pthread_mutex_lock(&mlock);
    mnode **b = &mtab[h & (MBUCKETS - 1)], *p;
    for (p = *b; p; p = p->next)
        if (p->h == h && p->len == n && memcmp(p->s, s, n) == 0) break;
    if (!p) {
        p = malloc(sizeof *p + n + 1);
        if (!p) abort();
        p->h = h, p->len = n;
        memcpy(p->s, s, n);
        p->s[n] = 0;
        p->next = *b;
        *b = p;
    }
    pthread_mutex_unlock(&mlock);
    return p->s;
}

/* ---- harness ---- */
enum { IMPL_COG, IMPL_COG_IMMORTAL, IMPL_MUTEX, IMPL_GLIB, NIMPL };
static const char *impl_names[] = {"cog (mortal)", "cog (immortal)", "mutex table", "glib"};
static const char *impl_short[] = {"cog", "immortal", "mutex", "glib"};
static int impl;
static pthread_barrier_t start;
static volatile uintptr_t sink;

/* Per worker: CPU seconds spent in the timed loop. Index 0 unused. */
static double cpu_of[3];

static double ts_sec(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg; /* 1 or 2: distinct key sequences */
    unsigned seed = (unsigned)id * 2654435761u + 1;
    int cog = impl == IMPL_COG || impl == IMPL_COG_IMMORTAL;
    char(*k8)[24] = impl == IMPL_COG_IMMORTAL ? ikeys : keys;
    size_t *kl = impl == IMPL_COG_IMMORTAL ? ilens : lens;
    if (cog && cog_thread_attach() != COG_OK) abort();
    if (cog) cog_thread_offline();
    pthread_barrier_wait(&start);
    if (cog) cog_thread_online();
    double c0 = ts_sec(CLOCK_THREAD_CPUTIME_ID);
    uintptr_t acc = 0;
    for (long i = 0; i < ops; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % NKEYS;
        switch (impl) {
        case IMPL_COG:
        case IMPL_COG_IMMORTAL: {
            cog_object *s = cog_str_intern(k8[k], kl[k]);
            acc += (uintptr_t)s;
            cog_decref(s);
            if ((i & 1023) == 0) cog_safepoint();
            break;
        }
        case IMPL_MUTEX: acc += (uintptr_t)mutex_intern(keys[k], lens[k]); break;
        case IMPL_GLIB: acc += (uintptr_t)g_intern_string(keys[k]); break;
        }
    }
    cpu_of[id] = ts_sec(CLOCK_THREAD_CPUTIME_ID) - c0;
    sink += acc;
    if (cog) cog_thread_detach();
    return NULL;
}

typedef struct sample { double mops, ns_cpu, conc; } sample;

static sample run(int nthreads) {
    pthread_t th[2];
    pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)(i + 1));
    cog_thread_offline();
    pthread_barrier_wait(&start);
    double t0 = ts_sec(CLOCK_MONOTONIC);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    double wall = ts_sec(CLOCK_MONOTONIC) - t0;
    cog_thread_online();
    pthread_barrier_destroy(&start);
    double cpu = 0;
    for (int i = 0; i < nthreads; i++) cpu += cpu_of[i + 1];
    sample s = {nthreads * ops / wall / 1e6, cpu / (double)(nthreads * ops) * 1e9, cpu / wall};
    return s;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    if (argc > 2) ops = atol(argv[2]);
    const char *only = argc > 3 ? argv[3] : NULL;
    if (runs < 1 || runs > MAX_RUNS || ops < 1) {
        fprintf(stderr, "usage: intern_bench [runs (1..%d) [ops [cog|immortal|mutex|glib]]]\n",
                MAX_RUNS);
        return 2;
    }
    if (cog_init() != COG_OK) return 1;
    static cog_object *held[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        unsigned x = (unsigned)i * 2654435761u;
        lens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "key-%d-%x", i, x);
        ilens[i] = (size_t)snprintf(ikeys[i], sizeof ikeys[i], "imm-%d-%x", i, x);
        held[i] = cog_str_intern(keys[i], lens[i]); /* keep them: every lookup hits */
        cog_str_intern_immortal(ikeys[i], ilens[i]);
        mutex_intern(keys[i], lens[i]);
        g_intern_string(keys[i]);
    }
    static double mops[NIMPL][3][MAX_RUNS], nsc[NIMPL][3][MAX_RUNS], conc[NIMPL][3][MAX_RUNS];
    /* Interleave: every run measures every configuration once. */
    for (int r = 0; r < runs; r++)
        for (int nt = 1; nt <= 2; nt++)
            for (impl = 0; impl < NIMPL; impl++) {
                if (only && strcmp(only, impl_short[impl]) != 0) continue;
                sample s = run(nt);
                mops[impl][nt][r] = s.mops, nsc[impl][nt][r] = s.ns_cpu, conc[impl][nt][r] = s.conc;
            }
    double med[NIMPL][3];
    printf("%d runs x %ld lookups per thread, %d keys, medians (min..max of Mops/s)\n", runs, ops,
           NKEYS);
    for (int nt = 1; nt <= 2; nt++)
        for (int i = 0; i < NIMPL; i++) {
            if (only && strcmp(only, impl_short[i]) != 0) continue;
            med[i][nt] = median(mops[i][nt], runs);
            printf("threads=%d %-15s %8.2f Mops/s (%.2f..%.2f)  %6.1f ns CPU/lookup", nt,
                   impl_names[i], med[i][nt], mops[i][nt][0], mops[i][nt][runs - 1],
                   median(nsc[i][nt], runs));
            if (nt == 2) printf("  concurrency %.2f", median(conc[i][nt], runs));
            printf("\n");
        }
    if (!only)
        for (int nt = 1; nt <= 2; nt++)
            printf("ratios threads=%d: cog/mutex %.2fx  cog/glib %.2fx  cog-immortal/mutex %.2fx  "
                   "cog-immortal/glib %.2fx\n",
                   nt, med[IMPL_COG][nt] / med[IMPL_MUTEX][nt],
                   med[IMPL_COG][nt] / med[IMPL_GLIB][nt],
                   med[IMPL_COG_IMMORTAL][nt] / med[IMPL_MUTEX][nt],
                   med[IMPL_COG_IMMORTAL][nt] / med[IMPL_GLIB][nt]);
    for (int i = 0; i < NKEYS; i++) cog_decref(held[i]);
    cog_shutdown();
    return 0;
}
