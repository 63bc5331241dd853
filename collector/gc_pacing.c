/* collector/gc_pacing.c - back-pressure when mutators outrun the collector.
 *
 * cog's collector never stops mutators to do its work. But one collector
 * thread has a throughput limit: if threads create cyclic garbage faster
 * than it can examine and free it, the young generation (and the heap)
 * would grow without bound. When the young count (tracked allocations
 * minus deallocations since the last collection) exceeds threshold0 x
 * pacing factor, a mutator that reaches a safe point pays for what it
 * allocated instead (Go's mark assist is the model). It becomes an
 * *assistant* until a whole collection passes without it being over, and:
 *
 *   - frees garbage the collector hands it: a collection's garbage goes
 *     whole to one assistant (gc_assist.c), which adopts what other
 *     threads own and clears and frees it all at its safe points, on its
 *     owner fast paths, while the collector goes on with its next scan;
 *   - else takes the open half of a big scan step (gc_helper.c);
 *   - else, when the collection in progress is sliced (threads outnumber
 *     the cores, gc_slice.c), runs a slice of it of at most SLICE_NS;
 *   - else, only past twice the limit (three times while collections are
 *     sliced), waits (offline) for its garbage,
 *     a scan half or the collection in progress, at most 0.5 ms per safe
 *     point: spinning on its CPU when every cog thread that wants one has
 *     one and no other thread takes it, else sleeping, so that the
 *     collector gets the CPU; the wait is recorded as that generation's
 *     max_pause_ns, and the time inside it that the kernel ran another
 *     thread on the waiter's CPU (its run-queue delay) as
 *     pause_preempted_ns: no bound of cog's can hold against that (on
 *     this project's VM, kernel threads take a CPU for 1-1.3 ms a few
 *     times a second), so a user can tell the two apart.
 *
 * So no wait is long, and the heap stays bounded: past twice the limit
 * each assistant either does the collector's work or makes at most one
 * safe point's worth of progress per wait. A detaching assistant leaves
 * the list first and then frees what it was handed.
 *
 * The check on the mutator side (lib/core/gc_hooks.c cog_gc_maybe_pace) is two
 * relaxed loads at a safe point; nothing is added to allocation.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <time.h>

#include "collector/gc_internal.h"
#include "lib/base/error.h"
#include "lib/base/spin.h"
#include "lib/core/thread.h"

#define DEFAULT_PACING 64
/* The longest a mutator waits at one safe point: 0.5 ms. The margin to
 * 1 ms is for what the wait does not control: going online again (going
 * offline is timed apart, see pace()), timer slack and the wake-up of a
 * sleeping wait (on this project's VM a 0.9 ms timed sleep returned after
 * 1.00-1.05 ms with a core to itself), and the VM's stalls of a few
 * hundred microseconds during a spinning one. With 0.75 ms, 4 of 38
 * one-worker runs had one wait of 1.02-1.17 ms; with 0.5 ms none of 16
 * went over 0.88 ms, at the same throughput (docs/performance.md, "Paced
 * waits"). A shorter wait only means more of them: each still makes at
 * most one safe point's progress. A spinning wait overshoots by one poll. */
#define MAX_WAIT_NS 500000L
/* A sleeping wait sleeps only this long: it wakes when the kernel next
 * runs it, which on this project's VM is 0.3-0.75 ms past a timed sleep's
 * end when its vCPU had gone idle (the host wakes the vCPU; the guest sees
 * no run-queue delay). The rest of MAX_WAIT_NS it yields instead (see
 * sleep_wait), so a wait still holds the thread back as long as before:
 * the heap's bound counts on it. */
#define SLEEP_BOUND_NS 250000L
/* The longest slice of a sliced collection an assistant runs at one safe
 * point (gc_slice.c). Half the wait's bound: a slice is work, not a
 * wait, but it delays the thread's request the same way. */
#define SLICE_NS 250000u
/* How far past the limit a paced thread waits while collections are
 * sliced (x the limit; 2 otherwise), see pace(). */
#define SLICED_WAIT_BOUND 3

static atomic_long pacing = DEFAULT_PACING;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast when a collection completes and when the collector hands
 * garbage to assistants, for sleeping waits. */
static pthread_cond_t progress = PTHREAD_COND_INITIALIZER;
static uint64_t completed;   /* collections completed; under lock */
static int collecting_gen;   /* generation in progress; under lock */
/* Assistants' thread ids; under lock. A thread is listed from its first
 * safe point over the limit to its first one under it (or its detach). */
