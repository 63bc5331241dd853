/* stress/gc_stress.c - mutators build and break cyclic graphs, hand
 * objects to each other and keep some reachable, while collections run
 * continuously and thresholds change under them.
 *
 * Checks: every object a mutator can still reach has its canary (poison
 * check: a wrongly collected object would have been cleared/freed); no
 * object is deallocated twice (test_node's dealloc aborts); after all
 * threads drop everything and a full collection, every node ever created
 * has been deallocated (no leak, no lost cycle). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>

#include "tests/test_types.h"

#define SLOTS 64

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static test_node *handoff[SLOTS]; /* strong references, under slots_lock */
static atomic_long created;
static atomic_int mutators_done;
static long rounds;
static int sliced; /* --sliced */

static void check(test_node *n) {
    if (n->canary != TEST_CANARY) {
        fprintf(stderr, "reachable node %p lost its canary: collected while reachable\n",
                (void *)n);
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

/* Walk a chain (it may be a cycle) for at most `max` steps, checking canaries. */
static void walk(test_node *n, int max) {
    for (int i = 0; n && i < max; i++) {
        check(n);
        n = (test_node *)cog_ref_load(&n->next);
    }
}

static void *mutator(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    if (cog_thread_attach() != COG_OK) abort();
    test_node *keep[8] = {0}; /* reachable roots this thread holds */
    for (long r = 0; r < rounds; r++) {
        /* Garbage cycle of 2..5 nodes. */
        int len = 2 + (int)(rand_r(&seed) % 4);
        test_node *first = make(r), *prev = first;
        for (int i = 1; i < len; i++) {
            test_node *n = make(r);
            link_to(prev, n);
            if (prev != first) cog_decref(&prev->ob); /* first's ref is dropped last */
            prev = n;
        }
        link_to(prev, first);
        cog_decref(&prev->ob);

        /* A reachable cycle replaces one of our roots (the old one becomes
         * garbage unless someone else took it). */
        int k = (int)(rand_r(&seed) % 8);
        test_node *a = make(r), *b = make(r);
        link_to(a, b);
        link_to(b, a);
        cog_decref(&b->ob);
        if (keep[k]) cog_decref(&keep[k]->ob);
        keep[k] = a;
        cog_decref(&first->ob); /* drop the garbage cycle last */

        /* Hand objects between threads: swap one of our roots with a slot. */
        int s = (int)(rand_r(&seed) % SLOTS);
        int j = (int)(rand_r(&seed) % 8);
        pthread_mutex_lock(&slots_lock);
        test_node *theirs = handoff[s];
        handoff[s] = keep[j];
        pthread_mutex_unlock(&slots_lock);
        keep[j] = theirs;

        for (int i = 0; i < 8; i++)
            if (keep[i]) walk(keep[i], 4);
        if ((r & 15) == 0) cog_safepoint();
    }
    for (int i = 0; i < 8; i++) cog_xdecref(keep[i] ? &keep[i]->ob : NULL);
    atomic_fetch_add(&mutators_done, 1);
    cog_thread_detach();
    return NULL;
}

/* Collects continuously and retunes thresholds while mutators run. */
static void *controller(void *arg) {
    int nmut = (int)(intptr_t)arg;
    if (cog_thread_attach() != COG_OK) abort();
    long t = 0;
    while (atomic_load(&mutators_done) < nmut) {
        /* Sliced: a request ends the sliced loop, so leave most
         * collections to it. */
        if (sliced && t % 16) {
            struct timespec ms = {0, 1000000};
            cog_thread_offline();
            nanosleep(&ms, NULL);
            cog_thread_online();
        } else if (cog_gc_collect((int)(t % 3)) < 0) {
            abort();
        }
        if (cog_gc_set_threshold(50 + (t % 7) * 100, 1 + t % 5, 1 + t % 3) != COG_OK) abort();
        t++;
        cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

int main(int argc, char **argv) {
    int nmut = (int)test_scale(4);
    rounds = test_scale(3000);
    /* --parallel: every collection scans with the helper thread too (the
     * default does so only for big heaps), so TSan sees that path. */
    if (argc > 1 && strcmp(argv[1], "--parallel") == 0) setenv("COG_GC_PARALLEL", "2", 1);
    /* --sliced: every automatic collection is driven by the mutators, which
     * a pacing factor of 1 makes assistants (collector/gc_slice.c). */
    sliced = argc > 1 && strcmp(argv[1], "--sliced") == 0;
    if (sliced) {
        setenv("COG_GC_SLICING", "2", 1);
        setenv("COG_GC_PACING", "1", 1);
    }
    if (cog_init() != COG_OK) return 1;
    long before = atomic_load(&test_node_deallocs);
    pthread_t mut[64], ctl;
    if (nmut > 64) nmut = 64;
    for (int i = 0; i < nmut; i++) pthread_create(&mut[i], NULL, mutator, (void *)(uintptr_t)(i + 1));
    pthread_create(&ctl, NULL, controller, (void *)(intptr_t)nmut);
    cog_thread_offline(); /* blocking in join: do not hold up grace periods */
    for (int i = 0; i < nmut; i++) pthread_join(mut[i], NULL);
    pthread_join(ctl, NULL);
    cog_thread_online();
    for (int i = 0; i < SLOTS; i++) cog_xdecref(handoff[i] ? &handoff[i]->ob : NULL);
    long found = cog_gc_collect(2);
    found += cog_gc_collect(2); /* objects queued to detached owners settle */
    cog_safepoint();
    long freed = atomic_load(&test_node_deallocs) - before;
    cog_gc_gen_stats st[3];
    cog_gc_get_stats(st);
    printf("gc_stress: %d mutators x %ld rounds: %ld nodes created, %ld freed; collections "
           "%llu/%llu/%llu\n",
           nmut, rounds, atomic_load(&created), freed, (unsigned long long)st[0].collections,
           (unsigned long long)st[1].collections, (unsigned long long)st[2].collections);
    if (freed != atomic_load(&created)) {
        fprintf(stderr, "FAIL: %ld nodes leaked\n", atomic_load(&created) - freed);
        return 1;
    }
    uint64_t nsliced = st[0].sliced + st[1].sliced + st[2].sliced;
    if (sliced) printf("gc_stress: %llu sliced collections\n", (unsigned long long)nsliced);
    if (sliced && nsliced == 0) {
        fprintf(stderr, "FAIL: --sliced, but no collection was sliced\n");
        return 1;
    }
    if (cog_shutdown() != COG_OK) return 1;
    return 0;
}
