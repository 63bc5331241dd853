/* stress/soak.c - every concurrent subsystem at once, for a given time.
 *
 * Worker threads mix, at random: garbage cycles (plain nodes, nodes with
 * finalizers, cycles through lists), biased-RC hand-offs of live graphs
 * between threads, strings created on one thread and freed on another
 * through a shared list (pool allocator remote frees), intern churn on a
 * small key space, a shared dict keyed by interned strings, weak references
 * with callbacks, raw blocks (cog_mem_alloc) handed between threads,
 * temporary lists grown and dropped (their arrays freed at once outside a
 * collection window), and detach/re-attach while holding objects. A controller
 * thread collects every generation, changes thresholds, disables/enables
 * automatic collection and freezes/unfreezes, while the collector also runs
 * on its own.
 *
 * Usage: soak [-t SECONDS] [-n THREADS]   (or COG_SOAK_SECONDS,
 * COG_SOAK_THREADS; defaults 20 s, 4 threads). One progress line a second.
 *
 * Checks while running: canaries of every node a thread can reach; interned
 * strings equal and canonical; dict values are what was stored.
 * Checks at the end (after dropping everything and a full collection):
 * every node and finalizer node created was deallocated exactly once (the
 * node types abort on a second dealloc), every finalizer ran exactly once,
 * the list and dict counts match the operations, the intern table holds
 * what it held at start, nothing is in gc garbage, and the allocator's
 * blocks in use and large blocks are back to their baseline. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/test_types.h"

#define SLOTS 32
#define KEEP 8
#define KEYS 64

static void fail(const char *what) {
    fprintf(stderr, "soak: FAIL: %s\n", what);
    abort();
}
#define CHECK(c) \
    do {         \
        if (!(c)) fail(#c); \
    } while (0)

/* ---- a node type with a finalizer -------------------------------------- */
static atomic_long fin_finalized, fin_deallocs;

static void fin_finalize(cog_object *self) {
    if (((test_node *)self)->canary != TEST_CANARY) fail("finalizer on a corrupted node");
    atomic_fetch_add(&fin_finalized, 1);
}

static void fin_dealloc(cog_object *self) {
    atomic_fetch_add(&fin_deallocs, 1);
    test_node_type.dealloc(self); /* canary check, clear, count */
}

static cog_type fin_type;

/* ---- shared state ------------------------------------------------------ */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static test_node *handoff[SLOTS]; /* strong references, under slots_lock */
static unsigned char *raw_slot[SLOTS]; /* raw blocks in flight, under slots_lock */
static size_t raw_len[SLOTS];
static cog_object *shared_list;   /* strings and ints in flight between threads */
static cog_object *shared_dict;   /* interned key -> int */
static atomic_int stop;
static atomic_long ops, nodes_created, fin_created, list_appended, list_popped;
static atomic_long wr_created, wr_callbacks, reattaches, raw_swaps;

static void wr_callback(cog_object *wr, void *arg) {
    (void)arg;
    CHECK(cog_weakref_is_dead(wr));
    atomic_fetch_add(&wr_callbacks, 1);
}

static test_node *node(const cog_type *t) {
    test_node *n = (test_node *)cog_new(t);
    if (!n) fail(cog_last_error());
    n->canary = TEST_CANARY;
    atomic_fetch_add(t == &fin_type ? &fin_created : &nodes_created, 1);
    return n;
}

static void link_to(test_node *from, cog_object *to) {
    cog_incref(to);
    cog_ref_store(&from->next, to);
}

static void check_chain(test_node *n) {
    for (int i = 0; n && i < 6; i++) {
        if (n->canary != TEST_CANARY) fail("reachable node lost its canary (freed while live)");
        cog_object *next = cog_ref_load(&n->next);
        if (!next || (next->ob_type != &test_node_type && next->ob_type != &fin_type)) return;
        n = (test_node *)next;
    }
}

