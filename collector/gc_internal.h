/* collector/gc_internal.h - state shared by the collector's files. */
#ifndef COG_COLLECTOR_GC_INTERNAL_H
#define COG_COLLECTOR_GC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <stdio.h>

#include "cog/gc.h"
#include "lib/core/gc_hooks.h"
#include "lib/core/object_internal.h"

/* Tunables and counters. Atomics so any thread may read or change them
 * while the collector runs; each is an independent value, so relaxed
 * ordering suffices (a decision may use a value one update old). */
typedef struct gc_config {
    atomic_int enabled;
    atomic_long threshold[COG_GC_GENERATIONS]; /* [0] is cog__gc_young_threshold's mirror */
    atomic_long count[COG_GC_GENERATIONS];     /* [0] unused: cog__gc_young_count */
    atomic_uint debug;
    atomic_long long_lived_total;   /* objects in generation 2 after its last collection */
    atomic_long long_lived_pending; /* promoted into generation 2 since then */
} gc_config;

extern gc_config cog__gc;

/* Result of one collection. */
/* Phases of a collection, timed for COG_GCTRACE (gc_trace.c). */
enum { GC_PH_WALK, GC_PH_SUBTRACT, GC_PH_MARK, GC_PH_VERDICT, GC_PH_CLEAR, GC_NPHASES };

typedef struct gc_result {
    long collected;
    long uncollectable;
    size_t scanned;                /* candidates */
    size_t walked;                 /* tracked blocks the walk visited */
    size_t assisted;               /* garbage handed to its threads */
    int parallel;                  /* the helper thread took part */
    uint64_t phase_ns[GC_NPHASES]; /* walk includes opening the window */
    uint64_t window_ns;            /* the window was open this long */
    int sliced;                    /* mutators drove it (gc_slice.c) */
} gc_result;

/* Run one collection of generations 0..gen on the calling thread, which is
 * the attached collector thread. */
/* A heap-walk block's ob_gc if it holds a tracked object, else 0. Acquire
 * pairs with the release store of ob_gc in lib/core/object.c's new_object: a
 * block seen TRACKED has an initialised header and zeroed or initialised
 * fields. */
static inline uint64_t cog_gc_tracked_header(const void *block) {
    uint64_t gc = atomic_load_explicit(&((cog_object *)block)->ob_gc, memory_order_acquire);
    return gc & COG_GC_TRACKED ? gc : 0;
}

/* ob_gc flag: the object has weak references (lib/core/upcalls.h's
 * COG_GC_HAS_WEAKREFS, which the collector does not include). */
#define COG_GC_HAS_WEAKREFS_FLAG 0x20u

/* Step 2's heap walk (gc_walk.c), collector thread only. prepare: before
 * the window's grace period (flips the young epoch). run: after it; calls
 * fn(part, first, block_size, n) for the n blocks from `first` of every
 * page a scan of generations <= gen visits (all of them if full), and
 * fn(part, block, 0, 1) for each large object block it visits, on part0
 * and, if a second walker takes part (parallel: 0 never, 1 for big walks,
 * 2 always), on part1 from that walker; fn returns which generations it
 * leaves objects in there (GC_LEFT_GEN0 | GC_LEFT_GEN1), so the walk can
 * carry the page. Returns whether a second walker took part. */
enum { GC_LEFT_GEN0 = 1, GC_LEFT_GEN1 = 2 };
typedef unsigned (*gc_page_fn)(void *part, char *first, size_t block_size, unsigned n);
void cog_gc_walk_prepare(void);
int cog_gc_walk_run(int gen, int full, gc_page_fn fn, void *part0, void *part1, int parallel);
/* Release the walk's lists (collector stopped; the next scan is full). */
void cog_gc_walk_free(void);
/* Below this many pages (about 8 MiB of pools) one thread walks. */
#define GC_PARALLEL_MIN_PAGES 2048

