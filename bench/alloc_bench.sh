#!/bin/sh
# Runs the allocator benchmark for cog, glibc, mimalloc and jemalloc (one
# process each: Debian's mimalloc and jemalloc replace malloc when linked)
# and prints medians (ns per operation, lower is better) and ratios.
#   alloc_bench.sh           the workloads below
#   alloc_bench.sh bysize    pairs at fixed sizes 16..65536, one thread and two
#                            ("RESULT <allocator> size_<n>[_2t] <ns>", for the
#                            plot), then a table of cog's time / each peer's,
#                            then cog's pairs against glibc's in one process
#                            (alloc_bench_cog vsglibc: the same machine state)
# ALLOC_BENCH_OUT=file also keeps the raw RESULT lines.
set -e
dir=$(dirname "$0")
out=$(mktemp)
for a in cog glibc mimalloc jemalloc; do
    "$dir/alloc_bench_$a" "$@" >>"$out"
done
[ -z "$ALLOC_BENCH_OUT" ] || cp "$out" "$ALLOC_BENCH_OUT"
if [ "$1" = bysize ]; then
    cat "$out"
    awk '
/^RESULT/ { v[$2 "," $3] = $4; if (!($3 in seen)) { seen[$3] = 1; order[++n] = $3 } }
END {
    printf "\n%-14s %9s %9s %9s %9s   %s\n", "pairs (ns)", "cog", "glibc", "mimalloc", "jemalloc", "cog time / glibc, mimalloc, jemalloc time"
    for (i = 1; i <= n; i++) {
        k = order[i]; c = v["cog," k]
        printf "%-14s %9s %9s %9s %9s   %.2f %.2f %.2f\n", k, c, v["glibc," k], v["mimalloc," k], v["jemalloc," k], c / v["glibc," k], c / v["mimalloc," k], c / v["jemalloc," k]
    }
}' "$out"
    rm -f "$out"
    echo
    "$dir/alloc_bench_cog" vsglibc
    exit 0
fi
awk '
/^RESULT/ { v[$2 "," $3] = $4; w[$3] = 1 }
END {
    printf "%-20s %9s %9s %9s %9s   %s\n", "workload (ns/op)", "cog", "glibc", "mimalloc", "jemalloc", "speedup of cog vs glibc / mimalloc / jemalloc"
    n = split("pair_1thread pair_2threads cross_thread larson_2threads cog_new_decref_32B", order, " ")
    for (i = 1; i <= n; i++) {
        k = order[i]
        if (!(k in w)) continue
        c = v["cog," k]
        printf "%-20s %9s %9s %9s %9s", k, c, v["glibc," k], v["mimalloc," k], v["jemalloc," k]
        if (v["glibc," k] != "")
            printf "   %.2fx / %.2fx / %.2fx", v["glibc," k] / c, v["mimalloc," k] / c, v["jemalloc," k] / c
        printf "\n"
    }
}' "$out"
rm -f "$out"