/* ---- operations -------------------------------------------------------- */

static void op_garbage_cycle(unsigned *seed) {
    int len = 1 + (int)(rand_r(seed) % 4);
    const cog_type *t = rand_r(seed) % 3 == 0 ? &fin_type : &test_node_type;
    test_node *first = node(t), *prev = first;
    for (int i = 1; i < len; i++) {
        test_node *n = node(rand_r(seed) % 2 ? &fin_type : &test_node_type);
        link_to(prev, &n->ob);
        if (prev != first) cog_decref(&prev->ob);
        prev = n;
    }
    link_to(prev, &first->ob);
    if (prev != first) cog_decref(&prev->ob);
    cog_decref(&first->ob);
}

/* A cycle through a container: node -> list -> node. */
static void op_container_cycle(void) {
    test_node *n = node(&test_node_type);
    cog_object *l = cog_list_new();
    if (!l) fail(cog_last_error());
    CHECK(cog_list_append(l, &n->ob) == COG_OK);
    cog_ref_store(&n->next, l); /* n owns the list reference */
    cog_decref(&n->ob);
}

/* Replace a root with a fresh live cycle; swap a root with a slot. */
static void op_handoff(unsigned *seed, test_node **keep) {
    int k = (int)(rand_r(seed) % KEEP);
    test_node *a = node(&test_node_type), *b = node(rand_r(seed) % 4 ? &test_node_type : &fin_type);
    link_to(a, &b->ob);
    link_to(b, &a->ob);
    cog_decref(&b->ob);
    if (keep[k]) cog_decref(&keep[k]->ob);
    keep[k] = a;
    int s = (int)(rand_r(seed) % SLOTS), j = (int)(rand_r(seed) % KEEP);
    pthread_mutex_lock(&slots_lock);
    test_node *theirs = handoff[s];
    handoff[s] = keep[j];
    pthread_mutex_unlock(&slots_lock);
    keep[j] = theirs;
}

/* Strings allocated here, freed by whichever thread pops them. */
static void op_list(unsigned *seed) {
    if (rand_r(seed) % 2 || cog_list_size(shared_list) > 256) {
        cog_object *o = cog_list_pop(shared_list, -1);
        if (o) {
            atomic_fetch_add(&list_popped, 1);
            CHECK(cog_str_check(o) || cog_int_check(o));
            cog_decref(o);
        }
        return;
    }
    char buf[48];
    int n = snprintf(buf, sizeof buf, "soak string %u", rand_r(seed));
    cog_object *o = rand_r(seed) % 4 ? cog_str_new(buf, (size_t)n)
                                     : cog_int_from_i64(100000 + (int64_t)rand_r(seed));
    if (!o) fail(cog_last_error());
    CHECK(cog_list_append(shared_list, o) == COG_OK);
    atomic_fetch_add(&list_appended, 1);
    cog_decref(o);
}

static void op_intern_dict(unsigned *seed) {
    char key[16];
    int n = snprintf(key, sizeof key, "key%u", rand_r(seed) % KEYS);
    cog_object *a = cog_str_intern(key, (size_t)n);
    cog_object *b = cog_str_intern(key, (size_t)n);
    if (!a || !b) fail(cog_last_error());
    CHECK(a == b && cog_str_is_interned(a) && cog_str_equal_bytes(a, key, (size_t)n));
    switch (rand_r(seed) % 3) {
    case 0: {
        cog_object *v = cog_int_from_i64(1000 + (int64_t)(rand_r(seed) % KEYS));
        if (!v) fail(cog_last_error());
        CHECK(cog_dict_set(shared_dict, a, v) == COG_OK);
        cog_decref(v);
        break;
    }
    case 1: {
        cog_object *v = NULL;
        int rc = cog_dict_get(shared_dict, b, &v);
        CHECK(rc == 0 || rc == 1);
        if (rc == 1) {
            CHECK(cog_int_check(v) && cog_int_value(v) >= 1000 && cog_int_value(v) < 1000 + KEYS);
            cog_decref(v);
        }
        break;
    }
    default:
        CHECK(cog_dict_del(shared_dict, a) >= 0);
    }
    cog_decref(a);
    cog_decref(b);
}

