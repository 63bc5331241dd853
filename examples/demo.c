/* examples/demo.c - cog's demo: a small multithreaded server-like workload.
 *
 * Worker threads (attached to cog) handle "requests" as fast as they can:
 * each request builds an object graph with cycles (a dict that refers to
 * itself, a list of nodes, a ring of nodes), caches the ring in a dict
 * shared by every worker under an interned key, and drops the rest, which
 * only the background cycle collector can free (demo_request.c). A worker
 * also measures how long each request takes, so a stall caused by the
 * runtime (a collection pausing mutators, a lock) shows up as its maximum
 * request latency.
 *
 * The main thread prints a status line per second: throughput, heap,
 * collections per generation, the longest collection, the longest time a
 * worker was held back at a safe point because it outran the collector
 * (pacing, cog_gc_set_pacing) and the longest request. At the end it empties the cache, collects, checks that every
 * node it created was freed and prints a report.
 *
 * Tune it while it runs: COG_* environment variables are read at cog_init
 * (docs/tuning.md), and with COG_CONTROL_SOCKET=PATH set, `cogctl PATH ...`
 * talks to it (stats, collect, threshold, enable/disable, gctrace, top).
 *
 * Usage: demo [seconds] [threads] [cache_keys]   (default 5 s, 4 threads,
 *        1024 keys)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cog/cog.h"
#include "demo_node.h"
#include "demo_request.h"

#define MAX_WORKERS 64

typedef struct worker {
    pthread_t thread;
    int index;
    /* Written by the worker, read by the status line: relaxed atomics (a
     * status figure may lag by one request; nothing is derived from it). */
    atomic_long requests;
    atomic_long nodes_created;
    atomic_long max_latency_ns; /* since the last status line */
    long worst_latency_ns;      /* whole run, worker-private until join */
} worker;

static demo_keys keys;
static cog_object *cache;
static int cache_keys = 1024;
static atomic_int stop;
static uint64_t peak_heap; /* main thread only */
static atomic_int failed;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    if (cog_thread_attach() != COG_OK) {
        fprintf(stderr, "demo: attach failed: %s\n", cog_last_error());
        atomic_store(&failed, 1);
        return NULL;
    }
    uint64_t id = (uint64_t)w->index << 40;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t t0 = now_ns();
        long made = demo_request_handle(&keys, cache, id++, cache_keys);
        long dt = (long)(now_ns() - t0);
        if (made < 0) {
            atomic_store(&failed, 1);
            break;
        }
        atomic_fetch_add_explicit(&w->nodes_created, made, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->requests, 1, memory_order_relaxed);
        if (dt > atomic_load_explicit(&w->max_latency_ns, memory_order_relaxed))
            atomic_store_explicit(&w->max_latency_ns, dt, memory_order_relaxed);
        if (dt > w->worst_latency_ns) w->worst_latency_ns = dt;
        /* A server's request loop is a natural safe point: merge counts
         * other threads queued to us and let grace periods advance. */
        cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static uint64_t heap_bytes(void) {
    cog_mem_info m;
    cog_mem_stats(&m);
    return m.bytes_mapped + m.large_bytes;
}

/* One status line: the last interval's throughput and worst request, and
 * the collector's running totals. */
static void status_line(double t, worker *workers, int n, long *last_requests) {
    long requests = 0, max_lat = 0;
    for (int i = 0; i < n; i++) {
        requests += atomic_load_explicit(&workers[i].requests, memory_order_relaxed);
        long l = atomic_exchange_explicit(&workers[i].max_latency_ns, 0, memory_order_relaxed);
        if (l > max_lat) max_lat = l;
    }
    uint64_t heap = heap_bytes();
    if (heap > peak_heap) peak_heap = heap;
    cog_gc_gen_stats g[COG_GC_GENERATIONS];
    cog_gc_get_stats(g);
    uint64_t max_gc = 0, max_pause = 0;
    for (int i = 0; i < COG_GC_GENERATIONS; i++) {
        if (g[i].max_ns > max_gc) max_gc = g[i].max_ns;
        if (g[i].max_pause_ns > max_pause) max_pause = g[i].max_pause_ns;
    }
    printf("[%5.1fs] %8.1fk req/s  heap %7.1f MiB  gc %llu/%llu/%llu  "
           "longest gc %6.2f ms  longest paced wait %6.2f ms  worst request %6.2f ms\n",
           t, (double)(requests - *last_requests) / 1e3, mib(heap),
           (unsigned long long)g[0].collections, (unsigned long long)g[1].collections,
           (unsigned long long)g[2].collections, (double)max_gc / 1e6,
           (double)max_pause / 1e6, (double)max_lat / 1e6);
    fflush(stdout);
    *last_requests = requests;
}

