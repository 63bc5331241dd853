/* collector/gc_stats.c - per-generation statistics and collection
 * callbacks. */
#include <stdio.h>
#include <string.h>

#include "collector/gc_internal.h"
#include "lib/base/error.h"

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static cog_gc_gen_stats stats[COG_GC_GENERATIONS]; /* under stats_lock */
/* Longest pacing wait since the last gctrace line (under stats_lock). */
static uint64_t recent_pause_ns;
static uint64_t started_ns; /* under stats_lock; 0 until the first start */
/* Collection wall times per generation, as counts per bucket (not
 * cumulative; the last bucket is above every bound), for the metrics
 * histogram. Kept with stats[] under the same lock, so a snapshot's bucket
 * counts always add up to its `collections`. */
static uint64_t duration_hist[COG_GC_GENERATIONS][COG_GC_DURATION_BUCKETS + 1];

/* Upper bounds (ns), from 100 us (a small young collection) to 10 s (a
 * full collection of a heap of millions): the usual 1-2.5-5 steps. */
const uint64_t cog_gc_duration_bucket_ns[COG_GC_DURATION_BUCKETS] = {
    100000,    250000,    500000,     1000000,    2500000,    5000000,
    10000000,  25000000,  50000000,   100000000,  250000000,  500000000,
    1000000000, 2500000000u, 5000000000u, 10000000000u,
};

/* Paced waits: 100 us to 100 ms (cog's bound is 0.5 ms; the scheduler
 * can add a tick or more). Under stats_lock. */
const uint64_t cog_gc_wait_bucket_ns[COG_GC_WAIT_BUCKETS] = {
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
};
static cog_gc_wait_hist wait_hist;

/* 17 entries at most: a linear scan is as cheap as a search. */
static int bucket_of(uint64_t ns, const uint64_t *bounds, int n) {
    int b = 0;
    while (b < n && ns > bounds[b]) b++;
    return b;
}

static int duration_bucket(uint64_t ns) {
    return bucket_of(ns, cog_gc_duration_bucket_ns, COG_GC_DURATION_BUCKETS);
}

void cog_gc_stats_start(void) {
    pthread_mutex_lock(&stats_lock);
    if (!started_ns) started_ns = cog_gc_now_ns();
    pthread_mutex_unlock(&stats_lock);
}

uint64_t cog_gc_stats_elapsed_ns(void) {
    pthread_mutex_lock(&stats_lock);
    uint64_t t = started_ns;
    pthread_mutex_unlock(&stats_lock);
    return t ? cog_gc_now_ns() - t : 0;
}

void cog_gc_stats_record(int gen, const gc_result *r, uint64_t ns, uint64_t cpu_ns) {
    pthread_mutex_lock(&stats_lock);
    cog_gc_gen_stats *g = &stats[gen];
    g->collections++;
    g->collected += (uint64_t)r->collected;
    g->uncollectable += (uint64_t)r->uncollectable;
    g->total_ns += ns;
    if (ns > g->max_ns) g->max_ns = ns;
    duration_hist[gen][duration_bucket(ns)]++;
    g->last_scanned = r->scanned;
    g->last_walked = r->walked;
    g->window_ns += r->window_ns;
    g->assisted += r->assisted;
    g->sliced += r->sliced != 0;
    g->cpu_ns += cpu_ns;
    uint64_t pause = recent_pause_ns;
    recent_pause_ns = 0;
    pthread_mutex_unlock(&stats_lock);
    cog_gc_trace_collection(gen, r, ns, pause, cpu_ns);
    if (atomic_load_explicit(&cog__gc.debug, memory_order_relaxed) & COG_GC_DEBUG_STATS)
        fprintf(stderr,
                "cog gc: gen %d: %zu scanned, %ld collected, %ld uncollectable, %.3f ms\n", gen,
                r->scanned, r->collected, r->uncollectable, (double)ns / 1e6);
}

void cog_gc_stats_record_pause(int gen, uint64_t ns, uint64_t preempted_ns) {
    if (gen < 0 || gen >= COG_GC_GENERATIONS) gen = 0;
    if (preempted_ns > ns) preempted_ns = ns; /* two clocks, read apart */
    pthread_mutex_lock(&stats_lock);
    if (ns > stats[gen].max_pause_ns) stats[gen].max_pause_ns = ns;
    if (ns - preempted_ns > stats[gen].max_pause_held_ns)
        stats[gen].max_pause_held_ns = ns - preempted_ns;
    stats[gen].pause_preempted_ns += preempted_ns;
    if (ns > recent_pause_ns) recent_pause_ns = ns;
    wait_hist.count[gen][bucket_of(ns, cog_gc_wait_bucket_ns, COG_GC_WAIT_BUCKETS)]++;
    wait_hist.sum_ns[gen] += ns;
    pthread_mutex_unlock(&stats_lock);
}

