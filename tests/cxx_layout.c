/* tests/cxx_layout.c - the object header layout as C sees it (with _Atomic
 * fields), for cxx_api_test to compare with the C++ view (plain fields). */
#include <stdalign.h>
#include <stddef.h>

#include "cog/object.h"
#include "tests/cxx_layout.h"

size_t cxx_test_c_layout(size_t *out, size_t cap) {
    const size_t layout[] = {
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
    size_t n = sizeof layout / sizeof layout[0];
    for (size_t i = 0; i < n && i < cap; i++) out[i] = layout[i];
    return n;
}
