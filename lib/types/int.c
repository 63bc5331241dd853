/* lib/types/int.c - int objects and the immortal small-int cache. */
#include "cog/int.h"

#include "lib/base/error.h"

typedef struct cog_int {
    cog_object ob;
    int64_t value;
} cog_int;

const cog_type cog_int_type = {
    .name = "int",
    .basic_size = sizeof(cog_int),
};

/* Statically initialised immortal instances: no init step, no race. */
#define I1(n) {COG_IMMORTAL_HEAD(&cog_int_type), (n)}
#define I4(n) I1(n), I1((n) + 1), I1((n) + 2), I1((n) + 3)
#define I16(n) I4(n), I4((n) + 4), I4((n) + 8), I4((n) + 12)
#define I64(n) I16(n), I16((n) + 16), I16((n) + 32), I16((n) + 48)
#define I256(n) I64(n), I64((n) + 64), I64((n) + 128), I64((n) + 192)

static cog_int small_ints[COG_SMALL_INT_MAX - COG_SMALL_INT_MIN + 1] = {
    I256(-5), I4(251), I1(255), I1(256)};

_Static_assert(sizeof small_ints / sizeof small_ints[0] == 262, "small int table size");

cog_object *cog_int_from_i64(int64_t v) {
    if (v >= COG_SMALL_INT_MIN && v <= COG_SMALL_INT_MAX)
        return &small_ints[v - COG_SMALL_INT_MIN].ob;
    cog_int *o = (cog_int *)cog_new(&cog_int_type);
    if (!o) return NULL;
    o->value = v;
    return &o->ob;
}

int cog_int_check(const cog_object *o) { return o->ob_type == &cog_int_type; }

int64_t cog_int_value(const cog_object *o) { return ((const cog_int *)o)->value; }
