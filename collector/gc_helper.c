/* collector/gc_helper.c - a second pair of hands for big collections.
 *
 * The collection's heap walk, reference subtraction and marking split
 * cleanly in two (collector/gc_collect.c, gc_walk.c): the collector posts
 * the second half as a job and does the first. The job is claimed by
 * exactly one of:
 *   - the helper thread, a runtime-owned attached thread (so an RCU
 *     reader, like the collector: storage it reads is not freed under it),
 *     started by the collector the first time it has a job while a core is
 *     idle and woken only for the jobs posted while one is (a waking
 *     helper would preempt a mutator spinning in a paced wait on the core
 *     it had looked idle), and stopped by the collector thread when that exits
 *     (cog_shutdown, or just before a fork); between jobs it waits offline
 *     (it holds up no grace period);
 *   - a mutator that pacing made an assistant (cog_gc_helper_assist, at
 *     its safe point, online): a thread that outruns the collector scans
 *     instead of waiting, and a paced wait ends when a job is open
 *     (collector/gc_pacing.c);
 *   - the collector itself, when it comes to wait and nobody has.
 * The mutex orders everything a job reads (set up by the collector before
 * posting) before the job, and everything the job wrote before the
 * collector's return from cog_gc_helper_wait. Only the collector thread
 * posts and waits.
 */
#include "collector/gc_internal.h"
#include "lib/base/error.h"
#include "lib/core/runtime_internal.h"
#include "lib/core/thread.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
/* Under lock. A job is posted, then claimed by exactly one of: the helper
 * thread, a mutator that pacing made an assistant (cog_gc_helper_assist),
 * or the collector itself when it comes to wait and finds it unclaimed. */
static int running, stopping, cannot_start;
/* Whether the open job was left to the helper thread (under lock). */
static int thread_has_job;
/* How posting uses the helper thread (COG_GC_HELPER_*): set per scan and
 * read when posting, both by the collector thread only, so no lock. */
static int use_thread;
static void (*job)(void *);
static void *job_arg;
static unsigned long posted, claimed, finished;
/* posted != claimed, for assistants' lock-free look. */
static atomic_int open_job;
/* CPU time spent in jobs; written by the claimers, read by the collector
 * for statistics (relaxed: a counter). */
static atomic_ulong job_cpu_ns;

uint64_t cog_gc_helper_cpu_ns(void) {
    return atomic_load_explicit(&job_cpu_ns, memory_order_relaxed);
}

/* Under lock, with a job open: take it, run it unlocked, report it. */
static void claim_and_run(void) {
    claimed = posted;
    atomic_store_explicit(&open_job, 0, memory_order_relaxed);
    void (*fn)(void *) = job;
    void *arg = job_arg;
    pthread_mutex_unlock(&lock);
    uint64_t cpu0 = cog_gc_thread_cpu_ns();
    fn(arg);
    atomic_fetch_add_explicit(&job_cpu_ns, cog_gc_thread_cpu_ns() - cpu0, memory_order_relaxed);
    pthread_mutex_lock(&lock);
    finished = claimed;
    pthread_cond_broadcast(&done);
}

static void helper_body(void *unused) {
    (void)unused;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!stopping && claimed == posted) {
            cog_thread_offline();
            pthread_cond_wait(&wake, &lock);
            /* Online before touching objects; going online waits only on
             * liburcu's registry lock, never on a holder of ours. */
            cog_thread_online();
        }
        if (stopping) break;
        claim_and_run();
    }
    pthread_mutex_unlock(&lock);
}

void cog_gc_helper_use_thread(int how) { use_thread = how; }

int cog_gc_helper_post(void (*fn)(void *), void *arg) {
    /* Looked at again for every job, not only at the scan's start: a
     * mutator may have begun a paced wait meanwhile, spinning on the core
     * the helper would take, and a woken helper then preempts it for
     * milliseconds (measured with one worker: 2.4 and 3.8 ms waits). Such
     * a waiter ends its wait to take the job (collector/gc_pacing.c). */
    int wake_thread = use_thread == COG_GC_HELPER_ALWAYS ||
                      (use_thread == COG_GC_HELPER_IF_SPARE && cog_gc_spare_core());
    pthread_mutex_lock(&lock);
    if (wake_thread && !running && !cannot_start) {
        pthread_mutex_unlock(&lock);
        /* The helper attaches: cog_thread_start_internal waits for that
         * offline, so it never waits on us. */
        int rc = cog_thread_start_internal(&thread, "cog-gc-helper", "cog gc helper",
                                           helper_body, NULL);
        pthread_mutex_lock(&lock);
        if (rc == COG_OK) running = 1;
        else cannot_start = 1; /* assistants or we run it; retry after a restart */
    }
    job = fn;
    job_arg = arg;
    posted++;
    thread_has_job = wake_thread && running;
    atomic_store_explicit(&open_job, 1, memory_order_relaxed);
    if (thread_has_job) pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    return 1;
}

int cog_gc_helper_job_open(void) { return atomic_load_explicit(&open_job, memory_order_relaxed); }

int cog_gc_helper_assist(void) {
    if (!atomic_load_explicit(&open_job, memory_order_relaxed)) return 0;
    pthread_mutex_lock(&lock);
    int ran = claimed != posted;
    if (ran) claim_and_run();
    pthread_mutex_unlock(&lock);
    return ran;
}

void cog_gc_helper_wait(void) {
    pthread_mutex_lock(&lock);
    /* Nobody came and no helper thread is on its way: our turn. (A woken
     * helper is left its job: it runs beside us on an idle core, while
     * taking the job back would make the step sequential.) */
    if (claimed != posted && !thread_has_job) claim_and_run();
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
    posted = claimed = finished = 0;
    pthread_mutex_unlock(&lock);
}
