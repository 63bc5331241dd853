/* collector/gc_cpus.c - the CPUs a thread may use and the threads that
 * want them, for the choices that depend on a spare core: whether the
 * collector's helper thread takes half a scan (gc_collect.c) and whether
 * a paced wait spins or sleeps (gc_pacing.c).
 */
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "collector/gc_internal.h"
#include "lib/core/thread.h"

static atomic_int run_delay_hidden; /* tests; relaxed: a flag */

void cog_gc_test_hide_run_delay(int hide) {
    atomic_store_explicit(&run_delay_hidden, hide, memory_order_relaxed);
}

int64_t cog_gc_thread_run_delay_ns(void) {
    if (atomic_load_explicit(&run_delay_hidden, memory_order_relaxed)) return -1;
    /* "<on-cpu ns> <run_delay ns> <timeslices>\n"; open and read rather
     * than stdio: two system calls and no allocation. */
    char buf[96];
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    unsigned long long on_cpu, delay;
    return sscanf(buf, "%llu %llu", &on_cpu, &delay) == 2 ? (int64_t)delay : -1;
}

long cog_gc_cores(void) {
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                         : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n;
}

int cog_gc_spare_core(void) {
    return cog_threads_online() + cog_gc_pacing_waiters() < cog_gc_cores();
}
