// tests/cxx_api_test.cc - cog used from C++. The public headers are
// extern "C"; in C++ cog/object.h declares cog_incref, cog_decref,
// cog_xincref, cog_xdecref and the cog_ref_* accessors as ordinary
// functions (no C11 atomics in C++), so these tests call the library's
// out-of-line definitions: owner and non-owner counting, reference fields
// of a type defined in C++, a cycle freed by the collector, and the object
// header layout seen from C++ against the C one.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" { // Debian's cmocka.h has no C++ guard
#include <cmocka.h>
}

#include <atomic>
#include <cstdlib>
#include <thread>

#include "cog/cog.h"
#include "tests/cxx_layout.h"

namespace {

struct pair {
    cog_object ob;
    cog_ref first;
    cog_ref second;
};

std::atomic<long> pair_deallocs{0};

int pair_traverse(cog_object *self, cog_visitproc visit, void *arg) {
    pair *p = reinterpret_cast<pair *>(self);
    cog_object *a = cog_ref_load(&p->first);
    cog_object *b = cog_ref_load(&p->second);
    int rc = a ? visit(a, arg) : 0;
    return rc ? rc : (b ? visit(b, arg) : 0);
}

void pair_clear(cog_object *self) {
    pair *p = reinterpret_cast<pair *>(self);
    cog_xdecref(cog_ref_take(&p->first));
    cog_xdecref(cog_ref_take(&p->second));
}

void pair_dealloc(cog_object *self) {
    pair_clear(self);
    pair_deallocs.fetch_add(1);
}

// No designated initialisers before C++20: in declaration order.
const cog_type pair_type = {
    "CxxPair", sizeof(pair), 0, COG_TYPE_GC, pair_traverse, pair_clear, nullptr, pair_dealloc,
};

pair *pair_new() {
    pair *p = reinterpret_cast<pair *>(cog_new(&pair_type));
    if (!p) std::abort();
    return p;
}

int setup(void **) { return cog_init() == COG_OK ? 0 : -1; }
int teardown(void **) { return cog_shutdown() == COG_OK ? 0 : -1; }

void layout_matches_c(void **) {
    const size_t cxx[] = {
        sizeof(cog_object),
        alignof(cog_object),
        offsetof(cog_object, ob_type),
        offsetof(cog_object, ob_ref_local),
        offsetof(cog_object, ob_tid),
        offsetof(cog_object, ob_ref_shared),
        offsetof(cog_object, ob_gc),
        sizeof(cog_varobject),
        offsetof(cog_varobject, ob_size),
        sizeof(cog_ref),
        alignof(cog_ref),
        sizeof(cog_type),
    };
    size_t c[sizeof cxx / sizeof cxx[0]] = {};
    assert_int_equal(cxx_test_c_layout(c, sizeof cxx / sizeof cxx[0]), sizeof cxx / sizeof cxx[0]);
    for (size_t i = 0; i < sizeof cxx / sizeof cxx[0]; i++) {
        if (c[i] != cxx[i]) fail_msg("layout figure %zu: C says %zu, C++ says %zu", i, c[i], cxx[i]);
    }
    assert_int_equal(sizeof(cog_object), 32);
}

void owner_incref_decref(void **) {
    long before = pair_deallocs.load();
    pair *p = pair_new();
    cog_object *o = &p->ob;
    assert_int_equal(cog_refcount(o), 1);
    cog_incref(o);
    cog_incref(o);
    assert_int_equal(cog_refcount(o), 3);
    cog_decref(o);
    cog_decref(o);
    assert_int_equal(cog_refcount(o), 1);
    assert_int_equal(pair_deallocs.load(), before);
    cog_decref(o);
    assert_int_equal(pair_deallocs.load(), before + 1);

    cog_xincref(nullptr); // no-ops, not crashes
    cog_xdecref(nullptr);
}

void immortal_objects_are_not_counted(void **) {
    cog_object *small = cog_int_from_i64(7); // preallocated, immortal
    assert_true(cog_is_immortal(small));
    cog_incref(small);
    cog_decref(small);
    cog_decref(small);
    assert_true(cog_is_immortal(small));
    assert_int_equal(cog_int_value(small), 7);
}

void reference_fields(void **) {
    long before = pair_deallocs.load();
    pair *holder = pair_new();
    cog_object *s = cog_str_from_cstr("from C++");
    assert_non_null(s);
    cog_incref(s);
    cog_ref_store(&holder->first, s); // the field owns the new reference
    assert_int_equal(cog_refcount(s), 2);
    assert_ptr_equal(cog_ref_load(&holder->first), s);

    cog_object *taken = cog_ref_take(&holder->first);
    assert_ptr_equal(taken, s);
    assert_null(cog_ref_load(&holder->first));
    cog_ref_store(&holder->second, taken); // moved back, count unchanged
    assert_int_equal(cog_refcount(s), 2);

    cog_decref(&holder->ob); // dealloc drops the field's reference
    assert_int_equal(pair_deallocs.load(), before + 1);
    assert_int_equal(cog_refcount(s), 1);
    assert_string_equal(cog_str_data(s), "from C++");
    cog_decref(s);
}

void cycle_is_collected(void **) {
    long before = pair_deallocs.load();
    pair *a = pair_new();
    pair *b = pair_new();
    cog_incref(&b->ob);
    cog_ref_store(&a->first, &b->ob);
    cog_incref(&a->ob);
    cog_ref_store(&b->first, &a->ob);
    assert_true(cog_gc_is_tracked(&a->ob));
    cog_decref(&a->ob);
    cog_decref(&b->ob);
    assert_int_equal(pair_deallocs.load(), before); // only the cycle holds them
    assert_int_equal(cog_gc_collect(-1), 2);
    cog_safepoint(); // frees queued to us, the owner, happen here
    assert_int_equal(pair_deallocs.load(), before + 2);
}

// Another thread counts the main thread's object: the non-owner (atomic,
// queued) path, reached through the out-of-line functions from C++.
void other_thread_counts(void **) {
    long before = pair_deallocs.load();
    pair *p = pair_new();
    cog_object *o = &p->ob;
    const int rounds = 1000;
    std::atomic<int> status{-1};
    std::thread worker([&] {
        if (cog_thread_attach() != COG_OK) return;
        for (int i = 0; i < rounds; i++) cog_incref(o);
        for (int i = 0; i < rounds; i++) cog_decref(o);
        cog_incref(o); // keep one: handed back to the main thread
        status.store(cog_thread_detach());
    });
    cog_thread_offline();
    worker.join();
    cog_thread_online();
    assert_int_equal(status.load(), COG_OK);
    cog_safepoint();
    assert_int_equal(cog_refcount(o), 2);
    cog_decref(o);
    cog_decref(o);
    cog_safepoint();
    assert_int_equal(pair_deallocs.load(), before + 1);
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_matches_c),
        cmocka_unit_test_setup_teardown(owner_incref_decref, setup, teardown),
        cmocka_unit_test_setup_teardown(immortal_objects_are_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(reference_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(cycle_is_collected, setup, teardown),
        cmocka_unit_test_setup_teardown(other_thread_counts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
