// examples/pkgconfig_hello.cc - the same as pkgconfig_hello.c from C++:
// the public headers are extern "C", and in C++ cog_incref/cog_decref are
// the library's out-of-line definitions (cog/object.h has no C++ inline
// fast paths), so this proves they are exported.
//
//   g++ -std=c++17 pkgconfig_hello.cc $(pkg-config --cflags --libs cog)
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "cog/cog.h"

static void check(bool ok, const char *what, int line) {
    if (!ok) {
        std::fprintf(stderr, "pkgconfig_hello (C++): %s failed (line %d): %s\n", what, line,
                     cog_last_error());
        std::exit(1);
    }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

int main() {
    CHECK(cog_init() == COG_OK);

    cog_object *greeting = cog_str_from_cstr("hello");
    cog_object *answer = cog_int_from_i64(4242);
    CHECK(greeting && answer);
    cog_object *pair = cog_tuple_pack(2, greeting, answer);
    CHECK(pair != nullptr);
    cog_incref(greeting);
    CHECK(cog_refcount(greeting) == 3);
    cog_decref(greeting);
    std::printf("%s %" PRId64 " (tuple of %zu)\n", cog_str_data(cog_tuple_get_borrowed(pair, 0)),
                cog_int_value(cog_tuple_get_borrowed(pair, 1)), cog_tuple_size(pair));

    cog_object *list = cog_list_new();
    CHECK(list && cog_list_append(list, list) == COG_OK);
    CHECK(cog_list_append(list, pair) == COG_OK);
    cog_decref(list);
    long found = cog_gc_collect(-1);
    std::printf("collector found %ld unreachable object(s)\n", found);
    CHECK(found == 1);
    // The collector dropped the list's reference to pair from its own thread:
    // queued to us, the owner, and merged at our next safe point.
    cog_safepoint();
    CHECK(cog_refcount(pair) == 1);

    cog_decref(pair);
    cog_decref(greeting);
    cog_decref(answer);
    CHECK(cog_shutdown() == COG_OK);
    std::printf("ok\n");
    return 0;
}
