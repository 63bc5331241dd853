/* collector/gc_cpus.c - the CPUs a thread may use and the threads that
 * want them, for the choices that depend on a spare core: whether the
 * collector's helper thread takes half a scan (gc_collect.c) and whether
 * a paced wait spins or sleeps (gc_pacing.c).
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "collector/gc_internal.h"

int cog_gc_runnable_threads(void) {
    /* /proc/loadavg: "0.52 0.58 0.59 2/345 1234"; the fourth field's first
     * number is nr_running, summed over the CPUs as the file is read. */
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    int running;
    return sscanf(buf, "%*s %*s %*s %d/", &running) == 1 ? running : -1;
}

long cog_gc_cores(void) {
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                         : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n;
}
