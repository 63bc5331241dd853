/* stress/fuzz_api.c - libFuzzer target: the input is a program of API
 * operations on a small object graph.
 *
 * Eight slots hold strong references. Each operation is one byte (its
 * opcode) followed by argument bytes (missing bytes read as 0): create
 * nodes (some with finalizers that may resurrect), lists, dicts, tuples,
 * ints, interned strings and weakrefs; link and unlink (node fields,
 * list append/pop/set, dict set/del); duplicate and drop references;
 * collect a generation; change thresholds, enable/disable automatic
 * collection, freeze/unfreeze, SAVEALL. One runtime serves every input.
 *
 * After the program every reference is dropped, garbage is cleared and
 * full collections run until every node ever created has been deallocated
 * exactly once (the node type aborts on a second dealloc) and every
 * finalizer has run exactly once - checked after every input. The intern
 * table back to its count and the allocator's blocks back to the baseline
 * need RCU grace periods (~40 ms), so fuzz_check.c checks them every N
 * inputs, and after every input when one input is replayed (fuzz_check.h).
 * Built with COG_DEBUG, so a refcount operation on a freed object aborts;
 * canaries catch reads of a freed node. Built by tools/fuzz.sh with
 * -fsanitize=fuzzer,address (LeakSanitizer on), and replayed over
 * stress/fuzz_corpus by //stress:fuzz_replay in the normal test run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress/fuzz_check.h"
#include "tests/test_types.h"

#define NSLOTS 8
#define NRESURRECT 8

#define fail fuzz_fail
#define CHECK FUZZ_CHECK

/* Nodes with a finalizer; while `resurrect` is set, the finalizer keeps
 * the dying node alive in `revived` (PEP 442 resurrection). */
static long fin_created, fin_finalized, nodes_created, wr_callbacks;
static int resurrect;
static cog_object *revived[NRESURRECT];

static void fin_finalize(cog_object *self) {
    if (((test_node *)self)->canary != TEST_CANARY) fail("finalizer on a corrupted node");
    /* Finalizers of cyclic garbage run on the collector thread. */
    __atomic_fetch_add(&fin_finalized, 1, __ATOMIC_RELAXED);
    for (int i = 0; __atomic_load_n(&resurrect, __ATOMIC_RELAXED) && i < NRESURRECT; i++)
        if (!revived[i]) {
            cog_incref(self);
            revived[i] = self;
            break;
        }
}

static cog_type fin_type;

static void wr_callback(cog_object *wr, void *arg) {
    (void)arg;
    CHECK(cog_weakref_get(wr) == NULL);
    __atomic_fetch_add(&wr_callbacks, 1, __ATOMIC_RELAXED); /* collector thread too */
}

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static uint8_t next(reader *r) { return r->p < r->end ? *r->p++ : 0; }

static int is_node(cog_object *o) {
    return o && (o->ob_type == &test_node_type || o->ob_type == &fin_type);
}

static void check_node(cog_object *o) {
    if (is_node(o) && ((test_node *)o)->canary != TEST_CANARY)
        fail("a node we hold lost its canary (freed while referenced)");
}

static cog_object *new_node(int fin) {
    test_node *n = (test_node *)cog_new(fin ? &fin_type : &test_node_type);
    if (!n) fail("cog_new");
    n->canary = TEST_CANARY;
    if (fin) __atomic_fetch_add(&fin_created, 1, __ATOMIC_RELAXED);
    else __atomic_fetch_add(&nodes_created, 1, __ATOMIC_RELAXED);
    return &n->ob;
}

/* A hashable key from a byte: a small int (immortal) or an interned string. */
static cog_object *key_of(uint8_t b) {
    if (b & 1) return cog_int_from_i64(b >> 1);
    char k[8];
    int n = snprintf(k, sizeof k, "k%u", b >> 1);
    return cog_str_intern(k, (size_t)n);
}

