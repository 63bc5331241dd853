/* lib/types/storage.h - internals shared by the container types (internal):
 * RCU-deferred storage blocks and a small reader-writer spinlock.
 *
 * Storage blocks (list item arrays, dict tables) are read by lock-free
 * readers (cog_list_get_borrowed, cog_list_size) and by the collector's
 * traverse, both inside RCU read-side sections (QSBR: anywhere between two
 * safe points). A block replaced by a resize or clear is therefore
 * released only after a grace period (cog_storage_free_deferred); a dead
 * container's block as soon as no window can read it
 * (cog_storage_free_dead).
 */
#ifndef COG_LIB_STORAGE_H
#define COG_LIB_STORAGE_H

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>

#include "lib/base/rcu.h"
#include "lib/base/spin.h"

/* Allocate `bytes` zeroed bytes of storage from the calling thread's heap.
 * NULL + cog error on failure. The caller must be attached. */
void *cog_storage_alloc(size_t bytes);
/* Free storage nobody else can have seen (never published). */
void cog_storage_free_now(void *p);
/* Free published storage after a grace period. Never blocks. */
void cog_storage_free_deferred(void *p);
/* Free the storage of a container whose reference count reached zero (its
 * dealloc): at once when the caller is online and no collection window is
 * open, else after a grace period. Not for clear, which live containers
 * with lock-free readers also call. */
void cog_storage_free_dead(void *p);

/* Reader-writer spinlock: bit 0 = writer holds it, bit 1 = a writer waits
 * (new readers hold back, so writers are not starved), bits 2.. = readers.
 * Critical sections are short and never call out (no decref, no
 * allocation of objects), so spinning with sched_yield is enough.
 * Acquire on lock / release on unlock give the usual mutex ordering. */
typedef struct cog_rwspin {
    atomic_uint state;
} cog_rwspin;

#define COG_RWSPIN_W 1u
#define COG_RWSPIN_WAIT 2u
#define COG_RWSPIN_R 4u

static inline void cog_rwspin_pause(unsigned *spins) {
    if (++*spins < 64) {
        cog_spin_pause(1);
    } else {
        sched_yield();
    }
}

static inline void cog_rwspin_rdlock(cog_rwspin *l) {
    unsigned spins = 0;
    unsigned s = atomic_load_explicit(&l->state, memory_order_relaxed);
    for (;;) {
        if (!(s & (COG_RWSPIN_W | COG_RWSPIN_WAIT))) {
            if (atomic_compare_exchange_weak_explicit(&l->state, &s, s + COG_RWSPIN_R,
                                                      memory_order_acquire,
                                                      memory_order_relaxed))
                return;
            continue;
        }
        cog_rwspin_pause(&spins);
        s = atomic_load_explicit(&l->state, memory_order_relaxed);
    }
}

static inline void cog_rwspin_rdunlock(cog_rwspin *l) {
    atomic_fetch_sub_explicit(&l->state, COG_RWSPIN_R, memory_order_release);
}

static inline void cog_rwspin_wrlock(cog_rwspin *l) {
    unsigned spins = 0;
    unsigned s = atomic_load_explicit(&l->state, memory_order_relaxed);
    for (;;) {
        if (!(s & COG_RWSPIN_W) && s < COG_RWSPIN_R) {
            /* Free (possibly with the wait bit, ours or another writer's:
             * the winner clears it, the others set it again). */
            if (atomic_compare_exchange_weak_explicit(&l->state, &s, COG_RWSPIN_W,
                                                      memory_order_acquire,
                                                      memory_order_relaxed))
                return;
            continue;
        }
        if (!(s & COG_RWSPIN_WAIT))
            atomic_fetch_or_explicit(&l->state, COG_RWSPIN_WAIT, memory_order_relaxed);
        cog_rwspin_pause(&spins);
        s = atomic_load_explicit(&l->state, memory_order_relaxed);
    }
}

static inline void cog_rwspin_wrunlock(cog_rwspin *l) {
    /* Keep a wait bit another writer set meanwhile. */
    atomic_fetch_and_explicit(&l->state, ~COG_RWSPIN_W, memory_order_release);
}
#endif /* COG_LIB_STORAGE_H */
