#!/bin/bash
# Young collection beside an old heap (issue 14): gen-0 collection of 10000
# nodes of cyclic garbage beside 0, 1 M and 4 M live old nodes, by cog
# (cog_gc_collect(0), bench/gc_young_bench.c) and CPython (gc.collect(0),
# bench/gc_young_bench.py), interleaved round by round. Prints medians (ms),
# each one's growth over its first size (0 old: should stay ~1x) and the
# cog/cpython time ratio.
#   gc_young_bench.sh [rounds] [old sizes...]   (default: 7 0 1000000 4000000)
# YOUNG=n changes the young garbage size; GC_YOUNG_OUT=file also keeps the
# aggregated YOUNG lines.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# bazel run: binary next to this script; python script in the runfiles.
# From the source tree: bazel-bin (bazel build --config=opt //bench:gc_young_bench).
find_file() {
    local f
    for f in "$here/$1" "${RUNFILES_DIR:-/nonexistent}/cog/bench/$1" \
             "$here/gc_young_bench.runfiles/cog/bench/$1" "$here/../bench/$1" \
             "$here/../bazel-bin/bench/$1"; do
        [[ -e $f ]] && { echo "$f"; return; }
    done
    echo "gc_young_bench.sh: cannot find $1" >&2
    exit 1
}
rounds=${1:-7}
shift || true
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(0 1000000 4000000)
cog=$(find_file gc_young_bench_cog)
py=$(find_file gc_young_bench.py)
echo "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cpus, $(python3 --version)"
out=${GC_YOUNG_OUT:-$(mktemp)}
lines=$(mktemp)
# One timed collection per process, size and round (after one warm-up);
# each process builds its own old heaps, which is not timed. Interleaving
# exposes both to the same machine load (see bench/gc_bench.sh).
for ((r = 1; r <= rounds; r++)); do
    {
        "$cog" 1 "${sizes[@]}"
        python3 "$py" 1 "${sizes[@]}"
    } | awk -v r="$r" '/^YOUNG/ { print $0, r }' | tee -a "$lines"
done
# "YOUNG impl n median min max round" -> aggregated lines in $out, table.
python3 - "$lines" "$out" <<'PY'
import sys
from collections import defaultdict
vals = defaultdict(dict)  # (impl, n) -> {round: ms}
order = []
for line in open(sys.argv[1]):
    f = line.split()
    impl, n, ms, rnd = f[1], int(f[2]), float(f[3]), f[6]
    vals[(impl, n)][rnd] = ms
    if n not in order:
        order.append(n)
med = lambda x: sorted(x)[len(x) // 2]  # the C bench's median
with open(sys.argv[2], "w") as out:
    for (impl, n), v in sorted(vals.items()):
        x = sorted(v.values())
        out.write(f"YOUNG {impl} {n} {med(x):.3f} {x[0]:.3f} {x[-1]:.3f}\n")
m = {k: med(list(v.values())) for k, v in vals.items()}
print(f"\ngen-0 collection beside an old heap, {len(vals[('cog', order[0])])} interleaved rounds;"
      f" medians in ms (lower is better)\ngrowth = median / median beside {order[0]} old"
      " (flat is right); cog/cpython = median over rounds of cog ms / cpython ms")
print(f"{'old nodes':>10} {'cog':>9} {'cpython':>9} {'cog growth':>11} {'cpy growth':>11} {'cog/cpython':>12}")
for n in order:
    c, p = vals[("cog", n)], vals[("cpython", n)]
    ratio = med([c[r] / p[r] for r in c if r in p])
    print(f"{n:>10} {m[('cog', n)]:9.3f} {m[('cpython', n)]:9.3f}"
          f" {m[('cog', n)] / m[('cog', order[0])]:10.2f}x {m[('cpython', n)] / m[('cpython', order[0])]:10.2f}x"
          f" {ratio:11.2f}x")
PY
rm -f "$lines"
[[ -n ${GC_YOUNG_OUT:-} ]] || rm -f "$out"
