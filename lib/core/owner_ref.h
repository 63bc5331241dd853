/* lib/core/owner_ref.h - taking references to objects another thread owns
 * privately, with the owner's cooperation (internal).
 *
 * Under biased reference counting an object owned by thread T whose shared
 * count is 0 is counted only by T's plain loads and stores: no other thread
 * can take a reference by itself (cog_try_incref refuses, since racing T's
 * last decref cannot be ordered). Heap introspection still needs one, so
 * the increment is done AS THE OWNER, by exactly one thread acting as T,
 * arbitrated by T's run_state (lib/core/thread.h):
 *   - T sets ONLINE (acquire CAS from OFFLINE) before it goes online or
 *     attaches, and OFFLINE (release) when it goes offline or detaches; it
 *     touches objects only while ONLINE;
 *   - a requester that moves the state from OFFLINE to BORROWED (acquire
 *     CAS) stands in for T: T's earlier accesses happen-before, T cannot
 *     come back online (it waits for OFFLINE), and the requester's release
 *     store of OFFLINE orders its increments before T's next access;
 *   - otherwise T is online: the requester posts the request and T serves
 *     it while still ONLINE, at its next safe point, offline transition or
 *     detach (which the thread model guarantees come soon); the requester
 *     waits offline and retries the CAS meanwhile.
 * An atomic state rather than a mutex: T would otherwise hold a lock for
 * its whole online time and take it while holding its own mutexes (a lock
 * order inversion for TSan, though never a deadlock).
 * Serving increments an object only if it is still owned by T with a
 * positive local count (0: T is freeing it); the memory must stay valid
 * for the caller's whole call (a collection window). */
#ifndef COG_LIB_OWNER_REF_H
#define COG_LIB_OWNER_REF_H

#include <stdatomic.h>
#include <stddef.h>

#include "cog/object.h"

struct cog_tstate;

typedef struct cog_ref_request {
    cog_object *const *objs;
    size_t n;
    unsigned char *taken; /* out: 1 where a reference was taken */
    atomic_int served;    /* set (release) by the owner after serving */
} cog_ref_request;

/* Take a reference to each of the n objects, all found owned by thread tid
 * (not the caller), through that thread's cooperation; taken[i] says which
 * succeeded. The caller must be attached and online; it waits offline.
 * Only one caller at a time (introspection runs one window at a time). */
void cog_owner_incref(uint32_t tid, cog_object *const *objs, size_t n, unsigned char *taken);

/* Owner side: serve a posted request, if any. Called by the owner while
 * ONLINE (safe points, going offline, detach). */
void cog_owner_ref_serve(struct cog_tstate *ts);
#endif
