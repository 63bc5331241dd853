/* examples/demo_request.c - build, cache and drop one request graph. */
#include "demo_request.h"

#include <stdio.h>

#include "demo_node.h"

#define RING_MAX 12

int demo_keys_init(demo_keys *keys) {
    keys->id = cog_str_intern_immortal("id", 2);
    keys->path = cog_str_intern_immortal("path", 4);
    keys->nodes = cog_str_intern_immortal("nodes", 5);
    keys->parent = cog_str_intern_immortal("parent", 6);
    return keys->id && keys->path && keys->nodes && keys->parent ? COG_OK : COG_ENOMEM;
}

/* Set dict[key] = value and drop our reference to value. */
static int set_steal(cog_object *dict, cog_object *key, cog_object *value) {
    if (!value) return -1;
    int rc = cog_dict_set(dict, key, value);
    cog_decref(value);
    return rc == COG_OK ? 0 : -1;
}

long demo_request_handle(const demo_keys *keys, cog_object *cache, uint64_t id, int cache_keys) {
    unsigned k = (unsigned)(id % (uint64_t)cache_keys);
    int ring = 2 + (int)(id % (RING_MAX - 1));
    char buf[32];
    long created = 0;

    cog_object *req = cog_dict_new();
    cog_object *nodes = cog_list_new();
    if (!req || !nodes) goto fail;
    int n = snprintf(buf, sizeof buf, "/item/%u", k);
    if (set_steal(req, keys->id, cog_int_from_i64((int64_t)id)) ||
        set_steal(req, keys->path, cog_str_new(buf, (size_t)n)) ||
        cog_dict_set(req, keys->nodes, nodes) != COG_OK ||
        cog_dict_set(req, keys->parent, req) != COG_OK) /* self-cycle */
        goto fail;

    /* The ring: head -> ... -> last -> head, every node also in `nodes`. */
    demo_node *head = demo_node_new((int64_t)id), *prev = head;
    created++;
    if (cog_list_append(nodes, &head->ob) != COG_OK) goto fail_head;
    for (int i = 1; i < ring; i++) {
        demo_node *node = demo_node_new((int64_t)id + i);
        created++;
        if (cog_list_append(nodes, &node->ob) != COG_OK) {
            cog_decref(&node->ob);
            goto fail_head;
        }
        cog_ref_store(&prev->next, &node->ob); /* gives our reference away */
        prev = node;
    }
    cog_incref(&head->ob);
    cog_ref_store(&prev->next, &head->ob); /* closes the ring */

    /* Cache the ring under an interned key; the entry it replaces was
     * usually built by another worker, so its ring is freed cross-thread
     * (or becomes cyclic garbage). */
    n = snprintf(buf, sizeof buf, "item-%u", k);
    cog_object *key = cog_str_intern(buf, (size_t)n);
    if (!key) goto fail_head;
    int rc = cog_dict_set(cache, key, &head->ob);
    cog_decref(key);
    if (rc != COG_OK) goto fail_head;

    cog_decref(&head->ob);
    cog_decref(nodes);
    cog_decref(req); /* the request graph is now unreachable cyclic garbage */
    return created;

fail_head:
    cog_decref(&head->ob);
fail:
    fprintf(stderr, "demo: request %llu: %s\n", (unsigned long long)id, cog_last_error());
    cog_xdecref(nodes);
    cog_xdecref(req);
    return -1;
}
