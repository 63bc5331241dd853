/* stress/fuzz_threads.c - libFuzzer target: a program for two attached
 * threads that hand objects to each other.
 *
 * Thread 0 is the fuzzer's thread, thread 1 a worker attached once for the
 * whole process. The input is a sequence of phases; a phase is a header
 * byte h (thread 0 runs h % 8 operations, thread 1 (h / 8) % 8) followed by
 * thread 0's operations, then thread 1's, 4 bytes each (opcode and three
 * arguments; missing bytes read as 0). In a phase both threads run their
 * operations at the same time; the next phase starts when both are done.
 *
 * Each thread has 4 private slots; 4 shared slots are owned by one thread
 * per phase (slot i by thread (i + phase) % 2), so every slot has one
 * writer at a time and an object put in a shared slot in one phase is the
 * other thread's in the next: hand-offs, decrefs of objects another thread
 * owns (biased counting's queued decrefs) and frees into another thread's
 * pools. The threads meet inside objects: concurrent refcounting of the
 * same object, list appends/pops/sets and dict stores into the same
 * containers (dict keys are split by thread: the dict's contents do not
 * depend on the interleaving), node fields (writers serialised by a lock,
 * as cog_ref_store requires), weakrefs, collections, freeze, thresholds,
 * safe points and (thread 1) detach/attach while holding objects.
 *
 * Deterministic except for the order of concurrent appends to one list
 * (and so what a pop or get returns) and which of two node-field stores
 * lands last; the checks hold either way. COG_FUZZ_SERIAL=1 runs each
 * phase's operations one thread after the other (thread 0 first, still on
 * two threads): fully deterministic, for reproducing a logic bug.
 *
 * After the program both threads drop everything, full collections run,
 * then every node created (by either thread) must have been deallocated
 * exactly once and every finalizer run exactly once; the intern table and
 * the allocator's blocks back to the baseline every N inputs
 * (fuzz_check.h). Built by tools/fuzz.sh (target "threads") under ASan,
 * replayed over stress/fuzz_threads_corpus by //stress:fuzz_threads_replay
 * in every config, including tsan. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress/fuzz_check.h"
#include "tests/test_types.h"

#define NPRIV 4
#define NSHARED 4
#define OPLEN 4

/* Bumped on any thread (finalizers of cyclic garbage run on the
 * collector's). Relaxed: they are read after wait_worker or cog_gc_collect,
 * whose mutex hand-offs order every earlier bump before the read. */
static long nodes_created, fin_created, fin_finalized;

static void fin_finalize(cog_object *self) {
    if (((test_node *)self)->canary != TEST_CANARY) fuzz_fail("finalizer on a corrupted node");
    __atomic_fetch_add(&fin_finalized, 1, __ATOMIC_RELAXED); /* any thread */
}

static cog_type fin_type;

static void wr_callback(cog_object *wr, void *arg) {
    (void)arg;
    FUZZ_CHECK(cog_weakref_get(wr) == NULL);
}

/* Slots. priv[t] is only touched by thread t; shared[i] only by its owner
 * of the phase. The phase hand-off below (mutex) orders one phase's slot
 * writes before the next phase's reads by the other thread. */
static cog_object *priv[2][NPRIV];
static cog_object *shared[NSHARED];

/* cog_ref_store wants its writers serialised. The old referent is dropped
 * outside the lock (its dealloc may run arbitrary finalizer code). */
static pthread_mutex_t field_lock = PTHREAD_MUTEX_INITIALIZER;

static cog_object **slot(int t, int phase, uint8_t b) {
    unsigned i = b % (NPRIV + 2);
    if (i < NPRIV) return &priv[t][i];
    unsigned first = (unsigned)(t + phase) & 1; /* shared slots first, first+2 are ours */
    return &shared[first + 2 * (i - NPRIV)];
}

static int is_node(cog_object *o) {
    return o && (o->ob_type == &test_node_type || o->ob_type == &fin_type);
}

