/* lib/runtime_internal.h - runtime-wide state (internal). */
#ifndef COG_LIB_RUNTIME_INTERNAL_H
#define COG_LIB_RUNTIME_INTERNAL_H

/* 1 while the runtime is initialised (between cog_init and cog_shutdown). */
int cog_runtime_running(void);
#endif
