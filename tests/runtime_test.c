/* tests/runtime_test.c - runtime lifetime and thread attach/detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "tests/test_types.h"

/* Blocking on another thread while attached: go offline (QSBR rule). */
static void join_offline(pthread_t t) {
    cog_thread_offline();
    assert_int_equal(pthread_join(t, NULL), 0);
    cog_thread_online();
}

static void init_twice_and_shutdown_twice(void **state) {
    (void)state;
    assert_false(cog_is_initialized());
    assert_int_equal(cog_shutdown(), COG_ESTATE);
    assert_int_equal(cog_thread_attach(), COG_ESTATE);
    assert_int_equal(cog_init(), COG_OK);
    assert_true(cog_is_initialized());
    assert_true(cog_thread_is_attached());
    assert_int_equal(cog_init(), COG_ESTATE);
    assert_non_null(strstr(cog_last_error(), "already"));
    assert_int_equal(cog_shutdown(), COG_OK);
    assert_false(cog_is_initialized());
    assert_false(cog_thread_is_attached());
    assert_int_equal(cog_shutdown(), COG_ESTATE);
    /* The runtime can be started again after a shutdown. */
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_shutdown(), COG_OK);
}

/* A helper thread that attaches, reports, and detaches when told to. */
typedef struct holder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int attached, release;
    uint32_t tid;
} holder;

/* How many of this process's threads are named `name` (/proc). */
static int threads_named(const char *name) {
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* the thread exited meanwhile */
        if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

/* The runtime's own threads carry names an operator can find in `top -H`
 * or a profile; the collector's lives from cog_init to cog_shutdown. */
static void runtime_threads_are_named(void **state) {
    (void)state;
    assert_int_equal(threads_named("cog-gc"), 0);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(threads_named("cog-gc"), 1);
    assert_int_equal(cog_shutdown(), COG_OK);
    assert_int_equal(threads_named("cog-gc"), 0);
}

static void *holder_main(void *arg) {
    holder *h = arg;
    int rc = cog_thread_attach();
    pthread_mutex_lock(&h->lock);
    h->attached = rc == COG_OK ? 1 : -1;
    h->tid = cog_thread_id();
    pthread_cond_broadcast(&h->cond);
    /* Blocking while attached: offline around the wait. */
    cog_thread_offline();
    while (!h->release) pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    cog_thread_online();
    if (rc == COG_OK) cog_thread_detach();
    return NULL;
}

static void shutdown_busy_until_other_thread_detaches(void **state) {
    (void)state;
    assert_int_equal(cog_init(), COG_OK);
    holder h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
    cog_thread_offline();
    pthread_mutex_lock(&h.lock);
    while (!h.attached) pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    cog_thread_online();
    assert_int_equal(h.attached, 1);
    assert_true(h.tid >= 1);
    assert_int_not_equal(h.tid, cog_thread_id());

    assert_int_equal(cog_shutdown(), COG_EBUSY);
    assert_non_null(strstr(cog_last_error(), "attached"));
    /* EBUSY changed nothing: still running, still attached. */
    assert_true(cog_is_initialized());
    assert_true(cog_thread_is_attached());

    pthread_mutex_lock(&h.lock);
    h.release = 1;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    join_offline(t);
    assert_int_equal(cog_shutdown(), COG_OK);
}

/* Objects survive their owner's detach (counts are merged) and stay usable
 * after the thread attaches again. */
static void attach_detach_cycles(void **state) {
    (void)state;
    assert_int_equal(cog_init(), COG_OK);
    long before = atomic_load(&test_node_deallocs);
    assert_int_equal(cog_thread_attach(), COG_ESTATE); /* already attached */
    test_node *kept = test_node_new(99);
    const int cycles = (int)test_scale(200);
    for (int i = 0; i < cycles; i++) {
        assert_int_equal(cog_thread_detach(), COG_OK);
        assert_false(cog_thread_is_attached());
        assert_int_equal(cog_thread_id(), 0);
        assert_int_equal(cog_thread_detach(), COG_ESTATE);
        assert_int_equal(cog_thread_attach(), COG_OK);
        assert_true(cog_thread_id() >= 1);
        cog_incref(&kept->ob); /* kept's owner left: shared path now */
        test_node *tmp = test_node_new(i);
        cog_ref_store(&tmp->next, &kept->ob); /* tmp owns that reference */
        cog_decref(&tmp->ob);
    }
    assert_int_equal(atomic_load(&test_node_deallocs), before + cycles);
    assert_int_equal(cog_refcount(&kept->ob), 1);
    assert_int_equal(kept->value, 99);
    cog_decref(&kept->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + cycles + 1);
    assert_int_equal(cog_shutdown(), COG_OK);
}

static void *report_id(void *arg) {
    uint32_t *ids = arg;
    ids[0] = cog_thread_id(); /* not attached yet: 0 */
    if (cog_thread_attach() != COG_OK) return NULL;
    ids[1] = cog_thread_id();
    cog_thread_detach();
    return NULL;
}

static void thread_ids(void **state) {
    (void)state;
    assert_int_equal(cog_thread_id(), 0);
    assert_int_equal(cog_init(), COG_OK);
    uint32_t mine = cog_thread_id();
    assert_true(mine >= 1);
    uint32_t ids[2] = {123, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, report_id, ids), 0);
    join_offline(t);
    assert_int_equal(ids[0], 0);
    assert_true(ids[1] >= 1);
    assert_int_not_equal(ids[1], mine); /* both attached at once */
    assert_int_equal(cog_thread_id(), mine);
    assert_int_equal(cog_shutdown(), COG_OK);
}

