/* bench/alloc_bench.c - small-block alloc/free throughput of one allocator,
 * chosen at compile time (-DBENCH_COG, -DBENCH_MIMALLOC, -DBENCH_JEMALLOC,
 * else glibc). Debian's libmimalloc and libjemalloc both replace malloc
 * when linked, so a glibc baseline cannot share a binary with them: each
 * allocator gets its own binary and bench/alloc_bench.sh runs them all and
 * prints the ratios.
 *
 * Output lines: "RESULT <allocator> <workload> <median ns per op>".
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(BENCH_COG)
#include "cog/cog.h"
#include "lib/alloc/alloc.h"
#include "lib/core/thread.h"
#define NAME "cog"
/* The heap's own calls, inline as cog's containers make them (the rows
 * the issue-15 targets name); vsglibc also times the public raw-memory
 * calls (cog_mem_alloc / cog_mem_free, one call each like malloc's). */
static __thread cog_heap *bh;
static void thread_start(void) {
    if (!cog_thread_is_attached() && cog_thread_attach() != COG_OK) abort();
    bh = cog_tstate_current()->heap;
}
static void thread_end(void) { cog_thread_detach(); }
static inline void *xalloc(size_t n) { return cog_heap_alloc(bh, n, COG_BLOCK_RAW); }
static inline void xfree(void *p, size_t n) { cog_heap_free(bh, p, n, COG_BLOCK_RAW); }
#elif defined(BENCH_MIMALLOC)
#include <mimalloc.h>
#define NAME "mimalloc"
static void thread_start(void) {}
static void thread_end(void) {}
static inline void *xalloc(size_t n) { return mi_malloc(n); }
static inline void xfree(void *p, size_t n) { (void)n; mi_free(p); }
#elif defined(BENCH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define NAME "jemalloc"
static void thread_start(void) {}
static void thread_end(void) {}
static inline void *xalloc(size_t n) { return mallocx(n, 0); }
static inline void xfree(void *p, size_t n) { sdallocx(p, n, 0); }
#else
#define NAME "glibc"
static void thread_start(void) {}
static void thread_end(void) {}
static inline void *xalloc(size_t n) { return malloc(n); }
static inline void xfree(void *p, size_t n) { (void)n; free(p); }
#endif

#define RUNS 7
#define OPS 4000000L
#define NSIZES 4096
#define COPY_MAX 16384
static size_t sizes[NSIZES]; /* 16..512, pseudo-random (bysize: one size) */

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* alloc+free pairs, immediately (LIFO) and through a 256-slot window so the
 * free lists see some churn. Touches the first word like real code. A
 * macro, so that each allocator's loop has its calls inlined (cog's binary
 * has a second loop on glibc's malloc, see "vsglibc"). */
static volatile uintptr_t sink;
#define DEFINE_PAIRS(name, ALLOC, FREE)                    \
    static void name(long ops) {                           \
        void *win[256] = {0};                              \
        size_t wsz[256] = {0};                             \
        uintptr_t acc = 0;                                 \
        for (long i = 0; i < ops; i++) {                   \
            size_t n = sizes[i & (NSIZES - 1)];            \
            void *p = ALLOC(n);                            \
            *(uintptr_t *)p = (uintptr_t)i;                \
            acc += (uintptr_t)p;                           \
            unsigned s = (unsigned)(i * 7) & 255;          \
            if (win[s]) FREE(win[s], wsz[s]);              \
            win[s] = p;                                    \
            wsz[s] = n;                                    \
        }                                                  \
        for (int s = 0; s < 256; s++)                      \
            if (win[s]) FREE(win[s], wsz[s]);              \
        sink = acc;                                        \
    }
DEFINE_PAIRS(pairs, xalloc, xfree)
#ifdef BENCH_COG
static inline void *glibc_alloc(size_t n) { return malloc(n); }
static inline void glibc_free(void *p, size_t n) { (void)n; free(p); }
DEFINE_PAIRS(pairs_glibc, glibc_alloc, glibc_free)
DEFINE_PAIRS(pairs_api, cog_mem_alloc, cog_mem_free)
#endif

