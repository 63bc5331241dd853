/* bench/server_bench.c - the collector inside a loaded server.
 *
 * Worker threads run a server-like loop written only against the public
 * API: each request builds 32 GC-tracked nodes (bench/server_request.h:
 * the "tree" shape leaves 4 nodes of cyclic garbage per request, the
 * "cyclic" shape 28-32), caches one node in a dict shared by all workers
 * under an interned key, drops the rest, then reaches cog_safepoint().
 * Every (shape, workers) pair runs twice in the same run, automatic
 * collection on (defaults) and off (cog_gc_disable), each phase in a
 * fresh child process (so peak RSS is the phase's own), interleaved round
 * by round.
 *
 * Per phase: throughput (requests/s), request latency (p50, p99, p99.9,
 * p99.99, max; a request's time includes its safe point, where pacing
 * waits), peak RSS, the window duty cycle (share of wall time a
 * collection window was open: cog_gc_gen_stats.window_ns), the
 * collector's CPU time as a share of one core, collections per
 * generation, the longest paced wait, and how many paced waits there were
 * and how many of them took over 1 ms (the metrics' wait histogram,
 * cog/metrics.h; whole phase, warm-up included, like the longest).
 *
 * usage: server_bench [-t seconds] [-r rounds] [-s tree,cyclic] [-w 1,2] [-g on|off]
 *        (defaults 5 s, 1 round, both shapes, 1 and 2 workers; -g runs only
 *        the phases with collection on or off, e.g. under a profiler, and
 *        prints no ratios)
 * Output: one "PHASE" line per phase, then per (shape, workers) a
 * "RESULT server <shape> <workers> <on/off throughput, median over
 * rounds> <p99.99 on us> <max on us> <rss on MiB> <duty on> <max paced
 * wait us>" line and a table. Exits non-zero if a request fails. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/latency_hist.h"
#include "bench/server_request.h"
#include "cog/cog.h"

#define MAX_WORKERS 16
#define MAX_ROUNDS 32

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_ns(uint64_t ns) {
    struct timespec t = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* What a phase reports to the parent through a pipe. */
typedef struct phase_result {
    int ok;
    double rps, seconds;
    uint64_t requests;
    uint64_t p50, p99, p999, p9999, max; /* ns */
    double rss_mib, duty, collector_cpu;
    uint64_t collections[3], max_pause_ns;
    uint64_t max_held_ns; /* the longest wait less its run-queue delay */
    uint64_t waits, waits_over_1ms;
} phase_result;

typedef struct worker {
    pthread_t thread;
    int index;
    server_shape shape;
    cog_object *cache;
    uint64_t requests;
    int failed;
    latency_hist hist;
} worker;

static atomic_int measuring, stopping;

static void *worker_main(void *arg) {
    worker *w = arg;
    if (cog_thread_attach() != COG_OK) {
        w->failed = 1;
        return NULL;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(w->index + 1);
    while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
        uint64_t t0 = now_ns();
        if (server_request(w->shape, w->cache, (unsigned)(rng % SERVER_KEYS)) != 0) {
            fprintf(stderr, "server_bench: request failed: %s\n", cog_last_error());
            w->failed = 1;
            break;
        }
        cog_safepoint();
        uint64_t t1 = now_ns();
        if (atomic_load_explicit(&measuring, memory_order_relaxed)) {
            lh_add(&w->hist, t1 - t0);
            w->requests++;
        }
    }
    cog_thread_detach();
    return NULL;
}

static double peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib / 1024.0;
}

static void gc_totals(uint64_t *window_ns, uint64_t *cpu_ns, uint64_t coll[3], uint64_t *pause,
                      uint64_t *held) {
    cog_gc_gen_stats st[COG_GC_GENERATIONS];
    cog_gc_get_stats(st);
    *window_ns = *cpu_ns = *pause = *held = 0;
    for (int g = 0; g < COG_GC_GENERATIONS; g++) {
        *window_ns += st[g].window_ns;
        *cpu_ns += st[g].cpu_ns;
        coll[g] = st[g].collections;
        if (st[g].max_pause_ns > *pause) *pause = st[g].max_pause_ns;
        if (st[g].max_pause_held_ns > *held) *held = st[g].max_pause_held_ns;
    }
}

/* Paced waits so far and those over 1 ms, summed over the generations,
 * from the metrics' histogram (cog_gc_paced_wait_seconds). */
static void paced_waits(uint64_t *n, uint64_t *over_1ms) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    *n = *over_1ms = 0;
    if (!f) return;
    int rc = cog_metrics_write(f);
    fclose(f);
    uint64_t within = 0;
    for (char *line = text; rc == COG_OK && line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') line++;
        unsigned long long v;
        if (sscanf(line, "cog_gc_paced_wait_seconds_count{generation=\"%*d\"} %llu", &v) == 1)
            *n += v;
        else if (sscanf(line, "cog_gc_paced_wait_seconds_bucket{generation=\"%*d\",le=\"0.001\"} %llu",
                        &v) == 1)
            within += v;
    }
    free(text);
    *over_1ms = *n - within;
}

