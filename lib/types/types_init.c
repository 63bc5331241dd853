/* lib/types/types_init.c - init/shutdown of the built-in types' global state (the
 * intern table, the weakref side table).
 *
 * Registered as a runtime subsystem from a constructor, so cog_init and
 * cog_shutdown run the hooks without lib/core/runtime.c naming them: start runs
 * after the initialising thread is attached, stop before it detaches. */
#include "lib/base/error.h"
#include "lib/core/runtime_internal.h"
#include "lib/types/types_internal.h"

const int cog__types_anchor = 1;

int cog_types_init(void) { return cog__intern_init(); }

void cog_types_shutdown(void) {
    cog__intern_shutdown();
    cog__weakref_shutdown();
}

static const cog_subsystem types_subsystem = {
    .name = "types",
    .start = cog_types_init,
    .stop = cog_types_shutdown,
};

__attribute__((constructor)) static void register_types(void) {
    cog_runtime_register(&types_subsystem);
}
