/* lib/core/owner_ref.c - references to another thread's private objects, taken
 * as the owner (see lib/core/owner_ref.h for the protocol). */
#include "lib/core/owner_ref.h"

#include <time.h>

#include "lib/core/thread.h"

/* Runs on the owner while ONLINE, or on a requester standing in for it while
 * its state is BORROWED: either way the only thread acting as owner, so the
 * plain local-count update is the owner path. */
static void serve(cog_tstate *ts, cog_ref_request *req) {
    for (size_t i = 0; i < req->n; i++) {
        cog_object *o = req->objs[i];
        req->taken[i] = 0;
        if (atomic_load_explicit(&o->ob_tid, memory_order_relaxed) != ts->tid) continue;
        uint32_t local = atomic_load_explicit(&o->ob_ref_local, memory_order_relaxed);
        if (local == 0 || local == COG_IMMORTAL) continue; /* being freed / never counted */
        cog__gc_barrier_touch(o);
        atomic_store_explicit(&o->ob_ref_local, local + 1, memory_order_relaxed);
        req->taken[i] = 1;
    }
}

void cog_owner_ref_serve(cog_tstate *ts) {
    /* Acquire pairs with the requester's release when posting: the request
     * contents are visible. */
    cog_ref_request *req = atomic_exchange_explicit(&ts->ref_request, NULL, memory_order_acquire);
    if (!req) return;
    serve(ts, req);
    atomic_store_explicit(&req->served, 1, memory_order_release);
}

void cog_owner_incref(uint32_t tid, cog_object *const *objs, size_t n, unsigned char *taken) {
    cog_tstate *owner = cog_tstate_lookup(tid);
    cog_ref_request req = {.objs = objs, .n = n, .taken = taken};
    atomic_init(&req.served, 0);
    int posted = 0;
    long pause_ns = 20000;
    for (;;) {
        int offline = COG_RUN_OFFLINE;
        /* Acquire pairs with the owner's release when it went offline: its
         * object accesses happen-before ours. */
        if (atomic_compare_exchange_strong_explicit(&owner->run_state, &offline, COG_RUN_BORROWED,
                                                    memory_order_acquire, memory_order_relaxed)) {
            /* The owner is offline or detached and cannot come back online
             * until we give the state back. If it took our request it has
             * served it (it serves while ONLINE, before going offline). */
            cog_ref_request *mine =
                posted ? atomic_exchange_explicit(&owner->ref_request, NULL, memory_order_acquire)
                       : &req;
            if (mine) serve(owner, &req);
            /* Release: our increments happen-before the owner's return. */
            atomic_store_explicit(&owner->run_state, COG_RUN_OFFLINE, memory_order_release);
            return;
        }
        if (!posted) {
            atomic_store_explicit(&owner->ref_request, &req, memory_order_release);
            posted = 1;
        }
        if (atomic_load_explicit(&req.served, memory_order_acquire)) return;
        /* Wait offline: the owner may be waiting for a grace period. */
        cog_thread_offline();
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        cog_thread_online();
        if (pause_ns < 1000000) pause_ns *= 2;
        if (atomic_load_explicit(&req.served, memory_order_acquire)) return;
    }
}
