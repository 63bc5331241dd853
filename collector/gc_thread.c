/* collector/gc_thread.c - the background collector thread and the control
 * API that talks to it (enable, collect, thresholds, freeze).
 *
 * The thread sleeps on a condition variable (offline for RCU, so it never
 * delays grace periods while idle) until an allocation crosses threshold0
 * (lib/core/gc_hooks.c calls wake_collector once per crossing) or a request
 * arrives. Requests (collect, freeze, unfreeze, count frozen) run on the
 * collector thread so only one collection window is ever open; callers wait
 * offline for their request's sequence number to complete.
 */
#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "collector/gc_internal.h"
#include "lib/alloc/alloc.h"
#include "lib/base/error.h"
#include "lib/base/rcu.h"
#include "lib/core/runtime_internal.h"
#include "lib/core/thread.h"

gc_config cog__gc = {
    .enabled = 1,
    .threshold = {2000, 10, 10},
};

typedef enum req_kind {
    REQ_COLLECT,
    REQ_FREEZE,
    REQ_UNFREEZE,
    REQ_COUNT_FROZEN,
    REQ_WINDOW /* hold a window open for cog_gc_with_window */
} req_kind;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER; /* collector waits */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* requesters wait */
/* All under lock. */
static pthread_t thread;
static int thread_running, stopping, auto_pending;
static int pausing; /* fork: the thread exits, requests stay queued */
static int want_gen = -1;     /* highest generation explicitly requested */
static unsigned want_ops;     /* bitmask of 1 << REQ_FREEZE ... */
static uint64_t request_seq;  /* last request posted */
static uint64_t done_seq;     /* last request completed */
static long last_found;       /* result of the collection that finished at done_seq */
static size_t frozen_count;   /* result of the last REQ_COUNT_FROZEN / FREEZE */
/* cog_gc_with_window handshake: 1 while a requester owns the (single)
 * window slot; state WIN_OPEN once the collector has opened it, WIN_DONE
 * once the requester has finished reading the heap. */
enum { WIN_IDLE, WIN_OPEN, WIN_DONE };
static int window_busy, window_state;

/* initial-exec: read through %fs at every access, never through a cached
 * address, so code on a sliced collection's coroutine may move between
 * threads (gc_slice.c, tests/coroutine_tls_check.sh). */
static __thread int on_collector __attribute__((tls_model("initial-exec")));

/* Window duty cap (cog_gc_set_duty_cap): after a collection whose window
 * was open W ns, the next automatic one waits until W x (100 - cap) / cap
 * has passed, unless the young count is past DUTY_CAP_YIELD x threshold0.
 * That bound matters: W grows with the young generation, so a thread
 * making garbage faster than the collector scans it at the capped share
 * would otherwise grow every gap and every collection without end.
 * next_auto_ns is written by whoever runs the collection (the collector
 * thread, or an assistant's slice) and read by the collector thread too:
 * relaxed, a one-update-old value only moves a start by one look. */
#define DEFAULT_DUTY_CAP 20
#define DUTY_CAP_YIELD 24
static atomic_int duty_cap = DEFAULT_DUTY_CAP;
static atomic_ullong next_auto_ns;

int cog_gc_set_duty_cap(int percent) {
    if (percent < 0 || percent > 100)
        return cog_error(COG_EINVAL, "cog_gc_set_duty_cap: %d is not a percentage 0..100", percent);
    atomic_store_explicit(&duty_cap, percent, memory_order_relaxed);
    return COG_OK;
}

int cog_gc_get_duty_cap(void) { return atomic_load_explicit(&duty_cap, memory_order_relaxed); }

static void note_window(uint64_t window_ns) {
    int cap = atomic_load_explicit(&duty_cap, memory_order_relaxed);
    atomic_store_explicit(&next_auto_ns,
                          cap > 0 && cap < 100 ? cog_gc_now_ns() + window_ns *
                                                     (uint64_t)(100 - cap) / (uint64_t)cap
                                               : 0,
                          memory_order_relaxed);
}

/* While the duty cap holds a collection back: the young count past which
 * a flush wakes the collector (the bound where the cap gives way). */
static void set_wake_above(void) {
    long t0 = atomic_load_explicit(&cog__gc_young_threshold, memory_order_relaxed);
    atomic_store_explicit(&cog__gc_wake_above,
                          t0 <= LONG_MAX / DUTY_CAP_YIELD ? t0 * DUTY_CAP_YIELD : LONG_MAX,
                          memory_order_relaxed);
}

