/* cog/gc.h - the cycle collector: control, statistics and introspection
 * (the C counterpart of Python's gc module).
 *
 * Reference counting frees most objects; cycles are found by a background
 * collector thread running generational trial deletion beside the mutators
 * (see docs/design.md "Concurrent collection"). Every function here is
 * thread-safe and may be called from any attached thread while collections
 * run; the getters may also be called from unattached threads.
 *
 * Finalizers (cog_type.finalize) of cyclic garbage and weak-reference
 * callbacks run on the collector thread, with no collector lock held. They
 * may call any cog function except cog_gc_collect (which would wait for
 * itself: it returns COG_ESTATE there). In a sliced collection
 * (cog_gc_set_slicing) they, and the collection callbacks, run on the
 * assistant thread that drives it, inside that thread's cog_safepoint: so
 * they must not take a lock that the application holds across
 * cog_safepoint.
 */
#ifndef COG_GC_H
#define COG_GC_H

#include <stddef.h>
#include <stdint.h>

#include "cog/error.h"
#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COG_GC_GENERATIONS 3

/* Automatic collection (threshold-triggered). Enabled by default.
 * cog_gc_collect works even when disabled, as in Python. */
void cog_gc_enable(void);
void cog_gc_disable(void);
int cog_gc_is_enabled(void);

/* Collect generations 0..generation (0, 1 or 2; -1 means 2) and wait for
 * it. Returns the number of unreachable objects found (collected plus
 * uncollectable) or a negative cog_status: COG_EINVAL for a bad generation,
 * COG_ESTATE when called from a finalizer/callback on the collector thread
 * or when the runtime is not running. The caller, if attached, goes offline
 * while it waits (so it never delays the grace periods it waits for).
 * Garbage is freed before the call returns, except garbage that pacing
 * handed to another thread (cog_gc_set_pacing), which that thread
 * frees at its next safe points. */
long cog_gc_collect(int generation);

/* Thresholds (CPython's defaults: 2000, 10, 10). threshold0 is the number
 * of GC-tracked allocations minus deallocations since the last collection
 * that wakes the collector; threshold1/2 are the number of collections of
 * the next younger generation after which generation 1/2 is collected as
 * well (generation 2 additionally waits until the objects that survived
 * into it since its last collection exceed 25% of it, as CPython does).
 * Values must be > 0 (threshold0 == 0 disables automatic collection, as in
 * Python). Changes apply to the next decision; no restart. */
int cog_gc_set_threshold(long threshold0, long threshold1, long threshold2);
void cog_gc_get_threshold(long thresholds[COG_GC_GENERATIONS]);
/* Current counts (threshold0's counter, then gen-0 and gen-1 collection
 * counts since the next older generation was collected). */
void cog_gc_get_count(long counts[COG_GC_GENERATIONS]);

/* Pacing (back-pressure). The collector never stops mutators to do its
 * work, but one collector thread has a throughput limit. When the young
 * count (cog_gc_get_count()[0]) exceeds threshold0 x factor, a mutator
 * that reaches cog_safepoint pays for what it allocated: the collector
 * hands it a collection's cyclic garbage, which it frees itself at its
 * safe points (adopting what other threads own) while the collector goes
 * on scanning, or it takes a share of the scan in progress. With nothing
 * to do and the count past twice the limit it waits (offline) for its
 * garbage or for the collection in progress, at most 0.5 ms per safe
 * point: spinning on its CPU when cog's threads that want a CPU fit the
 * CPUs it may run on; sleeping when they outnumber them (the collector
 * needs the CPU; the scheduler may then give it back later than the
 * bound), and for the rest of the wait and a while after once another
 * thread (another process's, say) has held its CPU for 0.2 ms. So
 * threads creating garbage faster than it can be collected cannot grow
 * the heap without bound. Waits are reported as the generation's
 * max_pause_ns, garbage freed this way as its `assisted`. Default factor
 * 64 (128000 objects with the default threshold0); 0 turns pacing off.
 * No effect while automatic collection is disabled. COG_EINVAL for a
 * negative factor. */