static void run_op(reader *r, cog_object **s) {
    uint8_t op = next(r);
    cog_object **a = &s[next(r) % NSLOTS];
    switch (op % 20) {
    case 0: fuzz_set_slot(a, new_node(0)); break;
    case 1: fuzz_set_slot(a, new_node(1)); break;
    case 2: fuzz_set_slot(a, cog_list_new()); CHECK(*a); break;
    case 3: fuzz_set_slot(a, cog_dict_new()); CHECK(*a); break;
    case 4: fuzz_set_slot(a, key_of(next(r))); CHECK(*a); break;
    case 5: fuzz_set_slot(a, cog_int_from_i64((int64_t)next(r) << 20)); CHECK(*a); break;
    case 6: { /* link a -> b */
        cog_object *b = s[next(r) % NSLOTS];
        uint8_t k = next(r);
        if (!*a || !b) break;
        if (is_node(*a)) {
            cog_incref(b);
            cog_ref_store(&((test_node *)*a)->next, b);
        } else if (cog_list_check(*a)) {
            CHECK(cog_list_append(*a, b) == COG_OK);
        } else if (cog_dict_check(*a)) {
            cog_object *key = key_of(k);
            CHECK(key && cog_dict_set(*a, key, b) == COG_OK);
            cog_decref(key);
        }
        break;
    }
    case 7: { /* unlink */
        uint8_t k = next(r);
        if (!*a) break;
        if (is_node(*a)) {
            cog_xdecref(cog_ref_take(&((test_node *)*a)->next));
        } else if (cog_list_check(*a)) {
            cog_object *o = cog_list_pop(*a, (int8_t)k);
            if (o) cog_decref(o);
            else CHECK(strstr(cog_last_error(), "out of range"));
        } else if (cog_dict_check(*a)) {
            cog_object *key = key_of(k);
            CHECK(key && cog_dict_del(*a, key) >= 0);
            cog_decref(key);
        }
        break;
    }
    case 8: fuzz_set_slot(a, NULL); break;
    case 9: { /* b = a */
        cog_object **b = &s[next(r) % NSLOTS];
        cog_xincref(*a);
        fuzz_set_slot(b, *a);
        break;
    }
    case 10: { /* b = weakref(a) */
        cog_object **b = &s[next(r) % NSLOTS];
        uint8_t cb = next(r);
        if (!*a) break;
        cog_object *wr = cog_weakref_new(*a, cb & 1 ? wr_callback : NULL, NULL);
        CHECK(wr);
        fuzz_set_slot(b, wr);
        break;
    }
    case 11: { /* b = deref(a) */
        cog_object **b = &s[next(r) % NSLOTS];
        if (*a && cog_weakref_check(*a)) fuzz_set_slot(b, cog_weakref_get(*a));
        break;
    }
    case 12: CHECK(cog_gc_collect(next(r) % 3) >= 0); break;
    case 13: {
        long t0 = next(r), t1 = next(r) % 8 + 1, t2 = next(r) % 8 + 1;
        CHECK(cog_gc_set_threshold(t0, t1, t2) == COG_OK);
        CHECK(cog_gc_set_threshold(-1, 1, 1) == COG_EINVAL);
        break;
    }
    case 14:
        if (next(r) & 1) cog_gc_disable();
        else cog_gc_enable();
        break;
    case 15:
        if (next(r) & 1) cog_gc_freeze();
        else cog_gc_unfreeze();
        break;
    case 16: CHECK(cog_gc_set_debug(next(r) & 1 ? COG_GC_DEBUG_SAVEALL : 0) == COG_OK); break;
    case 17: { /* b = (a, c) */
        cog_object **b = &s[next(r) % NSLOTS];
        cog_object *c = s[next(r) % NSLOTS];
        if (*a && c) {
            fuzz_set_slot(b, cog_tuple_pack(2, *a, c));
            CHECK(*b);
        }
        break;
    }
    case 18: { /* list set / get */
        cog_object **b = &s[next(r) % NSLOTS];
        int8_t i = (int8_t)next(r);
        if (!*a || !cog_list_check(*a)) break;
        if (*b && !(i & 1)) {
            int rc = cog_list_set(*a, i >> 1, *b);
            CHECK(rc == COG_OK || rc == COG_EINVAL);
        } else {
            cog_object *o = cog_list_get(*a, i >> 1);
            if (o) fuzz_set_slot(b, o);
        }
        break;
    }
    default: __atomic_store_n(&resurrect, next(r) & 1, __ATOMIC_RELAXED); break;
    }
    for (int i = 0; i < NSLOTS; i++) check_node(s[i]);
}

/* One runtime for the whole process: cog_init/cog_shutdown per input would
 * spend most of the time in shutdown's RCU barrier. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fin_type = test_node_type;
    fin_type.name = "FinNode";
    fin_type.finalize = fin_finalize;
    if (cog_init() != COG_OK) fail("cog_init");
    fuzz_check_setup("fuzz_api", argc, argv);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!cog_is_initialized()) LLVMFuzzerInitialize(NULL, NULL);
    int full = fuzz_check_begin(data, size);
    long node_base = atomic_load(&test_node_deallocs);
    nodes_created = fin_created = fin_finalized = wr_callbacks = 0;
    __atomic_store_n(&resurrect, 0, __ATOMIC_RELAXED);

    cog_object *s[NSLOTS] = {0};
    reader r = {data, data + size};
    for (int n = 0; r.p < r.end && n < 4096; n++) run_op(&r, s);

    for (int i = 0; i < NSLOTS; i++) fuzz_set_slot(&s[i], NULL);
    __atomic_store_n(&resurrect, 0, __ATOMIC_RELAXED);
    /* Resurrected nodes are dropped after each collection; a revived cycle
     * needs another one. Nodes are counted at dealloc, which needs no
     * grace period. */
    long freed = 0;
    for (int round = 0; round < 4; round++) {
        fuzz_settle(0);
        for (int i = 0; i < NRESURRECT; i++) fuzz_set_slot(&revived[i], NULL);
        freed = atomic_load(&test_node_deallocs) - node_base;
        if (freed == nodes_created + fin_created) break;
    }
    if (freed != nodes_created + fin_created) {
        fprintf(stderr, "fuzz_api: %ld nodes created, %ld freed\n", nodes_created + fin_created,
                freed);
        fail("nodes leaked");
    }
    CHECK(__atomic_load_n(&fin_finalized, __ATOMIC_RELAXED) == fin_created);
    cog_gc_enable();
    CHECK(cog_gc_set_threshold(2000, 10, 10) == COG_OK);
    fuzz_check_end(full);
    return 0;
}
