/* cog/runtime.h - runtime lifetime and the thread model.
 *
 * Threads that use cog objects must be *attached*. Each attached thread owns
 * the objects it allocates (biased reference counting: the owner updates a
 * cheap non-atomic count) and periodically passes a *safe point*, where it
 * merges reference counts queued to it by other threads and reports an RCU
 * quiescent state (cog uses liburcu's QSBR flavor, see docs/design.md).
 *
 * A thread that is about to block for a long time (epoll_wait, a lock, a
 * sleep) while attached should bracket the blocking call with
 * cog_thread_offline()/cog_thread_online(), so that grace periods, and thus
 * the collector and deferred frees, do not wait for it. While offline it must
 * not touch cog objects.
 */
#ifndef COG_RUNTIME_H
#define COG_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "cog/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialise the runtime and attach the calling thread. Returns COG_OK,
 * COG_ESTATE if already initialised, or COG_ENOMEM. */
int cog_init(void);

/* Detach the calling thread and tear the runtime down. Returns COG_EBUSY (and
 * changes nothing) while any other thread is still attached, COG_ESTATE if
 * not initialised or if called from a thread that is not attached. */
int cog_shutdown(void);

/* 1 between a successful cog_init and cog_shutdown, else 0. */
int cog_is_initialized(void);

/* Attach the calling thread. Returns COG_OK, COG_ESTATE (not initialised or
 * already attached), COG_ELIMIT (COG_MAX_THREADS attached) or COG_ENOMEM. */
int cog_thread_attach(void);

/* Detach the calling thread: merges every reference count it owns (its
 * objects become shared-counted, nothing is freed that is still referenced)
 * and hands its memory pools to the runtime. Returns COG_ESTATE if the thread
 * is not attached. A thread that exits while attached is detached by a
 * thread-exit destructor. */
int cog_thread_detach(void);

/* 1 if the calling thread is attached. */
int cog_thread_is_attached(void);

/* Small stable id of the calling thread (>= 1), or 0 if not attached. */
uint32_t cog_thread_id(void);

/* A safe point: merge reference counts other threads queued to this thread,
 * reclaim memory other threads freed into this thread's pools and report an
 * RCU quiescent state. Cheap when there is nothing to do. The caller must not
 * hold borrowed references obtained from lock-free reads across it. */
void cog_safepoint(void);

/* Bracket a blocking call: while offline the thread neither delays grace
 * periods nor may touch cog objects. Nesting is not supported. */
void cog_thread_offline(void);
void cog_thread_online(void);

/* ---- fork() --------------------------------------------------------------
 * cog installs pthread_atfork handlers (at the first cog_init), so a child
 * of a multithreaded process gets a working runtime:
 *   - fork() first waits for the collector to finish the collection it is
 *     running and for every other attached thread to reach a safe point
 *     (threads that are offline are not waited for); those threads park
 *     until fork() returns in the parent. A thread that never reaches a
 *     safe point therefore delays fork() as it delays collections;
 *   - in the child, the forking thread is attached (or not) as it was;
 *     every other attached thread of the parent does not exist and has been
 *     detached on its behalf: objects it owned or held stay alive (their
 *     counts merged, references it held simply never dropped: a child leaks
 *     what the vanished threads held) and it blocks no grace period; a
 *     new collector thread runs; cog_shutdown works (no COG_EBUSY);
 *   - unattached threads must not drop references while fork() runs, and
 *     fork() must not be called from a finalizer, weakref callback or gc
 *     callback. Locks inside objects (lists, dicts) are never held across a
 *     safe point, so the child finds them free.
 * fork() while the runtime is not initialised costs nothing extra. */

/* Most threads that may be attached at once. */
#define COG_MAX_THREADS 1024

#ifdef __cplusplus
}
#endif
#endif /* COG_RUNTIME_H */