static void (*pairs_fn)(long) = pairs;
static void *pairs_thread(void *arg) {
    thread_start();
    pairs_fn((long)(intptr_t)arg);
    thread_end();
    return NULL;
}

static long pair_ops = OPS;
static double run_pairs(int threads) {
    pthread_t t[2];
    double t0 = now_ns();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, pairs_thread, (void *)(intptr_t)pair_ops);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return (now_ns() - t0) / pair_ops; /* ns per pair per thread (wall) */
}

/* Producer allocates, consumer frees, through an SPSC ring of batches. */
#define RING 64
#define BATCH 256
typedef struct batch {
    void *p[BATCH];
    size_t n[BATCH];
} batch;
static batch batches[RING];
static atomic_long head, tail; /* head: produced batches, tail: consumed */

static void *producer(void *arg) {
    long nb = (long)(intptr_t)arg;
    thread_start();
    for (long b = 0; b < nb; b++) {
        while (b - atomic_load_explicit(&tail, memory_order_acquire) >= RING) {
        }
        batch *bt = &batches[b % RING];
        for (int i = 0; i < BATCH; i++) {
            size_t n = sizes[(b * BATCH + i) & (NSIZES - 1)];
            bt->p[i] = xalloc(n);
            *(uintptr_t *)bt->p[i] = (uintptr_t)i;
            bt->n[i] = n;
        }
        atomic_store_explicit(&head, b + 1, memory_order_release);
    }
    thread_end();
    return NULL;
}

static void *consumer(void *arg) {
    long nb = (long)(intptr_t)arg;
    thread_start();
    for (long b = 0; b < nb; b++) {
        while (atomic_load_explicit(&head, memory_order_acquire) <= b) {
        }
        batch *bt = &batches[b % RING];
        for (int i = 0; i < BATCH; i++) xfree(bt->p[i], bt->n[i]);
        atomic_store_explicit(&tail, b + 1, memory_order_release);
    }
    thread_end();
    return NULL;
}

static double run_cross(void) {
    long nb = OPS / BATCH;
    atomic_store(&head, 0);
    atomic_store(&tail, 0);
    pthread_t a, b;
    double t0 = now_ns();
    pthread_create(&a, NULL, producer, (void *)(intptr_t)nb);
    pthread_create(&b, NULL, consumer, (void *)(intptr_t)nb);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return (now_ns() - t0) / (nb * BATCH);
}

/* Larson-like server churn (Larson & Krishnan; mimalloc-bench "larson"):
 * each thread owns LSLOTS blocks and replaces random ones (free + allocate
 * a random size). Threads live for one round only; the next round's
 * threads inherit the previous threads' blocks, shifted by one, so most
 * frees hit blocks another, exited, thread allocated - the pattern of a
 * server handing connections' state between short-lived workers. */
#define LSLOTS 1000
#define LROUNDS 10
#define LTHREADS 2
typedef struct lslots {
    void *p[LSLOTS];
    size_t n[LSLOTS];
    long ops;
    uint64_t seed;
} lslots;
static lslots lsl[LTHREADS];

static void *larson_thread(void *arg) {
    lslots *l = arg;
    thread_start();
    uint64_t x = l->seed;
    for (long i = 0; i < l->ops; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned s = (unsigned)(x % LSLOTS);
        if (l->p[s]) xfree(l->p[s], l->n[s]);
        size_t n = sizes[(x >> 20) & (NSIZES - 1)];
        l->p[s] = xalloc(n);
        *(uintptr_t *)l->p[s] = (uintptr_t)i;
        l->n[s] = n;
    }
    l->seed = x;
    thread_end();
    return NULL;
}

static void *larson_free_all(void *unused) {
    (void)unused;
    thread_start();
    for (int i = 0; i < LTHREADS; i++)
        for (int s = 0; s < LSLOTS; s++)
            if (lsl[i].p[s]) xfree(lsl[i].p[s], lsl[i].n[s]), lsl[i].p[s] = NULL;
    thread_end();
    return NULL;
}

