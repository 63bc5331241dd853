/* lib/runtime.c - cog_init / cog_shutdown. */
#include <pthread.h>
#include <stdatomic.h>

#include "cog/runtime.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/rcu.h"
#include "lib/runtime_internal.h"
#include "lib/thread.h"

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

int cog_init(void) {
    pthread_mutex_lock(&lifecycle_lock);
    if (atomic_load_explicit(&running, memory_order_relaxed)) {
        pthread_mutex_unlock(&lifecycle_lock);
        return cog_error(COG_ESTATE, "cog_init: runtime already initialised");
    }
    int rc = cog_threads_init();
    if (rc == COG_OK) {
        atomic_store_explicit(&running, 1, memory_order_release);
        rc = cog_thread_attach();
        if (rc == COG_OK) {
            rc = start_subsystems();
            if (rc != COG_OK) cog_thread_detach();
        }
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
