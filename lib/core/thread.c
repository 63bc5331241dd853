/* lib/core/thread.c - thread registry, attach/detach, safe points. */
#include "lib/core/thread.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/core/brc.h"
#include "lib/base/error.h"
#include "lib/core/owner_ref.h"
#include "lib/core/gc_hooks.h"
#include "lib/base/rcu.h"
#include "lib/core/runtime_internal.h"
#include "lib/core/upcalls.h"

__thread uint32_t cog__tls_tid __attribute__((tls_model("initial-exec"))) = COG_TID_UNATTACHED;
__thread _Atomic(uint32_t) cog__tls_fast_tid
    __attribute__((tls_model("initial-exec"))) = COG_TID_UNATTACHED;
__thread cog_tstate *cog__tls_tstate __attribute__((tls_model("initial-exec")));

/* Slot table. A slot's tstate is allocated on first use and kept until
 * shutdown; `slots` entries are published with release and read with acquire
 * so a lookup sees an initialised tstate (its mutex in particular). */
static _Atomic(cog_tstate *) slots[COG_MAX_THREADS];
static unsigned char slot_used[COG_MAX_THREADS]; /* under registry_lock */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
/* Modified under registry_lock (read racily by cog_thread_count). */
static atomic_int attached_count;
static atomic_int internal_count; /* runtime-owned threads among them */
static int closing; /* under registry_lock: cog_shutdown in progress */

/* ---- the fork gate ----------------------------------------------------
 * `running` counts attached threads that are online: +1 when a thread
 * attaches or comes online, -1 when it goes offline or has detached. To
 * fork, the forking thread sets fork_pending and waits for running to
 * reach 0 (it goes offline itself first): every other attached thread is
 * then parked at a safe point or blocked offline, holds no cog lock and is
 * inside no liburcu call. Dekker: gate_enter increments and then reads
 * fork_pending; the forker sets fork_pending and then reads running; both
 * sequentially consistent, so either the thread sees the flag (and backs
 * out to wait) or the forker sees it running (and waits for it). */
static atomic_int fork_pending;
static atomic_int running;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;

static void gate_enter(void) {
    for (;;) {
        atomic_fetch_add_explicit(&running, 1, memory_order_seq_cst);
        if (!atomic_load_explicit(&fork_pending, memory_order_seq_cst)) return;
        atomic_fetch_sub_explicit(&running, 1, memory_order_seq_cst);
        pthread_mutex_lock(&gate_lock);
        while (atomic_load_explicit(&fork_pending, memory_order_relaxed))
            pthread_cond_wait(&gate_cond, &gate_lock);
        pthread_mutex_unlock(&gate_lock);
    }
}

static void gate_leave(void) { atomic_fetch_sub_explicit(&running, 1, memory_order_seq_cst); }

int cog_threads_online(void) { return atomic_load_explicit(&running, memory_order_relaxed); }

/* Detaches threads that exit while attached. */
static pthread_key_t exit_key;
static int exit_key_created;

static void detach_at_exit(void *arg) {
    (void)arg;
    if (cog__tls_tstate) cog_thread_detach();
}

int cog_threads_init(void) {
    if (!exit_key_created) {
        if (pthread_key_create(&exit_key, detach_at_exit) != 0)
            return cog_error(COG_ENOMEM, "cog_init: pthread_key_create failed");
        exit_key_created = 1;
    }
    return COG_OK;
}

void cog_threads_shutdown(void) {
    closing = 0; /* no thread is attached and running is 0: nobody races */
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        cog_tstate *ts = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (!ts) continue;
        pthread_mutex_destroy(&ts->queue_lock);
        pthread_mutex_destroy(&ts->merge_lock);
        free(ts->queue);
        free(ts);
        atomic_store_explicit(&slots[i], NULL, memory_order_relaxed);
        slot_used[i] = 0;
    }
}

cog_tstate *cog_tstate_lookup(uint32_t tid) {
    if (tid == 0 || tid > COG_MAX_THREADS) cog_fatal("invalid owner thread id %u", tid);
    cog_tstate *ts = atomic_load_explicit(&slots[tid - 1], memory_order_acquire);
    if (!ts) cog_fatal("owner thread id %u was never attached", tid);
    return ts;
}

