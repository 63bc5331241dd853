/* collector/control_heap.c - the control protocol's `heap` command: the
 * heap profiler (cog/heap_profile.h) driven from cogctl, with one baseline
 * snapshot kept by the server for `heap diff`.
 *
 *   heap                       status: interval, dropped samples, baseline
 *   heap start [interval]      start sampling (bytes; default 512 KiB)
 *   heap stop | heap reset
 *   heap snapshot              take the baseline (replaces the previous one)
 *   heap diff [type|stack] [n] now against the baseline, top n (default 10)
 *   heap pprof PATH            write the live heap profile for google-pprof
 *   heap folded PATH           write it in folded form (flame graphs)
 *
 * Files are written by the server process, as the user that owns it (the
 * only user the socket admits). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cog/heap_profile.h"
#include "collector/control_internal.h"
#include "lib/base/error.h"

static pthread_mutex_t baseline_lock = PTHREAD_MUTEX_INITIALIZER;
static cog_heap_snapshot *baseline; /* under baseline_lock */
static time_t baseline_at;

static int write_file(const char *path, int folded, FILE *out) {
    cog_heap_snapshot *s = cog_heap_snapshot_take();
    if (!s) return cog_error_last_code();
    FILE *f = fopen(path, "w");
    if (!f) {
        cog_heap_snapshot_free(s);
        return cog_error(COG_EINVAL, "heap: cannot write %s: %s", path, strerror(errno));
    }
    int rc = folded ? cog_heap_snapshot_write_folded(s, f) : cog_heap_snapshot_write_pprof(s, f);
    if (fclose(f) != 0 && rc == COG_OK)
        rc = cog_error(COG_EINVAL, "heap: cannot write %s: %s", path, strerror(errno));
    cog_heap_snapshot_free(s);
    if (rc == COG_OK) fprintf(out, "wrote %s\n", path);
    return rc;
}

static int diff(int argc, char **argv, FILE *out) {
    cog_heap_key key = COG_HEAP_BY_TYPE;
    long top = 10;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "type")) key = COG_HEAP_BY_TYPE;
        else if (!strcmp(argv[i], "stack")) key = COG_HEAP_BY_STACK;
        else if (!cog_control_parse_long(argv[i], &top) || top < 1 || top > 100)
            return cog_error(COG_EINVAL, "usage: heap diff [type|stack] [n] (1..100)");
    }
    cog_heap_snapshot *now = cog_heap_snapshot_take();
    if (!now) return cog_error_last_code();
    pthread_mutex_lock(&baseline_lock);
    int rc;
    if (!baseline) {
        rc = cog_error(COG_ESTATE, "heap diff: no baseline (take one with: heap snapshot)");
    } else {
        fprintf(out, "since the baseline of %ld s ago:\n", (long)(time(NULL) - baseline_at));
        rc = cog_heap_snapshot_print_compare(out, baseline, now, key, (size_t)top);
    }
    pthread_mutex_unlock(&baseline_lock);
    cog_heap_snapshot_free(now);
    return rc;
}

int cog_control_heap(int argc, char **argv, FILE *out) {
    const char *sub = argc > 1 ? argv[1] : "status";
    if (!strcmp(sub, "status") && argc <= 2) {
        pthread_mutex_lock(&baseline_lock);
        fprintf(out, "interval %zu dropped %llu baseline %s", cog_heap_profile_interval(),
                cog_heap_profile_dropped(), baseline ? "yes" : "no");
        if (baseline) fprintf(out, " (%ld s ago)", (long)(time(NULL) - baseline_at));
        fputc('\n', out);
        pthread_mutex_unlock(&baseline_lock);
        return COG_OK;
    }
    if (!strcmp(sub, "start") && argc <= 3) {
        long interval = 0;
        if (argc == 3 && (!cog_control_parse_long(argv[2], &interval) || interval < 0))
            return cog_error(COG_EINVAL, "usage: heap start [interval bytes]");
        int rc = cog_heap_profile_start((size_t)interval);
        if (rc == COG_OK) fprintf(out, "interval %zu\n", cog_heap_profile_interval());
        return rc;
    }
    if (!strcmp(sub, "stop") && argc == 2) return cog_heap_profile_stop(), COG_OK;
    if (!strcmp(sub, "reset") && argc == 2) return cog_heap_profile_reset(), COG_OK;
    if (!strcmp(sub, "snapshot") && argc == 2) {
        cog_heap_snapshot *s = cog_heap_snapshot_take();
        if (!s) return cog_error_last_code();
        pthread_mutex_lock(&baseline_lock);
        cog_heap_snapshot_free(baseline);
        baseline = s;
        baseline_at = time(NULL);
        pthread_mutex_unlock(&baseline_lock);
        fprintf(out, "baseline taken\n");
        return COG_OK;
    }
    if (!strcmp(sub, "diff") && argc <= 4) return diff(argc, argv, out);
    if ((!strcmp(sub, "pprof") || !strcmp(sub, "folded")) && argc == 3)
        return write_file(argv[2], sub[0] == 'f', out);
    return cog_error(COG_EINVAL, "usage: heap [start [interval] | stop | reset | snapshot | "
                                 "diff [type|stack] [n] | pprof PATH | folded PATH]");
}

void cog_control_heap_shutdown(void) {
    pthread_mutex_lock(&baseline_lock);
    cog_heap_snapshot_free(baseline);
    baseline = NULL;
    pthread_mutex_unlock(&baseline_lock);
}
