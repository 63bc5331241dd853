/* lib/thread.c - thread registry, attach/detach, safe points. */
#include "lib/thread.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "lib/brc.h"
#include "lib/error.h"
#include "lib/owner_ref.h"
#include "lib/gc_hooks.h"
#include "lib/rcu.h"
#include "lib/runtime_internal.h"

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

/* The owner's side of lib/owner_ref.h: OFFLINE -> ONLINE with acquire
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

/* The fast id a thread should use while the barrier is `barrier`. */
static uint32_t fast_tid_for(const cog_tstate *ts, int barrier) {
    return barrier ? COG_TID_SLOW : ts->tid;
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

void cog_thread_fast_path_in_window(int on) {
    cog_tstate *ts = cog__tls_tstate;
    pthread_mutex_lock(&registry_lock);
    int barrier = atomic_load_explicit(&cog__gc_barrier, memory_order_relaxed);
    atomic_store_explicit(&cog__tls_fast_tid, on ? ts->tid : fast_tid_for(ts, barrier),
                          memory_order_relaxed);
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
    cog_tstate *ts = NULL;
    int rc = claim_slot(&ts);
    if (rc != COG_OK) return rc;
    ts->heap = cog_heap_new(ts->tid);
    if (!ts->heap) {
        release_slot(ts);
        return COG_ENOMEM; /* allocator set the message */
    }
    ts->dealloc_depth = 0;
    ts->dealloc_pending = NULL;
    ts->offline = 0;
    /* Online from here on (lib/owner_ref.h). A requester may be standing in
     * for the slot's previous thread for a moment; run_enter waits. */
    run_enter(ts);
    pthread_mutex_lock(&ts->queue_lock);
    ts->attached = 1;
    pthread_mutex_unlock(&ts->queue_lock);
    urcu_qsbr_register_thread();
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
    retract_fast_tid(ts); /* every operation takes the slow path from here */
    cog_brc_release_ownership(ts);
    cog_heap_collect(ts->heap);
    cog_gc_flush_young();
    cog_heap_abandon(ts->heap);
    ts->heap = NULL;
    cog__tls_tstate = NULL;
    cog__tls_tid = COG_TID_UNATTACHED;
    pthread_setspecific(exit_key, NULL);
    cog_rcu_offline();
    urcu_qsbr_unregister_thread();
    /* We own nothing any more; a late request finds no object of ours. */
    run_leave(ts);
    release_slot(ts);
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
    cog_heap_collect(ts->heap);
    cog_gc_flush_young();
    cog_rcu_quiescent();
    cog_gc_maybe_pace();
}

void cog_thread_offline(void) {
    cog_tstate *ts = cog__tls_tstate;
    if (!ts || ts->offline) return;
    cog_brc_merge_queued(ts);
    cog_owner_ref_serve(ts);
    cog_gc_flush_young();
    ts->offline = 1;
    /* From here another thread may act as owner of our objects. */
    run_leave(ts);
    cog_rcu_offline();
}

void cog_thread_online(void) {
    cog_tstate *ts = cog__tls_tstate;
    if (!ts || !ts->offline) return;
    /* Before RCU online: if a requester stands in for us right now, we
     * wait for it without delaying grace periods. */
    run_enter(ts);
    cog_rcu_online();
    ts->offline = 0;
}
