#!/bin/bash
# Collector benchmark: full collection of N nodes of cyclic garbage and of
# N live nodes (bench/gc_shape.h), by cog (cog_gc_collect(2)), Boehm GC
# (GC_gcollect) and CPython (gc.collect(), bench/gc_bench.py), in one run.
# Prints medians (ms, lower is better) and cog's speedup over each peer,
# the three run interleaved round by round.
#   gc_bench.sh [runs] [heap sizes...]        (default: 5 1000000)
# GC_BENCH_OUT=file also keeps the aggregated RESULT lines (summary, plots).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# bazel run: binaries next to this script; python script in the runfiles
find_file() {
    local f
    for f in "$here/$1" "${RUNFILES_DIR:-/nonexistent}/cog/bench/$1" \
             "$here/gc_bench.runfiles/cog/bench/$1" "$here/../bench/$1"; do
        [[ -e $f ]] && { echo "$f"; return; }
    done
    echo "gc_bench.sh: cannot find $1" >&2
    exit 1
}
runs=${1:-5}
shift || true
sizes=("${@:-1000000}")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000000)
out=${GC_BENCH_OUT:-$(mktemp)}
rounds=$(mktemp)
# Interleave the three collectors round by round (one timed collection per
# process and round): on a shared machine the load changes over seconds,
# and interleaving exposes all three to the same load, so per-round ratios
# are fairer than ratios of medians taken minutes apart.
for ((r = 1; r <= runs; r++)); do
    {
        "$(find_file gc_bench_cog)" 1 "${sizes[@]}"
        "$(find_file gc_bench_boehm)" 1 "${sizes[@]}"
        python3 "$(find_file gc_bench.py)" 1 "${sizes[@]}"
    } | awk -v r="$r" '/^RESULT/ { print $0, r }' | tee -a "$rounds"
done
# Aggregate: "RESULT impl what n median min max" into $out, then the table
# with medians and the median over rounds of cog's speedup.
python3 - "$rounds" "$out" <<'PY'
import statistics, sys
from collections import defaultdict
vals = defaultdict(dict)  # (impl, what, n) -> {round: ms}
order = []
for line in open(sys.argv[1]):
    f = line.split()
    impl, what, n, ms, rnd = f[1], f[2], int(f[3]), float(f[4]), f[7]
    vals[(impl, what, n)][rnd] = ms
    if n not in order:
        order.append(n)
with open(sys.argv[2], "w") as out:
    for (impl, what, n), v in sorted(vals.items()):
        x = sorted(v.values())
        out.write(f"RESULT {impl} {what} {n} {statistics.median_low(x):.2f} {x[0]:.2f} {x[-1]:.2f}\n")
print(f"\n{len(next(iter(vals.values())))} interleaved rounds; medians in ms (lower is better);"
      " speedup = median over rounds of peer/cog")
print(f"{'full collection':<20} {'cog':>9} {'boehm':>9} {'cpython':>9}   {'speedup vs cpython':>18} {'vs boehm':>9}")
for n in order:
    for what in ("garbage", "live"):
        c = vals.get(("cog", what, n))
        if not c:
            continue
        b, p = vals.get(("boehm", what, n), {}), vals.get(("cpython", what, n), {})
        med = lambda d: statistics.median_low(sorted(d.values())) if d else float("nan")
        sp = lambda d: statistics.median_low(sorted(d[r] / c[r] for r in c if r in d)) if d else float("nan")
        print(f"{what + ' ' + str(n):<20} {med(c):9.2f} {med(b):9.2f} {med(p):9.2f}   {sp(p):17.2f}x {sp(b):8.3f}x")
PY
rm -f "$rounds"
[[ -n ${GC_BENCH_OUT:-} ]] || rm -f "$out"