/* One phase, in a child process. */
static phase_result run_phase(server_shape shape, int workers, int gc_on, double seconds) {
    phase_result r = {0};
    if (cog_init() != COG_OK) {
        fprintf(stderr, "server_bench: cog_init: %s\n", cog_last_error());
        return r;
    }
    if (!gc_on) cog_gc_disable();
    cog_object *cache = cog_dict_new();
    static worker w[MAX_WORKERS];
    for (int i = 0; i < workers; i++) {
        w[i] = (worker){.index = i, .shape = shape, .cache = cache};
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) abort();
    }
    /* The main thread stays attached but offline while it only sleeps, so
     * it never holds up a grace period. */
    cog_thread_offline();
    uint64_t warm = (uint64_t)(seconds * 2e8); /* a fifth of the phase */
    if (warm > 1000000000u) warm = 1000000000u;
    sleep_ns(warm);
    uint64_t win0, cpu0, coll0[3], pause, held;
    gc_totals(&win0, &cpu0, coll0, &pause, &held);
    uint64_t t0 = now_ns();
    atomic_store(&measuring, 1);
    sleep_ns((uint64_t)(seconds * 1e9));
    atomic_store(&measuring, 0);
    uint64_t t1 = now_ns();
    uint64_t win1, cpu1, coll1[3];
    gc_totals(&win1, &cpu1, coll1, &pause, &held);
    atomic_store(&stopping, 1);
    latency_hist *all = calloc(1, sizeof *all);
    if (!all) abort();
    r.ok = 1;
    for (int i = 0; i < workers; i++) {
        pthread_join(w[i].thread, NULL);
        r.ok &= !w[i].failed;
        r.requests += w[i].requests;
        lh_merge(all, &w[i].hist);
    }
    cog_thread_online();
    r.seconds = (double)(t1 - t0) / 1e9;
    r.rps = (double)r.requests / r.seconds;
    r.p50 = lh_quantile(all, 0.5);
    r.p99 = lh_quantile(all, 0.99);
    r.p999 = lh_quantile(all, 0.999);
    r.p9999 = lh_quantile(all, 0.9999);
    r.max = all->max;
    r.rss_mib = peak_rss_mib();
    r.duty = (double)(win1 - win0) / (double)(t1 - t0);
    r.collector_cpu = (double)(cpu1 - cpu0) / (double)(t1 - t0);
    for (int g = 0; g < 3; g++) r.collections[g] = coll1[g] - coll0[g];
    r.max_pause_ns = pause;
    r.max_held_ns = held;
    paced_waits(&r.waits, &r.waits_over_1ms);
    free(all);
    cog_decref(cache);
    cog_shutdown();
    return r;
}

static phase_result run_child(server_shape shape, int workers, int gc_on, double seconds) {
    int fd[2];
    phase_result r = {0};
    if (pipe(fd) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        close(fd[0]);
        r = run_phase(shape, workers, gc_on, seconds);
        ssize_t n = write(fd[1], &r, sizeof r);
        _exit(n == (ssize_t)sizeof r && r.ok ? 0 : 1);
    }
    close(fd[1]);
    ssize_t n = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (n != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) r.ok = 0;
    return r;
}

static const char *shape_name[] = {"tree", "cyclic"};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(n - 1) / 2]; /* low median: a value that was measured */
}

static int parse_list(const char *s, int *out, int cap, int (*conv)(const char *)) {
    int n = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < cap;
         tok = strtok_r(NULL, ",", &save)) {
        int v = conv(tok);
        if (v < 0) return -1;
        out[n++] = v;
    }
    return n;
}

static int conv_shape(const char *s) {
    return !strcmp(s, "tree") ? SHAPE_TREE : !strcmp(s, "cyclic") ? SHAPE_CYCLIC : -1;
}

static int conv_workers(const char *s) {
    int v = atoi(s);
    return v >= 1 && v <= MAX_WORKERS ? v : -1;
}