static uint32_t assistants[COG_MAX_THREADS];
static int nassistants;
static atomic_int have_assistants; /* nassistants != 0, for a lock-free look */
/* Collections completed when this thread was last over the limit: it stays
 * an assistant until a whole collection has passed without that (the
 * young count starts over at every collection, so "under the limit right
 * after one" says nothing yet). */
static __thread uint64_t paced_in __attribute__((tls_model("initial-exec")));
static atomic_ulong completed_seen; /* `completed`, readable without the lock */
/* Threads in a paced wait (offline, but each wants its CPU back within
 * the bound). */
static atomic_int waiting;

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
    pthread_mutex_unlock(&lock);
}

void cog_gc_pacing_collection_done(void) {
    pthread_mutex_lock(&lock);
    completed++;
    atomic_store_explicit(&completed_seen, completed, memory_order_relaxed);
    pthread_cond_broadcast(&progress);
    pthread_mutex_unlock(&lock);
}

/* Fork child: mutators of the parent may have been waiting here (offline,
 * so a fork can happen meanwhile) or listed as assistants; they do not
 * exist in the child (the forking thread lists itself again at its next
 * safe point over the limit). */
void cog_gc_pacing_after_fork_child(void) {
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&progress, NULL);
    nassistants = 0;
    atomic_store_explicit(&have_assistants, 0, memory_order_relaxed);
    atomic_store_explicit(&waiting, 0, memory_order_relaxed);
}

static int find(uint32_t tid) {
    for (int i = 0; i < nassistants; i++)
        if (assistants[i] == tid) return i;
    return -1;
}

/* Under lock. */
static void set_assistant(uint32_t tid, int on) {
    int i = find(tid);
    if (on && i < 0) assistants[nassistants++] = tid;
    if (!on && i >= 0) assistants[i] = assistants[--nassistants];
    atomic_store_explicit(&have_assistants, nassistants != 0, memory_order_relaxed);
}

int cog_gc_pacing_assistants(uint32_t *out, int cap) {
    if (!atomic_load_explicit(&have_assistants, memory_order_relaxed)) return 0;
    pthread_mutex_lock(&lock);
    int n = nassistants < cap ? nassistants : cap;
    for (int i = 0; i < n; i++) out[i] = assistants[i];
    pthread_mutex_unlock(&lock);
    return n;
}

int cog_gc_pacing_hand_out(uint32_t tid, cog_gc_batch *b) {
    pthread_mutex_lock(&lock);
    int listed = find(tid) >= 0;
    /* Under the lock: a thread that has left the list (and so may be
     * detaching) never receives a batch after it last looked. */
    if (listed) {
        cog_gc_inbox_push(cog_tstate_lookup(tid), b);
        pthread_cond_broadcast(&progress);
    }
    pthread_mutex_unlock(&lock);
    return listed;
}

void cog_gc_pacing_wake_waiters(void) {
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&progress);
    pthread_mutex_unlock(&lock);
}

static int over_limit(void) {
    return atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed) >
           atomic_load_explicit(&cog__gc_pace_limit, memory_order_relaxed);
}

/* A wait ends when a collection completes (or the scan in progress hands
 * us garbage, or posts a share of its work that no helper thread took),
 * when the young count falls back under the limit, or when collection is
 * disabled. Every flag is read relaxed: a stale value costs one more
 * look, the garbage itself is published by the inbox's release/acquire
 * (lib/core/gc_hooks.c) and the job by the helper's mutex. */
static int wait_over(const cog_tstate *ts, uint64_t seen) {
    return atomic_load_explicit(&completed_seen, memory_order_relaxed) != seen || !over_limit() ||
           cog_gc_inbox_pending(ts) || cog_gc_helper_job_open() || cog_gc_slice_ready() ||
           !atomic_load_explicit(&cog__gc.enabled, memory_order_relaxed);
}

int cog_gc_pacing_waiters(void) { return atomic_load_explicit(&waiting, memory_order_relaxed); }

/* Whether cog's own threads that want a CPU fit the CPUs this one may use:
 * the online threads, those in a paced wait (this one among them) and the
 * collector, counted whether it is online now or between two steps. If
 * so, the waiting thread keeps its CPU (nobody else needs it) and spins,
 * and the wait ends within its bound; a sleeping thread gets its CPU back
 * only when the scheduler runs it again (up to 1.9 ms past the bound
 * measured with one worker). If not, the CPU is worth more to the
 * collector, whose progress is what we wait for: the thread sleeps, and
 * getting the CPU back can take a scheduler tick or more (4-6 ms measured
 * with two workers and the collector on two cores; a spinning thread
 * measured the same, preempted, and cost the workers 10 % of their
 * throughput): docs/performance.md, "Paced waits". The count is racy
 * (relaxed loads of counters other threads change meanwhile): it only
 * picks which of two bounded waits to use. */