static double run_larson(int unused) {
    (void)unused;
    long per_round = OPS / LROUNDS;
    memset(lsl, 0, sizeof lsl);
    for (int i = 0; i < LTHREADS; i++) lsl[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    double t0 = now_ns();
    for (int r = 0; r < LROUNDS; r++) {
        pthread_t t[LTHREADS];
        lslots tmp = lsl[0]; /* rotate ownership: thread i takes i+1's blocks */
        for (int i = 0; i < LTHREADS - 1; i++) lsl[i] = lsl[i + 1];
        lsl[LTHREADS - 1] = tmp;
        for (int i = 0; i < LTHREADS; i++) {
            lsl[i].ops = per_round;
            pthread_create(&t[i], NULL, larson_thread, &lsl[i]);
        }
        for (int i = 0; i < LTHREADS; i++) pthread_join(t[i], NULL);
    }
    double ns = (now_ns() - t0) / OPS; /* ns per replacement per thread (wall) */
    /* release what is left, from a fresh thread like the rounds */
    pthread_t c;
    pthread_create(&c, NULL, larson_free_all, NULL);
    pthread_join(c, NULL);
    return ns;
}

#ifdef BENCH_COG
typedef struct obj32 {
    cog_object ob;
} obj32;
static const cog_type obj32_type = {.name = "obj32", .basic_size = sizeof(obj32)};
static double run_objects(void) {
    double t0 = now_ns();
    for (long i = 0; i < OPS; i++) cog_decref(cog_new(&obj32_type));
    return (now_ns() - t0) / OPS;
}
#endif

/* ALLOC_BENCH_ONLY=<workload> runs just that one (for perf). */
static void report(const char *workload, double (*fn)(int), int arg) {
    const char *only = getenv("ALLOC_BENCH_ONLY");
    if (only && strcmp(only, workload) != 0) return;
    double v[RUNS];
    fn(arg); /* warm-up */
    for (int r = 0; r < RUNS; r++) v[r] = fn(arg);
    printf("RESULT %s %s %.2f\n", NAME, workload, median(v, RUNS));
    fflush(stdout);
}

static double cross_adapter(int unused) { (void)unused; return run_cross(); }
#ifdef BENCH_COG
static double objects_adapter(int unused) { (void)unused; return run_objects(); }
#endif

/* The user-level shape of issue 15: a byte string of n bytes made from a
 * buffer and dropped, 64 alive at a time. cog: cog_bytes_new + cog_decref
 * (object header, copy, refcount); the others: malloc + memcpy + free. */
static size_t bytes_len;
static double bytes_ns;
static void *bytes_thread(void *unused) {
    (void)unused;
    static char src[COPY_MAX];
    void *live[64] = {0};
    long ops = OPS / 4;
    thread_start();
    double t0 = now_ns();
    for (long i = 0; i < ops; i++) {
        unsigned s = (unsigned)i & 63;
#ifdef BENCH_COG
        cog_xdecref(live[s]);
        live[s] = cog_bytes_new(src, bytes_len);
#else
        free(live[s]);
        live[s] = malloc(bytes_len);
        memcpy(live[s], src, bytes_len);
#endif
    }
    bytes_ns = (now_ns() - t0) / ops;
    for (int s = 0; s < 64; s++) {
#ifdef BENCH_COG
        cog_xdecref(live[s]);
#else
        free(live[s]);
#endif
    }
    thread_end();
    return NULL;
}
static double run_bytes(int unused) {
    (void)unused;
    pthread_t t;
    pthread_create(&t, NULL, bytes_thread, NULL);
    pthread_join(t, NULL);
    return bytes_ns;
}

#ifdef BENCH_COG
/* Container churn, the shape of a request handler's temporary list: a
 * list grown to 100 items (immortal small ints) and dropped, per thread,
 * on one thread and on two at once (ns per list per thread). Its item
 * arrays run through five classes, 96 B to 1 KiB + header. */
/* The "_ring256" rows keep 256 lists of 60 items alive per thread (a
 * server's cached sessions, say): each step drops the oldest and builds a
 * new one, whose last array (class 640) then meets the others' arrays
 * spread over several pools. */
static int churn_items = 100, churn_live = 1;
static double churn_ns[2];
static void *churn_thread(void *arg) {
    long id = (long)arg, lists = OPS / 2 / churn_items;
    cog_object *ring[256] = {0};
    cog_thread_attach();
    double t0 = now_ns();
    for (long i = 0; i < lists; i++) {
        cog_object *l = cog_list_new();
        for (int k = 0; k < churn_items; k++) cog_list_append(l, cog_int_from_i64(k));
        int s = (int)(i % churn_live);
        cog_xdecref(ring[s]);
        ring[s] = l;
        if ((i & 63) == 0) cog_safepoint();
    }
    churn_ns[id] = (now_ns() - t0) / lists;
    for (int s = 0; s < churn_live; s++) cog_xdecref(ring[s]);
    cog_thread_detach();
    return NULL;
}
static double run_churn(int threads) {
    pthread_t t[2];
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, churn_thread, (void *)i);
    double sum = 0;
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL), sum += churn_ns[i];
    return sum / threads;
}
static double run_churn_ring(int threads) {
    churn_items = 60, churn_live = 256;
    double ns = run_churn(threads);
    churn_items = 100, churn_live = 1;
    return ns;
}
#endif

