/* collector/gc_helper.c - a second scanning thread for big collections.
 *
 * The collection's heap walk and reference subtraction split cleanly in
 * two (collector/gc_collect.c), and while a collection runs the machine
 * usually has a core to spare: the thread that asked for it waits. The
 * helper is a runtime-owned attached thread (so an RCU reader, like the
 * collector: storage it reads is not freed under it), started by the
 * collector thread the first time it has a big scan, and stopped by the
 * collector thread when that exits (cog_shutdown, or just before a fork).
 * Only the collector thread calls these functions.
 *
 * Between jobs the helper waits offline (it holds up no grace period).
 * The mutex orders everything a job reads (set up by the collector before
 * posting) before the job, and everything the job wrote before the
 * collector's return from cog_gc_helper_wait.
 */
#include "collector/gc_internal.h"
#include "lib/error.h"
#include "lib/runtime_internal.h"
#include "lib/thread.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
/* Under lock. */
static int running, stopping, cannot_start;
static void (*job)(void *);
static void *job_arg;
static unsigned long posted, finished;
/* CPU time spent in jobs; written by the helper, read by the collector
 * for statistics (relaxed: a counter). */
static atomic_ulong job_cpu_ns;

uint64_t cog_gc_helper_cpu_ns(void) {
    return atomic_load_explicit(&job_cpu_ns, memory_order_relaxed);
}

static void helper_body(void *unused) {
    (void)unused;
    unsigned long seen = 0;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!stopping && posted == seen) {
            cog_thread_offline();
            pthread_cond_wait(&wake, &lock);
            /* Online before touching objects; going online waits only on
             * liburcu's registry lock, never on a holder of ours. */
            cog_thread_online();
        }
        if (stopping) break;
        seen = posted;
        void (*fn)(void *) = job;
        void *arg = job_arg;
        pthread_mutex_unlock(&lock);
        uint64_t cpu0 = cog_gc_thread_cpu_ns();
        fn(arg);
        atomic_fetch_add_explicit(&job_cpu_ns, cog_gc_thread_cpu_ns() - cpu0,
                                  memory_order_relaxed);
        pthread_mutex_lock(&lock);
        finished = seen;
        pthread_cond_signal(&done);
    }
    pthread_mutex_unlock(&lock);
}

int cog_gc_helper_post(void (*fn)(void *), void *arg) {
    pthread_mutex_lock(&lock);
    int ok = running;
    if (!ok && !cannot_start) {
        pthread_mutex_unlock(&lock);
        /* The helper attaches: cog_thread_start_internal waits for that
         * offline, so it never waits on us. */
        int rc = cog_thread_start_internal(&thread, "cog gc helper", helper_body, NULL);
        pthread_mutex_lock(&lock);
        if (rc == COG_OK) running = ok = 1;
        else cannot_start = 1; /* scan alone; try again after a restart */
    }
    if (ok) {
        job = fn;
        job_arg = arg;
        posted++;
        pthread_cond_signal(&wake);
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

void cog_gc_helper_wait(void) {
    pthread_mutex_lock(&lock);
    while (finished != posted) pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
}

void cog_gc_helper_stop(void) {
    pthread_mutex_lock(&lock);
    int was_running = running;
    stopping = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    if (was_running) {
        /* It may be finishing a grace-period-sensitive detach: be offline. */
        cog_thread_offline();
        pthread_join(thread, NULL);
        cog_thread_online();
    }
    pthread_mutex_lock(&lock);
    running = stopping = cannot_start = 0;
    posted = finished = 0;
    pthread_mutex_unlock(&lock);
}
