#!/usr/bin/env bash
# Measure how collector thresholds trade throughput for memory and pauses
# (docs/tuning.md "Measured trade-offs"): run the demo once per threshold0
# (COG_GC_THRESHOLD, read at cog_init) and print one table row each.
#   tools/tuning_sweep.sh [seconds] [threads] [threshold0 ...]
# Defaults: 5 s, 2 threads, thresholds 500 2000 10000 50000.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
secs=${1:-5}
threads=${2:-2}
shift 2 2>/dev/null || shift $#
thresholds=("${@:-500 2000 10000 50000}")
read -r -a thresholds <<<"${thresholds[*]}"
bazel build --color=no --noshow_progress --config=opt //examples:demo >/dev/null 2>&1
demo=$(bazel info --config=opt bazel-bin 2>/dev/null)/examples/demo
printf '| threshold0 | requests/s | peak heap MiB | gen0/1/2 collections | longest gc ms | longest paced wait ms | worst request ms |\n'
printf '|---:|---:|---:|---|---:|---:|---:|\n'
for t in "${thresholds[@]}"; do
    out=$(COG_GC_THRESHOLD="$t,10,10" "$demo" "$secs" "$threads")
    awk -v t="$t" '
        /^requests:/ { if (match($0, /\(([0-9.]+)k\/s\)/)) rps = substr($0, RSTART + 1, RLENGTH - 5) * 1000
                       worst = $(NF-1) }
        /^gc gen [0-2]:/ { g[$3+0] = $4; if ($(NF-4)+0 > longest) longest = $(NF-4)+0 }
        /^pacing:/ { paced = $(NF-1) }
        /^heap:/ { peak = $3 }
        END { printf "| %d | %.0f | %s | %s/%s/%s | %.1f | %s | %s |\n",
              t, rps, peak, g[0], g[1], g[2], longest, paced, worst }' <<<"$out"
done
