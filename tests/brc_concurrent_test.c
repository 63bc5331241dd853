/* tests/brc_concurrent_test.c - biased reference counting across threads:
 * every object is deallocated exactly once (test_node's dealloc aborts on a
 * second dealloc via its canary; test_node_deallocs counts them), whichever
 * thread drops the last reference, including after the owner has left.
 * Sizes scale with COG_TEST_SCALE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

#define NTHREADS 4

static void attach_or_die(void) {
    if (cog_thread_attach() != COG_OK) abort();
}

/* Spin (not block) until *flag >= want, passing safe points meanwhile. */
static void wait_for(atomic_int *flag, int want) {
    while (atomic_load(flag) < want) {
        cog_safepoint();
        sched_yield();
    }
}

/* Wait until the dealloc counter reaches want, merging queued counts. */
static int wait_deallocs(long want) {
    for (long spins = 0; spins < 20000000; spins++) {
        if (atomic_load(&test_node_deallocs) >= want) return 1;
        cog_safepoint();
        sched_yield();
    }
    return 0;
}

/* ---- 1. Heavy cross-thread incref/decref of shared objects ------------- */

#define NSHARED 16
#define TRANSFERS 4 /* references per object the owner hands each worker */

typedef struct contention_args {
    int index;
    long ops;
    test_node **objs;
} contention_args;

static atomic_int contention_done;

static void *contention_worker(void *arg) {
    contention_args *a = arg;
    attach_or_die();
    int dropped = 0;
    for (long i = 0; i < a->ops; i++) {
        test_node *n = a->objs[(i * 7 + a->index) % NSHARED];
        cog_incref(&n->ob);
        cog_incref(&n->ob);
        if (n->canary != TEST_CANARY) abort(); /* freed under us */
        cog_decref(&n->ob);
        cog_decref(&n->ob);
        /* Drop the transferred references along the way: the shared count
         * goes negative, so counts get queued to the owner. */
        if (i % (a->ops / TRANSFERS + 1) == 0 && dropped < TRANSFERS) {
            for (int k = 0; k < NSHARED; k++) cog_decref(&a->objs[k]->ob);
            dropped++;
        }
        if (i % 64 == 0) cog_safepoint();
    }
    for (; dropped < TRANSFERS; dropped++)
        for (int k = 0; k < NSHARED; k++) cog_decref(&a->objs[k]->ob);
    atomic_fetch_add(&contention_done, 1);
    cog_thread_detach();
    return NULL;
}

