/* bench/intern_bench.c - intern-table hit lookups: cog's lock-free table vs
 * a mutex-guarded hash table vs GLib's g_intern_string, 1 and 2 threads.
 *
 * Every lookup hits (all keys are interned beforehand). For cog a lookup is
 * cog_str_intern + cog_decref of the returned reference (the API's contract;
 * "mortal" keys: two atomic RMWs on the string's count) and, separately,
 * with immortal keys (no count traffic). Each configuration runs RUNS times;
 * medians of Mops/s and ratios are printed. */
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
#define OPS 2000000L
#define RUNS 5

static char keys[NKEYS][24];
static size_t lens[NKEYS];

/* ---- mutex-guarded chained hash table (the baseline) ---- */
typedef struct mnode { struct mnode *next; uint64_t h; size_t len; char s[]; } mnode;
static mnode *mtab[8192];
static pthread_mutex_t mlock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static const char *mutex_intern(const char *s, size_t n) {
    uint64_t h = fnv(s, n);
    pthread_mutex_lock(&mlock);
    mnode **b = &mtab[h & 8191], *p;
    for (p = *b; p; p = p->next)
        if (p->h == h && p->len == n && memcmp(p->s, s, n) == 0) break;
    if (!p) {
        p = malloc(sizeof *p + n + 1);
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
enum { IMPL_COG, IMPL_COG_IMMORTAL, IMPL_MUTEX, IMPL_GLIB };
static const char *impl_names[] = {"cog (mortal)", "cog (immortal)", "mutex table", "glib"};
static int impl;
static pthread_barrier_t start;
static volatile uintptr_t sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    int cog = impl == IMPL_COG || impl == IMPL_COG_IMMORTAL;
    if (cog && cog_thread_attach() != COG_OK) abort();
    if (cog) cog_thread_offline();
    pthread_barrier_wait(&start);
    if (cog) cog_thread_online();
    uintptr_t acc = 0;
    for (long i = 0; i < OPS; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % NKEYS;
        switch (impl) {
        case IMPL_COG:
        case IMPL_COG_IMMORTAL: {
            cog_object *s = cog_str_intern(keys[k], lens[k]);
            acc += (uintptr_t)s;
            cog_decref(s);
            if ((i & 1023) == 0) cog_safepoint();
            break;
        }
        case IMPL_MUTEX: acc += (uintptr_t)mutex_intern(keys[k], lens[k]); break;
        case IMPL_GLIB: acc += (uintptr_t)g_intern_string(keys[k]); break;
        }
    }
    sink += acc;
    if (cog) cog_thread_detach();
    return NULL;
}

static double run(int nthreads) {
    pthread_t th[8];
    pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    cog_thread_offline();
    pthread_barrier_wait(&start);
    double t0 = now();
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    double t = now() - t0;
    cog_thread_online();
    pthread_barrier_destroy(&start);
    return nthreads * OPS / t / 1e6; /* Mops/s, all threads */
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    if (cog_init() != COG_OK) return 1;
    static cog_object *held[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        lens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "key-%d-%x", i, i * 2654435761u);
        held[i] = cog_str_intern(keys[i], lens[i]); /* keep them: every lookup hits */
        mutex_intern(keys[i], lens[i]);
        g_intern_string(keys[i]);
    }
    double med[4][3];
    /* Immortal last: pinning the keys cannot be undone. */
    static const int order[4] = {IMPL_COG, IMPL_MUTEX, IMPL_GLIB, IMPL_COG_IMMORTAL};
    for (int o = 0; o < 4; o++) {
        impl = order[o];
        if (impl == IMPL_COG_IMMORTAL)
            for (int i = 0; i < NKEYS; i++) cog_str_intern_immortal(keys[i], lens[i]);
        for (int nt = 1; nt <= 2; nt++) {
            double r[RUNS];
            for (int k = 0; k < RUNS; k++) r[k] = run(nt);
            qsort(r, RUNS, sizeof r[0], cmp);
            med[impl][nt] = r[RUNS / 2];
            printf("threads=%d %-15s median %7.2f Mops/s (min %.2f max %.2f)\n", nt,
                   impl_names[impl], r[RUNS / 2], r[0], r[RUNS - 1]);
        }
    }
    for (int nt = 1; nt <= 2; nt++)
        printf("ratios threads=%d: cog/mutex %.2fx  cog/glib %.2fx  cog-immortal/mutex %.2fx  "
               "cog-immortal/glib %.2fx\n",
               nt, med[IMPL_COG][nt] / med[IMPL_MUTEX][nt], med[IMPL_COG][nt] / med[IMPL_GLIB][nt],
               med[IMPL_COG_IMMORTAL][nt] / med[IMPL_MUTEX][nt],
               med[IMPL_COG_IMMORTAL][nt] / med[IMPL_GLIB][nt]);
    for (int i = 0; i < NKEYS; i++) cog_decref(held[i]);
    cog_shutdown();
    return 0;
}
