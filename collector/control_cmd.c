/* collector/control_cmd.c - the control protocol's commands
 * (cog_control_execute): parse one line, act through the public gc/mem API,
 * format the reply. Shared by the socket server (control.c, which takes
 * the reply in a growing buffer: cog_control_execute_alloc) and embedders. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cog/control.h"
#include "cog/gc.h"
#include "cog/mem.h"
#include "cog/metrics.h"
#include "collector/control_internal.h"
#include "collector/gc_internal.h"
#include "lib/base/error.h"

#define MAX_ARGS 8

/* A fixed buffer that truncates (cog_control_execute), or a malloc'ed one
 * that grows (grow: cog_control_execute_alloc; a failed growth truncates
 * too, and sets oom). */
typedef struct reply {
    char *buf;
    size_t cap, len;
    int grow, oom;
} reply;

/* Room for n more bytes plus the NUL, if the buffer may grow. */
static void reserve(reply *r, size_t n) {
    if (!r->grow || r->len + n < r->cap) return;
    size_t cap = r->cap ? r->cap : 256;
    while (r->len + n >= cap) cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b) {
        r->oom = 1;
        return;
    }
    r->buf = b;
    r->cap = cap;
}

static void put(reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(reply *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) return;
    reserve(r, (size_t)need);
    if (r->cap == 0 || r->len >= r->cap - 1) return;
    va_start(ap, fmt);
    vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
    va_end(ap);
    r->len += (size_t)need;
    if (r->len > r->cap - 1) r->len = r->cap - 1;
}

/* n bytes verbatim (they may hold '%'). */
static void put_bytes(reply *r, const char *p, size_t n) {
    reserve(r, n);
    if (r->cap == 0 || r->len >= r->cap - 1) return;
    if (n > r->cap - 1 - r->len) n = r->cap - 1 - r->len;
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = '\0';
}

/* Terminating lines. */
static int ok(reply *r) {
    put(r, "ok\n");
    return COG_OK;
}