int main(int argc, char **argv) {
    double seconds = 5;
    int rounds = 1, shapes[2] = {SHAPE_TREE, SHAPE_CYCLIC}, nshapes = 2;
    int workers[MAX_WORKERS] = {1, 2}, nworkers = 2;
    int only = -1; /* -g: 0 off, 1 on */
    int opt;
    while ((opt = getopt(argc, argv, "t:r:s:w:g:")) != -1) {
        switch (opt) {
        case 't': seconds = atof(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 's': nshapes = parse_list(optarg, shapes, 2, conv_shape); break;
        case 'w': nworkers = parse_list(optarg, workers, MAX_WORKERS, conv_workers); break;
        case 'g': only = !strcmp(optarg, "on") ? 1 : !strcmp(optarg, "off") ? 0 : -2; break;
        default: nshapes = -1;
        }
    }
    if (seconds <= 0 || rounds < 1 || rounds > MAX_ROUNDS || nshapes < 1 || nworkers < 1 ||
        only == -2) {
        fprintf(stderr, "usage: server_bench [-t seconds] [-r rounds 1..%d] [-s tree,cyclic] "
                        "[-w 1,2] [-g on|off]\n", MAX_ROUNDS);
        return 2;
    }
    printf("server_bench: %.3g s per phase, %d round(s); PHASE shape workers gc rps p50 p99 "
           "p99.9 p99.99 max(us) rss(MiB) duty collector_cpu gen0/1/2 max_paced_wait(us) "
           "paced_waits over_1ms max_held_wait(us)\n",
           seconds, rounds);
    static phase_result res[2][MAX_WORKERS][2][MAX_ROUNDS];
    int failed = 0;
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < nshapes; s++)
            for (int k = 0; k < nworkers; k++)
                for (int on = 0; on <= 1; on++) {
                    if (only >= 0 && on != only) continue;
                    phase_result *p = &res[s][k][on][r];
                    *p = run_child((server_shape)shapes[s], workers[k], on, seconds);
                    if (!p->ok) {
                        fprintf(stderr, "server_bench: phase %s/%d/%s failed\n",
                                shape_name[shapes[s]], workers[k], on ? "on" : "off");
                        failed = 1;
                        continue;
                    }
                    printf("PHASE %s %d %s %.0f %.1f %.1f %.1f %.1f %.1f %.1f %.3f %.3f "
                           "%llu/%llu/%llu %.1f %llu %llu %.1f\n",
                           shape_name[shapes[s]], workers[k], on ? "on" : "off", p->rps,
                           (double)p->p50 / 1e3, (double)p->p99 / 1e3, (double)p->p999 / 1e3,
                           (double)p->p9999 / 1e3, (double)p->max / 1e3, p->rss_mib, p->duty,
                           p->collector_cpu, (unsigned long long)p->collections[0],
                           (unsigned long long)p->collections[1],
                           (unsigned long long)p->collections[2],
                           (double)p->max_pause_ns / 1e3, (unsigned long long)p->waits,
                           (unsigned long long)p->waits_over_1ms,
                           (double)p->max_held_ns / 1e3);
                    fflush(stdout);
                }
    if (failed) return 1;
    if (only >= 0) return 0;
    printf("\n%-7s %7s %9s %9s %9s %9s %9s %8s %6s %7s %9s %15s %9s\n", "shape", "workers",
           "on/off", "p50 us", "p99.99", "max us", "off p99.99", "rss MiB", "duty", "gc cpu",
           "paced us", "waits > 1 ms", "held us");
    for (int s = 0; s < nshapes; s++)
        for (int k = 0; k < nworkers; k++) {
            double ratio[MAX_ROUNDS], p50[MAX_ROUNDS], p9999[MAX_ROUNDS], mx[MAX_ROUNDS];
            double off9999[MAX_ROUNDS], rss[MAX_ROUNDS], duty[MAX_ROUNDS], cpu[MAX_ROUNDS];
            double paced = 0, held = 0;
            uint64_t waits = 0, over = 0;
            for (int r = 0; r < rounds; r++) {
                phase_result *off = &res[s][k][0][r], *on = &res[s][k][1][r];
                ratio[r] = on->rps / off->rps;
                p50[r] = (double)on->p50 / 1e3;
                p9999[r] = (double)on->p9999 / 1e3;
                mx[r] = (double)on->max / 1e3;
                off9999[r] = (double)off->p9999 / 1e3;
                rss[r] = on->rss_mib;
                duty[r] = on->duty;
                cpu[r] = on->collector_cpu;
                if ((double)on->max_pause_ns / 1e3 > paced) paced = (double)on->max_pause_ns / 1e3;
                if ((double)on->max_held_ns / 1e3 > held) held = (double)on->max_held_ns / 1e3;
                waits += on->waits;
                over += on->waits_over_1ms;
            }
            double m_ratio = median(ratio, rounds), m_p9999 = median(p9999, rounds);
            double m_max = median(mx, rounds), m_rss = median(rss, rounds);
            double m_duty = median(duty, rounds);
            char wait_share[32];
            snprintf(wait_share, sizeof wait_share, "%llu of %llu", (unsigned long long)over,
                     (unsigned long long)waits);
            printf("%-7s %7d %8.3fx %9.1f %9.1f %9.1f %9.1f %8.1f %5.1f%% %6.1f%% %9.1f %15s "
                   "%9.1f\n",
                   shape_name[shapes[s]], workers[k], m_ratio, median(p50, rounds), m_p9999,
                   m_max, median(off9999, rounds), m_rss, 100 * m_duty,
                   100 * median(cpu, rounds), paced, wait_share, held);
            printf("RESULT server %s %d %.3f %.1f %.1f %.1f %.3f %.1f\n", shape_name[shapes[s]],
                   workers[k], m_ratio, m_p9999, m_max, m_rss, m_duty, paced);
        }
    printf("(medians over %d round(s); on/off = throughput with collection on / off; latency "
           "and rss with collection on; gc cpu = collector CPU / wall time; waits summed over "
           "rounds)\n", rounds);
    return 0;
}