void cog_gc_get_stats(cog_gc_gen_stats out[COG_GC_GENERATIONS]) {
    pthread_mutex_lock(&stats_lock);
    memcpy(out, stats, sizeof stats);
    pthread_mutex_unlock(&stats_lock);
}

void cog_gc_stats_snapshot(cog_gc_gen_stats out[COG_GC_GENERATIONS],
                           uint64_t hist[COG_GC_GENERATIONS][COG_GC_DURATION_BUCKETS + 1],
                           cog_gc_wait_hist *waits) {
    pthread_mutex_lock(&stats_lock);
    memcpy(out, stats, sizeof stats);
    memcpy(hist, duration_hist, sizeof duration_hist);
    *waits = wait_hist;
    pthread_mutex_unlock(&stats_lock);
}

#define MAX_CALLBACKS 16
typedef struct callback_slot {
    cog_gc_callback cb;
    void *arg;
} callback_slot;

/* Callbacks run outside the lock (a callback may add or remove callbacks),
 * one at a time, and cog_gc_callback_remove waits for a call of the one it
 * removes to return: once it returns, the callback is never entered again,
 * so the caller may free arg. `calling` is the call in progress and
 * `calling_thread` the thread making it, so that a callback removing itself
 * (or another one, from the same thread) does not wait for itself. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_returned = PTHREAD_COND_INITIALIZER;
static callback_slot callbacks[MAX_CALLBACKS]; /* under cb_lock */
static int ncallbacks;
static callback_slot calling;      /* under cb_lock; cb NULL: none */
static pthread_t calling_thread;   /* under cb_lock, valid while calling.cb */

static int find_callback(cog_gc_callback cb, void *arg) {
    for (int i = 0; i < ncallbacks; i++)
        if (callbacks[i].cb == cb && callbacks[i].arg == arg) return i;
    return -1;
}

int cog_gc_callback_add(cog_gc_callback cb, void *arg) {
    if (!cb) return cog_error(COG_EINVAL, "cog_gc_callback_add: callback is NULL");
    pthread_mutex_lock(&cb_lock);
    if (ncallbacks == MAX_CALLBACKS) {
        pthread_mutex_unlock(&cb_lock);
        return cog_error(COG_ELIMIT, "cog_gc_callback_add: %d callbacks already registered",
                         MAX_CALLBACKS);
    }
    callbacks[ncallbacks++] = (callback_slot){cb, arg};
    pthread_mutex_unlock(&cb_lock);
    return COG_OK;
}

int cog_gc_callback_remove(cog_gc_callback cb, void *arg) {
    pthread_mutex_lock(&cb_lock);
    int i = find_callback(cb, arg);
    if (i < 0) {
        pthread_mutex_unlock(&cb_lock);
        return cog_error(COG_EINVAL, "cog_gc_callback_remove: callback not registered");
    }
    memmove(&callbacks[i], &callbacks[i + 1], (size_t)(ncallbacks - i - 1) * sizeof callbacks[0]);
    ncallbacks--;
    while (calling.cb == cb && calling.arg == arg && !pthread_equal(calling_thread, pthread_self()))
        pthread_cond_wait(&cb_returned, &cb_lock);
    pthread_mutex_unlock(&cb_lock);
    return COG_OK;
}

/* Runs the callbacks registered at the start of the run that are still
 * registered when their turn comes. */
void cog_gc_callbacks_run(cog_gc_phase phase, const cog_gc_info *info) {
    callback_slot snap[MAX_CALLBACKS];
    pthread_mutex_lock(&cb_lock);
    int n = ncallbacks;
    memcpy(snap, callbacks, (size_t)n * sizeof snap[0]);
    for (int i = 0; i < n; i++) {
        if (find_callback(snap[i].cb, snap[i].arg) < 0) continue; /* removed meanwhile */
        calling = snap[i];
        calling_thread = pthread_self();
        pthread_mutex_unlock(&cb_lock);
        snap[i].cb(phase, info, snap[i].arg);
        pthread_mutex_lock(&cb_lock);
        calling.cb = NULL;
        pthread_cond_broadcast(&cb_returned);
    }
    pthread_mutex_unlock(&cb_lock);
}
