/* tests/fault_injection_test.c - allocation failure at every point of a
 * realistic API sequence.
 *
 * For n = 1, 2, ... the n-th block allocation of the calling thread fails
 * (cog_mem_fail_alloc_after), then the n-th large-block mapping
 * (cog_mem_fail_malloc_after), then the n-th arena mmap
 * (cog_mem_fail_mmap_after), until the sequence runs through without
 * reaching the failure point. Each time: the API call that hit it returns
 * NULL / a negative status with COG_ENOMEM text in cog_last_error(), the
 * sequence unwinds, the same sequence then succeeds with no failure
 * (the runtime is still usable), and after a collection every node is
 * freed and the allocator's blocks are back to their baseline. Under asan
 * LeakSanitizer checks malloc'd memory at exit as well. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

/* ---- the sequence ------------------------------------------------------ */

static atomic_int wr_calls;
static void wr_cb(cog_object *wr, void *arg) {
    (void)wr, (void)arg;
    atomic_fetch_add(&wr_calls, 1);
}

typedef struct held {
    cog_object *o[16];
    int n;
} held;

static long nodes_made; /* nodes the sequences created */

static test_node *node(held *h) {
    test_node *n = (test_node *)cog_new(&test_node_type);
    if (!n) return NULL;
    n->canary = TEST_CANARY;
    nodes_made++;
    h->o[h->n++] = &n->ob;
    return n;
}

static cog_object *keep(held *h, cog_object *o) {
    if (o) h->o[h->n++] = o;
    return o;
}

/* An API call failed: it must say it ran out of memory. */
static int failed(void) {
    assert_non_null(strstr(cog_last_error(), "memory"));
    return COG_ENOMEM;
}

#define NEED(x) \
    do {        \
        if (!(x)) { rc = failed(); goto out; } \
    } while (0)
#define NEED_OK(x) \
    do {           \
        int r_ = (x); \
        if (r_ != COG_OK) { assert_int_equal(r_, COG_ENOMEM); rc = failed(); goto out; } \
    } while (0)

/* Objects, a cycle through a list, a dict with str and int keys, interned
 * strings, a weakref with a callback, a tuple snapshot, medium (2 KiB) and
 * large (40 KiB, mapped) bytes, and a list whose storage grows through the
 * medium classes to a large block. Returns COG_OK or COG_ENOMEM; holds
 * nothing afterwards either way. */
static int sequence(void) {
    held h = {.n = 0};
    int rc = COG_OK;
    test_node *a, *b;
    cog_object *list, *dict, *big, *s, *t;
    NEED(a = node(&h));
    NEED(b = node(&h));
    NEED(list = keep(&h, cog_list_new()));
    NEED_OK(cog_list_append(list, &a->ob));
    NEED_OK(cog_list_append(list, &b->ob));
    cog_incref(list);
    cog_ref_store(&a->next, list); /* cycle a -> list -> a */
    for (int i = 0; i < 20; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "item %d", i);
        NEED(s = cog_str_new(buf, (size_t)n));
        int r = cog_list_append(list, s);
        cog_decref(s);
        NEED_OK(r);
    }
    NEED(dict = keep(&h, cog_dict_new()));
    for (int i = 0; i < 12; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "fi-key-%d", i);
        cog_object *k = i % 2 ? cog_str_intern(key, (size_t)n) : cog_int_from_i64(1000 + i);
        NEED(k);
        int r = cog_dict_set(dict, k, list);
        cog_decref(k);
        NEED_OK(r);
    }
    NEED(keep(&h, cog_weakref_new(&b->ob, wr_cb, NULL)));
    NEED(t = keep(&h, cog_list_snapshot(list)));
    static char blob[40 * 1024];
    NEED(big = keep(&h, cog_bytes_new(blob, 2048)));
    NEED(big = keep(&h, cog_bytes_new(blob, sizeof blob)));
    NEED(s = keep(&h, cog_str_intern("fault injection", 15)));
    NEED(big = keep(&h, cog_list_new()));
    for (int i = 0; i < 4500; i++) NEED_OK(cog_list_append(big, t)); /* 36 KiB of storage */
    NEED(keep(&h, cog_tuple_pack(3, &a->ob, dict, big)));
out:
    while (h.n) cog_decref(h.o[--h.n]);
    return rc;
}

/* ---- checks ------------------------------------------------------------ */

/* Collect the cycles a partial sequence left behind and let deferred frees
 * run; the collector thread frees into our pools, taken back at a safe
 * point. Retries because RCU-deferred frees complete asynchronously. */
