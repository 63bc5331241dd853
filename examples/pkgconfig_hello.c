/* examples/pkgconfig_hello.c - cog embedded by a program built outside
 * Bazel, against an installed cog (tools/install.sh PREFIX):
 *
 *   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
 *   cc -std=c11 pkgconfig_hello.c $(pkg-config --cflags --libs cog)         # libcog.so
 *   cc -std=c11 pkgconfig_hello.c $(pkg-config --cflags --libs cog-static)  # libcog.a
 *
 * It uses the runtime (objects, biased reference counting through the
 * inline fast paths of cog/object.h, containers) and the cycle collector,
 * and prints what it saw; packaging:install_test checks the output.
 * Exit status 0 only if every step behaved.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cog/cog.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "pkgconfig_hello: %s failed (line %d): %s\n", #cond,     \
                    __LINE__, cog_last_error());                                     \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

int main(void) {
    CHECK(cog_init() == COG_OK);

    cog_object *greeting = cog_str_from_cstr("hello");
    cog_object *answer = cog_int_from_i64(4242);
    CHECK(greeting && answer);
    cog_object *pair = cog_tuple_pack(2, greeting, answer);
    CHECK(pair);
    cog_incref(greeting); /* inline owner fast path */
    CHECK(cog_refcount(greeting) == 3); /* ours twice + the tuple's */
    cog_decref(greeting);
    printf("%s %" PRId64 " (tuple of %zu)\n", cog_str_data(cog_tuple_get_borrowed(pair, 0)),
           cog_int_value(cog_tuple_get_borrowed(pair, 1)), cog_tuple_size(pair));

    /* A list that holds itself: only the cycle collector can free it. */
    cog_object *list = cog_list_new();
    CHECK(list && cog_list_append(list, list) == COG_OK);
    CHECK(cog_list_append(list, pair) == COG_OK);
    cog_decref(list);
    long found = cog_gc_collect(-1);
    printf("collector found %ld unreachable object(s)\n", found);
    CHECK(found == 1);
    /* The collector dropped the list's reference to pair from its own thread:
     * queued to us, the owner, and merged at our next safe point. */
    cog_safepoint();
    CHECK(cog_refcount(pair) == 1);

    cog_decref(pair);
    cog_decref(greeting);
    cog_decref(answer);
    CHECK(cog_shutdown() == COG_OK);
    printf("ok\n");
    return 0;
}
