/* examples/demo.c - cog's demo: several attached threads doing object work.
 *
 * Each worker thread, until the time is up:
 *   - builds a short linked chain of demo.Node objects (it owns them) and
 *     hands it to the next worker through a mutex-protected queue; the
 *     receiver drops it, so most frees are cross-thread (biased refcounts
 *     queue the counts back to the owner, who merges them at a safe point);
 *   - increfs and decrefs a handful of nodes shared by every thread (owned
 *     by the main thread, so workers take the atomic shared path).
 * Then it checks that every node created was freed and prints a report.
 *
 * Usage: demo [seconds] [threads]   (default 2 s, 4 threads)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cog/cog.h"
#include "demo_node.h"
#include "demo_queue.h"

#define CHAIN_LEN 8
#define SHARED_NODES 8
#define QUEUE_CAP 256
#define MAX_WORKERS 64

typedef struct worker_stats {
    long chains_sent;
    long chains_dropped;
    long nodes_created;
    long shared_pairs; /* incref+decref pairs on shared nodes */
} worker_stats;

typedef struct worker {
    pthread_t thread;
    int index;
    demo_queue *inbox;  /* chains handed to us; we drop them */
    demo_queue *outbox; /* the next worker's inbox */
    worker_stats stats;
} worker;

static demo_node *shared_nodes[SHARED_NODES];
static atomic_int stop;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void drop_inbox(worker *w) {
    cog_object *o;
    while ((o = demo_queue_pop(w->inbox))) {
        cog_decref(o); /* frees the whole chain */
        w->stats.chains_dropped++;
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    if (cog_thread_attach() != COG_OK) {
        fprintf(stderr, "demo: attach failed: %s\n", cog_last_error());
        exit(1);
    }
    for (long iter = 0; !atomic_load_explicit(&stop, memory_order_relaxed); iter++) {
        demo_node *chain = demo_chain_new(CHAIN_LEN, iter * CHAIN_LEN);
        w->stats.nodes_created += CHAIN_LEN;
        if (demo_queue_push(w->outbox, &chain->ob) == 0) {
            w->stats.chains_sent++;
        } else {
            cog_decref(&chain->ob); /* receiver is behind: drop it ourselves */
        }
        for (int i = 0; i < SHARED_NODES; i++) {
            cog_incref(&shared_nodes[i]->ob);
            cog_decref(&shared_nodes[i]->ob);
        }
        w->stats.shared_pairs += SHARED_NODES;
        drop_inbox(w);
        /* Merge counts other threads queued to us, let RCU progress. */
        if (iter % 64 == 0) cog_safepoint();
    }
    /* Detaching merges every count we own: chains still in other inboxes
     * stay alive and are freed by whoever drops them. */
    cog_thread_detach();
    return NULL;
}

/* The report is a list of sections; later issues add theirs (collector,
 * allocator, intern) here. */
typedef struct run_result {
    int threads;
    double elapsed;
    worker_stats total;
    long freed;
} run_result;

static void report_objects(const run_result *r) {
    long created = r->total.nodes_created + SHARED_NODES;
    printf("objects:   %ld created, %ld freed, %ld live at exit\n", created, r->freed,
           created - r->freed);
    printf("           %.2f M allocations/s\n", (double)created / r->elapsed / 1e6);
}

static void report_refcounts(const run_result *r) {
    printf("refcounts: %ld shared incref+decref pairs, %.2f M pairs/s\n",
           r->total.shared_pairs, (double)r->total.shared_pairs / r->elapsed / 1e6);
}

static void report_handoffs(const run_result *r) {
    printf("handoffs:  %ld chains of %d nodes sent, %ld dropped by the receiver, "
           "%.2f M chains/s\n",
           r->total.chains_sent, CHAIN_LEN, r->total.chains_dropped,
           (double)r->total.chains_sent / r->elapsed / 1e6);
}

static void (*const report_sections[])(const run_result *) = {
    report_objects,
    report_refcounts,
    report_handoffs,
};

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int nthreads = argc > 2 ? atoi(argv[2]) : 4;
    if (seconds <= 0 || seconds > 60 || nthreads < 1 || nthreads > MAX_WORKERS) {
        fprintf(stderr, "usage: demo [seconds (0-60]] [threads 1..%d]\n", MAX_WORKERS);
        return 2;
    }
    if (cog_init() != COG_OK) {
        fprintf(stderr, "demo: cog_init: %s\n", cog_last_error());
        return 1;
    }
    for (int i = 0; i < SHARED_NODES; i++) shared_nodes[i] = demo_node_new(-1 - i);

    static worker workers[MAX_WORKERS];
    static demo_queue queues[MAX_WORKERS];
    for (int i = 0; i < nthreads; i++)
        if (demo_queue_init(&queues[i], QUEUE_CAP) != 0) return 1;

    double start = now_seconds();
    for (int i = 0; i < nthreads; i++) {
        workers[i] = (worker){.index = i,
                              .inbox = &queues[i],
                              .outbox = &queues[(i + 1) % nthreads]};
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "demo: pthread_create failed\n");
            return 1;
        }
    }
    /* Blocking while attached: go offline so grace periods (and the
     * collector) do not wait for this thread. */
    cog_thread_offline();
    struct timespec nap = {.tv_sec = (time_t)seconds,
                           .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&nap, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < nthreads; i++) pthread_join(workers[i].thread, NULL);
    cog_thread_online();
    double elapsed = now_seconds() - start;

    run_result r = {.threads = nthreads, .elapsed = elapsed};
    for (int i = 0; i < nthreads; i++) {
        worker *w = &workers[i];
        drop_inbox(w); /* chains still in flight: the main thread drops them */
        r.total.chains_sent += w->stats.chains_sent;
        r.total.chains_dropped += w->stats.chains_dropped;
        r.total.nodes_created += w->stats.nodes_created;
        r.total.shared_pairs += w->stats.shared_pairs;
        demo_queue_destroy(&queues[i]);
    }
    for (int i = 0; i < SHARED_NODES; i++) cog_decref(&shared_nodes[i]->ob);
    cog_safepoint(); /* merge counts queued to the main thread */
    r.freed = atomic_load(&demo_nodes_freed);

    printf("cog demo: %d threads, %.2f s\n", nthreads, elapsed);
    for (size_t i = 0; i < sizeof report_sections / sizeof *report_sections; i++)
        report_sections[i](&r);

    long created = r.total.nodes_created + SHARED_NODES;
    int ok = r.freed == created;
    if (cog_shutdown() != COG_OK) {
        fprintf(stderr, "demo: cog_shutdown: %s\n", cog_last_error());
        ok = 0;
    }
    printf("%s\n", ok ? "OK: every object was freed" : "FAIL: objects leaked");
    return ok ? 0 : 1;
}