static void dealloc_once_under_contention(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    test_node *objs[NSHARED];
    for (int k = 0; k < NSHARED; k++) {
        objs[k] = test_node_new(k);
        for (int j = 0; j < NTHREADS * TRANSFERS; j++) cog_incref(&objs[k]->ob);
    }
    atomic_store(&contention_done, 0);
    contention_args args[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        args[i] = (contention_args){.index = i, .ops = test_scale(20000), .objs = objs};
    pthread_t t[NTHREADS];
    test_start_threads(t, NTHREADS, contention_worker, args, sizeof args[0]);
    /* The owner keeps working on its objects (local path) and merges the
     * counts queued to it, concurrently with the workers. */
    while (atomic_load(&contention_done) < NTHREADS) {
        for (int k = 0; k < NSHARED; k++) {
            cog_incref(&objs[k]->ob);
            cog_decref(&objs[k]->ob);
        }
        cog_safepoint();
        sched_yield();
    }
    test_join_threads(t, NTHREADS);
    cog_safepoint();
    /* Only the owner's original reference is left on each object. */
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    for (int k = 0; k < NSHARED; k++) {
        assert_int_equal(cog_refcount(&objs[k]->ob), 1);
        assert_int_equal(objs[k]->value, k);
        cog_decref(&objs[k]->ob);
    }
    assert_true(wait_deallocs(before + NSHARED));
    assert_int_equal(atomic_load(&test_node_deallocs), before + NSHARED);
}

/* ---- 2. The last reference is dropped on the owner or on a worker ------ */

#define RACE_OBJS 8

static test_node *race_objs[RACE_OBJS];
static atomic_int race_round;    /* round published by the owner */
static atomic_int race_took;     /* workers that took their references */
static atomic_int race_released; /* owner dropped its own (odd rounds) */
static atomic_int race_dropped;  /* workers that dropped theirs */

static void *race_worker(void *arg) {
    int rounds = *(int *)arg;
    attach_or_die();
    for (int r = 1; r <= rounds; r++) {
        wait_for(&race_round, r);
        if (r % 2) { /* take our own reference first */
            for (int k = 0; k < RACE_OBJS; k++) cog_incref(&race_objs[k]->ob);
            atomic_fetch_add(&race_took, 1);
            wait_for(&race_released, r);
        }
        for (int k = 0; k < RACE_OBJS; k++) cog_decref(&race_objs[k]->ob);
        atomic_fetch_add(&race_dropped, 1);
    }
    cog_thread_detach();
    return NULL;
}

static void last_reference_dropped_by_any_thread(void **state) {
    (void)state;
    int rounds = (int)test_scale(50);
    long before = atomic_load(&test_node_deallocs);
    atomic_store(&race_round, 0);
    atomic_store(&race_took, 0);
    atomic_store(&race_released, 0);
    atomic_store(&race_dropped, 0);
    pthread_t t[NTHREADS];
    int arg[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) arg[i] = rounds;
    test_start_threads(t, NTHREADS, race_worker, arg, sizeof arg[0]);
    for (int r = 1; r <= rounds; r++) {
        for (int k = 0; k < RACE_OBJS; k++) {
            race_objs[k] = test_node_new(r);
            /* Even rounds: the owner's count stands for the workers'
             * references; their decrefs queue to us and our merge frees. */
            if (r % 2 == 0)
                for (int j = 1; j < NTHREADS; j++) cog_incref(&race_objs[k]->ob);
        }
        atomic_store(&race_round, r);
        if (r % 2) {
            /* Odd rounds: workers hold their own shared references; our
             * local count drops to 0 and the object becomes shared-only,
             * so the last worker decref frees it on that worker. */
            wait_for(&race_took, NTHREADS * ((r + 1) / 2));
            for (int k = 0; k < RACE_OBJS; k++) cog_decref(&race_objs[k]->ob);
            atomic_store(&race_released, r);
        }
        wait_for(&race_dropped, NTHREADS * r);
        assert_true(wait_deallocs(before + (long)r * RACE_OBJS));
        assert_int_equal(atomic_load(&test_node_deallocs), before + (long)r * RACE_OBJS);
    }
    test_join_threads(t, NTHREADS);
    assert_int_equal(atomic_load(&test_node_deallocs), before + (long)rounds * RACE_OBJS);
}

/* ---- 3. The owner detaches while others still hold references ---------- */

#define OWNED 64

static test_node *owned[OWNED];
static atomic_int owned_ready;

static void *leaving_owner(void *arg) {
    (void)arg;
    attach_or_die();
    for (int k = 0; k < OWNED; k++) {
        owned[k] = test_node_new(k);
        for (int j = 0; j < NTHREADS; j++) cog_incref(&owned[k]->ob); /* holders' */
    }
    atomic_store(&owned_ready, 1);
    for (int k = 0; k < OWNED; k++) cog_decref(&owned[k]->ob); /* ours */
    cog_thread_detach(); /* races with the holders' decrefs */
    return NULL;
}

static void *holder(void *arg) {
    long ops = *(long *)arg;
    attach_or_die();
    wait_for(&owned_ready, 1);
    for (long i = 0; i < ops; i++) {
        test_node *n = owned[i % OWNED];
        cog_incref(&n->ob);
        if (n->canary != TEST_CANARY || n->value != i % OWNED) abort();
        cog_decref(&n->ob);
        if (i % 64 == 0) cog_safepoint();
    }
    for (int k = 0; k < OWNED; k++) cog_decref(&owned[k]->ob);
    cog_thread_detach();
    return NULL;
}

static void owner_detaches_while_others_hold_references(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    atomic_store(&owned_ready, 0);
    long ops = test_scale(5000);
    pthread_t t[NTHREADS + 1];
    long arg[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) arg[i] = ops;
    test_start_threads(t, 1, leaving_owner, NULL, 0);
    test_start_threads(t + 1, NTHREADS, holder, arg, sizeof arg[0]);
    test_join_threads(t, NTHREADS + 1);
    assert_true(wait_deallocs(before + OWNED));
    assert_int_equal(atomic_load(&test_node_deallocs), before + OWNED);
}

/* ---- 4. Counts queued to an owner that then detaches ------------------- */

#define QUEUED 32

static test_node *queued_objs[QUEUED];
static atomic_int queued_phase;
static long queued_alive_before_detach;

static void *queue_owner(void *arg) {
    long before = *(long *)arg;
    attach_or_die();
    for (int k = 0; k < QUEUED; k++) {
        queued_objs[k] = test_node_new(k);
        cog_incref(&queued_objs[k]->ob); /* the dropper's reference */
    }
    atomic_store(&queued_phase, 1);
    /* Spin without a safe point: the dropper's decrefs must stay queued. */
    while (atomic_load(&queued_phase) < 2) sched_yield();
    queued_alive_before_detach = atomic_load(&test_node_deallocs) - before;
    for (int k = 0; k < QUEUED; k++) cog_decref(&queued_objs[k]->ob); /* ours: 2 -> 1 */
    /* Detach merges the queue: each total reaches 0 here. */
    cog_thread_detach();
    return NULL;
}

static void *queue_dropper(void *arg) {
    (void)arg;
    attach_or_die();
    wait_for(&queued_phase, 1);
    /* Shared count 0 -> would go negative: queued to the owner. */
    for (int k = 0; k < QUEUED; k++) cog_decref(&queued_objs[k]->ob);
    atomic_store(&queued_phase, 2);
    cog_thread_detach();
    return NULL;
}

static void queued_merges_settled_by_owner_detach(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    atomic_store(&queued_phase, 0);
    queued_alive_before_detach = -1;
    pthread_t t[2];
    test_start_threads(t, 1, queue_owner, &before, 0);
    test_start_threads(t + 1, 1, queue_dropper, NULL, 0);
    test_join_threads(t, 2);
    assert_int_equal(queued_alive_before_detach, 0); /* nothing freed early */
    assert_int_equal(atomic_load(&test_node_deallocs), before + QUEUED);
}

/* ---- 4b. A non-owner's queueing decref races with the owner's detach ----
 * The dropper's CAS sets QUEUED while the owner merges everything it owns
 * at detach (ob_tid -> 0); the decref must still find the owner's queue
 * (or merge on its behalf), never look up thread id 0 or lose a count.
 * Regression test for the soak harness's 'invalid owner thread id 0'. */

#define DR_OBJS 64

static test_node *dr_objs[DR_OBJS];
static atomic_int dr_round;

static void *detach_racing_owner(void *arg) {
    long rounds = *(long *)arg;
    attach_or_die();
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < DR_OBJS; k++) {
            dr_objs[k] = test_node_new(k);
            cog_incref(&dr_objs[k]->ob); /* the dropper's reference */
        }
        atomic_store(&dr_round, (int)(2 * r + 1)); /* go */
        cog_thread_detach();                       /* races with the drops */
        attach_or_die();
        for (int k = 0; k < DR_OBJS; k++) cog_decref(&dr_objs[k]->ob); /* merged: shared path */
        while (atomic_load(&dr_round) != (int)(2 * r + 2)) {
            cog_safepoint();
            sched_yield();
        }
    }
    cog_thread_detach();
    return NULL;
}

