/* lib/core/runtime_internal.h - runtime-wide state (internal). */
#ifndef COG_LIB_RUNTIME_INTERNAL_H
#define COG_LIB_RUNTIME_INTERNAL_H

#include <pthread.h>

/* 1 while the runtime is initialised (between cog_init and cog_shutdown). */
int cog_runtime_running(void);

/* A subsystem above lib/ (the collector) that runs beside the runtime.
 * start runs at the end of cog_init on the initialising thread; stop runs
 * at the start of cog_shutdown once no user thread but the caller is
 * attached, and must detach any thread the subsystem attached. Subsystems
 * register themselves from a constructor (their Bazel target is
 * alwayslink), which keeps lib/ free of any dependency on them. */
typedef struct cog_subsystem {
    const char *name;
    int (*start)(void);
    void (*stop)(void);
    /* Fork (optional; see lib/core/runtime.c "Fork"). before_fork runs on the
     * forking thread while every other thread still runs (it must leave no
     * thread of its own inside liburcu or holding its locks);
     * after_fork_parent/child run once the world is running again, in
     * the parent and in the single-threaded child. */
    void (*before_fork)(void);
    void (*after_fork_parent)(void);
    void (*after_fork_child)(void);
} cog_subsystem;

void cog_runtime_register(const cog_subsystem *s);

/* Threads the runtime attaches for itself (the collector) do not count as
 * user threads for cog_shutdown's EBUSY check. */
void cog_thread_mark_internal(int delta);

/* Start a runtime-owned thread (the collector, the control server) that
 * attaches itself, counts as internal for cog_shutdown's busy check, runs
 * body(arg) and detaches. `name` (at most 15 characters) is what `top -H`,
 * `ps -L` and profilers show for it. Returns once the thread has
 * attached: COG_OK (*thread is joinable), or an error whose message starts
 * with `what` (no thread left running). The caller waits offline if it is
 * attached, so the new thread's RCU registration never waits on it. */
int cog_thread_start_internal(pthread_t *thread, const char *name, const char *what,
                              void (*body)(void *), void *arg);
#endif
