/* collector/metrics.c - cog_metrics_write (cog/metrics.h): the gc, allocator,
 * intern and per-type statistics in the Prometheus text format 0.0.4.
 * Everything is gathered first (the per-type walk is the only step that can
 * fail), then written, so an error never leaves half a text behind. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cog/gc.h"
#include "cog/intern.h"
#include "cog/mem.h"
#include "cog/metrics.h"
#include "collector/gc_internal.h"
#include "lib/base/error.h"

typedef struct snapshot {
    cog_gc_gen_stats gc[COG_GC_GENERATIONS];
    uint64_t hist[COG_GC_GENERATIONS][COG_GC_DURATION_BUCKETS + 1];
    cog_gc_wait_hist waits;
    uint64_t elapsed_ns;
    long threshold[COG_GC_GENERATIONS];
    int enabled, duty_cap;
    long pacing;
    cog_mem_info mem;
    cog_intern_stats intern;
    cog_type_stat types[COG_METRICS_TOP_TYPES];
    long ntypes_stored, ntypes;
} snapshot;

static void family(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static double seconds(uint64_t ns) { return (double)ns / 1e9; }

/* Label values escape backslash, double quote and newline (0.0.4). */
static void label_value(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') fputs("\\\\", f);
        else if (*s == '"') fputs("\\\"", f);
        else if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
}

/* One counter or gauge per generation, from an integer field. */
#define PER_GEN_U64(f, s, name, type, help, field)                                 \
    do {                                                                            \
        family(f, name, type, help);                                                \
        for (int g_ = 0; g_ < COG_GC_GENERATIONS; g_++)                             \
            fprintf(f, name "{generation=\"%d\"} %llu\n", g_,                       \
                    (unsigned long long)(s)->gc[g_].field);                         \
    } while (0)
#define PER_GEN_SECONDS(f, s, name, type, help, field)                             \
    do {                                                                            \
        family(f, name, type, help);                                                \
        for (int g_ = 0; g_ < COG_GC_GENERATIONS; g_++)                             \
            fprintf(f, name "{generation=\"%d\"} %.9g\n", g_, seconds((s)->gc[g_].field)); \
    } while (0)

/* A histogram by generation: per-bucket counts (not cumulative, the last
 * above every bound) counts[g * (nb + 1) + b], and each generation's sum. */
static void histogram(FILE *f, const char *h, const char *help, const uint64_t *bounds_ns,
                      int nb, const uint64_t *counts, const uint64_t *sum_ns) {
    family(f, h, "histogram", help);
    for (int g = 0; g < COG_GC_GENERATIONS; g++) {
        const uint64_t *c = counts + (size_t)g * (size_t)(nb + 1);
        uint64_t cum = 0; /* Prometheus buckets are cumulative */
        for (int b = 0; b < nb; b++) {
            cum += c[b];
            fprintf(f, "%s_bucket{generation=\"%d\",le=\"%g\"} %llu\n", h, g,
                    seconds(bounds_ns[b]), (unsigned long long)cum);
        }
        cum += c[nb];
        fprintf(f, "%s_bucket{generation=\"%d\",le=\"+Inf\"} %llu\n", h, g,
                (unsigned long long)cum);
        fprintf(f, "%s_sum{generation=\"%d\"} %.9g\n", h, g, seconds(sum_ns[g]));
        fprintf(f, "%s_count{generation=\"%d\"} %llu\n", h, g, (unsigned long long)cum);
    }
}