static cog_object *new_node(int fin) {
    test_node *n = (test_node *)cog_new(fin ? &fin_type : &test_node_type);
    if (!n) fuzz_fail("cog_new");
    n->canary = TEST_CANARY;
    __atomic_fetch_add(fin ? &fin_created : &nodes_created, 1, __ATOMIC_RELAXED);
    return &n->ob;
}

/* Keys split by thread (parity), so one thread's dict stores and deletes
 * never meet the other's: small ints or interned strings. */
static cog_object *key_of(int t, uint8_t b) {
    unsigned k = (b >> 1) % 16 * 2 + (unsigned)t;
    if (b & 1) return cog_int_from_i64(k);
    char s[8];
    int n = snprintf(s, sizeof s, "k%u", k);
    return cog_str_intern(s, (size_t)n);
}

static void link_to(int t, cog_object *a, cog_object *b, uint8_t k) {
    if (is_node(a)) {
        cog_incref(b);
        pthread_mutex_lock(&field_lock);
        cog_object *old = cog_ref_take(&((test_node *)a)->next);
        cog_ref_store(&((test_node *)a)->next, b);
        pthread_mutex_unlock(&field_lock);
        cog_xdecref(old);
    } else if (cog_list_check(a)) {
        FUZZ_CHECK(cog_list_append(a, b) == COG_OK);
    } else if (cog_dict_check(a)) {
        cog_object *key = key_of(t, k);
        FUZZ_CHECK(key && cog_dict_set(a, key, b) == COG_OK);
        cog_decref(key);
    }
}

static void unlink_from(int t, cog_object *a, uint8_t k) {
    if (is_node(a)) {
        pthread_mutex_lock(&field_lock);
        cog_object *old = cog_ref_take(&((test_node *)a)->next);
        pthread_mutex_unlock(&field_lock);
        cog_xdecref(old);
    } else if (cog_list_check(a)) {
        cog_object *o = cog_list_pop(a, (int8_t)k);
        if (o) cog_decref(o);
        else FUZZ_CHECK(strstr(cog_last_error(), "out of range"));
    } else if (cog_dict_check(a)) {
        cog_object *key = key_of(t, k);
        FUZZ_CHECK(key && cog_dict_del(a, key) >= 0);
        cog_decref(key);
    }
}

static void gc_control(uint8_t k) {
    switch (k % 6) {
    case 0: cog_gc_enable(); break;
    case 1: cog_gc_disable(); break;
    case 2: cog_gc_freeze(); break;
    case 3: cog_gc_unfreeze(); break;
    case 4: FUZZ_CHECK(cog_gc_set_threshold(k >> 3, 1 + (k >> 6), 2) == COG_OK); break;
    default:
        FUZZ_CHECK(cog_gc_set_debug(k & 8 ? COG_GC_DEBUG_SAVEALL : 0) == COG_OK);
        break;
    }
}

static int trace; /* COG_FUZZ_TRACE=1: print each operation (reproduction) */

