/* lib/types/storage.c - storage blocks for containers.
 *
 * Each block carries a small header with its size, so that it can be
 * freed without its owner saying how big it is. Published storage goes
 * back after a grace period through the allocator's per-heap batches
 * (cog_heap_free_deferred: one liburcu enqueue per 62 blocks, not one per
 * block); the storage of a dead container goes back at once when no
 * window can be reading it (cog_storage_free_dead). */
#include "lib/types/storage.h"

#include <string.h>

#include "lib/alloc/alloc.h"
#include "lib/base/error.h"
#include "lib/core/thread.h"

typedef struct storage_hdr {
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

void cog_storage_free_deferred(void *p) {
    if (!p) return;
    storage_hdr *h = hdr_of(p);
    cog_heap_free_deferred(h, h->bytes, COG_BLOCK_RAW);
}

/* Who else could read the storage of a container whose count reached
 * zero: no mutator (a lock-free reader must hold the container, see
 * cog/list.h and cog/dict.h), so only a window's traversal (a collection's
 * or an introspection's). Outside a window none can start before this
 * operation ends (cog_thread_outside_window), so the block is ours. */
void cog_storage_free_dead(void *p) {
    if (cog_thread_outside_window(cog_tstate_current()))
        cog_storage_free_now(p);
    else
        cog_storage_free_deferred(p);
}