static void write_gc(FILE *f, const snapshot *s) {
    PER_GEN_U64(f, s, "cog_gc_collections_total", "counter",
                "Collections of each generation.", collections);
    PER_GEN_U64(f, s, "cog_gc_objects_collected_total", "counter",
                "Objects freed by collections of each generation.", collected);
    PER_GEN_U64(f, s, "cog_gc_objects_uncollectable_total", "counter",
                "Unreachable objects moved to the garbage list (cog_gc_garbage).",
                uncollectable);
    PER_GEN_U64(f, s, "cog_gc_objects_assisted_total", "counter",
                "Of the collected objects, those freed by the threads that allocated them "
                "(pacing assist).",
                assisted);
    PER_GEN_U64(f, s, "cog_gc_collections_sliced_total", "counter",
                "Of the collections, those driven by assistants in slices (cog_gc_set_slicing).",
                sliced);

    uint64_t total_ns[COG_GC_GENERATIONS];
    for (int g = 0; g < COG_GC_GENERATIONS; g++) total_ns[g] = s->gc[g].total_ns;
    histogram(f, "cog_gc_collection_duration_seconds",
              "Wall time of each collection, by generation.", cog_gc_duration_bucket_ns,
              COG_GC_DURATION_BUCKETS, &s->hist[0][0], total_ns);
    PER_GEN_SECONDS(f, s, "cog_gc_collection_duration_max_seconds", "gauge",
                    "Longest collection of each generation.", max_ns);
    PER_GEN_SECONDS(f, s, "cog_gc_window_seconds_total", "counter",
                    "Wall time collection windows were open (mutators take the slow path).",
                    window_ns);
    uint64_t window = 0;
    for (int g = 0; g < COG_GC_GENERATIONS; g++) window += s->gc[g].window_ns;
    family(f, "cog_gc_window_duty_ratio", "gauge",
           "Share of wall time since the statistics began that a collection window was open.");
    fprintf(f, "cog_gc_window_duty_ratio %.9g\n",
            s->elapsed_ns ? (double)window / (double)s->elapsed_ns : 0.0);
    family(f, "cog_gc_stats_elapsed_seconds", "gauge",
           "Wall time since the statistics began (the first cog_init).");
    fprintf(f, "cog_gc_stats_elapsed_seconds %.9g\n", seconds(s->elapsed_ns));
    PER_GEN_SECONDS(f, s, "cog_gc_cpu_seconds_total", "counter",
                    "CPU time the collector and its helper spent in collections.", cpu_ns);
    PER_GEN_SECONDS(f, s, "cog_gc_paced_wait_max_seconds", "gauge",
                    "Longest time a mutator waited for a collection (pacing).", max_pause_ns);
    PER_GEN_SECONDS(f, s, "cog_gc_paced_wait_held_max_seconds", "gauge",
                    "Longest paced wait less the time its thread was ready to run while "
                    "another had its CPU.",
                    max_pause_held_ns);
    PER_GEN_SECONDS(f, s, "cog_gc_paced_wait_preempted_seconds_total", "counter",
                    "Time threads in paced waits were ready to run while others had their CPU.",
                    pause_preempted_ns);
    histogram(f, "cog_gc_paced_wait_seconds",
              "Time mutators waited for a collection of each generation (pacing), per wait.",
              cog_gc_wait_bucket_ns, COG_GC_WAIT_BUCKETS, &s->waits.count[0][0],
              s->waits.sum_ns);

    family(f, "cog_gc_threshold", "gauge", "Collection thresholds (cog_gc_set_threshold).");
    for (int g = 0; g < COG_GC_GENERATIONS; g++)
        fprintf(f, "cog_gc_threshold{generation=\"%d\"} %ld\n", g, s->threshold[g]);
    family(f, "cog_gc_enabled", "gauge", "1 if automatic collection is enabled.");
    fprintf(f, "cog_gc_enabled %d\n", s->enabled);
    family(f, "cog_gc_pacing_factor", "gauge", "Pacing factor (cog_gc_set_pacing; 0: off).");
    fprintf(f, "cog_gc_pacing_factor %ld\n", s->pacing);
    family(f, "cog_gc_duty_cap_ratio", "gauge", "Window duty cap (cog_gc_set_duty_cap; 0: none).");
    fprintf(f, "cog_gc_duty_cap_ratio %.9g\n", (double)s->duty_cap / 100.0);
}

static void write_mem(FILE *f, const snapshot *s) {
    const cog_mem_info *m = &s->mem;
    family(f, "cog_mem_class_used_bytes", "gauge",
           "Bytes of allocated blocks per size class (blocks in use x block size).");
    for (int c = 0; c < COG_MEM_NCLASSES; c++)
        fprintf(f, "cog_mem_class_used_bytes{size=\"%u\"} %llu\n", m->classes[c].block_size,
                (unsigned long long)(m->classes[c].blocks_in_use * m->classes[c].block_size));
    family(f, "cog_mem_class_free_bytes", "gauge",
           "Bytes of free blocks in the pools of each size class.");
    for (int c = 0; c < COG_MEM_NCLASSES; c++)
        fprintf(f, "cog_mem_class_free_bytes{size=\"%u\"} %llu\n", m->classes[c].block_size,
                (unsigned long long)(m->classes[c].blocks_free * m->classes[c].block_size));
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } scalars[] = {
        {"cog_mem_arenas", "gauge", "Arenas mapped now.", offsetof(cog_mem_info, arenas)},
        {"cog_mem_mapped_bytes", "gauge", "Bytes of the arenas mapped now.",
         offsetof(cog_mem_info, bytes_mapped)},
        {"cog_mem_large_objects", "gauge", "Blocks larger than 512 bytes (from malloc).",
         offsetof(cog_mem_info, large_objects)},
        {"cog_mem_large_bytes", "gauge", "Bytes of the blocks larger than 512 bytes.",
         offsetof(cog_mem_info, large_bytes)},
        {"cog_mem_arenas_mapped_total", "counter", "Arenas mapped since cog_init.",
         offsetof(cog_mem_info, arenas_mapped_total)},
        {"cog_mem_arenas_unmapped_total", "counter", "Arenas returned to the OS since cog_init.",
         offsetof(cog_mem_info, arenas_unmapped_total)},
        {"cog_mem_mmap_failures_total", "counter", "Arena mmaps that failed.",
         offsetof(cog_mem_info, mmap_failures)},
    };
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
        uint64_t v;
        memcpy(&v, (const char *)m + scalars[i].off, sizeof v);
        family(f, scalars[i].name, scalars[i].type, scalars[i].help);
        fprintf(f, "%s %llu\n", scalars[i].name, (unsigned long long)v);
    }
}

