/* collector/control_internal.h - what the control server (control.c) uses
 * of the command side (control_cmd.c). */
#ifndef COG_COLLECTOR_CONTROL_INTERNAL_H
#define COG_COLLECTOR_CONTROL_INTERNAL_H

/* cog_control_execute into a malloc'ed reply of any length (*out: free it;
 * NULL only if not even an error reply could be allocated). A reply that
 * cannot grow is replaced by "error: out of memory\n" (COG_ENOMEM), so
 * every reply ends with its terminating line. */
int cog_control_execute_alloc(const char *line, char **out);

#endif
