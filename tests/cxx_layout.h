/* tests/cxx_layout.h - see cxx_layout.c. */
#ifndef COG_TESTS_CXX_LAYOUT_H
#define COG_TESTS_CXX_LAYOUT_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Writes up to cap layout figures of cog_object/cog_varobject/cog_ref/
 * cog_type (in the order of cxx_layout.c) to out; returns their number. */
size_t cxx_test_c_layout(size_t *out, size_t cap);
#ifdef __cplusplus
}
#endif
#endif
