#!/bin/bash
# Collector benchmark: full collection of N nodes of cyclic garbage and of
# N live nodes (bench/gc_shape.h), by cog (cog_gc_collect(2)), Boehm GC
# (GC_gcollect) and CPython (gc.collect(), bench/gc_bench.py), in one run.
# Prints medians (ms, lower is better) and cog's speedup over each peer.
#   gc_bench.sh [runs] [heap sizes...]        (default: 5 1000000)
# GC_BENCH_OUT=file also keeps the raw RESULT lines (used by the plots).
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
: >"$out"
"$(find_file gc_bench_cog)" "$runs" "${sizes[@]}" | tee -a "$out"
"$(find_file gc_bench_boehm)" "$runs" "${sizes[@]}" | tee -a "$out"
python3 "$(find_file gc_bench.py)" "$runs" "${sizes[@]}" | tee -a "$out"
awk '
/^RESULT/ { v[$2 "," $3 "," $4] = $5; key[$3 "," $4] = 1; if (!($4 in seen)) { seen[$4] = 1; n[++ns] = $4 } }
END {
    printf "\n%-26s %10s %10s %10s   %s\n", "full collection (ms)", "cog", "boehm", "cpython",
        "cog speedup vs cpython / boehm"
    split("garbage live", what, " ")
    for (j = 1; j <= ns; j++) for (w = 1; w <= 2; w++) {
        s = n[j]
        k = what[w] "," s
        if (!(k in key)) continue
        c = v["cog," k]; b = v["boehm," k]; p = v["cpython," k]
        printf "%-26s %10s %10s %10s   %.2fx / %.2fx\n", what[w] " " s, c, b, p, p / c, b / c
    }
}' "$out"
[[ -n ${GC_BENCH_OUT:-} ]] || rm -f "$out"