/* Whether an automatic collection may start now; if not, *until is when. */
static int auto_may_start(uint64_t *until) {
    uint64_t now = cog_gc_now_ns();
    long young = atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed);
    long t0 = atomic_load_explicit(&cog__gc_young_threshold, memory_order_relaxed);
    uint64_t next = atomic_load_explicit(&next_auto_ns, memory_order_relaxed);
    if (now >= next || !atomic_load_explicit(&duty_cap, memory_order_relaxed) ||
        young / DUTY_CAP_YIELD > t0 ||
        young > atomic_load_explicit(&cog__gc_pace_limit, memory_order_relaxed))
        return 1;
    *until = next;
    return 0;
}

int cog_gc_on_collector_thread(void) { return on_collector; }
void cog_gc_set_on_collector(int on) { on_collector = on; }

/* Called by the allocation path of a mutator, at most once per threshold
 * crossing (cog__gc_requested). */
static void wake_collector(void) {
    pthread_mutex_lock(&lock);
    auto_pending = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

static void sync_young_threshold(void) {
    long t0 = atomic_load_explicit(&cog__gc.threshold[0], memory_order_relaxed);
    int enabled = atomic_load_explicit(&cog__gc.enabled, memory_order_relaxed);
    atomic_store_explicit(&cog__gc_young_threshold, (enabled && t0 > 0) ? t0 : LONG_MAX,
                          memory_order_relaxed);
    cog_gc_pacing_sync();
}

/* CPython's collect_generations: the oldest generation whose count exceeds
 * its threshold; generation 2 also waits for 25% growth of the long-lived
 * population, which keeps full collections linear overall. */
static int choose_generation(void) {
    long young = atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed);
    for (int g = COG_GC_GENERATIONS - 1; g >= 0; g--) {
        long count = g == 0 ? young : atomic_load_explicit(&cog__gc.count[g], memory_order_relaxed);
        long thr = atomic_load_explicit(&cog__gc.threshold[g], memory_order_relaxed);
        if (thr <= 0 || count <= thr) continue;
        if (g == 2 && atomic_load_explicit(&cog__gc.long_lived_pending, memory_order_relaxed) <
                          atomic_load_explicit(&cog__gc.long_lived_total, memory_order_relaxed) / 4)
            continue;
        return g;
    }
    return -1;
}

/* The collector's CPU time so far: its thread's (not while a mutator's
 * slice runs this code: that is the mutator's clock), the helper's and
 * every slice's. */
static uint64_t collector_cpu_ns(void) {
    uint64_t own = cog_gc_slice_running_here() ? 0 : cog_gc_thread_cpu_ns();
    return own + cog_gc_helper_cpu_ns() + cog_gc_slice_cpu_now();
}

