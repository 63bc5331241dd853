#!/bin/bash
# Every cog benchmark in one run, then one summary table of medians and
# ratios (bench/summary.py). Each comparison runs its peers in the same run.
#   bazel run --config=opt //bench:run_all               full suite
#   bazel run --config=opt //bench:run_all -- --quick    fewer/shorter runs
#   bash bench/run_all.sh [--quick]                     the same, from a checkout
# BENCH_OUT=dir keeps every benchmark's raw output there.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -f $here/../WORKSPACE && ! -x $here/refcount_bench ]]; then
    cd "$here/.." # run from the source tree: build and run through Bazel
    exec bazel run --config=opt --jobs=2 //bench:run_all -- "$@"
fi
# Under `bazel run` the binaries sit next to this script (bazel-bin/bench)
# and the source scripts in its runfiles tree.
rf=""
for d in "${RUNFILES_DIR:-}" "$here/run_all.runfiles"; do
    [[ -n $d && -d $d/cog/bench ]] && { rf=$d; break; }
done
[[ -n $rf ]] && export RUNFILES_DIR=$rf
src() { # a source file of bench/
    local f
    for f in "$rf/cog/bench/$1" "$here/$1"; do [[ -e $f ]] && { echo "$f"; return; }; done
    echo "run_all.sh: cannot find $1" >&2
    exit 1
}
bin() { # a built benchmark
    local f
    for f in "$here/$1" "$rf/cog/bench/$1"; do [[ -x $f ]] && { echo "$f"; return; }; done
    echo "run_all.sh: cannot find $1 (bazel build --config=opt //bench:run_all)" >&2
    exit 1
}

quick=0
[[ ${1:-} == --quick ]] && quick=1
out=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/cog-bench.XXXXXX")}
mkdir -p "$out"
echo "cog benchmarks: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus," \
    "$(lscpu | sed -n 's/^Model name: *//p' | head -1); raw output in $out"

step() { echo; echo "==== $1"; }
if ((quick)); then
    rc_args=(3 50000000 5000000); gc_args=(3 1000000); pause_args=(1 100000 1000000)
    server_args=(-t 2 -r 1); young_args=(3)
else
    rc_args=(); gc_args=(5 1000000); pause_args=(3 100000 1000000)
    server_args=(-t 5 -r 3); young_args=(7)
fi
step "refcount";  "$(bin refcount_bench)" "${rc_args[@]}" | tee "$out/refcount.txt"
step "allocator"; "$(bin alloc_bench)" | tee "$out/alloc.txt"
step "allocator pairs against glibc in one process"
"$(bin alloc_bench_cog)" vsglibc | tee "$out/alloc_vsglibc.txt"
step "intern";    "$(bin intern_bench)" | tee "$out/intern.txt"
step "collector"; GC_BENCH_OUT="$out/gc.raw" "$(bin gc_bench)" "${gc_args[@]}" | tee "$out/gc.txt"
step "pause";     PAUSE_HIST="$out/pause.hist" "$(bin gc_pause_bench)" "${pause_args[@]}" | tee "$out/pause.txt"
step "young";     GC_YOUNG_OUT="$out/young.raw" "$(bin gc_young_bench)" "${young_args[@]}" | tee "$out/young.txt"
step "server";    "$(bin server_bench)" "${server_args[@]}" | tee "$out/server.txt"
step "server (CPython)"
python3 "$(src server_bench.py)" -s tree,cyclic "${server_args[@]}" | tee "$out/server_py.txt"

step "summary (medians; speedup = how many times faster cog is, <1 slower)"
python3 "$(src summary.py)" "$out" | tee "$out/summary.txt"