int cog_gc_set_pacing(long factor);
long cog_gc_get_pacing(void);

/* Sliced collections. While the threads that want a CPU (cog's online
 * threads, those in paced waits and the collector) outnumber the CPUs, a
 * collector thread that computes only competes with the mutators for a
 * CPU, and a thread that gives its CPU up (a paced wait) gets it back a
 * scheduler tick later. In that state (COG_GC_SLICING_AUTO, the default)
 * the collector thread runs automatic collections itself only while no
 * thread assists; once pacing has made threads assistants, they drive
 * the collections instead: at each safe point where it would otherwise
 * wait, an assistant runs the collection in progress for at most 0.25 ms,
 * and the collector thread only serves the grace periods the collection
 * needs and takes over if nobody drives for a few milliseconds. A paced
 * thread then waits only past three times the pacing limit (twice
 * otherwise). Collections requested with
 * cog_gc_collect always run on the collector thread. Finalizers, weakref
 * callbacks and collection callbacks of a sliced collection run on the
 * assistant that drives it (see the top of this file). COG_GC_SLICING_OFF:
 * never; COG_GC_SLICING_ALWAYS: every automatic collection (for tests: it
 * then progresses only at assistants' safe points and the takeovers).
 * COG_EINVAL for another value. */
enum { COG_GC_SLICING_OFF = 0, COG_GC_SLICING_AUTO = 1, COG_GC_SLICING_ALWAYS = 2 };
int cog_gc_set_slicing(int mode);
int cog_gc_get_slicing(void);

/* Window duty cap: the most, in percent of wall time, that collection
 * windows may be open because of automatic collections (while a window
 * is open every reference-count operation of the mutators takes its slow
 * path). After a collection whose window lasted W, the next automatic
 * collection waits until W x (100 - cap) / cap has passed: a heap that
 * produces garbage fast gets fewer, larger young collections instead of
 * back-to-back ones. It stops waiting once the young count passes 24 x
 * threshold0 or the pacing limit (the heap's bound comes first), and
 * cog_gc_collect never waits for it. Default 20; 0 or 100: no cap.
 * COG_EINVAL outside 0..100. */
int cog_gc_set_duty_cap(int percent);
int cog_gc_get_duty_cap(void);

typedef struct cog_gc_gen_stats {
    uint64_t collections;   /* collections of this generation */
    uint64_t collected;     /* objects freed by them */
    uint64_t uncollectable; /* objects moved to cog_gc_garbage */
    uint64_t total_ns;      /* wall time of those collections */
    uint64_t max_ns;        /* longest one */
    uint64_t max_pause_ns;  /* longest time a mutator waited for one of them:
                               only pacing (cog_gc_set_pacing) ever makes a
                               mutator wait, 0.5 ms at most by cog's bound
                               plus however late the scheduler runs it
                               again (a tick or more where threads
                               outnumber the cores); 0 if none did */
    uint64_t last_scanned;  /* candidates examined by the latest one */
    uint64_t last_walked;   /* tracked objects its heap walk visited: the
                               whole heap for generation 2, only pages that
                               can hold young objects for 0 and 1 */
    uint64_t window_ns;     /* wall time their collection windows were open
                               (mutators mark what they touch and defer
                               frees while one is): the window duty cycle
                               is the sum over generations / elapsed time */
    uint64_t cpu_ns;        /* CPU time the collector (and its helper
                               thread) spent in them */
    uint64_t assisted;      /* of `collected`, objects handed to a thread
                               that outran the collector, which freed them
                               (pacing assist) */
    uint64_t sliced;        /* of `collections`, those driven by assistants
                               in slices (cog_gc_set_slicing) */
    uint64_t max_pause_held_ns; /* the longest paced wait (as max_pause_ns)
                               less the time its thread was ready to run
                               while the kernel ran another thread on its
                               CPU (Linux schedstat's run-queue delay): the
                               part cog's 0.5 ms bound governs. Equal to
                               the wall time where schedstat is not
                               readable */
    uint64_t pause_preempted_ns; /* total, over paced waits, of that
                               run-queue delay: high values mean the
                               machine's CPUs are oversubscribed, not
                               that the collector is slow */
} cog_gc_gen_stats;

