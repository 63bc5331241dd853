#!/usr/bin/python3
"""Check a cog metrics text (cog/metrics.h) with the reference parser,
prometheus_client's text_string_to_metric_families (Debian's
python3-prometheus-client), and check the values tests/control_test.c set up.

usage: metrics_check.py FILE MIN_GEN0_COLLECTIONS TYPE LIVE_COUNT T0 T1 T2 ENABLED
Exit 0 if every check holds; otherwise prints what failed and exits 1."""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

path, min_gen0, type_name, live, t0, t1, t2, enabled = sys.argv[1:9]
text = open(path).read()
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


families = {}
for fam in text_string_to_metric_families(text):  # raises on malformed text
    check(fam.name not in families, "family %s appears twice" % fam.name)
    families[fam.name] = fam
    check(fam.documentation, "family %s has no HELP" % fam.name)
    if fam.type == "counter":
        for s in fam.samples:
            check(s.name.endswith("_total") or s.name.endswith("_created"),
                  "counter sample %s does not end in _total" % s.name)


def samples(family, name=None):
    fam = families.get(family)
    check(fam is not None, "family %s missing" % family)
    return [s for s in (fam.samples if fam else []) if name is None or s.name == name]


def per_gen(family, name):
    return {s.labels["generation"]: s.value for s in samples(family, name)}


# The parser names a counter family without its _total suffix.
collections = per_gen("cog_gc_collections", "cog_gc_collections_total")
check(sorted(collections) == ["0", "1", "2"], "generations %s" % sorted(collections))
check(collections.get("0", -1) >= int(min_gen0),
      "gen 0 collections %s < %s" % (collections.get("0"), min_gen0))
for fam in ("cog_gc_objects_collected", "cog_gc_objects_uncollectable", "cog_gc_cpu_seconds"):
    check(len(per_gen(fam, fam + "_total")) == 3, "%s: not 3 generations" % fam)

# The histograms: cumulative buckets in increasing `le`, +Inf == _count,
# a sum that is a duration; returns {generation: (_count, _sum)}.
def histogram(h):
    out = {}
    for gen in ("0", "1", "2"):
        buckets = [(float(s.labels["le"]), s.value) for s in samples(h, h + "_bucket")
                   if s.labels["generation"] == gen]
        check(len(buckets) >= 2 and buckets[-1][0] == math.inf,
              "%s gen %s: no +Inf bucket" % (h, gen))
        check(all(a[0] < b[0] and a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
              "%s gen %s: buckets not cumulative in increasing le: %s" % (h, gen, buckets))
        count = [s.value for s in samples(h, h + "_count") if s.labels["generation"] == gen]
        total = [s.value for s in samples(h, h + "_sum") if s.labels["generation"] == gen]
        check(count == [buckets[-1][1]] if buckets else False,
              "%s gen %s: _count %s != +Inf bucket" % (h, gen, count))
        check(len(total) == 1 and total[0] >= 0, "%s gen %s: _sum %s" % (h, gen, total))
        out[gen] = (count[0] if count else None, total[0] if total else None)
    return out


durations = histogram("cog_gc_collection_duration_seconds")
for gen in ("0", "1", "2"):
    check(durations[gen][0] == collections.get(gen),
          "gen %s: _count %s != collections" % (gen, durations[gen][0]))
check((durations["0"][1] or 0) > 0, "gen 0 ran collections but _sum is 0")
# Paced waits: none need have happened; a wait is counted with a duration.
for gen, (count, total) in histogram("cog_gc_paced_wait_seconds").items():
    check(count is not None and (count == 0) == (total == 0),
          "paced waits gen %s: count %s, sum %s" % (gen, count, total))

live_objects = {s.labels["type"]: s.value for s in samples("cog_live_objects")}
check(live_objects.get(type_name) == float(live),
      "live %s: %s, expected %s (all: %s)" % (type_name, live_objects.get(type_name), live,
                                              live_objects))
live_bytes = {s.labels["type"]: s.value for s in samples("cog_live_bytes")}
check(live_bytes.get(type_name, 0) >= float(live) * 16, "live bytes of %s" % type_name)

thr = per_gen("cog_gc_threshold", "cog_gc_threshold")
check(thr == {"0": float(t0), "1": float(t1), "2": float(t2)}, "thresholds %s" % thr)
check([s.value for s in samples("cog_gc_enabled")] == [float(enabled)], "enabled")

sizes = {s.labels["size"]: s.value for s in samples("cog_mem_class_used_bytes")}
check(len(sizes) == 55 and "32" in sizes and "512" in sizes and "32768" in sizes,
      "size classes %s" % sorted(sizes))
check(sum(sizes.values()) > 0, "no bytes in use in any size class")
arenas = [s.value for s in samples("cog_mem_arenas")]
check(arenas and arenas[0] >= 1, "arenas %s" % arenas)
interned = [s.value for s in samples("cog_intern_strings")]
lookups = [s.value for s in samples("cog_intern_lookups", "cog_intern_lookups_total")]
check(interned and interned[0] >= 3, "intern strings %s" % interned)
check(lookups and lookups[0] >= 3, "intern lookups %s" % lookups)
duty = [s.value for s in samples("cog_gc_window_duty_ratio")]
check(duty and 0 <= duty[0] <= 1, "duty %s" % duty)

if errors:
    print("\n".join(errors))
    sys.exit(1)
print("metrics_check: %d families ok" % len(families))
