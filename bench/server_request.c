/* bench/server_request.c - the request graphs of bench/server_request.h. */
#include "bench/server_request.h"

#include <stdio.h>

#include "bench/gc_node.h"

static bnode *node_new(void) { return (bnode *)cog_new(&gc_node_type); }

/* field = n, giving the caller's reference away. */
static void give(cog_ref *field, bnode *n) { cog_ref_store(field, &n->ob); }

#define TREE 28
#define RING 4
#define RINGS (SERVER_NODES / RING)

/* Returns the root (one reference, the caller's) and the node to cache
 * (borrowed: the graph holds it), or NULL if an allocation failed. */
static bnode *build_tree(bnode **cached) {
    bnode *t[TREE], *c[RING];
    for (int i = 0; i < TREE; i++)
        if (!(t[i] = node_new())) return NULL; /* a benchmark: leaks on OOM */
    for (int i = 0; i < RING; i++)
        if (!(c[i] = node_new())) return NULL;
    for (int i = 1; i < RING; i++) give(&c[i - 1]->a, c[i]);
    cog_incref(&c[0]->ob);
    give(&c[RING - 1]->a, c[0]);
    give(&t[TREE - 1]->a, c[0]); /* the ring hangs off the last leaf */
    for (int i = TREE - 1; i >= 1; i--) give((i & 1) ? &t[(i - 1) / 2]->a : &t[(i - 1) / 2]->b, t[i]);
    *cached = t[TREE - 2];
    return t[0];
}

static bnode *build_cyclic(bnode **cached) {
    bnode *r[RINGS][RING];
    for (int k = 0; k < RINGS; k++)
        for (int i = 0; i < RING; i++)
            if (!(r[k][i] = node_new())) return NULL;
    for (int k = RINGS - 1; k >= 0; k--) {
        for (int i = 1; i < RING; i++) give(&r[k][i - 1]->a, r[k][i]);
        cog_incref(&r[k][0]->ob);
        give(&r[k][RING - 1]->a, r[k][0]);
        if (k + 1 < RINGS) give(&r[k][0]->b, r[k + 1][0]);
    }
    *cached = r[RINGS - 1][1];
    return r[0][0];
}

int server_request(server_shape shape, cog_object *cache, unsigned key) {
    bnode *cached = NULL;
    bnode *root = shape == SHAPE_TREE ? build_tree(&cached) : build_cyclic(&cached);
    if (!root) return -1;
    char buf[16];
    int n = snprintf(buf, sizeof buf, "key-%u", key);
    cog_object *k = cog_str_intern(buf, (size_t)n);
    int rc = k ? cog_dict_set(cache, k, &cached->ob) : -1;
    cog_xdecref(k);
    cog_decref(&root->ob); /* the rest is freed, or becomes cyclic garbage */
    return rc == COG_OK ? 0 : -1;
}