static void op_weakref(unsigned *seed, test_node **keep) {
    test_node *n = node(rand_r(seed) % 2 ? &fin_type : &test_node_type);
    int with_cb = rand_r(seed) % 2;
    cog_object *wr = cog_weakref_new(&n->ob, with_cb ? wr_callback : NULL, NULL);
    if (!wr) fail(cog_last_error());
    atomic_fetch_add(&wr_created, 1);
    cog_object *got = cog_weakref_get(wr);
    CHECK(got == &n->ob);
    cog_decref(got);
    if (rand_r(seed) % 2) {
        /* Nobody else holds n: it dies now and the weakref says so. */
        cog_decref(&n->ob);
        CHECK(cog_weakref_is_dead(wr) && cog_weakref_get(wr) == NULL);
        cog_decref(wr);
    } else {
        /* n lives on in a root, weakly referenced from a cycle with it. */
        int k = (int)(rand_r(seed) % KEEP);
        cog_ref_store(&n->next, wr); /* n owns wr */
        if (keep[k]) cog_decref(&keep[k]->ob);
        keep[k] = n;
    }
}

/* A raw block (mostly of the raw-block LIFO's 513-1024 B classes, some up
 * to 40 KB) swapped into a slot: the block it replaces, often another
 * thread's, is checked and freed here. Then a temporary list holding a
 * node and 40-119 ints, dropped: its last array goes back at once unless
 * a window is open (a collection may be traversing the list). */
static void op_raw_and_temp_list(unsigned *seed) {
    size_t n = rand_r(seed) % 8 ? 513 + (size_t)rand_r(seed) % 512 : 1 + (size_t)rand_r(seed) % 40000;
    unsigned char *b = test_raw_block(n);
    if (!b) fail(cog_last_error());
    CHECK(test_raw_swap(&slots_lock, raw_slot, raw_len, (int)(rand_r(seed) % SLOTS), b, n) == 0);
    atomic_fetch_add(&raw_swaps, 1);
    cog_object *l = cog_list_new();
    if (!l) fail(cog_last_error());
    test_node *nd = node(&test_node_type);
    CHECK(cog_list_append(l, &nd->ob) == COG_OK);
    cog_decref(&nd->ob);
    for (int k = 40 + (int)(rand_r(seed) % 80); k > 0; k--)
        CHECK(cog_list_append(l, cog_int_from_i64(k)) == COG_OK);
    cog_decref(l);
}

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    if (cog_thread_attach() != COG_OK) fail(cog_last_error());
    test_node *keep[KEEP] = {0};
    long i = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        switch (rand_r(&seed) % 9) {
        case 7: op_raw_and_temp_list(&seed); break;
        case 0: op_garbage_cycle(&seed); break;
        case 1: op_container_cycle(); break;
        case 2: op_handoff(&seed, keep); break;
        case 3: case 4: op_list(&seed); break;
        case 5: case 6: op_intern_dict(&seed); break;
        default: op_weakref(&seed, keep);
        }
        atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
        if ((++i & 31) == 0) {
            for (int k = 0; k < KEEP; k++) check_chain(keep[k]);
            cog_safepoint();
            /* Back-pressure: cyclic garbage is made faster than one
             * collector thread can walk it; keep the heap bounded so a long
             * soak measures steady state, not swap. */
            long count[COG_GC_GENERATIONS];
            cog_gc_get_count(count);
            if (count[0] > 200000) {
                cog_thread_offline();
                usleep(1000);
                cog_thread_online();
            }
        }
        if ((i & 4095) == 0) {
            /* Detach while holding objects: their counts merge, they live on. */
            CHECK(cog_thread_detach() == COG_OK);
            CHECK(cog_thread_attach() == COG_OK);
            atomic_fetch_add(&reattaches, 1);
        }
    }
    for (int k = 0; k < KEEP; k++) cog_xdecref(keep[k] ? &keep[k]->ob : NULL);
    cog_thread_detach();
    return NULL;
}