/* A thread that exits attached is detached by the thread-exit destructor:
 * shutdown is not refused, and its objects survive with merged counts. */
static test_node *left_behind;

static void *exit_attached(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) return NULL;
    left_behind = test_node_new(5);
    cog_incref(&left_behind->ob);
    cog_decref(&left_behind->ob);
    return NULL; /* no cog_thread_detach */
}

static void thread_exit_without_detach_is_detached(void **state) {
    (void)state;
    assert_int_equal(cog_init(), COG_OK);
    long before = atomic_load(&test_node_deallocs);
    left_behind = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, exit_attached, NULL), 0);
    join_offline(t);
    assert_non_null(left_behind);
    assert_int_equal(cog_refcount(&left_behind->ob), 1);
    cog_incref(&left_behind->ob);
    cog_decref(&left_behind->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    cog_decref(&left_behind->ob);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
    assert_int_equal(cog_shutdown(), COG_OK); /* not COG_EBUSY */
}

/* EBUSY leaves the runtime fully working: the caller allocates, collects
 * cycles, and another thread can still attach while the first is held. */
static void *attach_once(void *arg) {
    int *rc = arg;
    *rc = cog_thread_attach();
    if (*rc == COG_OK) {
        test_node *n = test_node_new(1);
        cog_decref(&n->ob);
        cog_thread_detach();
    }
    return NULL;
}

static void runtime_usable_after_busy_shutdown(void **state) {
    (void)state;
    assert_int_equal(cog_init(), COG_OK);
    long before = atomic_load(&test_node_deallocs);
    holder h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t, t2;
    assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
    cog_thread_offline();
    pthread_mutex_lock(&h.lock);
    while (!h.attached) pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    cog_thread_online();
    /* The holder is offline (blocked on its condition): still attached. */
    assert_int_equal(cog_shutdown(), COG_EBUSY);
    test_node *a = test_node_new(1), *b = test_node_new(2);
    cog_ref_store(&a->next, &b->ob);
    cog_incref(&a->ob);
    cog_ref_store(&b->next, &a->ob);
    cog_decref(&a->ob); /* a garbage cycle */
    assert_true(cog_gc_collect(2) >= 2);
    int rc2 = -100;
    assert_int_equal(pthread_create(&t2, NULL, attach_once, &rc2), 0);
    join_offline(t2);
    assert_int_equal(rc2, COG_OK);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 3);
    pthread_mutex_lock(&h.lock);
    h.release = 1;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    join_offline(t);
    assert_int_equal(cog_shutdown(), COG_OK);
}