static void expect_baseline(uint64_t base, long nodes_before, long nodes_made) {
    uint64_t now = 0;
    for (int i = 0; i < 200; i++) {
        assert_true(cog_gc_collect(2) >= 0);
        cog_safepoint();
        now = test_blocks_in_use();
        if (now == base && atomic_load(&test_node_deallocs) - nodes_before == nodes_made) break;
        struct timespec ts = {0, 1000000};
        cog_thread_offline();
        nanosleep(&ts, NULL);
        cog_thread_online();
    }
    assert_int_equal(atomic_load(&test_node_deallocs) - nodes_before, nodes_made);
    assert_int_equal(now, base);
}

/* Sweep the block-allocation failure point over the sequence. */
static void sweep_block_allocations(void **state) {
    (void)state;
    long injected = 0;
    uint64_t base = test_blocks_in_use();
    unsigned n;
    for (n = 1; n <= 2000; n++) {
        long before = atomic_load(&test_node_deallocs);
        nodes_made = 0;
        cog_mem_fail_alloc_after(n);
        int rc = sequence();
        unsigned left = cog_mem_fail_alloc_pending();
        cog_mem_fail_alloc_after(0);
        if (rc == COG_OK) {
            /* The failure point lies beyond the sequence: done. */
            assert_true(left > 0);
            expect_baseline(base, before, nodes_made);
            break;
        }
        assert_int_equal(rc, COG_ENOMEM);
        assert_int_equal(left, 0); /* it failed exactly where we injected */
        injected++;
        /* Still usable: the whole sequence works now. */
        assert_int_equal(sequence(), COG_OK);
        expect_baseline(base, before, nodes_made);
    }
    assert_true(n <= 2000);
    assert_true(injected >= 40);
    printf("fault_injection: block allocations: %ld failure points injected\n", injected);
}

static uint64_t mmap_failures(void) {
    cog_mem_info m;
    cog_mem_stats(&m);
    return m.mmap_failures;
}

static void sweep_large_mallocs(void **state) {
    (void)state;
    /* The sequence makes a few large blocks (40 KiB bytes, the big list's
     * storage as it grows past 32 KiB); sweep until it gets through. */
    long injected = 0;
    uint64_t base = test_blocks_in_use();
    for (unsigned n = 1; n <= 16; n++) {
        long before = atomic_load(&test_node_deallocs);
        nodes_made = 0;
        cog_mem_fail_malloc_after(n);
        int rc = sequence();
        cog_mem_fail_malloc_after(0);
        if (rc == COG_OK) {
            expect_baseline(base, before, nodes_made);
            break;
        }
        assert_int_equal(rc, COG_ENOMEM);
        injected++;
        assert_int_equal(sequence(), COG_OK);
        expect_baseline(base, before, nodes_made);
    }
    assert_true(injected >= 1);
    printf("fault_injection: large mallocs: %ld failure points injected\n", injected);
}

/* Arena mmaps: a sequence that needs new arenas (4 MiB of nodes) fails
 * cleanly at each of its first mmaps. */
static void sweep_arena_mmaps(void **state) {
    (void)state;
    long injected = 0;
    uint64_t base = test_blocks_in_use();
    enum { N = 4 * 1024 * 1024 / sizeof(test_node) };
    for (unsigned n = 1; n <= 4; n++) {
        long before = atomic_load(&test_node_deallocs);
        uint64_t fails = mmap_failures();
        cog_mem_fail_mmap_after(n);
        cog_object *list = cog_list_new();
        assert_non_null(list);
        long made = 0;
        int rc = COG_OK;
        for (long i = 0; i < (long)N; i++) {
            cog_object *o = cog_new(&test_node_type);
            if (!o) {
                rc = failed();
                break;
            }
            made++;
            ((test_node *)o)->canary = TEST_CANARY;
            int r = cog_list_append(list, o);
            cog_decref(o);
            if (r != COG_OK) {
                rc = failed();
                break;
            }
        }
        cog_mem_fail_mmap_after(0);
        cog_decref(list);
        if (rc == COG_OK) {
            assert_int_equal(mmap_failures(), fails);
        } else {
            assert_int_equal(mmap_failures(), fails + 1);
            injected++;
        }
        expect_baseline(base, before, made);
        /* Usable again: allocate a node after the failure. */
        test_node *x = test_node_new(1);
        cog_decref(&x->ob);
    }
    assert_true(injected >= 1);
    printf("fault_injection: arena mmaps: %ld failure points injected\n", injected);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_block_allocations),
        cmocka_unit_test(sweep_large_mallocs),
        cmocka_unit_test(sweep_arena_mmaps),
    };
    /* Collections only when we ask, so the collector's own allocations
     * never interleave unpredictably with the sweep's statistics. */
    return cmocka_run_group_tests(tests, test_setup_gc_off, test_teardown);
}