static int fail(reply *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(reply *r, int code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    put(r, "error: %s\n", msg);
    return cog_error(code, "cog_control: %s", msg);
}

int cog_control_parse_long(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0') return 0;
    *out = v;
    return 1;
}

static int cmd_stats(reply *r, int argc, char **argv) {
    (void)argv;
    if (argc != 1) return fail(r, COG_EINVAL, "stats takes no arguments");
    long t[COG_GC_GENERATIONS], c[COG_GC_GENERATIONS];
    /* One snapshot: the per-generation lines and the paced waits agree. */
    cog_gc_gen_stats st[COG_GC_GENERATIONS];
    uint64_t hist[COG_GC_GENERATIONS][COG_GC_DURATION_BUCKETS + 1];
    cog_gc_wait_hist waits;
    cog_gc_get_threshold(t);
    cog_gc_get_count(c);
    cog_gc_stats_snapshot(st, hist, &waits);
    put(r, "enabled %d\n", cog_gc_is_enabled());
    put(r, "threshold %ld %ld %ld\n", t[0], t[1], t[2]);
    put(r, "count %ld %ld %ld\n", c[0], c[1], c[2]);
    uint64_t window_ns = 0;
    for (int g = 0; g < COG_GC_GENERATIONS; g++) {
        put(r,
            "gen %d: collections %llu collected %llu uncollectable %llu total_ms %.3f "
            "max_ms %.3f max_pause_ms %.3f last_scanned %llu last_walked %llu window_ms %.3f "
            "cpu_ms %.3f assisted %llu sliced %llu max_pause_held_ms %.3f "
            "pause_preempted_ms %.3f\n",
            g, (unsigned long long)st[g].collections, (unsigned long long)st[g].collected,
            (unsigned long long)st[g].uncollectable, (double)st[g].total_ns / 1e6,
            (double)st[g].max_ns / 1e6, (double)st[g].max_pause_ns / 1e6,
            (unsigned long long)st[g].last_scanned, (unsigned long long)st[g].last_walked,
            (double)st[g].window_ns / 1e6,
            (double)st[g].cpu_ns / 1e6, (unsigned long long)st[g].assisted,
            (unsigned long long)st[g].sliced, (double)st[g].max_pause_held_ns / 1e6,
            (double)st[g].pause_preempted_ns / 1e6);
        window_ns += st[g].window_ns;
    }
    /* Since cog_init: share of wall time a collection window was open. */
    uint64_t up = cog_gc_stats_elapsed_ns();
    put(r, "window_duty %.4f\n", up ? (double)window_ns / (double)up : 0.0);
    /* Paced waits of all generations, and those over 1 ms (the metrics'
     * wait histogram; buckets up to and including the 1 ms bound). */
    uint64_t nwaits = 0, within = 0;
    for (int g = 0; g < COG_GC_GENERATIONS; g++)
        for (int b = 0; b <= COG_GC_WAIT_BUCKETS; b++) {
            nwaits += waits.count[g][b];
            if (b < COG_GC_WAIT_BUCKETS && cog_gc_wait_bucket_ns[b] <= 1000000)
                within += waits.count[g][b];
        }
    put(r, "paced_waits %llu over_1ms %llu\n", (unsigned long long)nwaits,
        (unsigned long long)(nwaits - within));
    put(r, "duty_cap %d\n", cog_gc_get_duty_cap());
    cog_mem_info mi;
    cog_mem_stats(&mi);
    put(r, "heap_bytes %llu\n", (unsigned long long)(mi.bytes_mapped + mi.large_bytes));
    /* The allocator (cog/mem.h): each size class with pools, then blocks
     * above the top class and the mappings cached for them. */
    for (int c = 0; c < COG_MEM_NCLASSES; c++) {
        const cog_mem_class_info *ci = &mi.classes[c];
        if (!ci->pools) continue;
        put(r, "class %u: pool_bytes %u pools %llu in_use %llu free %llu\n", ci->block_size,
            ci->pool_bytes, (unsigned long long)ci->pools,
            (unsigned long long)ci->blocks_in_use, (unsigned long long)ci->blocks_free);
    }
    put(r, "large: blocks %llu bytes %llu cached %llu cached_bytes %llu\n",
        (unsigned long long)mi.large_objects, (unsigned long long)mi.large_bytes,
        (unsigned long long)mi.large_cached, (unsigned long long)mi.large_cached_bytes);
    put(r, "arenas %llu bytes_mapped %llu\n", (unsigned long long)mi.arenas,
        (unsigned long long)mi.bytes_mapped);
    put(r, "gctrace %s\n", cog_gc_get_trace() ? "on" : "off");
    return ok(r);
}

static int cmd_collect(reply *r, int argc, char **argv) {
    long gen = COG_GC_GENERATIONS - 1;
    if (argc > 2) return fail(r, COG_EINVAL, "usage: collect [gen]");
    if (argc == 2 &&
        (!cog_control_parse_long(argv[1], &gen) || gen < 0 || gen >= COG_GC_GENERATIONS))
        return fail(r, COG_EINVAL, "collect: generation '%s' is not 0, 1 or 2", argv[1]);
    long found = cog_gc_collect((int)gen);
    if (found < 0) return fail(r, (int)found, "collect: %s", cog_last_error());
    put(r, "collected %ld\n", found);
    return ok(r);
}

static int cmd_threshold(reply *r, int argc, char **argv) {
    long t[COG_GC_GENERATIONS];
    cog_gc_get_threshold(t);
    if (argc == 1) {
        put(r, "threshold %ld %ld %ld\n", t[0], t[1], t[2]);
        return ok(r);
    }
    if (argc > 1 + COG_GC_GENERATIONS)
        return fail(r, COG_EINVAL, "usage: threshold [t0 [t1 [t2]]]");
    for (int i = 1; i < argc; i++)
        if (!cog_control_parse_long(argv[i], &t[i - 1]))
            return fail(r, COG_EINVAL, "threshold: '%s' is not a number", argv[i]);
    int rc = cog_gc_set_threshold(t[0], t[1], t[2]);
    if (rc != COG_OK)
        return fail(r, rc, "threshold %ld %ld %ld rejected: threshold0 must be >= 0 and "
                           "threshold1/2 > 0", t[0], t[1], t[2]);
    return ok(r);
}

static int cmd_enable(reply *r, int argc, char **argv) {
    if (argc != 1) return fail(r, COG_EINVAL, "%s takes no arguments", argv[0]);
    if (strcmp(argv[0], "enable") == 0) cog_gc_enable();
    else cog_gc_disable();
    return ok(r);
}

static int cmd_gctrace(reply *r, int argc, char **argv) {
    if (argc == 1) {
        put(r, "gctrace %s\n", cog_gc_get_trace() ? "on" : "off");
        return ok(r);
    }
    if (argc == 2 && strcmp(argv[1], "on") == 0) cog_gc_set_trace(1);
    else if (argc == 2 && strcmp(argv[1], "off") == 0) cog_gc_set_trace(0);
    else return fail(r, COG_EINVAL, "usage: gctrace [on|off]");
    return ok(r);
}

static int cmd_top(reply *r, int argc, char **argv) {
    long n = 20;
    if (argc > 2 || (argc == 2 && (!cog_control_parse_long(argv[1], &n) || n <= 0 || n > 1000)))
        return fail(r, COG_EINVAL, "usage: top [n] (1..1000)");
    cog_type_stat *v = malloc((size_t)n * sizeof *v);
    if (!v) return fail(r, COG_ENOMEM, "top: out of memory");
    long found = cog_mem_type_stats(v, (size_t)n);
    if (found < 0) {
        free(v);
        return fail(r, (int)found, "top: %s", cog_last_error());
    }
    put(r, "%-24s %12s %14s\n", "type", "objects", "bytes");
    for (long i = 0; i < found && i < n; i++)
        put(r, "%-24s %12llu %14llu\n", v[i].name, (unsigned long long)v[i].count,
            (unsigned long long)v[i].bytes);
    put(r, "types %ld\n", found);
    free(v);
    return ok(r);
}

static int cmd_heap(reply *r, int argc, char **argv) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return fail(r, COG_ENOMEM, "heap: out of memory");
    int rc = cog_control_heap(argc, argv, f);
    fclose(f);
    if (rc == COG_OK && text) put_bytes(r, text, len);
    free(text);
    return rc == COG_OK ? ok(r) : fail(r, rc, "%s", cog_last_error());
}