int cog_threads_begin_shutdown(void) {
    pthread_mutex_lock(&registry_lock);
    int others = atomic_load_explicit(&attached_count, memory_order_relaxed) - 1 -
                 atomic_load_explicit(&internal_count, memory_order_relaxed);
    if (others == 0) closing = 1;
    pthread_mutex_unlock(&registry_lock);
    if (others > 0)
        return cog_error(COG_EBUSY, "cog_shutdown: %d other thread(s) still attached", others);
    return COG_OK;
}

void cog_thread_mark_internal(int delta) {
    atomic_fetch_add_explicit(&internal_count, delta, memory_order_relaxed);
}

int cog_thread_count(void) { return atomic_load_explicit(&attached_count, memory_order_relaxed); }

/* The owner's side of lib/core/owner_ref.h: OFFLINE -> ONLINE with acquire
 * (what a stand-in did to our objects happens-before our next access),
 * waiting out a stand-in that holds BORROWED for a few increments. */
static void run_enter(cog_tstate *ts) {
    int expected = COG_RUN_OFFLINE;
    while (!atomic_compare_exchange_weak_explicit(&ts->run_state, &expected, COG_RUN_ONLINE,
                                                  memory_order_acquire, memory_order_relaxed)) {
        if (expected != COG_RUN_OFFLINE) sched_yield();
        expected = COG_RUN_OFFLINE;
    }
}

/* ONLINE -> OFFLINE with release: our object accesses happen-before a
 * stand-in's. */
static void run_leave(cog_tstate *ts) {
    atomic_store_explicit(&ts->run_state, COG_RUN_OFFLINE, memory_order_release);
}

static int claim_slot(cog_tstate **out) {
    pthread_mutex_lock(&registry_lock);
    if (closing || !cog_runtime_running()) {
        pthread_mutex_unlock(&registry_lock);
        return cog_error(COG_ESTATE, "cog_thread_attach: runtime not initialised");
    }
    int i = 0;
    while (i < COG_MAX_THREADS && slot_used[i]) i++;
    if (i == COG_MAX_THREADS) {
        pthread_mutex_unlock(&registry_lock);
        return cog_error(COG_ELIMIT, "cog_thread_attach: %d threads already attached",
                         COG_MAX_THREADS);
    }
    cog_tstate *ts = atomic_load_explicit(&slots[i], memory_order_relaxed);
    if (!ts) {
        ts = calloc(1, sizeof *ts);
        if (!ts) {
            pthread_mutex_unlock(&registry_lock);
            return cog_error(COG_ENOMEM, "cog_thread_attach: out of memory");
        }
        ts->tid = (uint32_t)i + 1;
        pthread_mutex_init(&ts->queue_lock, NULL);
        pthread_mutex_init(&ts->merge_lock, NULL);
        atomic_store_explicit(&slots[i], ts, memory_order_release);
    }
    slot_used[i] = 1;
    atomic_fetch_add_explicit(&attached_count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&registry_lock);
    *out = ts;
    return COG_OK;
}

/* The fast id a thread should use while the barrier is `barrier`: only
 * collection windows need the marks of the slow path. */
static uint32_t fast_tid_for(const cog_tstate *ts, int barrier) {
    return barrier == COG_WINDOW_COLLECT ? COG_TID_SLOW : ts->tid;
}

/* Publish the calling thread's fast id. Under registry_lock, so that either
 * cog_threads_set_barrier sees this thread (and overwrites the value) or we
 * see the barrier it stored before taking the lock. */
static void publish_fast_tid(cog_tstate *ts) {
    pthread_mutex_lock(&registry_lock);
    ts->fast_tid = &cog__tls_fast_tid;
    atomic_store_explicit(&cog__tls_fast_tid,
                          fast_tid_for(ts, atomic_load_explicit(&cog__gc_barrier,
                                                                memory_order_relaxed)),
                          memory_order_relaxed);
    pthread_mutex_unlock(&registry_lock);
}

static void retract_fast_tid(cog_tstate *ts) {
    pthread_mutex_lock(&registry_lock);
    ts->fast_tid = NULL;
    atomic_store_explicit(&cog__tls_fast_tid, COG_TID_UNATTACHED, memory_order_relaxed);
    pthread_mutex_unlock(&registry_lock);
}

