/* examples/demo_queue.c - mutex-protected ring of references. */
#include "demo_queue.h"

#include <stdlib.h>

int demo_queue_init(demo_queue *q, size_t cap) {
    q->items = calloc(cap, sizeof *q->items);
    if (!q->items) return -1;
    q->head = q->len = 0;
    q->cap = cap;
    return pthread_mutex_init(&q->lock, NULL) == 0 ? 0 : -1;
}

void demo_queue_destroy(demo_queue *q) {
    pthread_mutex_destroy(&q->lock);
    free(q->items);
}

int demo_queue_push(demo_queue *q, cog_object *o) {
    pthread_mutex_lock(&q->lock);
    int full = q->len == q->cap;
    if (!full) q->items[(q->head + q->len++) % q->cap] = o;
    pthread_mutex_unlock(&q->lock);
    return full ? -1 : 0;
}

cog_object *demo_queue_pop(demo_queue *q) {
    cog_object *o = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->len) {
        o = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    pthread_mutex_unlock(&q->lock);
    return o;
}
