/* stress/young_stress.c - young collections and pacing assists under
 * concurrent mutators.
 *
 * Automatic collection runs with a tiny threshold0 and pacing factor, so
 * collections are back to back, mostly young ones (collector/gc_walk.c
 * walks only young pages), and mutators that outrun the collector become
 * assistants (collector/gc_pacing.c): they free garbage handed to them
 * (adopting what other threads own) and take shares of scans. Mutators build garbage cycles (small
 * nodes and large tuples, which the walk finds by number), keep some
 * cycles reachable so they age into generations 1 and 2, pass objects
 * between threads and drop references held in other threads' objects.
 * Phase 1 runs one mutator (all garbage has one owner), phase 2 several
 * (garbage of several owners handed out and adopted, scan shares, carried
 * pages of every kind).
 *
 * Checks: every reachable node keeps its canary (nothing reachable is
 * collected); test_node's dealloc aborts on a double free; and, once the
 * mutators have dropped everything and stopped, a generation-0 collection
 * leaves no generation-0 object and a generation-1 collection no
 * generation-1 object (had a page holding young objects been missed, they
 * would still be there), and a full collection frees every node. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_types.h"

#define SLOTS 32
#define KEEP 8
#define LARGE_ITEMS 80 /* a tuple of 80 items is a large (malloc'd) object */

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static test_node *slots[SLOTS]; /* strong references, under slots_lock */
static atomic_long created;
static long rounds;

static void check(test_node *n) {
    if (n->canary != TEST_CANARY) {
        fprintf(stderr, "young_stress: reachable node %p lost its canary\n", (void *)n);
        abort();
    }
}

static test_node *make(long v) {
    atomic_fetch_add(&created, 1);
    return test_node_new(v);
}

static void link_to(test_node *from, test_node *to) {
    cog_incref(&to->ob);
    cog_ref_store(&from->next, &to->ob);
}

/* A ring of len nodes; returns one reference to its first node. */
static test_node *ring(int len, long v) {
    test_node *first = make(v), *prev = first;
    for (int i = 1; i < len; i++) {
        test_node *n = make(v);
        link_to(prev, n);
        if (prev != first) cog_decref(&prev->ob);
        prev = n;
    }
    link_to(prev, first);
    if (prev != first) cog_decref(&prev->ob);
    return first;
}

/* A large tuple and a list in a cycle, dropped: large cyclic garbage. */
static void large_garbage(void) {
    cog_object *list = cog_list_new(), *tuple = cog_tuple_new(LARGE_ITEMS);
    if (!list || !tuple) abort();
    cog_incref(list);
    if (cog_tuple_init_item(tuple, 0, list) != COG_OK) abort();
    if (cog_list_append(list, tuple) != COG_OK) abort();
    cog_decref(tuple);
    cog_decref(list);
}

static void *mutator(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    if (cog_thread_attach() != COG_OK) abort();
    test_node *keep[KEEP] = {0};
    for (long r = 0; r < rounds; r++) {
        cog_decref(&ring(2 + (int)(rand_r(&seed) % 6), r)->ob); /* garbage */
        if (r % 64 == 0) large_garbage();
        /* A reachable ring replaces a root: it ages while kept, then
         * becomes old garbage. */
        int k = (int)(rand_r(&seed) % KEEP);
        if (rand_r(&seed) % 4 == 0) {
            if (keep[k]) cog_decref(&keep[k]->ob);
            keep[k] = ring(3, r);
        }
        /* Swap a root with a slot: objects change hands, and rings other
         * threads own are dropped here (cross-thread decrefs). */
        int s = (int)(rand_r(&seed) % SLOTS);
        pthread_mutex_lock(&slots_lock);
        test_node *theirs = slots[s];
        slots[s] = keep[k];
        pthread_mutex_unlock(&slots_lock);
        keep[k] = theirs;
        /* Touch the roots (refcount traffic while windows are open). */
        for (int i = 0; i < KEEP; i++) {
            if (!keep[i]) continue;
            test_node *n = keep[i];
            for (int j = 0; j < 3 && n; j++) {
                check(n);
                n = (test_node *)cog_ref_load(&n->next);
            }
        }
        cog_safepoint();
    }
    for (int i = 0; i < KEEP; i++)
        if (keep[i]) cog_decref(&keep[i]->ob);
    cog_thread_detach();
    return NULL;
}

static void run_phase(int nmut) {
    pthread_t t[16];
    for (int i = 0; i < nmut; i++)
        if (pthread_create(&t[i], NULL, mutator, (void *)(uintptr_t)(i + 7 * nmut)) != 0) abort();
    cog_thread_offline(); /* blocking in join: do not hold up grace periods */
    for (int i = 0; i < nmut; i++) pthread_join(t[i], NULL);
    cog_thread_online();
}

static void expect_none(int gen, const char *after) {
    long n = cog_gc_get_objects(gen, NULL, 0);
    if (n != 0) {
        fprintf(stderr, "young_stress: %ld generation-%d objects left after %s\n", n, gen, after);
        abort();
    }
}

int main(void) {
    rounds = test_scale(6000);
    if (cog_init() != COG_OK) return 1;
    long before = atomic_load(&test_node_deallocs);
    if (cog_gc_set_threshold(200, 4, 4) != COG_OK || cog_gc_set_pacing(2) != COG_OK) return 1;
    run_phase(1);
    run_phase(4);
    cog_gc_disable();
    for (int i = 0; i < SLOTS; i++)
        if (slots[i]) cog_decref(&slots[i]->ob);
    /* Everything is garbage or gone; no mutator runs. */
    cog_gc_collect(0);
    cog_safepoint();
    expect_none(0, "a generation-0 collection");
    cog_gc_collect(1);
    cog_safepoint();
    expect_none(0, "a generation-1 collection");
    expect_none(1, "a generation-1 collection");
    cog_gc_collect(2);
    cog_gc_collect(2); /* counts queued to detached owners settle */
    cog_safepoint();
    long freed = atomic_load(&test_node_deallocs) - before;
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    printf("young_stress: %ld rounds: %ld nodes created, %ld freed; collections %llu/%llu/%llu, "
           "assisted %llu\n",
           rounds, atomic_load(&created), freed, (unsigned long long)st[0].collections,
           (unsigned long long)st[1].collections, (unsigned long long)st[2].collections,
           (unsigned long long)(st[0].assisted + st[1].assisted + st[2].assisted));
    if (freed != atomic_load(&created)) {
        fprintf(stderr, "young_stress: FAIL: %ld nodes leaked\n", atomic_load(&created) - freed);
        return 1;
    }
    return cog_shutdown() == COG_OK ? 0 : 1;
}
