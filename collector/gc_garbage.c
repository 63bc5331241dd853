/* collector/gc_garbage.c - cog_gc_garbage: unreachable objects the
 * collector keeps instead of freeing (uncollectable types, SAVEALL). */
#include <stdlib.h>

#include "collector/gc_internal.h"
#include "lib/base/error.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static cog_object **items; /* strong references, under lock */
static size_t nitems, capitems;

void cog_gc_garbage_append(cog_object *o) {
    pthread_mutex_lock(&lock);
    if (nitems == capitems) {
        size_t cap = capitems ? capitems * 2 : 64;
        cog_object **n = realloc(items, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&lock);
            /* Keeping the object alive is what matters; we only lose the
             * ability to list it. Its reference is leaked deliberately. */
            cog_error(COG_ENOMEM, "cog gc: out of memory recording garbage");
            return;
        }
        items = n;
        capitems = cap;
    }
    items[nitems++] = o;
    pthread_mutex_unlock(&lock);
}

size_t cog_gc_garbage(cog_object **out, size_t cap) {
    pthread_mutex_lock(&lock);
    size_t n = nitems;
    for (size_t i = 0; i < n && i < cap; i++) {
        cog_incref(items[i]);
        out[i] = items[i];
    }
    pthread_mutex_unlock(&lock);
    return n;
}

/* Decref outside the lock: dropping the last reference runs deallocators,
 * which may do anything (even append garbage). */
void cog_gc_clear_garbage(void) {
    pthread_mutex_lock(&lock);
    cog_object **old = items;
    size_t n = nitems;
    items = NULL;
    nitems = capitems = 0;
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++) cog_decref(old[i]);
    free(old);
}