static void report(double elapsed, worker *workers, int n, long created, long freed) {
    long requests = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        requests += atomic_load(&workers[i].requests);
        if (workers[i].worst_latency_ns > worst) worst = workers[i].worst_latency_ns;
    }
    printf("\ncog demo: %d worker threads, %.2f s\n", n, elapsed);
    printf("requests:  %ld (%.1fk/s), worst request %.2f ms\n", requests,
           (double)requests / elapsed / 1e3, (double)worst / 1e6);
    printf("objects:   %ld nodes created, %ld freed\n", created, freed);
    cog_gc_gen_stats g[COG_GC_GENERATIONS];
    cog_gc_get_stats(g);
    for (int i = 0; i < COG_GC_GENERATIONS; i++)
        printf("gc gen %d:  %llu collections, %llu collected, %llu uncollectable, "
               "longest %.2f ms, total %.1f ms\n",
               i, (unsigned long long)g[i].collections, (unsigned long long)g[i].collected,
               (unsigned long long)g[i].uncollectable, (double)g[i].max_ns / 1e6,
               (double)g[i].total_ns / 1e6);
    cog_intern_stats is;
    if (cog_intern_get_stats(&is) == COG_OK)
        printf("intern:    %llu strings, %llu lookups, %.1f%% hits\n",
               (unsigned long long)is.count, (unsigned long long)is.lookups,
               is.lookups ? 100.0 * (double)is.hits / (double)is.lookups : 0.0);
    uint64_t max_pause = 0;
    for (int i = 0; i < COG_GC_GENERATIONS; i++)
        if (g[i].max_pause_ns > max_pause) max_pause = g[i].max_pause_ns;
    printf("pacing:    longest wait %.2f ms\n", (double)max_pause / 1e6);
    cog_mem_info m;
    cog_mem_stats(&m);
    printf("heap:      peak %.1f MiB (sampled each second)\n", mib(peak_heap));
    printf("memory:    %.1f MiB mapped in %llu arenas (%llu mapped, %llu returned to the OS "
           "during the run)\n",
           mib(m.bytes_mapped), (unsigned long long)m.arenas,
           (unsigned long long)m.arenas_mapped_total, (unsigned long long)m.arenas_unmapped_total);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int nthreads = argc > 2 ? atoi(argv[2]) : 4;
    if (argc > 3) cache_keys = atoi(argv[3]);
    if (seconds <= 0 || seconds > 3600 || nthreads < 1 || nthreads > MAX_WORKERS ||
        cache_keys < 1 || cache_keys > 1 << 20) {
        fprintf(stderr, "usage: demo [seconds (0-3600]] [threads 1..%d] [cache_keys 1..%d]\n",
                MAX_WORKERS, 1 << 20);
        return 2;
    }
    if (cog_init() != COG_OK) {
        fprintf(stderr, "demo: cog_init: %s\n", cog_last_error());
        return 1;
    }
    if (demo_keys_init(&keys) != COG_OK || !(cache = cog_dict_new())) {
        fprintf(stderr, "demo: setup: %s\n", cog_last_error());
        return 1;
    }

    static worker workers[MAX_WORKERS];
    uint64_t start = now_ns();
    for (int i = 0; i < nthreads; i++) {
        workers[i].index = i;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "demo: pthread_create failed\n");
            return 1;
        }
    }
    /* The main thread only sleeps and reads statistics: offline, so grace
     * periods (and so the collector) never wait for it. */
    cog_thread_offline();
    long last_requests = 0;
    for (double t = 1.0; t <= seconds + 1e-9 && !atomic_load(&failed); t += 1.0) {
        double step = seconds - (t - 1.0) < 1.0 ? seconds - (t - 1.0) : 1.0;
        struct timespec nap = {.tv_sec = (time_t)step,
                               .tv_nsec = (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&nap, NULL);
        status_line((double)(now_ns() - start) / 1e9, workers, nthreads, &last_requests);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nthreads; i++) pthread_join(workers[i].thread, NULL);
    cog_thread_online();
    double elapsed = (double)(now_ns() - start) / 1e9;

    long created = 0;
    for (int i = 0; i < nthreads; i++) created += atomic_load(&workers[i].nodes_created);
    /* Shut the server down: drop the cache, then collect what is left. */
    cog_decref(cache);
    cog_gc_collect(2);
    cog_safepoint();
    long freed = atomic_load(&demo_nodes_freed);
    report(elapsed, workers, nthreads, created, freed);

    int ok = !atomic_load(&failed) && freed == created;
    if (cog_shutdown() != COG_OK) {
        fprintf(stderr, "demo: cog_shutdown: %s\n", cog_last_error());
        ok = 0;
    }
    printf("%s\n", ok ? "OK: every object was freed" : "FAIL: objects leaked or a request failed");
    return ok ? 0 : 1;
}
