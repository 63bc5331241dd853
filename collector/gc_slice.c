/* collector/gc_slice.c - automatic collections driven by mutators in slices.
 *
 * While the threads that want a CPU (the collector among them) outnumber
 * the cores, a collector thread that computes is one more of them: whoever
 * gives up a CPU gets it back a scheduler tick later, and paced waits last
 * milliseconds (docs/performance.md, "Collector under load"). Then the
 * collector thread runs the automatic collection loop (gc_thread.c
 * sliced_loop) as a *coroutine*: itself, in turns, while no thread
 * assists; while pacing has assistants, it sleeps and they resume the
 * coroutine at their safe points for slices of at most SLICE_NS
 * (cog_gc_slice_drive, from gc_pacing.c). The coroutine yields back at the
 * loop checks of its long steps (cog_gc_slice_due), whenever it needs a
 * grace period, and when nothing is due (parked). The collection's code
 * is the same sequential code; it only runs on whichever thread holds
 * `drive`.
 *
 * Grace periods. A slice never blocks on one: a mutator that waited in
 * synchronize_rcu at its safe point would deadlock with any thread
 * blocked online on a lock the mutator holds (that thread stalls a grace
 * period, which is allowed, see cog/runtime.h). So the coroutine posts a
 * request and yields; the sleeping collector thread serves it with
 * synchronize_rcu (a thread that only sleeps and wakes needs a CPU for
 * microseconds) and publishes the served sequence number; a later slice
 * goes on. liburcu's call_rcu was the first way and is too slow here: its
 * worker batches callbacks every 10 ms. When the collector thread drives
 * itself (nobody did for a while, or a request or fork needs the
 * collection finished) it waits for grace periods as always.
 *
 * Why running the collection on several threads in turn is sound:
 *   - one thread at a time runs it: `drive` is held for a slice, and its
 *     unlock/lock orders everything a slice wrote before the next slice;
 *   - a slice runs at a driver's safe point, between two of its
 *     operations, so to the window protocol the driver is a mutator at a
 *     safe point and the slice is collector work (design.md);
 *   - the collection's code holds no lock across a yield (the walk
 *     releases its read lock on the walk lock at each yield and takes it
 *     again: object memory stays pinned by the window, and the walk
 *     re-reads each page's layout under the lock) and keeps no
 *     thread-local state across one: TLS is read through %fs on every
 *     access (initial-exec), and tests/coroutine_tls_check.sh fails if
 *     any of the collector's code calls __tls_get_addr or loads the
 *     thread pointer, the ways a TLS address could outlive a switch;
 *   - code that asks which thread it is on gets the driver: its own
 *     pools and heap (as an assistant's clearing does) and the collector
 *     flag (set for the slice: finalizers and callbacks do not pace).
 *
 * Sanitizers: ASan and TSan are told about each switch (fiber API), and
 * the switch through `drive` is a happens-before edge for TSan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "collector/gc_internal.h"
#include "lib/base/rcu.h"
#include "lib/core/thread.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLICE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLICE_ASAN 1
#endif
#endif

#ifdef SLICE_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
#endif
#ifdef COG_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

/* The coroutine's stack: a collection's own frames are shallow, but
 * finalizers and weakref callbacks (user code) run on it too. Mapped once,
 * committed as touched. */
#define STACK_BYTES ((size_t)8 << 20)

/* All under `drive` (the coroutine and its drivers), except where noted. */
static pthread_mutex_t drive = PTHREAD_MUTEX_INITIALIZER;
static ucontext_t coro;
static ucontext_t *driver;  /* the driving thread's context */
static char *stack;
static void (*body)(void);
static int may_block;       /* the driver is the collector thread */
static uint64_t deadline;   /* the slice's end; 0: none */
static uint64_t slice_cpu0; /* the driver's CPU clock when the slice began */
#ifdef SLICE_ASAN
static const void *driver_stack;
static size_t driver_stack_size;
static void *coro_fake_stack;
#endif
#ifdef COG_TSAN
static void *coro_fiber, *driver_fiber;
#endif