static int cpu_for_cog(void) {
    int waiters = atomic_load_explicit(&waiting, memory_order_relaxed);
    /* A sliced collection's collector thread only serves grace periods. */
    int collector = !cog_gc_collector_online() && !cog_gc_slice_active();
    return cog_threads_online() + waiters + collector <= cog_gc_cores();
}

static atomic_ulong spun_waits, slept_waits, crowded_waits;

void cog_gc_pacing_wait_counts(cog_gc_wait_counts *out) {
    out->spun = atomic_load_explicit(&spun_waits, memory_order_relaxed);
    out->slept = atomic_load_explicit(&slept_waits, memory_order_relaxed);
    out->crowded = atomic_load_explicit(&crowded_waits, memory_order_relaxed);
}

/* Threads cog's count does not see may want the CPU too: other
 * processes'. A spinning wait finds out when one of them takes its CPU:
 * the thread's run-queue delay (schedstat) grows. It looks every LOOK_NS,
 * and once the delay since the wait began reaches CROWDED_NS it sleeps
 * for the rest of its bound, and its next SLEEPS_AFTER_CROWDING waits
 * sleep without trying, so that whoever needed the CPU gets it (another
 * process's collector among them: with four test processes on two cores,
 * spinning made their collectors miss their starts). Below CROWDED_NS is
 * a daemon that ran for a moment: on this project's VM idle daemons do,
 * and counting the machine's runnable threads once per wait (which sees
 * them, on any CPU) made a sixth of one-worker waits sleep and the
 * longest wait 1.3 ms instead of 0.78 (docs/performance.md). The VM's
 * own stalls do not count as run-queue delay. Where schedstat cannot be
 * read, a spinning wait that took PREEMPTED_NS longer than its bound is
 * the sign instead (it was descheduled somewhere: the spin, going offline
 * or online, the lock). */
#define LOOK_NS 100000
#define CROWDED_NS 200000
#define PREEMPTED_NS 500000
#define SLEEPS_AFTER_CROWDING 16
static __thread unsigned sleeps_left __attribute__((tls_model("initial-exec")));

/* Offline: polls until the wait is over or MAX_WAIT_NS have passed since
 * t0. Returns 0 if it stopped early because another thread took the CPU
 * for CROWDED_NS (delay0: the run-queue delay at t0, -1 if unknown). */
static int spin_wait(const cog_tstate *ts, uint64_t seen, uint64_t t0, int64_t delay0) {
    uint64_t next_look = t0 + LOOK_NS;
    for (;;) {
        if (wait_over(ts, seen)) return 1;
        uint64_t now = cog_gc_now_ns();
        if (now - t0 >= MAX_WAIT_NS) return 1;
        if (delay0 >= 0 && now >= next_look) {
            if (cog_gc_thread_run_delay_ns() - delay0 >= CROWDED_NS) return 0;
            next_look = now + LOOK_NS;
        }
        cog_spin_pause(16);
    }
}

/* Sleeps on the progress condvar until the wait is over or SLEEP_BOUND_NS
 * have passed since t0; takes and releases the lock. No wake-up is lost
 * for having dropped the lock since `seen` was read (or for a spin
 * before): a completion and a hand-out change what wait_over reads under
 * this lock before they broadcast, and wait_over is evaluated under it
 * before every sleep. The other ends (the count under the limit,
 * collection disabled, an open job) are not broadcast: the deadline
 * bounds them. Then, until MAX_WAIT_NS, it yields: whoever is runnable on
 * this CPU gets it (the time shows as run-queue delay), and no idle vCPU
 * has to be woken for the wait to end. The first part gave the CPU up
 * for good, so the kernel could move a waiting thread (the collector)
 * onto it. */
