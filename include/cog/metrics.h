/* cog/metrics.h - the runtime's statistics as metrics a dashboard can
 * scrape: the Prometheus text exposition format, version 0.0.4 (what
 * node_exporter's textfile collector and a Prometheus scrape read). The
 * same text is the reply of the control command `metrics` (cog/control.h),
 * so `cogctl SOCKET metrics > file.prom` feeds a textfile collector.
 *
 * Metrics (every family has # HELP and # TYPE lines; the gc counters count
 * from the first cog_init of the process, like cog_gc_get_stats, the
 * allocator and intern counters from the latest cog_init, which Prometheus
 * reads as a counter reset):
 *   cog_gc_collections_total{generation}              counter
 *   cog_gc_objects_collected_total{generation}        counter
 *   cog_gc_objects_uncollectable_total{generation}    counter
 *   cog_gc_objects_assisted_total{generation}         counter (pacing assist)
 *   cog_gc_collection_duration_seconds{generation}    histogram, buckets
 *                                                      100 us .. 10 s
 *   cog_gc_collection_duration_max_seconds{generation} gauge
 *   cog_gc_window_seconds_total{generation}           counter
 *   cog_gc_window_duty_ratio                          gauge: window time
 *                                                      of all generations /
 *                                                      elapsed time
 *   cog_gc_stats_elapsed_seconds                      gauge
 *   cog_gc_cpu_seconds_total{generation}              counter
 *   cog_gc_paced_wait_max_seconds{generation}         gauge
 *   cog_gc_paced_wait_held_max_seconds{generation}    gauge: the same less
 *                                                      its run-queue delay
 *                                                      (max_pause_held_ns)
 *   cog_gc_paced_wait_preempted_seconds_total{generation} counter
 *                                                      (pause_preempted_ns)
 *   cog_gc_paced_wait_seconds{generation}             histogram of each
 *                                                      paced wait (pacing,
 *                                                      cog/gc.h), buckets
 *                                                      100 us .. 100 ms
 *   cog_gc_threshold{generation}, cog_gc_enabled,
 *   cog_gc_pacing_factor, cog_gc_duty_cap_ratio       gauges (settings)
 *   cog_mem_class_used_bytes{size}, cog_mem_class_free_bytes{size}
 *                                                      gauges per size class
 *   cog_mem_arenas, cog_mem_mapped_bytes, cog_mem_large_objects,
 *   cog_mem_large_bytes                               gauges
 *   cog_mem_arenas_mapped_total, cog_mem_arenas_unmapped_total,
 *   cog_mem_mmap_failures_total                       counters
 *   cog_intern_strings, cog_intern_buckets            gauges
 *   cog_intern_lookups_total, cog_intern_hits_total   counters
 *   cog_live_objects{type}, cog_live_bytes{type}      gauges, the
 *                                                      COG_METRICS_TOP_TYPES
 *                                                      largest types by bytes
 *   cog_live_types                                    gauge: every type
 */
#ifndef COG_METRICS_H
#define COG_METRICS_H

#include <stdio.h>

#include "cog/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COG_METRICS_TOP_TYPES 20

/* Write the metrics above to f (nothing else: no terminating line). The
 * per-type figures cost a walk of the whole heap (cog_mem_type_stats); the
 * rest are cheap snapshots. Every figure is gathered before the first byte
 * is written, so a failure to gather writes nothing. Must be called from
 * an attached thread that is not the collector thread (like
 * cog_mem_type_stats). Returns COG_OK; COG_EINVAL for a NULL f;
 * COG_ENOTATTACHED, COG_ESTATE (runtime not running, or on the collector
 * thread) or COG_ENOMEM as cog_mem_type_stats; COG_ENOMEM as well when
 * writing to f fails (cog_last_error() has the system error; f then holds
 * a partial text). */
int cog_metrics_write(FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* COG_METRICS_H */