/* "bysize": pairs of one fixed size each, one thread ("size_<n>") and two
 * at once ("size_<n>_2t", ns per pair per thread), for the throughput-by-
 * size plot: cog's small classes up to 512, medium ones up to 32 KiB, and
 * one large size (mapped). Fewer operations for the big sizes, whose time
 * is mostly the page-sized memory they touch. */
/* Pairs of size n only; fewer of them above 4 KiB. */
static void use_fixed_size(size_t n) {
    for (int i = 0; i < NSIZES; i++) sizes[i] = n;
    pair_ops = n > 4096 ? OPS / 8 : OPS;
}
static double run_pairs_1(int unused) { (void)unused; return run_pairs(1); }
static double run_pairs_2(int unused) { (void)unused; return run_pairs(2); }
static int by_size(void) {
    static const size_t sz[] = {16,   32,   64,   128,  256,   512,   600,
                                1024, 2048, 4096, 8192, 16384, 32768, 65536};
    for (size_t k = 0; k < sizeof sz / sizeof sz[0]; k++) {
        use_fixed_size(sz[k]);
        char name[32];
        snprintf(name, sizeof name, "size_%zu", sz[k]);
        report(name, run_pairs_1, 0);
        snprintf(name, sizeof name, "size_%zu_2t", sz[k]);
        report(name, run_pairs_2, 0);
    }
    static const size_t bz[] = {100, 600, 1024, 4096, 16384};
    for (size_t k = 0; k < sizeof bz / sizeof bz[0]; k++) {
        bytes_len = bz[k];
        char name[32];
        snprintf(name, sizeof name, "bytes_%zu", bz[k]);
        report(name, run_bytes, 0);
    }
    return 0;
}

#ifdef BENCH_COG
/* "vsglibc": cog's pairs and glibc's malloc/free pairs in the same process,
 * one thread, alternating run by run, so both see the same machine state
 * (this VM's speed changes by up to 2x between runs; separate processes
 * minutes apart can compare a fast run with a slow one). Prints each
 * median and the median of the per-round ratios (cog's time / glibc's):
 *   "RATIO vsglibc size_<n> <median> <min> <max>"      the heap's calls
 *   "RATIO api_vsglibc size_<n> <median> <min> <max>"  cog_mem_alloc/free
 *   alloc_bench_cog vsglibc [size...]     default 16 512 600 1024 2048
 * ALLOC_BENCH_OPS=n sets the pairs per run (the smoke test's tiny run). */