static void sleep_wait(const cog_tstate *ts, uint64_t seen, uint64_t t0) {
    struct timespec until;
    uint64_t elapsed = cog_gc_now_ns() - t0;
    cog_gc_deadline_after(elapsed < SLEEP_BOUND_NS ? SLEEP_BOUND_NS - elapsed : 0, &until);
    pthread_mutex_lock(&lock);
    while (!wait_over(ts, seen) &&
           pthread_cond_timedwait(&progress, &lock, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&lock);
    while (!wait_over(ts, seen) && cog_gc_now_ns() - t0 < MAX_WAIT_NS) sched_yield();
}

/* Installed as lib's pace hook; called at a mutator's safe point when the
 * young count is over the limit (how = 1), at an assistant's later safe
 * points under it (how = 0), and when an assistant detaches (how = -1).
 * Returns whether the thread is (still) an assistant. */
static int pace(int how) {
    if (cog_gc_on_collector_thread()) return 0; /* finalizers, callbacks */
    cog_tstate *ts = cog_tstate_current();
    if (!ts) return 0;
    /* An assistant under the limit: a slice of the sliced collection in
     * progress, if there is one, is its assist. */
    if (how == 0 && cog_gc_slice_drive(SLICE_NS, 0) >= 0) return 1;
    uint64_t done = atomic_load_explicit(&completed_seen, memory_order_relaxed);
    if (how == 0 && done <= paced_in + 1) return 1; /* keeps assisting */
    if (how == 1) paced_in = done;
    pthread_mutex_lock(&lock);
    set_assistant(ts->tid, how == 1);
    pthread_mutex_unlock(&lock);
    if (how != 1) return 0;
    /* Garbage handed to us already: freeing it is the assist. (The safe
     * point freed a budget's worth before calling us; more is due.) */
    if (cog_gc_inbox_process(COG_GC_ASSIST_BUDGET)) return 1;
    /* A share of the scan in progress, if it has one open (gc_helper.c). */
    if (cog_gc_helper_assist()) return 1;
    /* A slice of the sliced collection in progress (gc_slice.c). */
    if (cog_gc_slice_drive(SLICE_NS, 0) >= 0) return 1;
    /* Nothing to do yet: until the count reaches twice the limit the
     * collector is given time (our garbage comes with its next verdict);
     * beyond, we wait, which is kept for the heap's bound. Three times
     * while collections are sliced: then nothing to do means another
     * assistant's slice or a grace period in service, both short, and the
     * assistants' slices already hold the allocation back. */
    long limit = atomic_load_explicit(&cog__gc_pace_limit, memory_order_relaxed);
    long bound = cog_gc_slice_active() ? SLICED_WAIT_BOUND : 2;
    if (atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed) / bound <= limit) return 1;
    uint64_t t0 = cog_gc_now_ns();
    cog_thread_offline();
    /* Going offline frees the blocks this thread deferred in windows that
     * have closed since: after a window of assists, milliseconds of work
     * (2 ms measured with two workers), which is not waiting. The wait is
     * timed from here, while its bound still counts from t0, so a thread
     * that has just done that much work hardly waits at all. */
    uint64_t t_wait = cog_gc_now_ns();
    atomic_fetch_add_explicit(&waiting, 1, memory_order_relaxed);
    int spin = sleeps_left ? (sleeps_left--, 0) : cpu_for_cog();
    /* Read for every wait (5-6 us on this project's VM, against a wait's
     * hundreds): the spin watches it, and the statistics report it. Read
     * after t_wait here and before the end time below, so that the delay
     * taken out of the wait lies inside it: the held time reported is
     * never less than the wait's own. */
    int64_t delay0 = cog_gc_thread_run_delay_ns();
    pthread_mutex_lock(&lock);
    uint64_t seen = completed;
    int gen = collecting_gen;
    pthread_mutex_unlock(&lock);
    int spun = spin && spin_wait(ts, seen, t0, delay0);
    if (!spun) sleep_wait(ts, seen, t0);
    atomic_fetch_add_explicit(spun ? &spun_waits : &slept_waits, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&waiting, 1, memory_order_relaxed);
    cog_thread_online();
    int64_t delay1 = delay0 >= 0 ? cog_gc_thread_run_delay_ns() : -1;
    uint64_t waited = cog_gc_now_ns() - t_wait;
    uint64_t preempted = delay1 > delay0 ? (uint64_t)(delay1 - delay0) : 0;
    /* A spin preempted near its end (or across it) is over before a look
     * sees it: one more look. */
    if (spin && (!spun || (delay0 >= 0 ? preempted >= CROWDED_NS
                                       : waited >= MAX_WAIT_NS + PREEMPTED_NS))) {
        sleeps_left = SLEEPS_AFTER_CROWDING;
        atomic_fetch_add_explicit(&crowded_waits, 1, memory_order_relaxed);
    }
    cog_gc_stats_record_pause(gen, waited, preempted);
    /* The collector waits for its job before it goes on: that first. */
    cog_gc_helper_assist();
    cog_gc_slice_drive(SLICE_NS, 0);
    cog_gc_inbox_process(COG_GC_ASSIST_BUDGET);
    return 1;
}

__attribute__((constructor)) static void install_pace_hook(void) { cog_gc_set_pace_hook(pace); }