void cog_threads_set_barrier(int barrier) {
    pthread_mutex_lock(&registry_lock);
    atomic_store_explicit(&cog__gc_barrier, barrier, memory_order_seq_cst);
    /* Relaxed stores into other threads' TLS: the caller's grace period
     * (every online thread passes a full barrier at a quiescent state after
     * this) is what makes them visible before the window counts as open. */
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        if (!slot_used[i]) continue;
        cog_tstate *ts = atomic_load_explicit(&slots[i], memory_order_relaxed);
        if (ts->fast_tid)
            atomic_store_explicit(ts->fast_tid, fast_tid_for(ts, barrier), memory_order_relaxed);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void release_slot(cog_tstate *ts) {
    pthread_mutex_lock(&registry_lock);
    slot_used[ts->tid - 1] = 0;
    atomic_fetch_sub_explicit(&attached_count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&registry_lock);
}

int cog_thread_attach(void) {
    if (!cog_runtime_running())
        return cog_error(COG_ESTATE, "cog_thread_attach: runtime not initialised");
    if (cog__tls_tstate)
        return cog_error(COG_ESTATE, "cog_thread_attach: thread already attached");
    gate_enter(); /* no attach is half done when a fork happens */
    cog_tstate *ts = NULL;
    int rc = claim_slot(&ts);
    if (rc != COG_OK) {
        gate_leave();
        return rc;
    }
    ts->heap = cog_heap_new(ts->tid);
    if (!ts->heap) {
        release_slot(ts);
        gate_leave();
        return COG_ENOMEM; /* allocator set the message */
    }
    ts->dealloc_depth = 0;
    ts->dealloc_pending = NULL;
    ts->offline = 0;
    /* Online from here on (lib/core/owner_ref.h). A requester may be standing in
     * for the slot's previous thread for a moment; run_enter waits. */
    run_enter(ts);
    pthread_mutex_lock(&ts->queue_lock);
    ts->attached = 1;
    pthread_mutex_unlock(&ts->queue_lock);
    urcu_qsbr_register_thread();
    /* Registered (online) before the first allocation: either the next
     * young-epoch flip's grace period waits for us, or we see the flip
     * here (lib/alloc/alloc_young.c). */
    cog_heap_young_sync(ts->heap);
    ts->urcu_record = cog_rcu_reader_self();
    cog__tls_tstate = ts;
    cog__tls_tid = ts->tid;
    publish_fast_tid(ts);
    pthread_setspecific(exit_key, ts);
    return COG_OK;
}

int cog_thread_detach(void) {
    cog_tstate *ts = cog__tls_tstate;
    if (!ts) return cog_error(COG_ESTATE, "cog_thread_detach: thread not attached");
    if (ts->offline) cog_thread_online();
    cog_owner_ref_serve(ts);
    /* Merge every count we own: afterwards no object carries our id, so the
     * slot can be reused safely. */
    /* Garbage the collector handed us is ours to free, while we still own
     * it: pacing stops handing us more once we leave its assistants. */
    cog_gc_pace_thread_exit();
    cog_gc_inbox_process(SIZE_MAX);
    retract_fast_tid(ts); /* every operation takes the slow path from here */
    cog_brc_release_ownership(ts);
    cog_gc_deferred_thread_exit();
    cog_heap_collect(ts->heap);
    cog_gc_flush_young();
    cog_heap_abandon(ts->heap);
    ts->heap = NULL;
    /* Last use of the intern delta cache (lib/types/intern.c): flush and free it
     * while we are still attached and registered (a flush may queue a
     * review). From the next line on, our decrefs of interned strings are
     * atomic. */
    cog__intern_thread_detach();
    cog__tls_tstate = NULL;
    cog__tls_tid = COG_TID_UNATTACHED;
    pthread_setspecific(exit_key, NULL);
    cog_rcu_offline();
    urcu_qsbr_unregister_thread();
    /* We own nothing any more; a late request finds no object of ours. */
    run_leave(ts);
    release_slot(ts);
    gate_leave(); /* only now: a fork must not see us inside liburcu */
    return COG_OK;
}

int cog_thread_is_attached(void) { return cog__tls_tstate != NULL; }

uint32_t cog_thread_id(void) { return cog__tls_tstate ? cog__tls_tstate->tid : 0; }

void cog_safepoint(void) {
    cog_tstate *ts = cog__tls_tstate;
    if (!ts) return;
    cog_brc_merge_queued(ts);
    /* Relaxed hint; the request itself is taken with an acquire exchange. */
    if (__builtin_expect(atomic_load_explicit(&ts->ref_request, memory_order_relaxed) != NULL, 0))
        cog_owner_ref_serve(ts);
    cog_gc_release_deferred();
    cog_gc_inbox_process(COG_GC_ASSIST_BUDGET);
    cog_heap_collect(ts->heap);
    cog_gc_flush_young();
    cog_rcu_quiescent();
    /* Right after the quiescent state, before any allocation: a grace
     * period that counts this quiescent state began after a flip of the
     * young epoch, and the quiescent state read the grace-period counter
     * the collector wrote after flipping, so we see the flip here; our
     * allocations before the quiescent state listed their pages under the
     * old epoch, which the collector reads only after that grace period
     * (lib/alloc/alloc_young.c). Syncing before the quiescent state would miss
     * a flip that lands between the two. */
    cog_heap_young_sync(ts->heap);
    cog_gc_maybe_pace();
    /* A fork is waiting for us: park offline until it is done. Relaxed: a
     * late look only delays the fork to our next safe point. */
    if (__builtin_expect(atomic_load_explicit(&fork_pending, memory_order_relaxed), 0)) {
        cog_thread_offline();
        cog_thread_online();
    }
}

void cog_thread_offline(void) {
    cog_tstate *ts = cog__tls_tstate;
    if (!ts || ts->offline) return;
    cog_brc_merge_queued(ts);
    cog_owner_ref_serve(ts);
    cog_gc_release_deferred();
    /* No cog_gc_flush_young here: it may wake the collector, which takes
     * the collector's lock, and threads go offline while holding it (the
     * collector itself, cog_gc_collect's waiters). The batch is flushed at
     * the next safe point or at detach. */
    ts->offline = 1;
    /* From here another thread may act as owner of our objects. */
    run_leave(ts);
    cog_rcu_offline();
    gate_leave();
}

void cog_thread_online(void) {
    cog_tstate *ts = cog__tls_tstate;
    if (!ts || !ts->offline) return;
    gate_enter(); /* waits while a fork is in progress */
    /* Before RCU online: if a requester stands in for us right now, we
     * wait for it without delaying grace periods. */
    run_enter(ts);
    cog_rcu_online();
    /* After going online (a full barrier): a flip of the young epoch
     * whose grace period did not wait for us is visible here, so we never
     * append to a list the collector is reading (lib/alloc/alloc_young.c). */
    cog_heap_young_sync(ts->heap);
    ts->offline = 0;
}

/* ---- fork ------------------------------------------------------------- */

static int forker_was_online;

void cog_threads_fork_prepare(void) {
    cog_tstate *self = cog__tls_tstate;
    forker_was_online = self && !self->offline;
    if (forker_was_online) cog_thread_offline();
    atomic_store_explicit(&fork_pending, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&running, memory_order_seq_cst) != 0) {
        struct timespec t = {0, 50000};
        nanosleep(&t, NULL);
    }
}