static void run_op(int t, int phase, const uint8_t op[OPLEN]) {
    if (trace)
        fprintf(stderr, "phase %d thread %d: op %d a %d b %d k %d\n", phase, t, op[0] % 18,
                op[1] % (NPRIV + 2), op[2] % (NPRIV + 2), op[3]);
    cog_object **a = slot(t, phase, op[1]), **b = slot(t, phase, op[2]);
    uint8_t k = op[3];
    switch (op[0] % 18) {
    case 0: fuzz_set_slot(a, new_node(0)); break;
    case 1: fuzz_set_slot(a, new_node(1)); break;
    case 2: fuzz_set_slot(a, cog_list_new()); FUZZ_CHECK(*a); break;
    case 3: fuzz_set_slot(a, cog_dict_new()); FUZZ_CHECK(*a); break;
    case 4: fuzz_set_slot(a, key_of(t, k)); FUZZ_CHECK(*a); break;
    case 5: fuzz_set_slot(a, cog_int_from_i64((int64_t)k << 20)); FUZZ_CHECK(*a); break;
    case 6: cog_xincref(*a); fuzz_set_slot(b, *a); break; /* b = a */
    case 7: /* move a to b: a hand-off when b is a shared slot */
        if (a != b) {
            cog_object *o = *a;
            *a = NULL;
            fuzz_set_slot(b, o);
        }
        break;
    case 8: fuzz_set_slot(a, NULL); break;
    case 9: if (*a && *b) link_to(t, *a, *b, k); break;
    case 10: if (*a) unlink_from(t, *a, k); break;
    case 11: /* b = a[k] */
        if (*a && cog_list_check(*a)) {
            cog_object *o = cog_list_get(*a, (int8_t)k);
            if (o) fuzz_set_slot(b, o);
        }
        break;
    case 12: /* b = weakref(a) */
        if (*a) {
            cog_object *wr = cog_weakref_new(*a, k & 1 ? wr_callback : NULL, NULL);
            /* Documented: only the owner can create the first weakref to
             * an object still counted biased to it. */
            if (wr) fuzz_set_slot(b, wr);
            else FUZZ_CHECK(strstr(cog_last_error(), "create the weakref on that thread"));
        }
        break;
    case 13: if (*a && cog_weakref_check(*a)) fuzz_set_slot(b, cog_weakref_get(*a)); break;
    case 14: /* b = (a, b) */
        if (*a && *b) {
            cog_object *tup = cog_tuple_pack(2, *a, *b);
            FUZZ_CHECK(tup);
            fuzz_set_slot(b, tup);
        }
        break;
    case 15: FUZZ_CHECK(cog_gc_collect(k % 3) >= 0); break;
    case 16: gc_control(k); break;
    default:
        if (k & 1) {
            cog_safepoint();
        } else if (t == 1) { /* detach holding our slots; they stay valid */
            FUZZ_CHECK(cog_thread_detach() == COG_OK);
            FUZZ_CHECK(cog_thread_attach() == COG_OK);
        } else {
            cog_thread_offline();
            cog_thread_online();
        }
        break;
    }
    for (int i = 0; i < NPRIV; i++)
        if (is_node(priv[t][i]) && ((test_node *)priv[t][i])->canary != TEST_CANARY)
            fuzz_fail("a node we hold lost its canary (freed while referenced)");
}

static void run_ops(int t, int phase, const uint8_t *p, int n) {
    for (int i = 0; i < n; i++) run_op(t, phase, p + i * OPLEN);
}

static void drop_private(int t) {
    for (int i = 0; i < NPRIV; i++) fuzz_set_slot(&priv[t][i], NULL);
}

/* ---- the worker (thread 1) --------------------------------------------
 * One job per phase, under `mu`. Both threads wait offline: a grace period
 * (a collection, an RCU barrier) must never wait for a thread blocked on
 * the other. The mutex orders everything a phase did before what the next
 * phase (on either thread) does. */
enum { JOB_OPS, JOB_DROP, JOB_SAFEPOINT, JOB_QUIT };
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned long posted, finished;
/* Written by post() only while the worker is idle (every post is followed
 * by wait_worker before the next), so the worker reads it after unlocking
 * `mu`, ordered by the lock. */
static struct {
    int kind, phase, n;
    uint8_t ops[7 * OPLEN];
} job;
static pthread_t worker;
static int worker_running, serial;