/* Thread-local: a thread that never drives reads 0 without a race. */
static __thread int on_coro __attribute__((tls_model("initial-exec"))); /* runs it now */

/* Relaxed flags for lock-free looks from pacing; the coroutine's state
 * itself is read only under `drive`. */
static atomic_int active;   /* a coroutine exists and has not finished */
static atomic_int driving;  /* a driver holds `drive` */
static atomic_ullong slices, slice_cpu_ns;

/* Grace periods: requested by the coroutine, served by the collector
 * thread. Sequence numbers, so a stale request or service is harmless. */
static atomic_ullong gp_wanted, gp_served;

/* Switching. On the way in, the driver's stack is the one left; on the way
 * out, the coroutine's (or none: it has finished). */
static void switch_in(void) {
#ifdef SLICE_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, stack, STACK_BYTES);
#endif
#ifdef COG_TSAN
    driver_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(coro_fiber, 0);
#endif
    swapcontext(driver, &coro);
#ifdef SLICE_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

static void entered(void) {
#ifdef SLICE_ASAN
    __sanitizer_finish_switch_fiber(coro_fake_stack, &driver_stack, &driver_stack_size);
#endif
}

static void switch_out(int finished) {
#ifdef SLICE_ASAN
    __sanitizer_start_switch_fiber(finished ? NULL : &coro_fake_stack, driver_stack,
                                   driver_stack_size);
#endif
#ifdef COG_TSAN
    __tsan_switch_to_fiber(driver_fiber, 0);
#endif
    (void)finished;
    swapcontext(&coro, driver);
    entered();
}

static void entry(void) {
    entered();
    body();
    atomic_store_explicit(&active, 0, memory_order_relaxed);
    switch_out(1); /* never resumed */
}

int cog_gc_slice_start(void (*fn)(void)) {
    if (!stack) {
        void *p = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return -1;
        stack = p;
    }
    pthread_mutex_lock(&drive);
    if (getcontext(&coro) != 0) {
        pthread_mutex_unlock(&drive);
        return -1;
    }
    coro.uc_stack.ss_sp = stack;
    coro.uc_stack.ss_size = STACK_BYTES;
    coro.uc_link = NULL;
    makecontext(&coro, entry, 0);
    body = fn;
#ifdef COG_TSAN
    if (coro_fiber) __tsan_destroy_fiber(coro_fiber);
    coro_fiber = __tsan_create_fiber(0);
#endif
    atomic_store_explicit(&active, 1, memory_order_relaxed);
    pthread_mutex_unlock(&drive);
    return 0;
}

int cog_gc_slice_active(void) { return atomic_load_explicit(&active, memory_order_relaxed); }

/* The loop has finished (cog_gc_slice_active() returned 0): take `drive`
 * once, so that everything the coroutine wrote on its last driver (the
 * scan's kept arrays, the statistics) happens before the caller reads it.
 * The last driver released `drive` after the coroutine's final switch
 * back to it; `active` alone is a relaxed hint. */
void cog_gc_slice_join(void) {
    pthread_mutex_lock(&drive);
    pthread_mutex_unlock(&drive);
}

static atomic_int parked;

/* Something for an assistant to drive: a loop that is not driven, not
 * waiting for a grace period, and not parked unless a collection is due
 * (resuming a parked loop at every safe point would cost two context
 * switches per safe point for nothing). */
int cog_gc_slice_ready(void) {
    if (!atomic_load_explicit(&active, memory_order_relaxed) ||
        atomic_load_explicit(&driving, memory_order_relaxed) || cog_gc_slice_gp_wanted())
        return 0;
    return !atomic_load_explicit(&parked, memory_order_relaxed) || cog_gc_auto_due();
}

int cog_gc_slice_drive(uint64_t budget_ns, int collector) {
    if (!cog_gc_slice_ready() && !collector) return -1;
    if (!atomic_load_explicit(&active, memory_order_relaxed)) return -1;
    if (pthread_mutex_trylock(&drive) != 0) return -1;
    if (!atomic_load_explicit(&active, memory_order_relaxed)) {
        pthread_mutex_unlock(&drive);
        return -1;
    }
    atomic_store_explicit(&driving, 1, memory_order_relaxed);
    int was_collector = cog_gc_on_collector_thread();
    cog_gc_set_on_collector(1);
    ucontext_t here;
    driver = &here;
    slice_cpu0 = cog_gc_thread_cpu_ns();
    deadline = budget_ns ? cog_gc_now_ns() + budget_ns : 0;
    may_block = collector;
    on_coro = 1;
    switch_in();
    on_coro = 0;
    atomic_fetch_add_explicit(&slice_cpu_ns, cog_gc_thread_cpu_ns() - slice_cpu0,
                              memory_order_relaxed);
    if (!collector) atomic_fetch_add_explicit(&slices, 1, memory_order_relaxed);
    cog_gc_set_on_collector(was_collector);
    int finished = !atomic_load_explicit(&active, memory_order_relaxed);
    atomic_store_explicit(&driving, 0, memory_order_relaxed);
    pthread_mutex_unlock(&drive);
    return finished;
}

int cog_gc_slice_due(void) { return on_coro && deadline && cog_gc_now_ns() >= deadline; }

/* Only after cog_gc_slice_due() returned 1 (so on the coroutine). */
void cog_gc_slice_yield(void) { switch_out(0); }

void cog_gc_slice_park(void) {
    atomic_store_explicit(&parked, 1, memory_order_relaxed);
    switch_out(0);
    atomic_store_explicit(&parked, 0, memory_order_relaxed);
}

int cog_gc_slice_parked(void) { return atomic_load_explicit(&parked, memory_order_relaxed); }

void cog_gc_grace_period(void) {
    if (!cog_gc_slice_running_here() || may_block) {
        cog_rcu_synchronize();
        return;
    }
    /* The request is posted after everything the grace period must cover
     * (the window's stores): the server reads gp_wanted under its lock
     * after our release increment (through cog_gc_request_gp's mutex) and
     * only then begins synchronize_rcu. */
    uint64_t seq = atomic_fetch_add_explicit(&gp_wanted, 1, memory_order_relaxed) + 1;
    cog_gc_request_gp();
    while (atomic_load_explicit(&gp_served, memory_order_acquire) < seq) {
        if (may_block) { /* the collector thread took over: serve it here */
            cog_rcu_synchronize();
            return;
        }
        switch_out(0);
    }
}

/* Collector thread: serve the requests posted so far. */
void cog_gc_slice_serve_gp(void) {
    uint64_t want = atomic_load_explicit(&gp_wanted, memory_order_relaxed);
    if (atomic_load_explicit(&gp_served, memory_order_relaxed) >= want) return;
    cog_rcu_synchronize();
    /* Release: a slice that reads `want` served goes on after the grace
     * period (its acquire load above). */
    atomic_store_explicit(&gp_served, want, memory_order_release);
}

int cog_gc_slice_gp_wanted(void) {
    return atomic_load_explicit(&gp_served, memory_order_relaxed) <
           atomic_load_explicit(&gp_wanted, memory_order_relaxed);
}

uint64_t cog_gc_slice_cpu_now(void) {
    uint64_t cpu = atomic_load_explicit(&slice_cpu_ns, memory_order_relaxed);
    return on_coro ? cpu + cog_gc_thread_cpu_ns() - slice_cpu0 : cpu;
}

int cog_gc_slice_running_here(void) { return on_coro; }

uint64_t cog_gc_slice_mutator_slices(void) {
    return atomic_load_explicit(&slices, memory_order_relaxed);
}
