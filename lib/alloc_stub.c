/* lib/alloc_stub.c - TEMPORARY malloc-backed implementation of lib/alloc.h so
 * the rest of the runtime builds while the pool allocator is written. It is
 * correct but slow (one global lock); replaced by the pool allocator. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/error.h"

struct cog_heap {
    uint32_t tid;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
typedef struct { void *p; cog_heap *h; } entry;
static entry *objects; /* every live object block, under lock */
static size_t nobjects, capobjects;
static unsigned fail_after;

cog_heap *cog_heap_new(uint32_t tid) {
    cog_heap *h = calloc(1, sizeof *h);
    if (!h) return cog_error(COG_ENOMEM, "out of memory"), NULL;
    h->tid = tid;
    return h;
}

void *cog_heap_alloc(cog_heap *h, size_t size, cog_block_kind kind) {
    (void)h;
    if (size < COG_BLOCK_MIN) size = COG_BLOCK_MIN;
    pthread_mutex_lock(&lock);
    if (fail_after && --fail_after == 0) {
        pthread_mutex_unlock(&lock);
        return cog_error(COG_ENOMEM, "injected allocation failure"), NULL;
    }
    void *p = aligned_alloc(16, (size + 15) & ~(size_t)15);
    if (p && kind == COG_BLOCK_OBJECT) {
        if (nobjects == capobjects) {
            size_t cap = capobjects ? capobjects * 2 : 1024;
            entry *n = realloc(objects, cap * sizeof *n);
            if (!n) {
                free(p);
                p = NULL;
            } else {
                objects = n;
                capobjects = cap;
            }
        }
        if (p) objects[nobjects++] = (entry){p, h};
    }
    pthread_mutex_unlock(&lock);
    if (!p) cog_error(COG_ENOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void cog_heap_free(cog_heap *self, void *p, size_t size, cog_block_kind kind) {
    (void)self;
    (void)size;
    if (kind == COG_BLOCK_OBJECT) {
        pthread_mutex_lock(&lock);
        for (size_t i = nobjects; i-- > 0;)
            if (objects[i].p == p) {
                objects[i] = objects[--nobjects];
                break;
            }
        pthread_mutex_unlock(&lock);
    }
    free(p);
}

void cog_heap_collect(cog_heap *h) { (void)h; }

void cog_heap_visit_objects(cog_heap *h, void (*visit)(void *, void *), void *arg) {
    pthread_mutex_lock(&lock);
    size_t n = 0;
    void **copy = malloc(nobjects * sizeof *copy + 1);
    for (size_t i = 0; copy && i < nobjects; i++)
        if (objects[i].h == h) copy[n++] = objects[i].p;
    pthread_mutex_unlock(&lock);
    if (!copy) cog_fatal("out of memory while visiting objects");
    for (size_t i = 0; i < n; i++) visit(copy[i], arg);
    free(copy);
}

void cog_heap_abandon(cog_heap *h) { free(h); }

void cog_alloc_shutdown(void) {
    pthread_mutex_lock(&lock);
    free(objects);
    objects = NULL;
    nobjects = capobjects = 0;
    pthread_mutex_unlock(&lock);
}

void cog_alloc_fail_mmap_after(unsigned n) { fail_after = n; }

/* Only safe inside a collection window (object blocks are then not freed),
 * which is the only place the collector calls it. */
void cog_alloc_visit_all_objects(void (*visit)(void *, void *), void *arg) {
    pthread_mutex_lock(&lock);
    size_t n = nobjects;
    void **copy = malloc(n * sizeof *copy + 1);
    for (size_t i = 0; copy && i < n; i++) copy[i] = objects[i].p;
    pthread_mutex_unlock(&lock);
    if (!copy) cog_fatal("out of memory while visiting objects");
    for (size_t i = 0; i < n; i++) visit(copy[i], arg);
    free(copy);
}