static void *detach_racing_dropper(void *arg) {
    long rounds = *(long *)arg;
    attach_or_die();
    for (long r = 0; r < rounds; r++) {
        wait_for(&dr_round, (int)(2 * r + 1));
        for (int k = 0; k < DR_OBJS; k++) cog_decref(&dr_objs[k]->ob);
        atomic_store(&dr_round, (int)(2 * r + 2));
    }
    cog_thread_detach();
    return NULL;
}

static void queueing_decref_races_owner_detach(void **state) {
    (void)state;
    long rounds = test_scale(200);
    long before = atomic_load(&test_node_deallocs);
    atomic_store(&dr_round, 0);
    pthread_t t[2];
    test_start_threads(t, 1, detach_racing_owner, &rounds, 0);
    test_start_threads(t + 1, 1, detach_racing_dropper, &rounds, 0);
    test_join_threads(t, 2);
    assert_true(wait_deallocs(before + rounds * DR_OBJS));
    assert_int_equal(atomic_load(&test_node_deallocs), before + rounds * DR_OBJS);
}

/* ---- 5. Pipeline: A creates, B links, C drops -------------------------- */

typedef struct handoff {
    pthread_mutex_t lock;
    cog_object *items[64];
    int head, len;
} handoff;

static int handoff_push(handoff *h, cog_object *o) {
    pthread_mutex_lock(&h->lock);
    int ok = h->len < 64;
    if (ok) h->items[(h->head + h->len++) % 64] = o;
    pthread_mutex_unlock(&h->lock);
    return ok;
}

