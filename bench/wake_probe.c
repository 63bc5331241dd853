/* bench/wake_probe.c - how late a short sleep returns on this machine,
 * without cog: what bounds a paced wait that sleeps (docs/performance.md,
 * "What bounds the two-worker waits").
 *
 * One thread alternates 1 ms of work with a timed sleep of -w µs, the way
 * a paced mutator gives its CPU to the collector; -s other threads spin
 * meanwhile (a second worker and the collector: with -s 2 on two cores,
 * three threads want two CPUs), at nice -n, and the sleeper may ask for a
 * shorter EEVDF slice (-l ns, Linux 6.12+). Prints how long the sleeps
 * took: the share over 1 ms and the quantiles.
 *
 *   bazel run --config=opt //bench:wake_probe -- -s 2            # 2 workers + collector
 *   bazel run --config=opt //bench:wake_probe -- -s 2 -n 19      # the spinners at nice 19
 *   bazel run --config=opt //bench:wake_probe -- -s 1            # a spare core
 *
 * Output: "WAKE spinners <s> nice <n> slice <l> sleep_us <w> n <k>
 * over_1ms <count> p50_us .. p90_us .. p99_us .. max_us ..". */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench/latency_hist.h"

/* The kernel's struct sched_attr (glibc 2.36 has no wrapper). */
struct probe_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
    uint32_t util_min, util_max;
};

static atomic_int stop;
static int spinner_nice;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *spin(void *arg) {
    (void)arg;
    /* Raising one's own nice needs no privilege; which = a thread id. */
    if (spinner_nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), spinner_nice) != 0)
        perror("wake_probe: setpriority");
    volatile unsigned long x = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) x++;
    return NULL;
}

static int set_slice(uint64_t ns) {
    struct probe_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a; /* SCHED_OTHER, nice 0, the slice as its runtime */
    a.sched_runtime = ns;
    return (int)syscall(SYS_sched_setattr, 0, &a, 0);
}

static void usage(void) {
    fprintf(stderr, "usage: wake_probe [-s spinners] [-n nice] [-l slice_ns] [-w sleep_us]"
                    " [-k sleeps]\n");
    exit(2);
}

int main(int argc, char **argv) {
    long spinners = sysconf(_SC_NPROCESSORS_ONLN), slice = 0, sleep_us = 500, sleeps = 2000;
    int opt;
    while ((opt = getopt(argc, argv, "s:n:l:w:k:")) != -1) {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v < 0) usage();
        switch (opt) {
        case 's': spinners = v; break;
        case 'n': spinner_nice = (int)v; break;
        case 'l': slice = v; break;
        case 'w': sleep_us = v; break;
        case 'k': sleeps = v; break;
        default: usage();
        }
    }
    if (spinners > 64 || sleep_us >= 1000000 || sleeps < 1) usage();
    if (slice && set_slice((uint64_t)slice) != 0) {
        fprintf(stderr, "wake_probe: sched_setattr(slice %ld): %s\n", slice, strerror(errno));
        return 1;
    }
    pthread_t t[64];
    for (long i = 0; i < spinners; i++)
        if (pthread_create(&t[i], NULL, spin, NULL) != 0) {
            fprintf(stderr, "wake_probe: cannot start a spinner\n");
            return 1;
        }
    static latency_hist h;
    uint64_t over = 0;
    for (long i = 0; i < sleeps; i++) {
        uint64_t t0 = now_ns();
        while (now_ns() - t0 < 1000000) {
        }
        struct timespec d = {0, sleep_us * 1000};
        uint64_t s = now_ns();
        nanosleep(&d, NULL);
        uint64_t took = now_ns() - s;
        lh_add(&h, took);
        over += took > 1000000;
    }
    atomic_store(&stop, 1);
    for (long i = 0; i < spinners; i++) pthread_join(t[i], NULL);
    printf("WAKE spinners %ld nice %d slice %ld sleep_us %ld n %ld over_1ms %llu p50_us %.0f "
           "p90_us %.0f p99_us %.0f max_us %.0f\n",
           spinners, spinner_nice, slice, sleep_us, sleeps, (unsigned long long)over,
           lh_quantile(&h, 0.5) / 1e3, lh_quantile(&h, 0.9) / 1e3, lh_quantile(&h, 0.99) / 1e3,
           h.max / 1e3);
    return 0;
}