/* A thread exits attached while offline and while other threads have
 * queued reference drops to it: the key destructor brings it online,
 * merges its queue and its objects, and nothing is freed early or leaked. */
static test_node *queued_obj;
static atomic_int exit_phase;

static void *exit_with_queue(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) return NULL;
    queued_obj = test_node_new(7);
    cog_incref(&queued_obj->ob); /* main's reference, counted locally */
    atomic_store(&exit_phase, 1);
    while (atomic_load(&exit_phase) < 2) sched_yield(); /* no safe point */
    cog_decref(&queued_obj->ob); /* ours: the queued one remains */
    cog_thread_offline();
    return NULL; /* attached and offline: the destructor detaches */
}

static void thread_exit_offline_with_queued_merges(void **state) {
    (void)state;
    assert_int_equal(cog_init(), COG_OK);
    long before = atomic_load(&test_node_deallocs);
    atomic_store(&exit_phase, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, exit_with_queue, NULL), 0);
    while (atomic_load(&exit_phase) < 1) {
        cog_safepoint();
        sched_yield();
    }
    cog_decref(&queued_obj->ob); /* shared count would go negative: queued */
    assert_int_equal(atomic_load(&test_node_deallocs), before);
    atomic_store(&exit_phase, 2);
    join_offline(t);
    /* The destructor's detach merged the queue: the total reached 0. */
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1);
    assert_int_equal(cog_shutdown(), COG_OK);
}

/* Detaching while holding objects: they stay valid, others keep using
 * them, and after re-attaching the thread drops them normally. */
static cog_object *shared_list;
static atomic_int hold_phase;

static void *detach_holding(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) return NULL;
    cog_object *l = cog_list_new();
    for (int i = 0; i < 10; i++) {
        test_node *n = test_node_new(i);
        cog_list_append(l, &n->ob);
        cog_decref(&n->ob);
    }
    cog_incref(l);
    shared_list = l; /* main's reference; we keep ours across the detach */
    cog_thread_detach();
    atomic_store(&hold_phase, 1);
    while (atomic_load(&hold_phase) < 2) sched_yield(); /* unattached: no obligations */
    if (cog_thread_attach() != COG_OK) return NULL;
    cog_object *o = cog_list_pop(l, 0);
    if (o) cog_decref(o);
    cog_decref(l);
    cog_thread_detach();
    return NULL;
}

static void detach_while_holding_objects(void **state) {
    (void)state;
    assert_int_equal(cog_init(), COG_OK);
    long before = atomic_load(&test_node_deallocs);
    atomic_store(&hold_phase, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, detach_holding, NULL), 0);
    while (atomic_load(&hold_phase) < 1) {
        cog_safepoint();
        sched_yield();
    }
    assert_int_equal(cog_list_size(shared_list), 10);
    assert_int_equal(cog_refcount(shared_list), 2);
    test_node *n = test_node_new(99);
    assert_int_equal(cog_list_append(shared_list, &n->ob), COG_OK);
    cog_decref(&n->ob);
    cog_object *first = cog_list_get(shared_list, 0);
    assert_non_null(first);
    assert_int_equal(((test_node *)first)->canary, TEST_CANARY);
    cog_decref(first);
    atomic_store(&hold_phase, 2);
    join_offline(t);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 1); /* the popped one */
    assert_int_equal(cog_refcount(shared_list), 1);
    assert_int_equal(cog_list_size(shared_list), 10);
    cog_decref(shared_list);
    assert_int_equal(atomic_load(&test_node_deallocs), before + 11);
    assert_int_equal(cog_shutdown(), COG_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_twice_and_shutdown_twice),
        cmocka_unit_test(runtime_threads_are_named),
        cmocka_unit_test(shutdown_busy_until_other_thread_detaches),
        cmocka_unit_test(attach_detach_cycles),
        cmocka_unit_test(thread_ids),
        cmocka_unit_test(thread_exit_without_detach_is_detached),
        cmocka_unit_test(runtime_usable_after_busy_shutdown),
        cmocka_unit_test(thread_exit_offline_with_queued_merges),
        cmocka_unit_test(detach_while_holding_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
