/* lib/types/storage.c - RCU-deferred storage blocks for containers.
 *
 * Each block carries a small header with its size and an RCU head, so a
 * deferred free needs no extra allocation (it cannot fail). When the
 * allocator's cog_heap_free_deferred lands, storage_free_deferred becomes a
 * one-line call to it. */
#include "lib/types/storage.h"

#include <string.h>

#include "lib/alloc/alloc.h"
#include "lib/base/error.h"
#include "lib/core/thread.h"

typedef struct storage_hdr {
    cog_rcu_head rcu;
    size_t bytes; /* whole block, header included */
} storage_hdr;

/* Keep the payload 16-byte aligned like every allocator block. */
#define HDR_SIZE ((sizeof(storage_hdr) + 15) & ~(size_t)15)

void *cog_storage_alloc(size_t bytes) {
    cog_tstate *ts = cog_tstate_current();
    if (!ts) return cog_error(COG_ENOTATTACHED, "calling thread is not attached"), NULL;
    if (bytes > SIZE_MAX - HDR_SIZE) return cog_error(COG_ENOMEM, "storage too large"), NULL;
    storage_hdr *h = cog_heap_alloc(ts->heap, HDR_SIZE + bytes, COG_BLOCK_RAW);
    if (!h) return NULL;
    h->bytes = HDR_SIZE + bytes;
    memset((char *)h + HDR_SIZE, 0, bytes);
    return (char *)h + HDR_SIZE;
}

static storage_hdr *hdr_of(void *p) { return (storage_hdr *)((char *)p - HDR_SIZE); }

void cog_storage_free_now(void *p) {
    if (!p) return;
    storage_hdr *h = hdr_of(p);
    cog_tstate *ts = cog_tstate_current();
    cog_heap_free(ts ? ts->heap : NULL, h, h->bytes, COG_BLOCK_RAW);
}

/* Runs on liburcu's call_rcu thread (unattached): cog_heap_free accepts a
 * NULL heap from any thread. */
static void storage_free_cb(cog_rcu_head *head) {
    storage_hdr *h = (storage_hdr *)head;
    cog_heap_free(NULL, h, h->bytes, COG_BLOCK_RAW);
}

void cog_storage_free_deferred(void *p) {
    if (!p) return;
    cog_rcu_call(&hdr_of(p)->rcu, storage_free_cb);
}
