/* tests/runtime_test.c - runtime lifetime and thread attach/detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_twice_and_shutdown_twice),
        cmocka_unit_test(shutdown_busy_until_other_thread_detaches),
        cmocka_unit_test(attach_detach_cycles),
        cmocka_unit_test(thread_ids),
        cmocka_unit_test(thread_exit_without_detach_is_detached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