/* Other threads' liburcu records, off the list across fork (see
 * lib/base/rcu_fork.c); under the lifecycle lock, forking thread only. */
static void *unlinked[COG_MAX_THREADS];
static int nunlinked, anchor_registered;
static void *anchor;

void cog_threads_fork_unlink_readers(void) {
    cog_tstate *self = cog__tls_tstate;
    anchor_registered = !self;
    if (anchor_registered) urcu_qsbr_register_thread(); /* an anchor of our own */
    anchor = self ? self->urcu_record : cog_rcu_reader_self();
    nunlinked = 0;
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        cog_tstate *ts = atomic_load_explicit(&slots[i], memory_order_relaxed);
        if (!ts || !slot_used[i] || ts == self) continue;
        cog_rcu_unlink_reader(ts->urcu_record);
        unlinked[nunlinked++] = ts->urcu_record;
    }
}

void cog_threads_fork_relink_readers(int child) {
    if (!child)
        while (nunlinked > 0) cog_rcu_relink_reader(unlinked[--nunlinked], anchor);
    nunlinked = 0;
    if (anchor_registered) {
        cog_rcu_offline();
        urcu_qsbr_unregister_thread();
    }
}

static void gate_open(void) {
    pthread_mutex_lock(&gate_lock);
    atomic_store_explicit(&fork_pending, 0, memory_order_seq_cst);
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    if (forker_was_online) cog_thread_online();
}

