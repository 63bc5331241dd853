/* examples/leak_demo.c - a server with a slow leak, and how to find it
 * (docs/profiling.md walks through its output).
 *
 * Two worker threads serve requests. Each request builds a small graph of
 * nodes that reference counting frees when the request ends, and looks up
 * a session in a cache. The bug: remember_session() is meant to refresh an
 * entry but appends a new one for every 16th request, so the cache grows
 * forever. The leak is slow (a few % of what a request allocates) and
 * invisible in allocation counts.
 *
 *   leak_demo [REQUESTS [PROFILE]]
 *     serves REQUESTS requests per thread (default 200000) with the heap
 *     profiler on, takes a snapshot after the first tenth and one at the
 *     end, prints their difference by type and by stack, and writes the
 *     final profile in google-pprof's format to PROFILE (default
 *     leak_demo.heap) and in folded form to PROFILE.folded:
 *       google-pprof --text leak_demo leak_demo.heap
 *
 * Linked with -rdynamic so that the snapshot diff can name functions
 * (dladdr); google-pprof reads the binary's own symbols. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cog/cog.h"

/* ---- The server's own object types ------------------------------------ */

typedef struct node {
    cog_object ob;
    cog_ref left, right;
    long value;
} node;

static int node_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    node *n = (node *)self;
    cog_object *l = cog_ref_load(&n->left), *r = cog_ref_load(&n->right);
    int rc = l ? visit(l, arg) : 0;
    return rc ? rc : r ? visit(r, arg) : 0;
}

static void node_clear(cog_object *self) {
    node *n = (node *)self;
    cog_xdecref(cog_ref_take(&n->left));
    cog_xdecref(cog_ref_take(&n->right));
}

static const cog_type node_type = {
    .name = "RequestNode",
    .basic_size = sizeof(node),
    .flags = COG_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .dealloc = node_clear,
};

typedef struct session {
    cog_object ob;
    long user;
    char token[200];
} session;

static const cog_type session_type = {
    .name = "Session",
    .basic_size = sizeof(session),
};

/* ---- Request handling --------------------------------------------------- */

static cog_object *cache; /* list of sessions, shared by the workers */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The bug: a new Session for every 16th request, appended and never
 * dropped. Not static, and not inlined, so it has a name in the profile. */
__attribute__((noinline)) void remember_session(long user) {
    session *s = (session *)cog_new(&session_type);
    if (!s) abort();
    s->user = user;
    snprintf(s->token, sizeof s->token, "token-%ld", user);
    pthread_mutex_lock(&cache_lock);
    cog_list_append(cache, &s->ob);
    pthread_mutex_unlock(&cache_lock);
    cog_decref(&s->ob);
}

/* A request's working set: a small tree, freed when the request ends. */
__attribute__((noinline)) cog_object *build_request(long id) {
    node *root = (node *)cog_new(&node_type);
    if (!root) abort();
    root->value = id;
    for (int i = 0; i < 8; i++) {
        node *leaf = (node *)cog_new(&node_type);
        if (!leaf) abort();
        leaf->value = i;
        cog_ref_store(i & 1 ? &root->left : &root->right, &leaf->ob);
    }
    return &root->ob;
}

__attribute__((noinline)) void handle_request(long id) {
    cog_object *req = build_request(id);
    if (id % 16 == 0) remember_session(id);
    cog_decref(req);
}

typedef struct worker {
    long requests, first;
} worker;

/* Not static: a thread's outermost frame with a name in the diff. */
void *serve(void *arg) {
    worker *w = arg;
    if (cog_thread_attach() != COG_OK) abort();
    for (long i = 0; i < w->requests; i++) {
        handle_request(w->first + i);
        if ((i & 255) == 0) cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void run(long requests, long first) {
    pthread_t t[2];
    worker w[2] = {{requests, first}, {requests, first + requests}};
    cog_thread_offline(); /* the workers' collections wait for grace periods */
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, serve, &w[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    cog_thread_online();
}

int main(int argc, char **argv) {
    long requests = argc > 1 ? atol(argv[1]) : 200000;
    const char *path = argc > 2 ? argv[2] : "leak_demo.heap";
    if (requests < 10) requests = 10;
    if (cog_init() != COG_OK) return 1;
    cache = cog_list_new();
    /* A smaller interval than the default: the demo is short. */
    if (cog_heap_profile_start(64 * 1024) != COG_OK) return 1;

    run(requests / 10, 0);
    cog_heap_snapshot *before = cog_heap_snapshot_take();
    run(requests - requests / 10, 2 * requests);
    cog_gc_collect(2);
    cog_heap_snapshot *after = cog_heap_snapshot_take();
    if (!before || !after) {
        fprintf(stderr, "leak_demo: %s\n", cog_last_error());
        return 1;
    }

    printf("== growth by type (exact)\n");
    cog_heap_snapshot_print_compare(stdout, before, after, COG_HEAP_BY_TYPE, 5);
    printf("== growth by allocating stack (sampled, every %zu bytes on average)\n",
           cog_heap_profile_interval());
    cog_heap_snapshot_print_compare(stdout, before, after, COG_HEAP_BY_STACK, 5);

    FILE *f = fopen(path, "w");
    if (!f || cog_heap_snapshot_write_pprof(after, f) != COG_OK || fclose(f) != 0) {
        fprintf(stderr, "leak_demo: cannot write %s\n", path);
        return 1;
    }
    char folded[4096];
    snprintf(folded, sizeof folded, "%s.folded", path);
    f = fopen(folded, "w");
    if (!f || cog_heap_snapshot_write_folded(after, f) != COG_OK || fclose(f) != 0) {
        fprintf(stderr, "leak_demo: cannot write %s\n", folded);
        return 1;
    }
    printf("== wrote %s and %s\n", path, folded);

    cog_heap_snapshot_free(before);
    cog_heap_snapshot_free(after);
    cog_heap_profile_stop();
    cog_decref(cache);
    cog_shutdown();
    return 0;
}
