/* lib/core/runtime.c - cog_init / cog_shutdown. */
#include <pthread.h>
#include <stdatomic.h>

#include "cog/runtime.h"
#include "lib/alloc/alloc.h"
#include "lib/base/error.h"
#include "lib/base/rcu.h"
#include "lib/core/heap_profile.h"
#include "lib/core/runtime_internal.h"
#include "lib/core/thread.h"

static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int running;

#define MAX_SUBSYSTEMS 4
static const cog_subsystem *subsystems[MAX_SUBSYSTEMS];
static int nsubsystems;

/* Runs from constructors, before main: single-threaded. */
void cog_runtime_register(const cog_subsystem *s) {
    if (nsubsystems == MAX_SUBSYSTEMS) cog_fatal("too many cog subsystems");
    subsystems[nsubsystems++] = s;
}

static void stop_subsystems(int n) {
    while (n-- > 0) subsystems[n]->stop();
}

static int start_subsystems(void) {
    for (int i = 0; i < nsubsystems; i++) {
        int rc = subsystems[i]->start();
        if (rc != COG_OK) {
            stop_subsystems(i);
            return rc;
        }
    }
    return COG_OK;
}

int cog_runtime_running(void) { return atomic_load_explicit(&running, memory_order_acquire); }

int cog_is_initialized(void) { return cog_runtime_running(); }

/* ---- Fork ---------------------------------------------------------------
 * pthread_atfork handlers give the child of a multithreaded program a
 * working runtime (contract in cog/runtime.h, design in docs/design.md):
 *
 * prepare (forking thread, parent): hold lifecycle_lock (no init/shutdown
 *   in flight); stop the collector thread (subsystem before_fork), so no
 *   thread is in a grace period; stop the world (lib/core/thread.c fork gate):
 *   every other attached thread parks at its next safe point or stays
 *   offline, holding no cog lock and inside no liburcu call; pause
 *   liburcu's call_rcu workers (call_rcu_before_fork); take the other
 *   threads' liburcu reader records off liburcu's list (lib/base/rcu_fork.c).
 * parent: put the records back, resume call_rcu workers, release parked
 *   threads, restart the collector.
 * child (one thread): liburcu's call_rcu_after_fork_child; detach on their
 *   behalf the threads that were not copied (their objects stay alive with
 *   merged counts; their liburcu records were never copied onto the
 *   child's list, so they block no grace period); start a new collector
 *   thread. */
static int fork_handlers_installed; /* under lifecycle_lock */
static int fork_active;             /* runtime was running at prepare */

static void fork_prepare(void) {
    pthread_mutex_lock(&lifecycle_lock);
    fork_active = atomic_load_explicit(&running, memory_order_relaxed);
    if (!fork_active) return;
    for (int i = nsubsystems; i-- > 0;)
        if (subsystems[i]->before_fork) subsystems[i]->before_fork();
    cog_threads_fork_prepare();
    urcu_qsbr_call_rcu_before_fork();
    cog_threads_fork_unlink_readers();
    cog__heap_profile_fork_prepare();
}

static void fork_parent(void) {
    if (fork_active) {
        cog__heap_profile_fork_release();
        cog_threads_fork_relink_readers(0);
        urcu_qsbr_call_rcu_after_fork_parent();
        cog_threads_fork_parent();
        for (int i = 0; i < nsubsystems; i++)
            if (subsystems[i]->after_fork_parent) subsystems[i]->after_fork_parent();
    }
    pthread_mutex_unlock(&lifecycle_lock);
}

static void fork_child(void) {
    /* The forking thread locked it; the child's only thread is its copy. */
    pthread_mutex_init(&lifecycle_lock, NULL);
    pthread_mutex_lock(&lifecycle_lock);
    if (fork_active) {
        cog__heap_profile_fork_release();
        cog_threads_fork_relink_readers(1);
        urcu_qsbr_call_rcu_after_fork_child();
        cog_threads_fork_child();
        for (int i = 0; i < nsubsystems; i++)
            if (subsystems[i]->after_fork_child) subsystems[i]->after_fork_child();
    }
    pthread_mutex_unlock(&lifecycle_lock);
}

int cog_init(void) {
    pthread_mutex_lock(&lifecycle_lock);
    if (atomic_load_explicit(&running, memory_order_relaxed)) {
        pthread_mutex_unlock(&lifecycle_lock);
        return cog_error(COG_ESTATE, "cog_init: runtime already initialised");
    }
    if (!fork_handlers_installed) {
        if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
            pthread_mutex_unlock(&lifecycle_lock);
            return cog_error(COG_ENOMEM, "cog_init: pthread_atfork failed");
        }
        fork_handlers_installed = 1;
    }
    int rc = cog_threads_init();
    if (rc == COG_OK) {
        atomic_store_explicit(&running, 1, memory_order_release);
        rc = cog_thread_attach();
        if (rc == COG_OK) {
            rc = start_subsystems();
            if (rc != COG_OK) cog_thread_detach();
        }
        if (rc == COG_OK) cog__heap_profile_from_env();
        if (rc != COG_OK) atomic_store_explicit(&running, 0, memory_order_release);
    }
    pthread_mutex_unlock(&lifecycle_lock);
    return rc;
}

int cog_shutdown(void) {
    pthread_mutex_lock(&lifecycle_lock);
    if (!atomic_load_explicit(&running, memory_order_relaxed)) {
        pthread_mutex_unlock(&lifecycle_lock);
        return cog_error(COG_ESTATE, "cog_shutdown: runtime not initialised");
    }
    if (!cog_thread_is_attached()) {
        pthread_mutex_unlock(&lifecycle_lock);
        return cog_error(COG_ESTATE, "cog_shutdown: calling thread is not attached");
    }
    int rc = cog_threads_begin_shutdown();
    if (rc != COG_OK) {
        pthread_mutex_unlock(&lifecycle_lock);
        return rc;
    }
    stop_subsystems(nsubsystems);
    cog_thread_detach();
    atomic_store_explicit(&running, 0, memory_order_release);
    /* Run every pending grace-period callback (they free into pools) before
     * the pools go away. */
    cog_rcu_barrier();
    cog_alloc_shutdown();
    cog_threads_shutdown();
    pthread_mutex_unlock(&lifecycle_lock);
    return COG_OK;
}