/* Test hook: the next scan's stamp epoch follows e (see gc_collect.c). */
void cog_gc_test_set_epoch(uint64_t e);
void cog_gc_run_collection(int gen, gc_result *out);
/* The second half of big scan steps (gc_helper.c). Collector thread:
 * post fn(arg) as a job (returns 1: someone runs it), wait until it ran
 * (running it itself if nobody took it), stop the helper thread (when the
 * collector thread exits); use_thread: whether posting a job wakes the
 * helper thread (never, only while a core is spare when the job is
 * posted, or always) or leaves the job to assistants and the collector.
 * Assistants (pacing): run the open job if there is one; returns 1 if it
 * ran one; job_open: whether one is open (a relaxed look). */
enum { COG_GC_HELPER_NEVER, COG_GC_HELPER_IF_SPARE, COG_GC_HELPER_ALWAYS };
int cog_gc_helper_post(void (*fn)(void *), void *arg);
void cog_gc_helper_wait(void);
void cog_gc_helper_stop(void);
void cog_gc_helper_use_thread(int how);
int cog_gc_helper_assist(void);
int cog_gc_helper_job_open(void);
/* Release the arrays collections keep between runs (collector stopped, or
 * the collector thread itself between collections). */
void cog_gc_free_scan_buffers(void);
/* The scan's arrays only (not the walk's page lists, which carry the
 * young generation's pages from one scan to the next), and the bytes they
 * hold now. Collector thread, between collections. */
void cog_gc_trim_scan_buffers(void);
size_t cog_gc_scan_buffer_bytes(void);
/* Give back the scan arrays that the scans of the last second have used
 * under a quarter of. Collector thread, after a collection is done. */
void cog_gc_shrink_scan_buffers(void);
/* Test hooks: how long arrays may stay oversized before they are given
 * back (0: the default, a second), and cog_gc_scan_buffer_bytes as the
 * collector last left it (read after cog_gc_collect returns). */
void cog_gc_test_set_keep_unused_ns(uint64_t ns);
size_t cog_gc_test_scan_buffer_bytes(void);

/* Statistics and callbacks (gc_stats.c). start: statistics begin (the
 * first call counts). */
void cog_gc_stats_start(void);
void cog_gc_stats_record(int gen, const gc_result *r, uint64_t ns, uint64_t cpu_ns);
void cog_gc_callbacks_run(cog_gc_phase phase, const cog_gc_info *info);

/* Histogram of collection wall times (for the metrics, collector/metrics.c):
 * bucket b counts collections with ns <= cog_gc_duration_bucket_ns[b] (and
 * above the previous bound); bucket COG_GC_DURATION_BUCKETS counts the
 * rest. cog_gc_stats_snapshot copies the statistics, these bucket counts
 * and the wait histogram's in one consistent snapshot (the duration counts
 * add up to `collections`). */
#define COG_GC_DURATION_BUCKETS 16
extern const uint64_t cog_gc_duration_bucket_ns[COG_GC_DURATION_BUCKETS];
/* Paced waits (cog_gc_stats_record_pause) in the same form: counts per
 * bucket by the generation waited for, and their sum, for the metrics'
 * wait histogram (how often threads wait and how long, where max_pause_ns
 * says only the longest). */
#define COG_GC_WAIT_BUCKETS 10
extern const uint64_t cog_gc_wait_bucket_ns[COG_GC_WAIT_BUCKETS];
typedef struct cog_gc_wait_hist {
    uint64_t count[COG_GC_GENERATIONS][COG_GC_WAIT_BUCKETS + 1];
    uint64_t sum_ns[COG_GC_GENERATIONS];
} cog_gc_wait_hist;
void cog_gc_stats_snapshot(cog_gc_gen_stats out[COG_GC_GENERATIONS],
                           uint64_t hist[COG_GC_GENERATIONS][COG_GC_DURATION_BUCKETS + 1],
                           cog_gc_wait_hist *waits);

/* A mutator waited ns for collections of generation gen (pacing), of
 * which it spent preempted_ns ready to run but off its CPU. */
void cog_gc_stats_record_pause(int gen, uint64_t ns, uint64_t preempted_ns);

/* Threads in a paced wait now: offline, but each wants its CPU back
 * within the wait's bound (a racy count). */
