/* lib/types/types_internal.h - lifecycle hooks of the built-in types (internal). */
#ifndef COG_LIB_TYPES_INTERNAL_H
#define COG_LIB_TYPES_INTERNAL_H

/* Run at cog_init / cog_shutdown (lib/types/types_init.c). */
int cog_types_init(void);
void cog_types_shutdown(void);

/* Referenced by users of the hooks so the static linker keeps types_init.o. */
extern const int cog__types_anchor;

int cog__intern_init(void);
void cog__intern_shutdown(void);
void cog__weakref_shutdown(void);
#endif