static void print_ratio(const char *what, size_t size, double *r) {
    double lo = r[0], hi = r[0];
    for (int i = 1; i < RUNS; i++) lo = r[i] < lo ? r[i] : lo, hi = r[i] > hi ? r[i] : hi;
    printf("RATIO %s size_%zu %.3f %.3f %.3f\n", what, size, median(r, RUNS), lo, hi);
}

static int vs_glibc(int argc, char **argv) {
    static const size_t deflt[] = {16, 512, 600, 1024, 2048};
    size_t sz[16];
    int nsz = 0;
    for (int i = 0; i < argc && nsz < 16; i++) sz[nsz++] = strtoul(argv[i], NULL, 10);
    if (nsz == 0)
        for (; nsz < (int)(sizeof deflt / sizeof deflt[0]); nsz++) sz[nsz] = deflt[nsz];
    for (int k = 0; k < nsz; k++) {
        if (sz[k] == 0 || sz[k] > COPY_MAX) {
            fprintf(stderr, "alloc_bench vsglibc: size %zu out of 1..%d\n", sz[k], COPY_MAX);
            return 2;
        }
        use_fixed_size(sz[k]);
        const char *ops = getenv("ALLOC_BENCH_OPS"); /* the smoke test's tiny run */
        if (ops) pair_ops = atol(ops) > 0 ? atol(ops) : 1;
        double c[RUNS], a[RUNS], g[RUNS], r[RUNS], ra[RUNS];
        pairs_fn = pairs, run_pairs(1); /* warm-up */
        pairs_fn = pairs_api, run_pairs(1);
        pairs_fn = pairs_glibc, run_pairs(1);
        for (int i = 0; i < RUNS; i++) {
            pairs_fn = pairs, c[i] = run_pairs(1);
            pairs_fn = pairs_api, a[i] = run_pairs(1);
            pairs_fn = pairs_glibc, g[i] = run_pairs(1);
            r[i] = c[i] / g[i];
            ra[i] = a[i] / g[i];
        }
        pairs_fn = pairs;
        printf("RESULT cog size_%zu %.2f\n", sz[k], median(c, RUNS));
        printf("RESULT cog-mem-api size_%zu %.2f\n", sz[k], median(a, RUNS));
        printf("RESULT glibc-same-process size_%zu %.2f\n", sz[k], median(g, RUNS));
        print_ratio("vsglibc", sz[k], r);
        print_ratio("api_vsglibc", sz[k], ra);
        fflush(stdout);
    }
    return 0;
}
#endif

int main(int argc, char **argv) {
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < NSIZES; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        sizes[i] = 16 + (size_t)(x % 497); /* 16..512 */
    }
#ifdef BENCH_COG
    if (cog_init() != COG_OK) abort();
    cog_thread_offline(); /* the main thread only waits */
    if (argc > 1 && strcmp(argv[1], "vsglibc") == 0) {
        int rc = vs_glibc(argc - 2, argv + 2);
        cog_thread_online();
        cog_shutdown();
        return rc;
    }
#endif
    if (argc > 1 && strcmp(argv[1], "bysize") == 0) {
        by_size();
#ifdef BENCH_COG
        cog_thread_online();
        if (getenv("ALLOC_BENCH_STATS")) cog_mem_stats_print(stderr);
        cog_shutdown();
#endif
        return 0;
    }
    report("pair_1thread", run_pairs, 1);
    report("pair_2threads", run_pairs, 2);
    report("cross_thread", cross_adapter, 0);
    report("larson_2threads", run_larson, 0);
#ifdef BENCH_COG
    cog_thread_online();
    report("cog_new_decref_32B", objects_adapter, 0);
    cog_thread_offline();
    report("list_churn_1thread", run_churn, 1);
    report("list_churn_2threads", run_churn, 2);
    report("list_churn_ring256_1thread", run_churn_ring, 1);
    report("list_churn_ring256_2threads", run_churn_ring, 2);
    cog_thread_online();
    if (getenv("ALLOC_BENCH_STATS")) cog_mem_stats_print(stderr); /* arena churn, caches */
    cog_shutdown();
#endif
    return 0;
}
