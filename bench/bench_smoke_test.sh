#!/bin/bash
# Keeps the collector benchmarks from rotting: runs them on tiny heaps in
# whatever config the test runs under. Measures nothing; it relies on the
# benchmarks' own checks (every garbage node found and freed, no live node
# collected, the live heap freed once its roots are dropped), which exit
# non-zero on failure, and checks the output format the suite parses.
set -euo pipefail
gc_bench=$1
pause_bench=$2
server_bench=$3
young_bench=$4
wake_probe=$5
alloc_bench=$6
out=$("$gc_bench" 2 20000 50000)
echo "$out"
for what in garbage live; do
    for n in 20000 50000; do
        grep -Eq "^RESULT cog $what $n [0-9.]+ [0-9.]+ [0-9.]+$" <<<"$out" ||
            { echo "FAIL: no RESULT line for $what $n"; exit 1; }
    done
done
out=$("$pause_bench" 0.2 20000)
echo "$out"
grep -Eq '^PAUSE 20000 idle [1-9][0-9]* ' <<<"$out" || { echo "FAIL: idle phase recorded nothing"; exit 1; }
grep -Eq '^PAUSE 20000 gc [1-9][0-9]* ' <<<"$out" || { echo "FAIL: gc phase recorded nothing"; exit 1; }
grep -Eq '^GCTIME 20000 [1-9][0-9]* ' <<<"$out" || { echo "FAIL: no collection ran"; exit 1; }
# The server loop, every shape and worker count, collection on and off; it
# exits non-zero if a request fails or a phase dies.
out=$("$server_bench" -t 0.2)
echo "$out"
for shape in tree cyclic; do
    for w in 1 2; do
        grep -Eq "^RESULT server $shape $w [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+$" <<<"$out" ||
            { echo "FAIL: no RESULT line for $shape $w"; exit 1; }
    done
done
grep -Eq '^PHASE tree 1 on [1-9][0-9]* ' <<<"$out" || { echo "FAIL: no requests served"; exit 1; }
# ... ending with the paced waits, those over 1 ms (the metrics' histogram)
# and the longest wait less its run-queue delay.
grep -Eq '^PHASE cyclic 1 on .* [0-9]+ [0-9]+ [0-9.]+$' <<<"$out" ||
    { echo "FAIL: no paced-wait counts"; exit 1; }
# A young collection beside an old heap; it checks what each collection found.
out=$("$young_bench" 1 0 20000)
echo "$out"
grep -Eq '^YOUNG cog 20000 [0-9.]+ ' <<<"$out" || { echo "FAIL: no YOUNG line"; exit 1; }
# The scheduler probe (no cog): a few sleeps beside one spinner.
out=$("$wake_probe" -s 1 -k 5)
echo "$out"
grep -Eq '^WAKE spinners 1 nice 0 slice 0 sleep_us 500 n 5 over_1ms [0-5] p50_us [0-9]+ ' <<<"$out" ||
    { echo "FAIL: no WAKE line"; exit 1; }
# cog's pairs against glibc's in one process, a few thousand pairs.
out=$(ALLOC_BENCH_OPS=5000 "$alloc_bench" vsglibc 600)
echo "$out"
grep -Eq '^RESULT cog size_600 [0-9.]+$' <<<"$out" || { echo "FAIL: no cog RESULT line"; exit 1; }
grep -Eq '^RATIO vsglibc size_600 [0-9.]+ [0-9.]+ [0-9.]+$' <<<"$out" ||
    { echo "FAIL: no RATIO line"; exit 1; }
grep -Eq '^RATIO api_vsglibc size_600 [0-9.]+ [0-9.]+ [0-9.]+$' <<<"$out" ||
    { echo "FAIL: no RATIO line for cog_mem_alloc"; exit 1; }
echo PASS