static void write_intern_and_types(FILE *f, const snapshot *s) {
    family(f, "cog_intern_strings", "gauge", "Strings in the intern table.");
    fprintf(f, "cog_intern_strings %llu\n", (unsigned long long)s->intern.count);
    family(f, "cog_intern_buckets", "gauge", "Hash buckets of the intern table.");
    fprintf(f, "cog_intern_buckets %llu\n", (unsigned long long)s->intern.buckets);
    family(f, "cog_intern_lookups_total", "counter", "Intern calls since cog_init.");
    fprintf(f, "cog_intern_lookups_total %llu\n", (unsigned long long)s->intern.lookups);
    family(f, "cog_intern_hits_total", "counter",
           "Intern calls that found a live canonical string.");
    fprintf(f, "cog_intern_hits_total %llu\n", (unsigned long long)s->intern.hits);

    family(f, "cog_live_objects", "gauge", "Live objects of the largest types (by bytes).");
    for (long i = 0; i < s->ntypes_stored; i++) {
        fputs("cog_live_objects{type=\"", f);
        label_value(f, s->types[i].name);
        fprintf(f, "\"} %llu\n", (unsigned long long)s->types[i].count);
    }
    family(f, "cog_live_bytes", "gauge", "Bytes of the live objects of the largest types.");
    for (long i = 0; i < s->ntypes_stored; i++) {
        fputs("cog_live_bytes{type=\"", f);
        label_value(f, s->types[i].name);
        fprintf(f, "\"} %llu\n", (unsigned long long)s->types[i].bytes);
    }
    family(f, "cog_live_types", "gauge", "Types with live objects.");
    fprintf(f, "cog_live_types %ld\n", s->ntypes);
}

/* Two types may share a name; a series must appear once: add them up. */
static long merge_same_names(cog_type_stat *v, long n) {
    long out = 0;
    for (long i = 0; i < n; i++) {
        long j = 0;
        while (j < out && strcmp(v[j].name, v[i].name) != 0) j++;
        if (j < out) {
            v[j].count += v[i].count;
            v[j].bytes += v[i].bytes;
        } else {
            v[out++] = v[i];
        }
    }
    return out;
}

int cog_metrics_write(FILE *f) {
    if (!f) return cog_error(COG_EINVAL, "cog_metrics_write: stream is NULL");
    snapshot *s = calloc(1, sizeof *s);
    if (!s) return cog_error(COG_ENOMEM, "cog_metrics_write: out of memory");
    long found = cog_mem_type_stats(s->types, COG_METRICS_TOP_TYPES);
    if (found < 0) {
        free(s);
        return (int)found; /* cog_last_error() is cog_mem_type_stats' */
    }
    s->ntypes = found;
    s->ntypes_stored = merge_same_names(
        s->types, found < COG_METRICS_TOP_TYPES ? found : COG_METRICS_TOP_TYPES);
    if (cog_intern_get_stats(&s->intern) != COG_OK) {
        free(s);
        return cog_error(COG_ESTATE, "cog_metrics_write: runtime not running");
    }
    cog_gc_stats_snapshot(s->gc, s->hist, &s->waits);
    s->elapsed_ns = cog_gc_stats_elapsed_ns();
    cog_gc_get_threshold(s->threshold);
    s->enabled = cog_gc_is_enabled();
    s->pacing = cog_gc_get_pacing();
    s->duty_cap = cog_gc_get_duty_cap();
    cog_mem_stats(&s->mem);

    clearerr(f);
    write_gc(f, s);
    write_mem(f, s);
    write_intern_and_types(f, s);
    free(s);
    if (fflush(f) != 0 || ferror(f))
        return cog_error(COG_ENOMEM, "cog_metrics_write: writing the stream failed: %s",
                         strerror(errno));
    return COG_OK;
}