static void *controller(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) fail(cog_last_error());
    unsigned seed = 7;
    for (long t = 0; !atomic_load_explicit(&stop, memory_order_relaxed); t++) {
        switch (rand_r(&seed) % 6) {
        case 0: case 1: CHECK(cog_gc_collect((int)(rand_r(&seed) % 3)) >= 0); break;
        case 2:
            CHECK(cog_gc_set_threshold(20 + rand_r(&seed) % 2000, 1 + rand_r(&seed) % 10,
                                       1 + rand_r(&seed) % 10) == COG_OK);
            break;
        case 3:
            if (rand_r(&seed) % 2) cog_gc_disable();
            else cog_gc_enable();
            break;
        case 4:
            cog_gc_freeze();
            cog_gc_unfreeze();
            break;
        default: break;
        }
        cog_thread_offline();
        usleep(2000);
        cog_thread_online();
    }
    cog_gc_enable();
    cog_thread_detach();
    return NULL;
}

/* ---- memory accounting ------------------------------------------------- */

static uint64_t collections(void) {
    cog_gc_gen_stats st[COG_GC_GENERATIONS];
    cog_gc_get_stats(st);
    return st[0].collections + st[1].collections + st[2].collections;
}

/* A thread that attaches and detaches: its heap creation sweeps abandoned
 * pools that remote frees emptied. */
static void *sweeper(void *arg) {
    (void)arg;
    if (cog_thread_attach() == COG_OK) cog_thread_detach();
    return NULL;
}

static void settle(void) {
    for (int i = 0; i < 3; i++) CHECK(cog_gc_collect(2) >= 0);
    pthread_t t;
    cog_thread_offline();
    pthread_create(&t, NULL, sweeper, NULL);
    pthread_join(t, NULL);
    usleep(20000); /* let call_rcu deferred frees run */
    cog_thread_online();
    cog_safepoint();
    /* Released mortal interned strings leave the table (and free their
     * blocks a grace period later) once their reviews have run. */
    CHECK(cog_str_intern_sync() == COG_OK);
}

static long arg_or_env(int argc, char **argv, const char *flag, const char *env, long dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag)) return atol(argv[i + 1]);
    const char *s = getenv(env);
    return s && atol(s) > 0 ? atol(s) : dflt;
}

