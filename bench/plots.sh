#!/bin/bash
# Regenerates the plots in docs/ with gnuplot (Debian gnuplot-nox):
#   docs/alloc_by_size.png      allocator throughput by block size
#   docs/gc_pause.png           probe iteration-time distribution, idle vs
#                               during full collections, two heap sizes
#   docs/gc_time_vs_heap.png    full collection time vs heap size, cog vs
#                               CPython vs Boehm, garbage and live heaps
# Run from the source tree:  bash bench/plots.sh
# (builds //bench:all with --config=opt; takes a few minutes). The data
# files go to $PLOT_DATA (default: a temporary directory);
# PLOT_DATA=dir PLOT_ONLY=1 bash bench/plots.sh re-draws from them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=$root/bazel-bin/bench
data=${PLOT_DATA:-$(mktemp -d "${TMPDIR:-/tmp}/cog-plots.XXXXXX")}
mkdir -p "$data"
echo "plot data in $data"
if [[ -z ${PLOT_ONLY:-} ]]; then
bazel build --config=opt --jobs=2 //bench:all

# 1. allocator: "RESULT <alloc> size_<n> <ns per pair>" -> "<n> <Mpairs/s>"
ALLOC_BENCH_OUT="$data/bysize.raw" "$bin/alloc_bench" bysize >/dev/null
for a in cog glibc mimalloc jemalloc; do
    awk -v a="$a" '$1 == "RESULT" && $2 == a && $3 !~ /_2t$/ { sub("size_", "", $3); print $3, 1000 / $4 }' \
        "$data/bysize.raw" >"$data/bysize.$a"
    awk -v a="$a" '$1 == "RESULT" && $2 == a && $3 ~ /_2t$/ { sub("size_", "", $3); sub("_2t", "", $3); print $3, 1000 / $4 }' \
        "$data/bysize.raw" >"$data/bysize2.$a"
done

# 2. pause distribution (survival function of iteration times)
PAUSE_HIST="$data/pause.hist" "$bin/gc_pause_bench" 3 100000 1000000 | tee "$data/pause.txt"
for n in 100000 1000000; do
    for ph in idle gc; do
        awk -v n="$n" -v ph="$ph" '$1 == n && $2 == ph && $3 > 0 { print $3 / 1000, $4 }' \
            "$data/pause.hist" >"$data/pause.$n.$ph"
    done
done

# 3. collection time vs heap size
GC_BENCH_OUT="$data/gc.raw" "$bin/gc_bench" 3 100000 300000 1000000 2000000 | tail -12
for impl in cog cpython boehm; do
    for what in garbage live; do
        awk -v i="$impl" -v w="$what" '$1 == "RESULT" && $2 == i && $3 == w { print $4, $5 }' \
            "$data/gc.raw" | sort -n >"$data/gc.$impl.$what"
    done
done

fi

stamp="$(date -u +%Y-%m-%d), $(nproc) cpus, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
gnuplot <<GP
set terminal pngcairo size 720,440 font ",10"
set grid
set key top left

set output "docs/alloc_by_size.png"
set key bottom left
set title "Allocator: alloc+free pairs by block size ($stamp)"
set logscale x 2
set logscale y
set xlabel "block size (bytes); cog: small pools to 512, medium pools to 32768, then mapped"
set ylabel "M pairs / s per thread (higher is better)"
plot for [a in "cog glibc mimalloc jemalloc"] "$data/bysize.".a using 1:2 with linespoints title a." (1 thread)", \
     "$data/bysize2.cog" using 1:2 with linespoints dashtype 2 title "cog (2 threads)", \
     "$data/bysize2.mimalloc" using 1:2 with linespoints dashtype 2 title "mimalloc (2 threads)"
unset logscale y

set output "docs/gc_pause.png"
set title "Probe thread iteration time, idle vs during full collections ($stamp)"
set logscale xy
set xlabel "iteration time (us)"
set ylabel "fraction of iterations >= x"
set format y "10^{%T}"
set key top right
plot "$data/pause.100000.idle" using 1:2 with steps title "100k live, idle", \
     "$data/pause.100000.gc" using 1:2 with steps title "100k live, collecting", \
     "$data/pause.1000000.idle" using 1:2 with steps title "1M live, idle", \
     "$data/pause.1000000.gc" using 1:2 with steps title "1M live, collecting", \
     1e-3 with lines dashtype 2 lc "gray" title "p99.9 level"
unset format

set output "docs/gc_time_vs_heap.png"
set title "Full collection time vs heap size (rings of 100 nodes; $stamp)"
set logscale xy
set key top left
set xlabel "objects"
set ylabel "ms (median, lower is better)"
set autoscale xfix
set offsets graph 0.02, graph 0.02, 0, 0
plot for [k=1:3] "$data/gc.".word("cog cpython boehm",k).".garbage" using 1:2 with linespoints lc k pt 7 \
         title word("cog cpython boehm",k)." garbage", \
     for [k=1:3] "$data/gc.".word("cog cpython boehm",k).".live" using 1:2 with linespoints lc k pt 6 dashtype 2 \
         title word("cog cpython boehm",k)." live"
GP
ls -l docs/*.png
