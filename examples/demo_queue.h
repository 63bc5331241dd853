/* examples/demo_queue.h - a small mutex-protected FIFO of object references,
 * used to hand objects from one thread to another. The queue owns the
 * references it holds: push gives one away, pop hands it to the caller. */
#ifndef COG_DEMO_QUEUE_H
#define COG_DEMO_QUEUE_H

#include <pthread.h>
#include <stddef.h>

#include "cog/cog.h"

typedef struct demo_queue {
    pthread_mutex_t lock;
    cog_object **items; /* ring buffer of cap entries */
    size_t head, len, cap;
} demo_queue;

int demo_queue_init(demo_queue *q, size_t cap);
void demo_queue_destroy(demo_queue *q);
/* 0 on success, -1 if full (the caller keeps its reference). Never blocks
 * for long (no condition variable), so attached threads need not go
 * offline around it. */
int demo_queue_push(demo_queue *q, cog_object *o);
/* The oldest reference, or NULL if empty. */
cog_object *demo_queue_pop(demo_queue *q);
#endif