/* Copy the per-generation statistics (index = generation). They count
 * from the first cog_init of the process. */
void cog_gc_get_stats(cog_gc_gen_stats stats[COG_GC_GENERATIONS]);
/* Wall time since the statistics began (the first cog_init), so that
 * (sum of window_ns) / this is the window duty cycle so far; 0 before. */
uint64_t cog_gc_stats_elapsed_ns(void);

/* gctrace (Go's GODEBUG=gctrace=1): while on, every collection prints one
 * line to stderr:
 *   cog gc N @T s: gen G: K walked, S scanned, C collected, U uncollectable,
 *   D ms (per-phase ms), window W ms, duty Y%, cpu C ms, pause P ms,
 *   heap H MiB
 * (N counts traced collections, T is seconds since the first one, K the
 * tracked objects the heap walk visited, S the candidates examined, D the
 * collection's wall time, W how long its window
 * was open, Y that as a share of the wall time since the previous traced
 * collection ended (the window duty cycle), C the collector's CPU time for
 * it, P the longest time a mutator waited for the collector (pacing,
 * cog_gc_set_pacing) since the previous collection, 0 when none had to;
 * H is arena memory mapped plus large blocks). Off by default;
 * COG_GCTRACE=1 at cog_init turns it on. */
void cog_gc_set_trace(int on);
int cog_gc_get_trace(void);

/* Environment variables applied at every cog_init (docs/tuning.md):
 *   COG_GC_THRESHOLD=t0[,t1[,t2]]  as cog_gc_set_threshold; omitted values
 *                                  keep their current setting
 *   COG_GC_ENABLE=0|1              cog_gc_disable / cog_gc_enable
 *   COG_GC_PACING=factor           cog_gc_set_pacing
 *   COG_GC_DUTY_CAP=percent        cog_gc_set_duty_cap
 *   COG_GC_SLICING=0|1|2           cog_gc_set_slicing
 *   COG_GCTRACE=0|1                cog_gc_set_trace
 *   COG_CONTROL_SOCKET=path        cog_control_start(path) (cog/control.h)
 * A malformed or out-of-range value is ignored with a warning on stderr
 * naming the variable; cog_init still succeeds with the previous values. */

/* Debug flags, as in Python's gc module. */
#define COG_GC_DEBUG_STATS 0x1u         /* print a summary per collection */
#define COG_GC_DEBUG_COLLECTABLE 0x2u   /* print each collectable object */
#define COG_GC_DEBUG_UNCOLLECTABLE 0x4u /* print each uncollectable object */
#define COG_GC_DEBUG_SAVEALL 0x20u      /* keep garbage in cog_gc_garbage */
#define COG_GC_DEBUG_LEAK \
    (COG_GC_DEBUG_COLLECTABLE | COG_GC_DEBUG_UNCOLLECTABLE | COG_GC_DEBUG_SAVEALL)
int cog_gc_set_debug(unsigned flags); /* COG_EINVAL for unknown bits */
unsigned cog_gc_get_debug(void);

/* Objects found unreachable but not freed: cycles through a type with
 * COG_TYPE_UNCOLLECTABLE, and everything under COG_GC_DEBUG_SAVEALL.
 * cog_gc_garbage copies up to cap pointers into out, each a NEW reference
 * the caller must drop, and returns the total number of garbage objects.
 * cog_gc_clear_garbage drops the collector's references to them. */
size_t cog_gc_garbage(cog_object **out, size_t cap);
void cog_gc_clear_garbage(void);

/* Collection callbacks: called on the collector thread (or, in a sliced
 * collection, the assistant driving it) at the start and stop of each
 * collection, with no collector lock held. */
