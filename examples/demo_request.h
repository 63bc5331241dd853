/* examples/demo_request.h - one "request" of the demo server: an object
 * graph with cycles, built and dropped by a worker thread, with part of its
 * result kept in a cache shared by every worker. */
#ifndef COG_DEMO_REQUEST_H
#define COG_DEMO_REQUEST_H

#include <stdint.h>

#include "cog/cog.h"

/* Keys of every request dict: immortal interned constants. */
typedef struct demo_keys {
    cog_object *id, *path, *nodes, *parent;
} demo_keys;

/* Intern the constant keys (immortal). COG_OK or an error from intern. */
int demo_keys_init(demo_keys *keys);

/* Handle request number `id` on the calling (attached) thread:
 *   request = {"id": id, "path": "/item/<k>", "nodes": [n0..n{k}],
 *              "parent": request}   <- the dict refers to itself
 *   n0 -> n1 -> ... -> n{k} -> n0   <- a ring of demo nodes
 * then store the ring's head under the interned (mortal) key "item-<k>" in
 * the shared cache (replacing, and so freeing, whatever another thread left
 * there) and drop the request. Everything but the cached ring is cyclic
 * garbage for the collector. Returns the number of demo nodes created, or -1
 * with cog_last_error() set. */
long demo_request_handle(const demo_keys *keys, cog_object *cache, uint64_t id, int cache_keys);
#endif