static cog_object *handoff_pop(handoff *h) {
    cog_object *o = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->len) {
        o = h->items[h->head];
        h->head = (h->head + 1) % 64;
        h->len--;
    }
    pthread_mutex_unlock(&h->lock);
    return o;
}

/* Push, passing safe points while the queue is full (never blocks long). */
static void push_wait(handoff *h, cog_object *o) {
    while (!handoff_push(h, o)) {
        cog_safepoint();
        sched_yield();
    }
}

static cog_object *pop_wait(handoff *h) {
    cog_object *o;
    while (!(o = handoff_pop(h))) {
        cog_safepoint();
        sched_yield();
    }
    return o;
}

#define LINK 4 /* B links this many nodes into one chain */

static handoff a_to_b = {.lock = PTHREAD_MUTEX_INITIALIZER};
static handoff b_to_c = {.lock = PTHREAD_MUTEX_INITIALIZER};
static long pipeline_items;
static atomic_long pipeline_bad;

static void *stage_a(void *arg) {
    (void)arg;
    attach_or_die();
    for (long i = 0; i < pipeline_items; i++) push_wait(&a_to_b, &test_node_new(i)->ob);
    cog_thread_detach();
    return NULL;
}

static void *stage_b(void *arg) {
    (void)arg;
    attach_or_die();
    for (long i = 0; i < pipeline_items / LINK; i++) {
        test_node *head = (test_node *)pop_wait(&a_to_b);
        test_node *tail = head;
        for (int k = 1; k < LINK; k++) {
            test_node *n = (test_node *)pop_wait(&a_to_b);
            cog_ref_store(&tail->next, &n->ob); /* gives our reference away */
            tail = n;
        }
        push_wait(&b_to_c, &head->ob);
    }
    cog_thread_detach();
    return NULL;
}

static void *stage_c(void *arg) {
    (void)arg;
    attach_or_die();
    for (long i = 0; i < pipeline_items / LINK; i++) {
        test_node *head = (test_node *)pop_wait(&b_to_c);
        /* Values arrive in order and every link is intact. */
        int64_t v = head->value;
        int len = 0;
        for (test_node *n = head; n; n = (test_node *)cog_ref_load(&n->next), len++)
            if (n->canary != TEST_CANARY || n->value != v + len) atomic_fetch_add(&pipeline_bad, 1);
        if (len != LINK || v != i * LINK) atomic_fetch_add(&pipeline_bad, 1);
        cog_decref(&head->ob); /* frees the chain, owned by A */
    }
    cog_thread_detach();
    return NULL;
}

static void pipeline_handoff(void **state) {
    (void)state;
    long before = atomic_load(&test_node_deallocs);
    pipeline_items = test_scale(20000) / LINK * LINK;
    atomic_store(&pipeline_bad, 0);
    pthread_t t[3];
    test_start_threads(t, 1, stage_a, NULL, 0);
    test_start_threads(t + 1, 1, stage_b, NULL, 0);
    test_start_threads(t + 2, 1, stage_c, NULL, 0);
    test_join_threads(t, 3);
    assert_int_equal(atomic_load(&pipeline_bad), 0);
    assert_int_equal(a_to_b.len + b_to_c.len, 0);
    assert_int_equal(atomic_load(&test_node_deallocs), before + pipeline_items);
}

/* ---- 6. Immortal objects shared by every thread ----------------------- */

static atomic_long imm_deallocs;
static void imm_dealloc(cog_object *self) {
    (void)self;
    atomic_fetch_add(&imm_deallocs, 1);
}
static const cog_type imm_type = {
    .name = "Immortal", .basic_size = sizeof(cog_object), .dealloc = imm_dealloc};
static cog_object static_imm = COG_IMMORTAL_HEAD(&imm_type);
static cog_object *heap_imm; /* reachable: not a leak for LSan */

static void *immortal_worker(void *arg) {
    long ops = *(long *)arg;
    attach_or_die();
    for (long i = 0; i < ops; i++) {
        /* Unbalanced on purpose: more decrefs than increfs. */
        cog_incref(&static_imm);
        cog_decref(&static_imm);
        cog_decref(&static_imm);
        cog_decref(heap_imm);
        cog_decref(heap_imm);
        cog_incref(heap_imm);
        if (i % 64 == 0) cog_safepoint();
    }
    cog_thread_detach();
    return NULL;
}

