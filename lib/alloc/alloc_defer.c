/* lib/alloc/alloc_defer.c - frees after an RCU grace period.
 *
 * The block itself must stay untouched until the grace period ends (readers
 * may read any byte of container storage; the collector reads object
 * headers), so the request is recorded outside it: attached threads fill a
 * per-heap batch and queue one cog_rcu_call per batch, amortising the
 * liburcu enqueue. The callback runs on liburcu's call_rcu thread, which is
 * not attached: it frees with a NULL heap, i.e. remote frees the owners
 * collect as usual.
 */
#include <stdlib.h>

#include "lib/alloc/alloc_internal.h"
#include "lib/base/error.h"
#include "lib/base/rcu.h"

#define DEFER_BATCH 62

typedef struct defer_entry {
    void *p;
    size_t size;
    cog_block_kind kind;
} defer_entry;

struct cog_defer_batch {
    cog_rcu_head head;
    unsigned n;
    defer_entry e[DEFER_BATCH];
};

/* After the grace period: cog_rcu_call's trampoline made the enqueuer's
 * writes and every reader's quiescent state happen-before this. */
static void batch_done(cog_rcu_head *head) {
    cog_defer_batch *b = (cog_defer_batch *)head;
    for (unsigned i = 0; i < b->n; i++) cog_heap_free(cog_tls_heap, b->e[i].p, b->e[i].size,
                                                      b->e[i].kind);
    free(b);
}

static cog_defer_batch *new_batch(void) {
    cog_defer_batch *b = malloc(sizeof *b);
    if (!b) cog_fatal("out of memory queueing a deferred free");
    b->n = 0;
    return b;
}

void cog_defer_flush(cog_heap *h) {
    cog_defer_batch *b = h->defer;
    if (!b || !b->n) return;
    h->defer = NULL;
    cog_rcu_call(&b->head, batch_done);
}

void cog_heap_free_deferred(void *p, size_t size, cog_block_kind kind) {
    if (!p) return;
    cog_heap *h = cog_tls_heap;
    if (!h) {
        cog_defer_batch *b = new_batch();
        b->e[b->n++] = (defer_entry){p, size, kind};
        cog_rcu_call(&b->head, batch_done);
        return;
    }
    if (!h->defer) h->defer = new_batch();
    h->defer->e[h->defer->n++] = (defer_entry){p, size, kind};
    if (h->defer->n == DEFER_BATCH) cog_defer_flush(h);
}