int cog_gc_pacing_waiters(void);
/* Paced waits so far (tests): those that spun on their CPU to the end,
 * those that slept (from the start or after a crowded spin), and the
 * spins that found another thread had taken their CPU (crowded). */
typedef struct cog_gc_wait_counts {
    uint64_t spun, slept, crowded;
} cog_gc_wait_counts;
void cog_gc_pacing_wait_counts(cog_gc_wait_counts *out);

/* Pacing (gc_pacing.c): recompute the young-count limit after a change of
 * threshold0, enable or the factor; bracket every collection. */
void cog_gc_pacing_sync(void);
void cog_gc_pacing_collection_start(int gen);
void cog_gc_pacing_collection_done(void);
void cog_gc_pacing_after_fork_child(void);
/* The threads pacing has made assistants (up to cap ids into out). */
int cog_gc_pacing_assistants(uint32_t *out, int cap);
/* Give batch b to assistant tid; 0 (b not taken) if tid is no longer an
 * assistant. */
int cog_gc_pacing_hand_out(uint32_t tid, cog_gc_batch *b);

/* Pacing assist (gc_assist.c): after the verdict, give this collection's
 * garbage to the assistant that owns all of it, if one does. obj/state/n
 * are the scan's candidates and states; entries in state `garbage` are
 * the garbage, set to `handed` if handed out. Returns the number of
 * objects handed out. */
size_t cog_gc_assist_hand_out(cog_object **obj, unsigned char *state, size_t n,
                              unsigned char garbage, unsigned char handed);

/* The garbage list (gc_garbage.c): takes over the caller's reference. */
void cog_gc_garbage_append(cog_object *o);

/* Collection windows (gc_window.c). While a window is open, mutators mark
 * what a scan may consider and keep the blocks the collector may read
 * (lib/core/gc_hooks.h). Opening waits for a grace period; closing does not.
 * open: a collection window for a scan of generations <= gen whose stamps
 * carry epoch; open_inspect: every object block is kept, nothing marked
 * (heap walks that read any block). */
void cog_gc_window_open(int gen, uint64_t epoch);
void cog_gc_window_open_inspect(void);
/* Returns how long the window was open (barrier set to barrier cleared). */
uint64_t cog_gc_window_close(void);

/* Run fn(arg) on the calling thread, which must be attached, while the
 * collector holds a collection window open for it: no object block is
 * released until fn returns, so fn may walk the heap and read any block it
 * finds (see cog_gc_get_objects). fn runs online and must not wait for the
 * collector or for a grace period. One such window at a time; callers wait
 * offline. COG_ESTATE on the collector thread or when the runtime is not
 * running, COG_ENOTATTACHED from an unattached thread. */
int cog_gc_with_window(void (*fn)(void *arg), void *arg);

/* Walk every tracked object; see cog_alloc_visit_all_objects. */
void cog_gc_walk(void (*visit)(cog_object *o, uint64_t gc, void *arg), void *arg);

/* Clear the weak references to a garbage object and run their callbacks
 * (no-op for objects without weak references). Returns 1 if the object had
 * weak references (a get racing with the clearing may have revived it). */
int cog_gc_clear_weakrefs(cog_object *o);

/* Declared by lib/alloc/alloc.h too; repeated so the collector builds against
 * either allocator revision. */
void cog_alloc_visit_all_objects(void (*visit)(void *block, void *arg), void *arg);

/* gctrace (gc_trace.c): print one line for a finished collection if on;
 * pause_ns is the longest mutator (pacing) wait since the previous one. */
void cog_gc_trace_collection(int gen, const gc_result *r, uint64_t ns, uint64_t pause_ns,
                             uint64_t cpu_ns);

/* Apply COG_GC_THRESHOLD, COG_GC_ENABLE and COG_GCTRACE (gc_env.c); bad
 * values are reported on stderr and ignored. */
void cog_gc_read_env(void);

/* Monotonic clock in nanoseconds. */
uint64_t cog_gc_now_ns(void);
/* The CLOCK_REALTIME time ns from now, for pthread_cond_timedwait. */
struct timespec;
void cog_gc_deadline_after(uint64_t ns, struct timespec *out);
/* CPU time of the calling thread in nanoseconds. */
uint64_t cog_gc_thread_cpu_ns(void);
/* CPU time the helper thread has spent in jobs since it started. */
uint64_t cog_gc_helper_cpu_ns(void);