static long collect_generation(int gen) {
    cog_gc_info info = {.generation = gen};
    cog_gc_callbacks_run(COG_GC_START, &info);
    uint64_t t0 = cog_gc_now_ns();
    uint64_t cpu0 = collector_cpu_ns();
    gc_result r;
    cog_gc_pacing_collection_start(gen);
    cog_gc_run_collection(gen, &r);
    uint64_t ns = cog_gc_now_ns() - t0;
    uint64_t cpu = collector_cpu_ns() - cpu0;
    /* Counters, as CPython: the next generation counts this collection,
     * the collected ones start over. */
    atomic_store_explicit(&cog__gc_young_count, 0, memory_order_relaxed);
    for (int g = 1; g <= gen; g++) atomic_store_explicit(&cog__gc.count[g], 0, memory_order_relaxed);
    if (gen + 1 < COG_GC_GENERATIONS)
        atomic_fetch_add_explicit(&cog__gc.count[gen + 1], 1, memory_order_relaxed);
    if (gen == 2) {
        atomic_store_explicit(&cog__gc.long_lived_total, (long)r.scanned - r.collected -
                                  r.uncollectable, memory_order_relaxed);
        atomic_store_explicit(&cog__gc.long_lived_pending, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&cog__gc_requested, 0, memory_order_relaxed);
    cog_gc_pacing_collection_done();
    note_window(r.window_ns);
    /* Garbage of detached threads was freed into their abandoned pools:
     * give pools that are now empty back (outside the window). */
    cog_alloc_sweep_abandoned();
    cog_gc_stats_record(gen, &r, ns, cpu);
    info.collected = r.collected;
    info.uncollectable = r.uncollectable;
    info.duration_ns = ns;
    cog_gc_callbacks_run(COG_GC_STOP, &info);
    return r.collected + r.uncollectable;
}

static void set_frozen(cog_object *o, uint64_t gc, void *arg) {
    size_t *n = arg;
    if (gc & COG_GC_DEAD) return;
    if (!(gc & COG_GC_FROZEN)) atomic_fetch_or_explicit(&o->ob_gc, COG_GC_FROZEN, memory_order_relaxed);
    (*n)++;
}

/* Unfrozen objects join the oldest generation, as in CPython. */
static void clear_frozen(cog_object *o, uint64_t gc, void *arg) {
    (void)arg;
    if (!(gc & COG_GC_FROZEN)) return;
    uint64_t old = gc;
    uint64_t next;
    do {
        next = (old & ~(uint64_t)COG_GC_FROZEN & ~COG_GC_GEN_MASK) | (2ull << COG_GC_GEN_SHIFT);
    } while (!atomic_compare_exchange_weak_explicit(&o->ob_gc, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static void count_frozen(cog_object *o, uint64_t gc, void *arg) {
    (void)o;
    if ((gc & COG_GC_FROZEN) && !(gc & COG_GC_DEAD)) (*(size_t *)arg)++;
}

/* Heap walks that only read or flip flags still need a window: it keeps
 * the blocks they visit from being freed and reused during the walk. */
static size_t walk_in_window(void (*fn)(cog_object *, uint64_t, void *)) {
    size_t n = 0;
    cog_gc_window_open_inspect();
    cog_gc_walk(fn, &n);
    cog_gc_window_close();
    return n;
}

/* Called with lock held; returns with it held. Opens a window, hands it to
 * the requester and waits offline (the requester's reads need no grace
 * period from us) until it is done; the mutex hand-offs order every read
 * the requester makes before the window closes and blocks are released. */
static void serve_window(void) {
    pthread_mutex_unlock(&lock);
    cog_gc_window_open_inspect();
    pthread_mutex_lock(&lock);
    window_state = WIN_OPEN;
    pthread_cond_broadcast(&done);
    while (window_state != WIN_DONE) {
        cog_thread_offline();
        pthread_cond_wait(&wake, &lock);
        cog_thread_online();
    }
    pthread_mutex_unlock(&lock);
    cog_gc_window_close();
    pthread_mutex_lock(&lock);
    window_busy = 0;
    window_state = WIN_IDLE;
    pthread_cond_broadcast(&done);
}


/* ---- Idle trim -------------------------------------------------------
 * Collections keep their arrays (gc_collect.c), sized by the largest
 * recent scan; a busy collector shrinks them at the next smaller scan, but
 * after a spike (millions of objects collected once) a quiet process would
 * keep them for good. So when the collector has had nothing to do for
 * IDLE_TRIM_NS while holding more than IDLE_TRIM_BYTES, or while the
 * allocator keeps empty arenas or mappings of freed large blocks for
 * reuse, it frees them and hands free heap memory back to the OS
 * (malloc_trim: the arrays, and what threads that exited freed; the
 * arenas and mappings: cog_alloc_trim_idle). A collector with work to do never gets
 * here, so the mmap-lock stalls the kept arrays avoid stay avoided. */
#define IDLE_TRIM_NS (1000u * 1000u * 1000u)
#define IDLE_TRIM_BYTES ((size_t)1 << 20)

/* Called holding `lock`, offline; returns holding it. */
static void idle_trim_wait(void) {
    struct timespec t;
    cog_gc_deadline_after(IDLE_TRIM_NS, &t);
    if (pthread_cond_timedwait(&wake, &lock, &t) != ETIMEDOUT) return;
    if (stopping || pausing || want_gen >= 0 || want_ops || auto_pending) return;
    /* The arrays are the collector thread's own; no collection runs. Free
     * them without the lock, so nobody posting a request waits on it. A
     * request posted meanwhile is seen by the caller's loop. */
    pthread_mutex_unlock(&lock);
    cog_gc_trim_scan_buffers();
    cog_alloc_trim_idle();
    malloc_trim(0);
    pthread_mutex_lock(&lock);
}

/* The collector's thread id while it runs (0 otherwise), for
 * cog_gc_collector_online. */
static atomic_uint collector_tid;

int cog_gc_collector_online(void) {
    uint32_t tid = atomic_load_explicit(&collector_tid, memory_order_relaxed);
    /* A slot's tstate lives until shutdown, when no thread is attached to
     * ask, so a tid that went stale meanwhile still reads valid memory;
     * the answer is a hint either way. */
    return tid && atomic_load_explicit(&cog_tstate_lookup(tid)->run_state,
                                       memory_order_relaxed) == COG_RUN_ONLINE;
}

/* ---- Sliced collections (gc_slice.c, cog/gc.h cog_gc_set_slicing) ---- */

/* The generation an automatic collection would take now, or -1 if none is
 * due (the duty cap holds it back: *until is when it lets go; or no
 * generation is over its threshold). */
static int due_generation(uint64_t *until) {
    return auto_may_start(until) ? choose_generation() : -1;
}

int cog_gc_auto_due(void) {
    uint64_t until;
    return due_generation(&until) >= 0;
}

static atomic_int slicing = COG_GC_SLICING_AUTO;

int cog_gc_set_slicing(int mode) {
    if (mode < COG_GC_SLICING_OFF || mode > COG_GC_SLICING_ALWAYS)
        return cog_error(COG_EINVAL, "cog_gc_set_slicing: %d is not a COG_GC_SLICING_* mode", mode);
    atomic_store_explicit(&slicing, mode, memory_order_relaxed);
    return COG_OK;
}

int cog_gc_get_slicing(void) { return atomic_load_explicit(&slicing, memory_order_relaxed); }

/* Whether automatic collections should run as the sliced loop: while the
 * threads that want a CPU outnumber the cores: cog's online threads, those
 * in a paced wait (offline, but each wants its CPU back) and the
 * collector, counted once whether it is online now or asleep. A racy
 * hint: it only picks how the coming collections run. */
static int slices_wanted(void) {
    int mode = atomic_load_explicit(&slicing, memory_order_relaxed);
    if (mode == COG_GC_SLICING_OFF || !atomic_load_explicit(&cog__gc.enabled, memory_order_relaxed))
        return 0;
    int want = cog_threads_online() + cog_gc_pacing_waiters() + !cog_gc_collector_online();
    return mode == COG_GC_SLICING_ALWAYS || want > cog_gc_cores();
}

/* Whether to leave the loop to the assistants now: pacing has some (they
 * drive at their safe points), or, in COG_GC_SLICING_ALWAYS, always. */
static int step_back(void) {
    uint32_t who;
    return atomic_load_explicit(&slicing, memory_order_relaxed) == COG_GC_SLICING_ALWAYS ||
           cog_gc_pacing_assistants(&who, 1) > 0;
}

static int request_pending_locked(void) {
    return stopping || pausing || want_gen >= 0 || want_ops;
}

static int request_pending(void) {
    pthread_mutex_lock(&lock);
    int r = request_pending_locked();
    pthread_mutex_unlock(&lock);
    return r;
}

/* The loop ends after this long with no collection due. */
#define SLICED_IDLE_NS 50000000u

/* The coroutine: automatic collections while they are due and the
 * threads still outnumber the cores; a request (collect, fork, shutdown)
 * ends it after the collection in progress. When none is due (the duty
 * cap's gap, or the young count under threshold0), it parks instead of
 * ending: the assistants that come over the pacing limit find it at once,
 * rather than waiting for the collector thread to wake up and start one
 * (a scheduler tick, where the threads outnumber the cores). */
static void sliced_loop(void) {
    uint64_t idle_since = 0;
    while (slices_wanted() && !request_pending()) {
        uint64_t until;
        int g = due_generation(&until);
        if (g >= 0) {
            collect_generation(g);
            idle_since = 0;
            continue;
        }
        atomic_store_explicit(&cog__gc_requested, 0, memory_order_relaxed);
        uint64_t now = cog_gc_now_ns();
        if (!idle_since) idle_since = now;
        if (now - idle_since >= SLICED_IDLE_NS) break;
        cog_gc_slice_park();
    }
    /* Ending on an assistant's slice: tell the collector thread. */
    pthread_mutex_lock(&lock);
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

/* Grace periods the slices asked for; under lock. */
static int gp_requested;

void cog_gc_request_gp(void) {
    pthread_mutex_lock(&lock);
    gp_requested = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

/* While it steps back, how long the collector thread lets the loop go
 * without a slice before it takes a turn itself (the assistants may have
 * caught up and stopped pacing), and how long a turn lasts. */
#define SLICE_TAKEOVER_NS 5000000u
#define SLICE_TURN_NS 1000000u

static int take_gp_request(void) {
    pthread_mutex_lock(&lock);
    int gp = gp_requested;
    gp_requested = 0;
    pthread_mutex_unlock(&lock);
    return gp;
}

/* Collector thread, online, without `lock`: run the automatic collections
 * as the sliced loop until it ends. While nobody assists, the thread
 * drives the loop itself, in turns (blocking in grace periods as in any
 * collection); while assistants drive it, it sleeps, serves the grace
 * periods they ask for, and takes a turn after SLICE_TAKEOVER_NS without
 * a slice. A request (collect, fork, shutdown) makes it drive the loop to
 * its end. Returns 0 if the loop could not start (no stack): the caller
 * collects as usual. */
static int run_sliced(void) {
    if (cog_gc_slice_start(sliced_loop) != 0) return 0;
    uint64_t seen = cog_gc_slice_mutator_slices();
    int idle = 0; /* a whole takeover wait passed without a slice */
    while (cog_gc_slice_active()) {
        if (take_gp_request()) {
            /* Offline while we wait in it: we touch no object, and paced
             * waits count online threads as wanting a CPU. */
            cog_thread_offline();
            cog_gc_slice_serve_gp();
            cog_thread_online();
            cog_gc_pacing_wake_waiters();
        }
        if (request_pending()) {
            cog_gc_slice_drive(0, 1);
            continue;
        }
        uint64_t until = 0;
        int due = due_generation(&until) >= 0;
        int parked = cog_gc_slice_parked();
        /* Parked with a collection due: assistants resume it themselves
         * (cog_gc_slice_ready); without them, our turn. */
        if ((!step_back() && (!parked || due)) || idle) {
            idle = 0;
            if (cog_gc_slice_drive(SLICE_TURN_NS, 1) < 0) sched_yield(); /* a slice runs */
            seen = cog_gc_slice_mutator_slices();
            continue;
        }
        /* Sleep until a grace period is asked for, a request comes, the
         * takeover time passes or, parked, the duty cap's gap ends (or the
         * young count passes the bound where the cap gives way, as in
         * collector_main). */
        uint64_t now = cog_gc_now_ns(), wait_ns = SLICE_TAKEOVER_NS;
        if (parked && until > now && until - now < wait_ns) wait_ns = until - now;
        pthread_mutex_lock(&lock);
        if (!gp_requested && !request_pending_locked() && cog_gc_slice_active()) {
            struct timespec t;
            cog_gc_deadline_after(wait_ns, &t);
            if (parked) set_wake_above();
            cog_thread_offline();
            int timed_out = pthread_cond_timedwait(&wake, &lock, &t) == ETIMEDOUT;
            pthread_mutex_unlock(&lock);
            cog_thread_online();
            atomic_store_explicit(&cog__gc_wake_above, LONG_MAX, memory_order_relaxed);
            uint64_t slices_now = cog_gc_slice_mutator_slices();
            idle = timed_out && slices_now == seen && !cog_gc_slice_gp_wanted();
            seen = slices_now;
        } else {
            pthread_mutex_unlock(&lock);
        }
    }
    cog_gc_slice_join();
    return 1;
}

static void *collector_main(void *arg) {
    (void)arg;
    on_collector = 1;
    atomic_store_explicit(&collector_tid, cog_tstate_current()->tid, memory_order_relaxed);
    pthread_mutex_lock(&lock);
    for (;;) {
        for (;;) {
            if (stopping || pausing || want_gen >= 0 || want_ops) break;
            uint64_t until = 0;
            if (auto_pending && atomic_load_explicit(&cog__gc.enabled, memory_order_relaxed) &&
                auto_may_start(&until))
                break;
            cog_thread_offline();
            if (until) {
                /* The duty cap: requests, and the flush that takes the
                 * young count past the bound where the cap gives way,
                 * wake us early. */
                set_wake_above();
                uint64_t now = cog_gc_now_ns();
                if (until > now) {
                    struct timespec t;
                    cog_gc_deadline_after(until - now, &t);
                    pthread_cond_timedwait(&wake, &lock, &t);
                }
                atomic_store_explicit(&cog__gc_wake_above, LONG_MAX, memory_order_relaxed);
            } else if (cog_gc_scan_buffer_bytes() > IDLE_TRIM_BYTES ||
                       cog_alloc_idle_bytes() > 0) {
                idle_trim_wait();
            } else {
                pthread_cond_wait(&wake, &lock);
            }
            /* Back online before touching objects. Going online only waits
             * on liburcu's registry lock, never on our mutex holders. */
            cog_thread_online();
        }
        if (stopping || pausing) break;
        uint64_t serving = request_seq;
        int gen = want_gen;
        unsigned ops = want_ops;
        int automatic = auto_pending;
        want_gen = -1;
        want_ops = 0;
        auto_pending = 0;
        pthread_mutex_unlock(&lock);

        long found = 0;
        size_t frozen = 0;
        int have_frozen = 0;
        if (ops & (1u << REQ_FREEZE)) frozen = walk_in_window(set_frozen), have_frozen = 1;
        if (ops & (1u << REQ_UNFREEZE)) walk_in_window(clear_frozen), frozen = 0, have_frozen = 1;
        if (ops & (1u << REQ_COUNT_FROZEN)) frozen = walk_in_window(count_frozen), have_frozen = 1;
        if (ops & (1u << REQ_WINDOW)) {
            pthread_mutex_lock(&lock);
            serve_window();
            pthread_mutex_unlock(&lock);
        }
        if (gen >= 0) {
            found = collect_generation(gen);
        } else if (automatic && slices_wanted() && run_sliced()) {
            /* collected by the sliced loop */
        } else if (automatic) {
            int g = choose_generation();
            if (g >= 0) collect_generation(g);
            else atomic_store_explicit(&cog__gc_requested, 0, memory_order_relaxed);
        }
        cog_safepoint();
        cog_gc_shrink_scan_buffers(); /* after the waiters were told: not in their wait */

        pthread_mutex_lock(&lock);
        if (have_frozen) frozen_count = frozen;
        if (serving > done_seq) {
            done_seq = serving;
            last_found = found;
            pthread_cond_broadcast(&done);
        }
    }
    pthread_mutex_unlock(&lock);
    cog_gc_helper_stop(); /* before a fork or at shutdown: no thread left */
    atomic_store_explicit(&collector_tid, 0, memory_order_relaxed);
    on_collector = 0;
    return NULL;
}

/* Post a request and wait (offline) until the collector has served it. */
static int post_and_wait(int gen, req_kind op, long *found, size_t *frozen) {
    if (on_collector)
        return cog_error(COG_ESTATE, "cog_gc: cannot wait for the collector from its own thread "
                                     "(a finalizer or callback)");
    pthread_mutex_lock(&lock);
    if (!thread_running) {
        pthread_mutex_unlock(&lock);
        return cog_error(COG_ESTATE, "cog_gc: runtime not initialised");
    }
    uint64_t my = ++request_seq;
    if (op == REQ_COLLECT) {
        if (gen > want_gen) want_gen = gen;
    } else {
        want_ops |= 1u << op;
    }
    pthread_cond_signal(&wake);
    int was_online = cog_thread_is_attached();
    if (was_online) cog_thread_offline();
    while (done_seq < my && thread_running) pthread_cond_wait(&done, &lock);
    int ok = done_seq >= my;
    if (found) *found = last_found;
    if (frozen) *frozen = frozen_count;
    pthread_mutex_unlock(&lock);
    if (was_online) cog_thread_online();
    return ok ? COG_OK : cog_error(COG_ESTATE, "cog_gc: runtime shut down while waiting");
}

int cog_gc_with_window(void (*fn)(void *arg), void *arg) {
    if (on_collector)
        return cog_error(COG_ESTATE, "cog_gc: heap introspection cannot run on the collector "
                                     "thread (a finalizer or callback)");
    if (!cog_thread_is_attached())
        return cog_error(COG_ENOTATTACHED, "cog_gc: heap introspection needs an attached thread");
    cog_thread_offline();
    pthread_mutex_lock(&lock);
    while (window_busy && thread_running) pthread_cond_wait(&done, &lock);
    if (!thread_running) {
        pthread_mutex_unlock(&lock);
        cog_thread_online();
        return cog_error(COG_ESTATE, "cog_gc: runtime not initialised");
    }
    window_busy = 1;
    window_state = WIN_IDLE;
    want_ops |= 1u << REQ_WINDOW;
    pthread_cond_signal(&wake);
    while (window_state == WIN_IDLE && thread_running) pthread_cond_wait(&done, &lock);
    int open = window_state == WIN_OPEN;
    if (!open) window_busy = 0; /* the collector stopped before serving us */
    pthread_mutex_unlock(&lock);
    cog_thread_online();
    if (!open) return cog_error(COG_ESTATE, "cog_gc: runtime shut down while waiting");
    fn(arg);
    /* Offline before handing the window back: the collector's closing grace
     * period must not wait for us. */
    cog_thread_offline();
    pthread_mutex_lock(&lock);
    window_state = WIN_DONE;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    cog_thread_online();
    return COG_OK;
}

long cog_gc_collect(int generation) {
    if (generation == -1) generation = COG_GC_GENERATIONS - 1;
    if (generation < 0 || generation >= COG_GC_GENERATIONS)
        return cog_error(COG_EINVAL, "cog_gc_collect: generation %d is not 0, 1, 2 or -1",
                         generation);
    long found = 0;
    int rc = post_and_wait(generation, REQ_COLLECT, &found, NULL);
    /* Garbage pacing handed to us (from this collection or earlier ones)
     * is freed before we return, so a caller sees every cycle it made
     * gone, as without pacing. */
    cog_gc_inbox_process(SIZE_MAX);
    return rc == COG_OK ? found : rc;
}

void cog_gc_freeze(void) { post_and_wait(0, REQ_FREEZE, NULL, NULL); }
void cog_gc_unfreeze(void) { post_and_wait(0, REQ_UNFREEZE, NULL, NULL); }

size_t cog_gc_get_freeze_count(void) {
    size_t n = 0;
    post_and_wait(0, REQ_COUNT_FROZEN, NULL, &n);
    return n;
}

void cog_gc_enable(void) {
    atomic_store_explicit(&cog__gc.enabled, 1, memory_order_relaxed);
    sync_young_threshold();
}

void cog_gc_disable(void) {
    atomic_store_explicit(&cog__gc.enabled, 0, memory_order_relaxed);
    sync_young_threshold();
}

int cog_gc_is_enabled(void) { return atomic_load_explicit(&cog__gc.enabled, memory_order_relaxed); }

int cog_gc_set_threshold(long t0, long t1, long t2) {
    if (t0 < 0 || t1 <= 0 || t2 <= 0)
        return cog_error(COG_EINVAL,
                         "cog_gc_set_threshold(%ld, %ld, %ld): threshold0 must be >= 0 and "
                         "threshold1/2 > 0", t0, t1, t2);
    atomic_store_explicit(&cog__gc.threshold[0], t0, memory_order_relaxed);
    atomic_store_explicit(&cog__gc.threshold[1], t1, memory_order_relaxed);
    atomic_store_explicit(&cog__gc.threshold[2], t2, memory_order_relaxed);
    sync_young_threshold();
    return COG_OK;
}

void cog_gc_get_threshold(long out[COG_GC_GENERATIONS]) {
    for (int g = 0; g < COG_GC_GENERATIONS; g++)
        out[g] = atomic_load_explicit(&cog__gc.threshold[g], memory_order_relaxed);
}

void cog_gc_get_count(long out[COG_GC_GENERATIONS]) {
    /* The caller's own unflushed batch makes the count exact for a single
     * thread (other threads' batches are at most 64 each). */
    out[0] = atomic_load_explicit(&cog__gc_young_count, memory_order_relaxed) +
             cog_gc_young_unflushed();
    for (int g = 1; g < COG_GC_GENERATIONS; g++)
        out[g] = atomic_load_explicit(&cog__gc.count[g], memory_order_relaxed);
}

int cog_gc_set_debug(unsigned flags) {
    unsigned known = COG_GC_DEBUG_STATS | COG_GC_DEBUG_LEAK;
    if (flags & ~known)
        return cog_error(COG_EINVAL, "cog_gc_set_debug: unknown flag bits 0x%x", flags & ~known);
    atomic_store_explicit(&cog__gc.debug, flags, memory_order_relaxed);
    return COG_OK;
}

unsigned cog_gc_get_debug(void) { return atomic_load_explicit(&cog__gc.debug, memory_order_relaxed); }

int cog_gc_is_tracked(const cog_object *o) {
    return (atomic_load_explicit(&((cog_object *)o)->ob_gc, memory_order_relaxed) &
            COG_GC_TRACKED) != 0;
}

int cog_gc_is_finalized(const cog_object *o) {
    return (atomic_load_explicit(&((cog_object *)o)->ob_gc, memory_order_relaxed) &
            COG_GC_FINALIZED) != 0;
}

/* ---- lifecycle -------------------------------------------------------- */

static void collector_body(void *arg) { collector_main(arg); }

/* Start the collector thread and wait until it has attached. */
static int spawn_collector(void) {
    return cog_thread_start_internal(&thread, "cog-gc", "cog_init: collector", collector_body,
                                     NULL);
}

static int collector_start(void) {
    pthread_mutex_lock(&lock);
    stopping = 0;
    pausing = 0;
    want_gen = -1;
    want_ops = 0;
    auto_pending = 0;
    window_busy = 0;
    window_state = WIN_IDLE;
    pthread_mutex_unlock(&lock);
    cog_gc_stats_start();
    cog_gc_read_env();
    sync_young_threshold();
    atomic_store_explicit(&cog__gc_requested, 0, memory_order_relaxed);
    int rc = spawn_collector();
    if (rc != COG_OK) return rc;
    pthread_mutex_lock(&lock);
    thread_running = 1;
    pthread_mutex_unlock(&lock);
    cog_gc_set_wakeup_hook(wake_collector);
    return COG_OK;
}

/* ---- fork (see lib/core/runtime.c "Fork") ----------------------------------
 * Before fork the collector thread finishes what it is doing and exits,
 * so no thread is inside a grace period (liburcu's locks are free) and the
 * child does not inherit a half-done collection. Requests posted meanwhile
 * stay queued (thread_running stays 1) and are served by the thread
 * started again after fork, in the parent and in the child. */
static void collector_before_fork(void) {
    pthread_mutex_lock(&lock);
    pausing = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    cog_thread_offline(); /* it may be waiting for a grace period */
    pthread_join(thread, NULL);
    cog_thread_online();
}

static void collector_after_fork_parent(void) {
    pthread_mutex_lock(&lock);
    pausing = 0;
    pthread_mutex_unlock(&lock);
    if (spawn_collector() != COG_OK)
        cog_fatal("fork: cannot restart the collector thread: %s", cog_last_error());
}

/* The child has one thread. Requesters waiting on `done` and whoever held
 * `lock` exist only in the parent: reinitialise both and forget their
 * requests; automatic collection resumes with the counters as they were. */
static void collector_after_fork_child(void) {
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&done, NULL);
    pausing = 0;
    want_gen = -1;
    want_ops = 0;
    window_busy = 0;
    window_state = WIN_IDLE;
    done_seq = request_seq;
    cog_gc_pacing_after_fork_child();
    auto_pending = atomic_load_explicit(&cog__gc_requested, memory_order_relaxed) != 0;
    if (spawn_collector() != COG_OK)
        cog_fatal("fork: cannot start the collector thread in the child: %s", cog_last_error());
}

static void collector_stop(void) {
    cog_gc_set_wakeup_hook(NULL);
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    /* The collector may be waiting for a grace period: stay offline while
     * joining so we are not the thread it waits for. */
    cog_thread_offline();
    pthread_join(thread, NULL);
    cog_thread_online();
    pthread_mutex_lock(&lock);
    thread_running = 0;
    pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&lock);
    cog_gc_free_scan_buffers();
    /* Objects kept as garbage are the runtime's; drop them before the heap
     * goes away. */
    cog_gc_clear_garbage();
}

static const cog_subsystem collector_subsystem = {
    .name = "collector",
    .start = collector_start,
    .stop = collector_stop,
    .before_fork = collector_before_fork,
    .after_fork_parent = collector_after_fork_parent,
    .after_fork_child = collector_after_fork_child,
};

__attribute__((constructor)) static void register_collector(void) {
    cog_runtime_register(&collector_subsystem);
}