void cog_threads_fork_parent(void) { gate_open(); }

/* Detach, on its behalf, a thread that does not exist in this child. It
 * was parked at a safe point or offline, so its counts and pools are
 * consistent; we are the only thread, so its owner-only state is ours.
 * We impersonate it (its tstate, id and heap in our thread-locals) for
 * the duration, so that its detach runs exactly as its own would: owner
 * fast paths on its objects, frees into its pools as local frees, large
 * blocks freed during its heap walk parked as the walk requires. */
static void detach_lost(cog_tstate *ts) {
    cog_tstate *self = cog__tls_tstate;
    uint32_t self_tid = cog__tls_tid;
    pthread_mutex_init(&ts->queue_lock, NULL);
    ts->urcu_record = NULL; /* taken off liburcu's list before fork */
    ts->offline = 0;
    cog__tls_tstate = ts;
    cog__tls_tid = ts->tid;
    cog_heap *self_heap = cog_heap_swap_current(ts->heap);
    cog_brc_release_ownership(ts);
    cog_heap_collect(ts->heap);
    cog_heap_abandon(ts->heap);
    ts->heap = NULL;
    cog_heap_swap_current(self_heap);
    cog__tls_tstate = self;
    cog__tls_tid = self_tid;
    slot_used[ts->tid - 1] = 0;
    atomic_fetch_sub_explicit(&attached_count, 1, memory_order_relaxed);
}

void cog_threads_fork_child(void) {
    pthread_mutex_init(&gate_lock, NULL);
    pthread_cond_init(&gate_cond, NULL);
    pthread_mutex_init(&registry_lock, NULL);
    atomic_store_explicit(&running, 0, memory_order_relaxed);
    atomic_store_explicit(&fork_pending, 0, memory_order_relaxed);
    if (forker_was_online) cog_thread_online();
    cog_tstate *self = cog__tls_tstate;
    for (int i = 0; i < COG_MAX_THREADS; i++) {
        cog_tstate *ts = atomic_load_explicit(&slots[i], memory_order_relaxed);
        if (ts && slot_used[i] && ts != self) detach_lost(ts);
    }
}

/* ---- runtime-owned threads -------------------------------------------- */

typedef struct internal_start {
    pthread_mutex_t m;
    pthread_cond_t c;
    int state; /* 0 waiting, 1 attached, -1 failed */
    void (*body)(void *);
    void *arg;
} internal_start;

static void *internal_entry(void *p) {
    internal_start *st = p;
    void (*body)(void *) = st->body;
    void *arg = st->arg;
    int rc = cog_thread_attach();
    if (rc == COG_OK) cog_thread_mark_internal(1);
    pthread_mutex_lock(&st->m);
    st->state = rc == COG_OK ? 1 : -1;
    pthread_cond_signal(&st->c);
    pthread_mutex_unlock(&st->m); /* st is the starter's: gone after this */
    if (rc != COG_OK) return NULL;
    body(arg);
    cog_thread_mark_internal(-1);
    cog_thread_detach();
    return NULL;
}

int cog_thread_start_internal(pthread_t *thread, const char *name, const char *what,
                              void (*body)(void *), void *arg) {
    internal_start st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, body, arg};
    if (pthread_create(thread, NULL, internal_entry, &st) != 0)
        return cog_error(COG_ENOMEM, "%s: cannot create the thread", what);
    (void)pthread_setname_np(*thread, name); /* cosmetic: a failure changes nothing */
    int was_online = cog_thread_is_attached() && !cog__tls_tstate->offline;
    if (was_online) cog_thread_offline();
    pthread_mutex_lock(&st.m);
    while (st.state == 0) pthread_cond_wait(&st.c, &st.m);
    pthread_mutex_unlock(&st.m);
    if (was_online) cog_thread_online();
    if (st.state < 0) {
        pthread_join(*thread, NULL);
        return cog_error(COG_ESTATE, "%s: the thread could not attach", what);
    }
    return COG_OK;
}