typedef enum cog_gc_phase { COG_GC_START = 0, COG_GC_STOP = 1 } cog_gc_phase;
typedef struct cog_gc_info {
    int generation;
    long collected;     /* at STOP */
    long uncollectable; /* at STOP */
    uint64_t duration_ns; /* at STOP */
} cog_gc_info;
typedef void (*cog_gc_callback)(cog_gc_phase phase, const cog_gc_info *info, void *arg);
/* At most 16 callbacks; COG_ELIMIT beyond. */
int cog_gc_callback_add(cog_gc_callback cb, void *arg);
/* COG_EINVAL if (cb, arg) is not registered. If the collector is calling
 * it right now, waits for that call to return (unless called from that
 * call itself): once this returns, cb is never called with arg again, so
 * arg may be freed. So do not call it holding a lock that cb takes. */
int cog_gc_callback_remove(cog_gc_callback cb, void *arg);

/* Move every tracked object to a permanent generation that collections
 * ignore (for pre-fork servers: keeps copy-on-write pages clean).
 * cog_gc_unfreeze puts them back into the oldest generation. */
void cog_gc_freeze(void);
void cog_gc_unfreeze(void);
size_t cog_gc_get_freeze_count(void);

/* ---- Heap introspection (gc.get_objects / get_referrers / get_referents)
 *
 * All three are thread-safe while the collector and mutators run and must
 * be called from an attached thread (COG_ENOTATTACHED otherwise) that is not
 * the collector thread (COG_ESTATE from a finalizer or gc callback, and when
 * the runtime is not running). They walk the heap on the calling thread
 * inside a collection window the collector holds open for them (no object
 * memory is reused meanwhile); the caller waits offline for the window, so
 * it never delays grace periods. Only one introspection runs at a time.
 *
 * Each returns the number of objects found (>= 0) or a negative cog_status.
 * The first min(result, cap) entries of out are filled, each with a NEW
 * reference the caller must cog_decref. If the result is <= cap that is the
 * exact list. If it is > cap the call was truncated: objects past cap were
 * only counted (the total is approximate) and an entry may be NULL (an
 * object that died before its reference was taken): use cog_xdecref and
 * call again with a larger buffer. out may be NULL when cap is 0 (count
 * only; COG_EINVAL if out is NULL and cap > 0).
 *
 * The result is a snapshot taken while other threads run: objects created
 * or freed during the call may or may not appear; dying objects are never
 * returned. Objects of the caller, merged (shared) and immortal objects are
 * referenced at once (cog_try_incref). An object another thread owns
 * privately (biased reference counting: only its owner counts it) is
 * referenced through that owner: at once if the owner is offline, else at
 * its next safe point or offline transition, which the call waits for
 * (offline). So, like a collection, the call needs the other attached
 * threads to follow the thread model (safe points, offline when blocked). */

/* Tracked objects of one generation (0, 1 or 2; frozen objects are in none
 * of them) or, with generation -1, every tracked object including frozen
 * ones. COG_EINVAL for any other generation. */
long cog_gc_get_objects(int generation, cog_object **out, size_t cap);

/* Tracked objects that refer directly to any of the n objects in objs
 * (found by each candidate's traverse; objs are only compared by address).
 * COG_EINVAL if objs is NULL and n > 0; COG_ENOMEM. */
long cog_gc_get_referrers(cog_object *const *objs, size_t n, cog_object **out, size_t cap);

/* Objects referred to directly by the n objects in objs (through their
 * type's traverse; objects without one contribute nothing), duplicates
 * included. The caller must hold a reference to each of objs. COG_EINVAL if
 * objs or an element is NULL. */
long cog_gc_get_referents(cog_object *const *objs, size_t n, cog_object **out, size_t cap);

/* 1 if the object is tracked by the collector (its type has COG_TYPE_GC). */
int cog_gc_is_tracked(const cog_object *o);
/* 1 if its finalizer has run (PEP 442). */
int cog_gc_is_finalized(const cog_object *o);

#ifdef __cplusplus
}
#endif
#endif /* COG_GC_H */
