/* lib/base/rcu.c - call_rcu wrapper with TSan happens-before annotations. */
#include "lib/base/rcu.h"

#include <stddef.h>

char cog_rcu_hb_token;

#ifdef COG_TSAN
/* The one TSan suppression in cog, compiled into every TSan build of the
 * library (so servers that embed cog and run under TSan get it too).
 *
 * race:urcu_qsbr_barrier - urcu_qsbr_barrier() calloc()s a completion
 * struct and one work item per call_rcu worker, hands each item to the
 * worker through liburcu's wait-free queue, and the worker (or the waiter,
 * whichever drops the last urcu_ref) free()s them. The hand-off and the
 * reference count are uatomic inline asm inside the uninstrumented
 * liburcu-qsbr.so, so TSan sees calloc on one thread and free on another
 * with no happens-before edge and reports a race on memory that cog never
 * touches. The suppression matches only reports whose stacks contain that
 * liburcu frame; every race in cog's own code is still reported. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) { return "race:urcu_qsbr_barrier\n"; }
#endif

/* Runs on liburcu's call_rcu worker thread after a grace period. Acquire the
 * head (the enqueuer's writes to the enclosing memory happened before, as
 * liburcu's wfcqueue guarantees) and the grace-period token (every reader
 * that could still see the memory has passed a quiescent state). */
static __thread int in_callback;

int cog_rcu_in_callback(void) { return in_callback; }

static void cog_rcu_trampoline(struct rcu_head *rh) {
    cog_rcu_head *head = caa_container_of(rh, cog_rcu_head, rh);
    cog_tsan_acquire(head);
    cog_tsan_acquire(&cog_rcu_hb_token);
    in_callback++;
    head->fn(head);
    in_callback--;
}

void cog_rcu_call(cog_rcu_head *head, void (*fn)(cog_rcu_head *)) {
    head->fn = fn;
    cog_tsan_release(head);
    urcu_qsbr_call_rcu(&head->rh, cog_rcu_trampoline);
}

void cog_rcu_barrier(void) {
    cog__intern_flush_if_dirty(); /* liburcu goes offline while it waits */
    cog_tsan_release(&cog_rcu_hb_token); /* ...a quiescent state: see rcu.h */
    urcu_qsbr_barrier();
    cog_tsan_acquire(&cog_rcu_hb_token);
}
