/* lib/core/thread.h - per-thread runtime state and the thread registry (internal).
 *
 * Each attached thread has a cog_tstate in a fixed slot table; its id (the
 * value stored in ob_tid of objects it owns) is slot index + 1. Slots and
 * their tstate memory are reused after detach but never freed before
 * cog_shutdown, so another thread that read an object's ob_tid may always
 * look the tstate up and take its queue lock, even if the owner has left.
 */
#ifndef COG_LIB_THREAD_H
#define COG_LIB_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cog/object.h"
#include "cog/runtime.h"
#include "lib/alloc/alloc.h"
#include "lib/core/gc_hooks.h"

typedef struct cog_tstate {
    uint32_t tid;
    cog_heap *heap;

    /* Biased RC merge queue: objects whose shared count would have gone
     * negative, queued here by other threads for the owner to merge. The
     * lock is per thread and only taken on that rare slow path. */
    pthread_mutex_t queue_lock;
    int attached;                /* under queue_lock: 0 once detach drained */
    cog_object **queue;          /* under queue_lock */
    size_t queue_len, queue_cap; /* under queue_lock */
    /* Held by the owner while its detach merges every object it owns, and
     * by the collector or an assistant while it adopts unreachable
     * objects of this owner (cog_brc_adopt_unreachable): the two must not
     * merge one object at the same time. */
    pthread_mutex_t merge_lock;
    /* Hint for the owner's safe point; the queue itself is read under the
     * lock, so relaxed ordering is enough (a missed hint is seen next time). */
    atomic_int queue_pending;

    /* Deallocation of long chains without deep recursion: objects whose
     * dealloc would nest deeper than COG_DEALLOC_DEPTH wait here, linked
     * through their (dead) ob_ref_shared field. Owner-only. */
    int dealloc_depth;
    cog_object *dealloc_pending;

    int offline; /* owner-only: between cog_thread_offline/online */

    /* The thread's cog__tls_fast_tid while attached, else NULL; under the
     * registry lock (cog_threads_set_barrier writes through it). */
    _Atomic(uint32_t) *fast_tid;

    /* COG_RUN_ONLINE while the owner is attached and online (set before it
     * goes online, reset when it goes offline and at detach); another
     * thread that moves it from OFFLINE to BORROWED may act as the owner of
     * its objects until it stores OFFLINE again (lib/core/owner_ref.h).
     * ref_request: a pending request to take references as the owner,
     * served at safe points, offline and detach. */
    atomic_int run_state;
    _Atomic(struct cog_ref_request *) ref_request;

    /* The thread's liburcu reader record (in its TLS), so a forked child
     * can unlink the records of threads that do not exist there. */
    void *urcu_record;

    /* Cyclic garbage the collector handed to this thread to clear and free
     * (lib/core/gc_hooks.h, pacing assist): a lock-free stack of batches,
     * pushed by the collector, taken whole by the owner. */
    _Atomic(struct cog_gc_batch *) gc_inbox;
} cog_tstate;

enum { COG_RUN_OFFLINE = 0, COG_RUN_ONLINE = 1, COG_RUN_BORROWED = 2 };

extern __thread cog_tstate *cog__tls_tstate __attribute__((tls_model("initial-exec")));

/* The calling thread's state, or NULL if not attached. */
static inline cog_tstate *cog_tstate_current(void) { return cog__tls_tstate; }

/* Whether ts (the caller's own state, or NULL) is an online attached
 * thread that finds no collection window open. Then no heap walk and no
 * traversal of objects the walker does not hold can read what this
 * operation frees or writes: those run only inside windows, and the next
 * window opens only after a grace period that waits for this thread's
 * next quiescent state (it is online, and an operation never spans a
 * quiescent state). Acquire pairs with the window's closing store
 * (seq_cst, a release), so the last window's reads happened before.
 * docs/design.md "Frees outside a window". */
static inline int cog_thread_outside_window(const cog_tstate *ts) {
    return ts && !ts->offline && atomic_load_explicit(&cog__gc_barrier, memory_order_acquire) ==
                                   COG_WINDOW_CLOSED;
}

/* The state of thread id tid (1..COG_MAX_THREADS); never NULL for an id that
 * was ever handed out during this runtime's life. */
cog_tstate *cog_tstate_lookup(uint32_t tid);

/* Number of attached threads (racy snapshot). */
int cog_thread_count(void);
/* Number of attached threads that are online now (racy snapshot). */
int cog_threads_online(void);

/* Store the collector barrier (cog__gc_barrier, a COG_WINDOW_* mode) and
 * switch every attached thread's fast id to match: COG_TID_SLOW in a
 * collection window, so owner count operations take the slow path that
 * marks objects. The caller waits for a grace period before relying on
 * it opening (closing needs none, see collector/gc_window.c). */
void cog_threads_set_barrier(int barrier);

/* Runtime lifecycle hooks used by runtime.c. */
int cog_threads_init(void);
void cog_threads_shutdown(void);
/* Refuse new attaches if the caller is the only attached thread, else
 * COG_EBUSY. */
int cog_threads_begin_shutdown(void);

/* Fork (lib/core/runtime.c "Fork"): stop every other attached thread at a safe
 * point (or wherever it is offline) before fork; let them go again in the
 * parent; in the child, detach on their behalf the threads that were not
 * copied. */
void cog_threads_fork_prepare(void);
void cog_threads_fork_parent(void);
void cog_threads_fork_child(void);
/* After cog_threads_fork_prepare and call_rcu_before_fork: take the other
 * threads' liburcu records off liburcu's list; relink puts them back
 * (parent) or forgets them (child, child = 1). */
void cog_threads_fork_unlink_readers(void);
void cog_threads_fork_relink_readers(int child);
#endif /* COG_LIB_THREAD_H */