/* The Prometheus text (cog/metrics.h); its lines never read "ok" or start
 * with "error:", so the reply's terminating line stays unambiguous. */
static int cmd_metrics(reply *r, int argc, char **argv) {
    (void)argv;
    if (argc != 1) return fail(r, COG_EINVAL, "metrics takes no arguments");
    char *text = NULL;
    size_t size = 0;
    FILE *ms = open_memstream(&text, &size);
    if (!ms) return fail(r, COG_ENOMEM, "metrics: out of memory");
    int rc = cog_metrics_write(ms);
    int closed = fclose(ms);
    if (rc == COG_OK && closed != 0) rc = cog_error(COG_ENOMEM, "out of memory");
    if (rc != COG_OK) {
        free(text);
        return fail(r, rc, "metrics: %s", cog_last_error());
    }
    put_bytes(r, text, size);
    free(text);
    return ok(r);
}

static int cmd_help(reply *r, int argc, char **argv) {
    (void)argc;
    (void)argv;
    put(r, "commands: stats | collect [gen] | threshold [t0 [t1 [t2]]] | enable | disable | "
           "gctrace [on|off] | top [n] | metrics | heap [start [interval] | stop | reset | "
           "snapshot | diff [type|stack] [n] | pprof PATH | folded PATH] | help\n");
    return ok(r);
}

static const struct command {
    const char *name;
    int (*run)(reply *r, int argc, char **argv);
} commands[] = {
    {"stats", cmd_stats},     {"collect", cmd_collect}, {"threshold", cmd_threshold},
    {"enable", cmd_enable},   {"disable", cmd_enable},  {"gctrace", cmd_gctrace},
    {"top", cmd_top},         {"metrics", cmd_metrics}, {"heap", cmd_heap},
    {"help", cmd_help},
};

/* Parse and run one line, reply into r. */
static int execute(reply *r, const char *line) {
    if (!line) return fail(r, COG_EINVAL, "no command");
    char buf[COG_CONTROL_MAX_LINE + 1];
    size_t len = strlen(line);
    if (len > COG_CONTROL_MAX_LINE)
        return fail(r, COG_EINVAL, "line too long (max %d bytes)", COG_CONTROL_MAX_LINE);
    memcpy(buf, line, len + 1);
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    for (char *save = NULL, *tok = strtok_r(buf, " \t\r", &save); tok;
         tok = strtok_r(NULL, " \t\r", &save)) {
        if (argc == MAX_ARGS) return fail(r, COG_EINVAL, "too many arguments");
        argv[argc++] = tok;
    }
    if (argc == 0) return fail(r, COG_EINVAL, "empty command (try help)");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[0], commands[i].name) == 0) return commands[i].run(r, argc, argv);
    /* Never echo control characters back verbatim. */
    for (char *p = argv[0]; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) *p = '?';
    return fail(r, COG_EINVAL, "unknown command '%.64s' (try help)", argv[0]);
}

int cog_control_execute(const char *line, char *out, size_t cap) {
    reply r = {out, cap, 0, 0, 0};
    if (cap) out[0] = '\0';
    return execute(&r, line);
}

int cog_control_execute_alloc(const char *line, char **out) {
    reply r = {NULL, 0, 0, 1, 0};
    reserve(&r, 64);
    if (r.buf) r.buf[0] = '\0';
    int rc = execute(&r, line);
    if (r.oom) { /* a cut reply would lack its terminating line */
        free(r.buf);
        r.buf = strdup("error: out of memory\n");
        rc = cog_error(COG_ENOMEM, "cog_control: reply: out of memory");
    }
    *out = r.buf;
    return rc;
}
