/* bench/server_request.h - one request of the server-like workload of
 * bench/server_bench.c (and its CPython twin, bench/server_bench.py, which
 * builds the same graphs): 32 GC-tracked two-slot nodes (bench/gc_node.h),
 * one of them stored in a dict shared by every worker under an interned
 * key, the rest dropped.
 *
 *   SHAPE_TREE    a 28-node binary tree (node i's children are 2i+1, 2i+2)
 *                 that reference counting frees as soon as the request
 *                 drops its root, plus one 4-node ring hanging off its last
 *                 leaf: 4 nodes of cyclic garbage per request; the cached
 *                 node is leaf 26;
 *   SHAPE_CYCLIC  8 rings of 4 nodes, ring k's first node referring to
 *                 ring k+1's: all 32 nodes are cyclic garbage, except ring
 *                 7, which the cache keeps (through its node 1) until the
 *                 key is reused.
 */
#ifndef COG_BENCH_SERVER_REQUEST_H
#define COG_BENCH_SERVER_REQUEST_H

#include <stdint.h>

#include "cog/cog.h"

typedef enum server_shape { SHAPE_TREE = 0, SHAPE_CYCLIC = 1 } server_shape;

#define SERVER_NODES 32
#define SERVER_KEYS 4096

/* Handle one request: build the graph, cache a node under key number
 * `key` (0 .. SERVER_KEYS-1, interned as "key-<n>"), drop the rest.
 * Returns 0, or -1 with cog_last_error() set. */
int server_request(server_shape shape, cog_object *cache, unsigned key);
#endif
