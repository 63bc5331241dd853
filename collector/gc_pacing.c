/* collector/gc_pacing.c - back-pressure when mutators outrun the collector.
 *
 * cog's collector never stops mutators to do its work. But a concurrent
 * collector has a throughput limit: if threads create cyclic garbage faster
 * than one collector thread can examine it, the young generation (and the
 * heap) would grow without bound. Pacing bounds it: when the young count
 * (tracked allocations minus deallocations since the last collection)
 * exceeds threshold0 x pacing factor, a mutator that reaches a safe point
 * waits, offline, until the collection in progress completes. The wait is
 * recorded as that generation's max_pause_ns: it is the only way cog makes
 * a mutator wait for the collector, and it happens only when the mutator
 * is already ahead by factor x threshold0 objects.
 *
 * The check on the mutator side (lib/gc_hooks.c cog_gc_maybe_pace) is two
 * relaxed loads at a safe point; nothing is added to allocation.
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include "collector/gc_internal.h"
#include "lib/error.h"
#include "lib/thread.h"

#define DEFAULT_PACING 64
/* A waiting mutator re-checks at least this often, so a collector that is
 * disabled or shut down meanwhile never strands it. */
#define MAX_WAIT_SLICE_NS 20000000L

static atomic_long pacing = DEFAULT_PACING;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;
static uint64_t completed;   /* collections completed; under lock */
static int collecting_gen;   /* generation in progress; under lock */
static int collector_active; /* between start and done; under lock */

void cog_gc_pacing_sync(void) {
    long t0 = atomic_load_explicit(&cog__gc.threshold[0], memory_order_relaxed);
    long f = atomic_load_explicit(&pacing, memory_order_relaxed);
    int enabled = atomic_load_explicit(&cog__gc.enabled, memory_order_relaxed);
    long limit = (enabled && t0 > 0 && f > 0 && t0 <= LONG_MAX / f) ? t0 * f : LONG_MAX;
    atomic_store_explicit(&cog__gc_pace_limit, limit, memory_order_relaxed);
}

int cog_gc_set_pacing(long factor) {
    if (factor < 0)
        return cog_error(COG_EINVAL, "cog_gc_set_pacing: factor %ld is negative", factor);
    atomic_store_explicit(&pacing, factor, memory_order_relaxed);
    cog_gc_pacing_sync();
    return COG_OK;
}

long cog_gc_get_pacing(void) { return atomic_load_explicit(&pacing, memory_order_relaxed); }

void cog_gc_pacing_collection_start(int gen) {
    pthread_mutex_lock(&lock);
    collecting_gen = gen;
    collector_active = 1;
    pthread_mutex_unlock(&lock);
}

void cog_gc_pacing_collection_done(void) {
    pthread_mutex_lock(&lock);
    completed++;
    collector_active = 0;
    pthread_cond_broadcast(&finished);
    pthread_mutex_unlock(&lock);
}

/* Fork child: mutators of the parent may have been waiting here (offline,
 * so a fork can happen meanwhile); they do not exist in the child, and
 * neither does a collection in progress. */
void cog_gc_pacing_after_fork_child(void) {
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&finished, NULL);
    collector_active = 0;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int over_limit(void) {
    return atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed) >
           atomic_load_explicit(&cog__gc_pace_limit, memory_order_relaxed);
}

/* Installed as lib's pace hook: called at a mutator's safe point when the
 * young count is over the limit. Waits for the end of the next collection
 * to complete (the one in progress, or the one the crossing requested). */
static void pace_wait(void) {
    if (cog_gc_on_collector_thread()) return; /* finalizers, callbacks */
    uint64_t t0 = now_ns();
    cog_thread_offline();
    pthread_mutex_lock(&lock);
    uint64_t seen = completed;
    int gen = collecting_gen;
    while (completed == seen && over_limit()) {
        if (collector_active) gen = collecting_gen;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += MAX_WAIT_SLICE_NS;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        if (pthread_cond_timedwait(&finished, &lock, &until) == ETIMEDOUT &&
            !atomic_load_explicit(&cog__gc.enabled, memory_order_relaxed))
            break;
    }
    pthread_mutex_unlock(&lock);
    cog_thread_online();
    cog_gc_stats_record_pause(gen, now_ns() - t0);
}

__attribute__((constructor)) static void install_pace_hook(void) { cog_gc_set_pace_hook(pace_wait); }
