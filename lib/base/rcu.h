/* lib/base/rcu.h - the one place cog talks to liburcu (QSBR flavor).
 *
 * Why QSBR: see docs/design.md "RCU flavor". In short, read-side critical
 * sections cost nothing (every attached thread is "inside" one except at its
 * safe points), which lets the mutator fast paths and the collector handshake
 * stay free of fences.
 *
 * ThreadSanitizer cannot see liburcu's synchronisation (the library is not
 * instrumented and uses inline asm), so without help it would report every
 * grace-period-protected free as a race with the readers. Instead of
 * suppressing those reports we tell TSan the real happens-before edges that
 * QSBR guarantees:
 *   - a thread releases cog_rcu_hb_token when it reports a quiescent state or
 *     goes offline (all its earlier reads are finished);
 *   - synchronize_rcu() and every call_rcu callback acquire it afterwards
 *     (the grace period waited for those quiescent states).
 * These annotations are exact statements of the QSBR contract, not blanket
 * suppressions, and compile to nothing outside TSan builds.
 */
#ifndef COG_LIB_RCU_H
#define COG_LIB_RCU_H

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#if defined(__SANITIZE_THREAD__)
#define COG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COG_TSAN 1
#endif
#endif

#ifdef COG_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define cog_tsan_acquire(p) __tsan_acquire((void *)(p))
#define cog_tsan_release(p) __tsan_release((void *)(p))
#else
#define cog_tsan_acquire(p) ((void)(p))
#define cog_tsan_release(p) ((void)(p))
#endif

extern char cog_rcu_hb_token;

/* Deferred counts of mortal interned strings (lib/types/intern.c "Deferred
 * counts"): a thread keeps per-string count deltas in a thread-local cache
 * and MUST add them to the strings' shared counts before each of its
 * quiescent states and offline periods (the review that frees a string
 * relies on two grace periods having flushed every earlier hit). Every way
 * cog reports quiescence goes through this header, so the flush is here:
 * cog_rcu_quiescent, cog_rcu_offline, cog_rcu_synchronize and
 * cog_rcu_barrier (liburcu takes a QSBR caller offline inside the last two);
 * lib/types/intern.c flushes before cds_lfht_resize, which does the same.
 * cog__intern_dirty counts the cache's non-zero deltas (thread-local, so a
 * clean thread pays one TLS load). */
extern __thread unsigned cog__intern_dirty __attribute__((tls_model("initial-exec")));
void cog__intern_flush(void);
static inline void cog__intern_flush_if_dirty(void) {
    if (__builtin_expect(cog__intern_dirty != 0, 0)) cog__intern_flush();
}

static inline void cog_rcu_quiescent(void) {
    cog__intern_flush_if_dirty();
    cog_tsan_release(&cog_rcu_hb_token);
    urcu_qsbr_quiescent_state();
}

static inline void cog_rcu_offline(void) {
    cog__intern_flush_if_dirty();
    cog_tsan_release(&cog_rcu_hb_token);
    urcu_qsbr_thread_offline();
}

static inline void cog_rcu_online(void) {
    urcu_qsbr_thread_online();
}

/* Wait for a grace period. The caller must not be inside a read section it
 * needs to keep; QSBR requires the caller itself be offline or unregistered
 * while waiting, which urcu_qsbr_synchronize_rcu handles for the caller. */
static inline void cog_rcu_synchronize(void) {
    cog__intern_flush_if_dirty();
    /* liburcu takes us offline while we wait: that is a quiescent state of
     * ours, which other grace periods (and the callbacks after them) may
     * complete on, so release the token as cog_rcu_offline does. Without
     * it TSan saw the collector's reads before G2 race with a storage free
     * whose grace period ended during G2. */
    cog_tsan_release(&cog_rcu_hb_token);
    urcu_qsbr_synchronize_rcu();
    cog_tsan_acquire(&cog_rcu_hb_token);
}

/* Read-side sections are free in QSBR; they exist to document intent and for
 * liburcu's debug checks. */
static inline void cog_rcu_read_lock(void) { urcu_qsbr_read_lock(); }
static inline void cog_rcu_read_unlock(void) { urcu_qsbr_read_unlock(); }

/* Fork support (lib/base/rcu_fork.c): the calling thread's liburcu reader
 * record; take another registered thread's record off liburcu's list and
 * put it back next to an anchor record still on it. Only while no thread
 * is inside liburcu. */
void *cog_rcu_reader_self(void);
void cog_rcu_unlink_reader(void *reader);
void cog_rcu_relink_reader(void *reader, void *anchor);

/* Embed in memory to be reclaimed after a grace period. */
typedef struct cog_rcu_head {
    struct rcu_head rh; /* liburcu's; its func is our trampoline */
    void (*fn)(struct cog_rcu_head *head);
} cog_rcu_head;

/* Run fn(head) after a grace period on liburcu's call_rcu thread. The head's
 * enclosing memory must stay valid until then. Callable from attached
 * threads (registered with liburcu). */
void cog_rcu_call(cog_rcu_head *head, void (*fn)(cog_rcu_head *));
/* Wait until every callback queued by cog_rcu_call so far has run. */
void cog_rcu_barrier(void);
/* 1 while the calling thread runs a cog_rcu_call callback (liburcu's
 * call_rcu worker: registered and online, but not attached to cog). */
int cog_rcu_in_callback(void);
#endif /* COG_LIB_RCU_H */