static void *worker_main(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) fuzz_fail("worker attach");
    unsigned long seen = 0;
    for (int kind = JOB_OPS; kind != JOB_QUIT;) {
        cog_thread_offline();
        pthread_mutex_lock(&mu);
        while (posted == seen) pthread_cond_wait(&cv, &mu);
        seen = posted;
        pthread_mutex_unlock(&mu);
        cog_thread_online();
        kind = job.kind;
        if (kind == JOB_OPS) run_ops(1, job.phase, job.ops, job.n);
        else if (kind != JOB_SAFEPOINT) drop_private(1);
        cog_safepoint(); /* merges the decrefs the other thread queued to us */
        if (kind == JOB_QUIT && cog_thread_detach() != COG_OK) fuzz_fail("worker detach");
        pthread_mutex_lock(&mu);
        finished = seen;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void post(int kind, int phase, const uint8_t *ops, int n) {
    pthread_mutex_lock(&mu);
    job.kind = kind;
    job.phase = phase;
    job.n = n;
    if (n) memcpy(job.ops, ops, (size_t)n * OPLEN);
    posted++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_worker(void) {
    cog_thread_offline();
    pthread_mutex_lock(&mu);
    while (finished != posted) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    cog_thread_online();
}

static void stop_worker(void) {
    if (!worker_running) return;
    post(JOB_QUIT, 0, NULL, 0);
    wait_worker();
    cog_thread_offline(); /* the worker's detach may wait for a grace period */
    pthread_join(worker, NULL);
    cog_thread_online();
    worker_running = 0;
}

/* Before the allocator is measured: the worker takes back the blocks other
 * threads freed into its pools, and a collection releases the abandoned
 * pools of its detaches that remote frees emptied. */
static void settle_worker(void) {
    post(JOB_SAFEPOINT, 0, NULL, 0);
    wait_worker();
    fuzz_settle(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fin_type = test_node_type;
    fin_type.name = "FinNode";
    fin_type.finalize = fin_finalize;
    if (cog_init() != COG_OK) fuzz_fail("cog_init");
    fuzz_check_setup("fuzz_threads", argc, argv);
    fuzz_check_on_settled(settle_worker);
    fuzz_check_on_shutdown(stop_worker);
    const char *s = getenv("COG_FUZZ_SERIAL");
    serial = s && atoi(s) == 1;
    s = getenv("COG_FUZZ_TRACE");
    trace = s && atoi(s) == 1;
    if (pthread_create(&worker, NULL, worker_main, NULL) != 0) fuzz_fail("pthread_create");
    worker_running = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!cog_is_initialized()) LLVMFuzzerInitialize(NULL, NULL);
    int full = fuzz_check_begin(data, size);
    long node_base = atomic_load(&test_node_deallocs);
    __atomic_store_n(&nodes_created, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fin_created, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fin_finalized, 0, __ATOMIC_RELAXED);

    const uint8_t *p = data, *end = data + size;
    uint8_t ops[2][7 * OPLEN];
    for (int phase = 0; p < end && phase < 1024; phase++) {
        uint8_t h = *p++;
        int n[2] = {h % 8, h / 8 % 8};
        memset(ops, 0, sizeof ops);
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < n[t] * OPLEN; i++) ops[t][i] = p < end ? *p++ : 0;
        if (serial) run_ops(0, phase, ops[0], n[0]);
        post(JOB_OPS, phase, ops[1], n[1]);
        if (!serial) run_ops(0, phase, ops[0], n[0]);
        wait_worker();
    }

    /* Every slot is dropped. A decref of the other thread's object is
     * queued to that thread and merged at its next safe point, and that
     * free may queue the next one back: each round collects and lets both
     * threads merge, until every node is gone (a chain of nodes with
     * alternating owners takes a round per link). */
    for (int i = 0; i < NSHARED; i++) fuzz_set_slot(&shared[i], NULL);
    drop_private(0);
    post(JOB_DROP, 0, NULL, 0);
    wait_worker();
    cog_gc_enable();
    FUZZ_CHECK(cog_gc_set_threshold(2000, 10, 10) == COG_OK);
    long freed = 0, created = 0;
    for (int round = 0; round < 256; round++) {
        fuzz_settle(0);
        post(JOB_SAFEPOINT, 0, NULL, 0);
        wait_worker();
        freed = atomic_load(&test_node_deallocs) - node_base;
        created = __atomic_load_n(&nodes_created, __ATOMIC_RELAXED) +
                  __atomic_load_n(&fin_created, __ATOMIC_RELAXED);
        if (freed == created) break;
    }
    if (freed != created) {
        fprintf(stderr, "fuzz_threads: %ld nodes created, %ld freed\n", created, freed);
        fuzz_fail("nodes leaked");
    }
    FUZZ_CHECK(__atomic_load_n(&fin_finalized, __ATOMIC_RELAXED) ==
               __atomic_load_n(&fin_created, __ATOMIC_RELAXED));
    fuzz_check_end(full);
    return 0;
}
