/* lib/rcu.c - call_rcu wrapper with TSan happens-before annotations. */
#include "lib/rcu.h"

#include <stddef.h>

char cog_rcu_hb_token;

/* Runs on liburcu's call_rcu worker thread after a grace period. Acquire the
 * head (the enqueuer's writes to the enclosing memory happened before, as
 * liburcu's wfcqueue guarantees) and the grace-period token (every reader
 * that could still see the memory has passed a quiescent state). */
static void cog_rcu_trampoline(struct rcu_head *rh) {
    cog_rcu_head *head = caa_container_of(rh, cog_rcu_head, rh);
    cog_tsan_acquire(head);
    cog_tsan_acquire(&cog_rcu_hb_token);
    head->fn(head);
}

void cog_rcu_call(cog_rcu_head *head, void (*fn)(cog_rcu_head *)) {
    head->fn = fn;
    cog_tsan_release(head);
    urcu_qsbr_call_rcu(&head->rh, cog_rcu_trampoline);
}

void cog_rcu_barrier(void) {
    urcu_qsbr_barrier();
    cog_tsan_acquire(&cog_rcu_hb_token);
}