/* CPUs (gc_cpus.c). The CPUs the calling thread may run on: its affinity
 * mask (one system call, so a re-pinned thread is seen), else the online
 * CPUs. */
long cog_gc_cores(void);
/* Whether a core is left over by cog's threads that want one: those
 * online (the collector among them) and those in a paced wait (offline,
 * but spinning on their CPU or soon back). */
int cog_gc_spare_core(void);
/* Nanoseconds the calling thread has spent runnable but not running (on
 * a run queue, waiting for a CPU) since it started: Linux schedstat's
 * run_delay, -1 where it cannot be read. A host's stalls of the whole
 * virtual machine do not count; another thread taking this one's CPU
 * does. */
int64_t cog_gc_thread_run_delay_ns(void);
/* Test hook: while hidden, cog_gc_thread_run_delay_ns reports -1, as on a
 * system without schedstat (the paced wait's fallback). */
void cog_gc_test_hide_run_delay(int hide);

/* 1 on the collector thread, and on a mutator while it drives a sliced
 * collection (finalizers may not wait for collections, nor pace). */
int cog_gc_on_collector_thread(void);
void cog_gc_set_on_collector(int on);
/* Whether the collector thread is online now (a racy hint: pacing's
 * count of the threads that want a CPU). */
int cog_gc_collector_online(void);
/* Sliced collections (gc_slice.c): the collection loop as a coroutine
 * that assistants drive at their safe points while threads outnumber the
 * cores. start: the collector thread makes fn the coroutine. drive: run it
 * for up to budget_ns (0: until it finishes or needs a grace period);
 * collector = 1 on the collector thread, which may block in grace periods
 * itself; returns -1 if there was nothing to drive (none, another driver,
 * or a grace period pending), else whether it finished. */
int cog_gc_slice_start(void (*fn)(void));
int cog_gc_slice_active(void);
/* After the loop finished: order its last driver's writes before ours. */
void cog_gc_slice_join(void);
int cog_gc_slice_ready(void);
int cog_gc_slice_drive(uint64_t budget_ns, int collector);
/* Inside the collection's long loops, every COG_GC_SLICE_CHECK_EVERY
 * items: yield to the driver once the slice's budget is spent. No lock may
 * be held. */
#define COG_GC_SLICE_CHECK_EVERY 256
int cog_gc_slice_due(void);
void cog_gc_slice_yield(void);
/* The loop has nothing due: yield until a driver resumes it (an assistant,
 * or the collector thread when parked says so). */
void cog_gc_slice_park(void);
int cog_gc_slice_parked(void);
/* Whether an automatic collection is due now (gc_thread.c: the duty cap
 * lets it start and a generation is over its threshold). */
int cog_gc_auto_due(void);
static inline void cog_gc_slice_point(size_t i) {
    if ((i & (COG_GC_SLICE_CHECK_EVERY - 1)) == COG_GC_SLICE_CHECK_EVERY - 1 &&
        cog_gc_slice_due())
        cog_gc_slice_yield();
}
/* A grace period for the collection: synchronize_rcu, except on a
 * mutator's slice, where it is requested from the collector thread
 * (cog_gc_request_gp, gc_thread.c) and the slice yields until served. */
void cog_gc_grace_period(void);
void cog_gc_request_gp(void);
void cog_gc_slice_serve_gp(void);
int cog_gc_slice_gp_wanted(void);
/* CPU time of every slice so far (the one running on this thread
 * included); whether this thread runs the coroutine now; mutator slices. */
uint64_t cog_gc_slice_cpu_now(void);
int cog_gc_slice_running_here(void);
uint64_t cog_gc_slice_mutator_slices(void);
/* Pacing (gc_pacing.c): wake sleeping paced waits (a grace period the
 * slices wait for was served). */
void cog_gc_pacing_wake_waiters(void);

#endif /* COG_COLLECTOR_GC_INTERNAL_H */
