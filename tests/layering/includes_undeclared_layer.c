/* Must not build: see BUILD. */
#include "lib/core/thread.h"

int cog_layering_probe_include(void) { return COG_MAX_THREADS > 0; }