static void immortals_shared_by_all_threads(void **state) {
    (void)state;
    heap_imm = cog_new(&imm_type);
    assert_non_null(heap_imm);
    cog_set_immortal(heap_imm); /* before any other thread can see it */
    long ops = test_scale(20000);
    long arg[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) arg[i] = ops;
    pthread_t t[NTHREADS];
    test_start_threads(t, NTHREADS, immortal_worker, arg, sizeof arg[0]);
    test_join_threads(t, NTHREADS);
    cog_safepoint();
    assert_int_equal(atomic_load(&imm_deallocs), 0);
    assert_int_equal(cog_refcount(&static_imm), COG_IMMORTAL);
    assert_int_equal(cog_refcount(heap_imm), COG_IMMORTAL);
    assert_int_equal(atomic_load_explicit(&heap_imm->ob_ref_shared, memory_order_relaxed), 0);
}

/* ---- 8. A dealloc's takes: its own fields plainly, others atomically ---
 *
 * While a type's dealloc runs, cog_ref_take of the dying object's own
 * fields is a load and a store (nobody else can reach them); a take of any
 * other object's field must stay an exchange. Each round, a taker's dealloc
 * (on one thread) and a plain cog_ref_take (on another) race for the one
 * reference in a shared slot: exactly one may get it. A thread-wide plain
 * take would let both load it before either stores NULL, and the slot's
 * object would be dropped twice. */

typedef struct taker {
    cog_object ob;
    cog_ref own;
} taker;

static test_node *slot;          /* shared: slot->next is raced for */
static atomic_long slot_takes;   /* references taken out of slot->next */
static atomic_int slot_round, slot_done;

static void take_slot(void) {
    cog_object *x = cog_ref_take(&slot->next);
    if (!x) return;
    if (((test_node *)x)->canary != TEST_CANARY) abort(); /* taken twice, freed */
    atomic_fetch_add(&slot_takes, 1);
    cog_decref(x);
}

static void taker_dealloc(cog_object *self) {
    cog_xdecref(cog_ref_take(&((taker *)self)->own)); /* its own field */
    take_slot();                                       /* someone else's */
}

static const cog_type taker_type = {
    .name = "test.Taker",
    .basic_size = sizeof(taker),
    .dealloc = taker_dealloc,
};

typedef struct slot_race_args {
    int side; /* 0: drops a taker, 1: takes directly */
    long rounds;
} slot_race_args;

static void *slot_race_worker(void *arg) {
    slot_race_args *a = arg;
    attach_or_die();
    for (int r = 1; r <= a->rounds; r++) {
        taker *t = NULL;
        if (a->side == 0) {
            t = (taker *)cog_new(&taker_type);
            if (!t) abort();
            cog_ref_store(&t->own, &test_node_new(r)->ob);
        }
        wait_for(&slot_round, r);
        if (a->side == 0)
            cog_decref(&t->ob); /* the last reference: taker_dealloc */
        else
            take_slot();
        atomic_fetch_add(&slot_done, 1);
    }
    cog_thread_detach();
    return NULL;
}

static void dealloc_takes_of_other_fields_stay_atomic(void **state) {
    (void)state;
    long rounds = test_scale(20000);
    slot = test_node_new(-1);
    long before = atomic_load(&test_node_deallocs);
    slot_race_args args[2] = {{0, rounds}, {1, rounds}};
    pthread_t t[2];
    test_start_threads(t, 2, slot_race_worker, args, sizeof args[0]);
    for (int r = 1; r <= rounds; r++) {
        cog_ref_store(&slot->next, &test_node_new(r)->ob);
        atomic_store(&slot_round, r);
        wait_for(&slot_done, 2 * r);
    }
    test_join_threads(t, 2);
    /* Every slot object taken exactly once, and it and every taker's own
     * node freed exactly once (a second free aborts on the canary). */
    assert_int_equal(atomic_load(&slot_takes), rounds);
    assert_true(wait_deallocs(before + 2 * rounds));
    assert_int_equal(atomic_load(&test_node_deallocs), before + 2 * rounds);
    cog_decref(&slot->ob);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE(dealloc_once_under_contention),
        TEST_CASE(last_reference_dropped_by_any_thread),
        TEST_CASE(owner_detaches_while_others_hold_references),
        TEST_CASE(queued_merges_settled_by_owner_detach),
        TEST_CASE(queueing_decref_races_owner_detach),
        TEST_CASE(pipeline_handoff),
        TEST_CASE(immortals_shared_by_all_threads),
        TEST_CASE(dealloc_takes_of_other_fields_stay_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
