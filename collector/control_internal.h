/* collector/control_internal.h - what the control server (control.c) uses
 * of the command side (control_cmd.c) and of its worker thread
 * (control_worker.c). */
#ifndef COG_COLLECTOR_CONTROL_INTERNAL_H
#define COG_COLLECTOR_CONTROL_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "cog/control.h"

/* cog_control_execute into a malloc'ed reply of any length (*out: free it;
 * NULL only if not even an error reply could be allocated). A reply that
 * cannot grow is replaced by "error: out of memory\n" (COG_ENOMEM), so
 * every reply ends with its terminating line. */
int cog_control_execute_alloc(const char *line, char **out);

/* A command for the worker, then its reply. slot and id name the client
 * (the server drops a reply whose client has gone). */
typedef struct cog_control_job {
    struct cog_control_job *next;
    int slot;
    uint64_t id;
    char *text; /* the reply (cog_control_execute_alloc), NULL: out of memory */
    char line[COG_CONTROL_MAX_LINE + 1];
} cog_control_job;

/* Called by the server thread only. Start the worker: returns the fd that
 * becomes readable when replies are ready, or -1 (no worker: run every
 * command on the server thread). */
int cog_control_worker_start(void);
/* Queue a command; 0, or -1 if out of memory. */
int cog_control_worker_submit(int slot, uint64_t id, const char *line);
/* Empty the wakeup pipe, then take the finished jobs (oldest first; the
 * caller frees each job and its text). */
void cog_control_worker_drain(int fd);
cog_control_job *cog_control_worker_replies(void);
/* Stop and join the worker (waits for a command in progress; the caller
 * must be offline) and free the jobs left. */
void cog_control_worker_stop(void);
void cog_control_worker_after_fork_child(void);

/* The control protocol's `heap` command (control_heap.c): argv[0] is
 * "heap"; writes the reply's text to out and returns a status (the error
 * message in cog_last_error()). Shutdown drops the baseline snapshot. */
int cog_control_heap(int argc, char **argv, FILE *out);
void cog_control_heap_shutdown(void);

/* Strict decimal long (control_cmd.c): the whole of s, no overflow. */
int cog_control_parse_long(const char *s, long *out);
#endif