/* A field of /proc/self/status in KiB (VmRSS: resident now, VmHWM: its
 * peak), -1 if unreadable. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n)) v = atol(line + n);
    fclose(f);
    return v;
}

int main(int argc, char **argv) {
    long seconds = arg_or_env(argc, argv, "-t", "COG_SOAK_SECONDS", 20);
    int nthreads = (int)arg_or_env(argc, argv, "-n", "COG_SOAK_THREADS", 4);
    if (nthreads < 1 || nthreads > 64) nthreads = 4;
    fin_type = test_node_type;
    fin_type.name = "FinNode";
    fin_type.finalize = fin_finalize;
    fin_type.dealloc = fin_dealloc;

    if (cog_init() != COG_OK) fail(cog_last_error());
    long rss_start = status_kib("VmRSS:");
    uint64_t base_large, base_blocks = test_class_blocks_in_use(&base_large);
    cog_intern_stats is0;
    CHECK(cog_intern_get_stats(&is0) == COG_OK);
    long node_base = atomic_load(&test_node_deallocs);
    shared_list = cog_list_new();
    shared_dict = cog_dict_new();
    CHECK(shared_list && shared_dict);

    pthread_t th[64], ctl;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i * 7919 + 1));
    pthread_create(&ctl, NULL, controller, NULL);

    cog_thread_offline(); /* only sleeps and reads statistics from here */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long s = 1; s <= seconds; s++) {
        sleep(1);
        uint64_t large, blocks = test_class_blocks_in_use(&large);
        clock_gettime(CLOCK_MONOTONIC, &now);
        printf("soak: %3lds ops %ld collections %llu heap %llu blocks + %llu large, "
               "finalized %ld, reattaches %ld, rss %ld KiB\n",
               (long)(now.tv_sec - t0.tv_sec), atomic_load(&ops),
               (unsigned long long)collections(), (unsigned long long)blocks,
               (unsigned long long)large, atomic_load(&fin_finalized), atomic_load(&reattaches),
               status_kib("VmRSS:"));
        fflush(stdout);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    pthread_join(ctl, NULL);
    cog_thread_online();

    for (int i = 0; i < SLOTS; i++) cog_xdecref(handoff[i] ? &handoff[i]->ob : NULL);
    for (int i = 0; i < SLOTS; i++) {
        if (!raw_slot[i]) continue;
        CHECK(test_raw_intact(raw_slot[i], raw_len[i]));
        cog_mem_free(raw_slot[i], raw_len[i]);
    }
    CHECK((long)cog_list_size(shared_list) == atomic_load(&list_appended) - atomic_load(&list_popped));
    CHECK(cog_dict_size(shared_dict) <= KEYS);
    cog_decref(shared_list);
    cog_decref(shared_dict);
    settle();

    long nodes = atomic_load(&test_node_deallocs) - node_base;
    long created = atomic_load(&nodes_created) + atomic_load(&fin_created);
    uint64_t large, blocks = test_class_blocks_in_use(&large);
    for (int i = 0; i < 50 && (blocks != base_blocks || large != base_large); i++) {
        settle();
        blocks = test_class_blocks_in_use(&large);
    }
    cog_intern_stats is1;
    CHECK(cog_intern_get_stats(&is1) == COG_OK);
    printf("soak: %ld s, %d threads: %ld ops, %llu collections, %ld nodes (%ld with finalizers) "
           "created and freed, %ld weakrefs (%ld callbacks), %ld list items, %ld raw blocks, "
           "%ld re-attaches, %llu intern lookups\n",
           seconds, nthreads, atomic_load(&ops), (unsigned long long)collections(), created,
           atomic_load(&fin_created), atomic_load(&wr_created), atomic_load(&wr_callbacks),
           atomic_load(&list_appended), atomic_load(&raw_swaps), atomic_load(&reattaches),
           (unsigned long long)(is1.lookups - is0.lookups));
    printf("soak: rss start %ld KiB, peak %ld KiB, end %ld KiB\n", rss_start,
           status_kib("VmHWM:"), status_kib("VmRSS:"));
    CHECK(atomic_load(&ops) > 0);
    if (nodes != created) {
        fprintf(stderr, "soak: %ld nodes created, %ld freed\n", created, nodes);
        fail("leaked or double-freed nodes");
    }
    CHECK(atomic_load(&fin_finalized) == atomic_load(&fin_created));
    CHECK(atomic_load(&fin_deallocs) == atomic_load(&fin_created));
    CHECK(atomic_load(&wr_callbacks) <= atomic_load(&wr_created));
    CHECK(is1.count == is0.count);
    CHECK(cog_gc_garbage(NULL, 0) == 0);
    if (blocks != base_blocks || large != base_large) {
        fprintf(stderr, "soak: %llu blocks + %llu large in use, baseline %llu + %llu\n",
                (unsigned long long)blocks, (unsigned long long)large,
                (unsigned long long)base_blocks, (unsigned long long)base_large);
        cog_mem_stats_print(stderr);
        fail("memory not back to baseline");
    }
    CHECK(cog_shutdown() == COG_OK);
    printf("soak: PASS\n");
    return 0;
}
