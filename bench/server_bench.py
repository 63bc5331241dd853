"""bench/server_bench.py - the CPython twin of bench/server_bench.c: the
same request loop (bench/server_request.h: 32 GC-tracked two-slot nodes per
request, the "tree" shape leaving 4 nodes of cyclic garbage per request,
the "cyclic" shape 28-32; one node cached in a dict under an interned key
"key-<n>", n from the same xorshift64 sequence as the C worker 0), run by
one worker (the GIL makes more meaningless), automatic collection on
(gc.enable(), default thresholds) and off (gc.disable()), each phase in a
fresh child process (so peak RSS is the phase's own), interleaved round by
round.

Per phase: throughput (requests/s), request latency (p50, p99, p99.9,
p99.99, max, from a log-linear histogram like bench/latency_hist.h so a
growing sample array does not inflate RSS), peak RSS, collections per
generation (gc.get_stats() deltas) and the time spent in collections
(timed with gc.callbacks). CPython collects on the mutator thread and stops
the world, so the "duty" and "collector_cpu" columns are the same number
(collection time / wall time) and the "max_paced_wait" column is the
longest single collection (pause) in the measured window.

usage: python3 server_bench.py [-t seconds] [-r rounds] [-s tree,cyclic]
       (defaults 5 s, 1 round, both shapes)
Output: one "PHASE" line per phase (as bench/server_bench.c), then a table
and per shape a "RESULT cpython <shape> 1 <on/off throughput, median over
rounds> <p99.99 on us> <max on us> <rss on MiB> <duty on> <max pause us>"
line. Exits non-zero if a phase fails."""
import gc
import resource
import sys
import time

NODES, KEYS = 32, 4096
TREE, RING = 28, 4
RINGS = NODES // RING
MASK64 = (1 << 64) - 1
SHAPES = ("tree", "cyclic")
MAX_ROUNDS = 32


class Node:
    # __slots__: a GC-tracked object with two references and no __dict__,
    # the closest Python analogue of the C node (as in bench/gc_bench.py).
    __slots__ = ("a", "b")


# Tree links, child i under parent (i - 1) // 2: odd i in slot a, even in b
# (the order of bench/server_request.c).
TREE_LINKS = tuple(((i - 1) // 2, i, i & 1) for i in range(TREE - 1, 0, -1))


def request_tree(cache, key):
    t = [Node() for _ in range(TREE)]
    c = [Node() for _ in range(RING)]
    for i in range(1, RING):
        c[i - 1].a = c[i]
    c[RING - 1].a = c[0]
    t[TREE - 1].a = c[0]  # the ring hangs off the last leaf
    for p, i, odd in TREE_LINKS:
        if odd:
            t[p].a = t[i]
        else:
            t[p].b = t[i]
    cache[sys.intern("key-%u" % key)] = t[TREE - 2]
    # returning drops t and c: the tree is freed by reference counting, the
    # ring becomes cyclic garbage


def request_cyclic(cache, key):
    r = [[Node() for _ in range(RING)] for _ in range(RINGS)]
    for k in range(RINGS - 1, -1, -1):
        ring = r[k]
        for i in range(1, RING):
            ring[i - 1].a = ring[i]
        ring[RING - 1].a = ring[0]
        if k + 1 < RINGS:
            ring[0].b = r[k + 1][0]
    cache[sys.intern("key-%u" % key)] = r[RINGS - 1][1]
    # returning drops r: all 32 nodes are cyclic garbage but ring 7, which
    # the cache keeps until its key is reused


# bench/latency_hist.h: 32 sub-buckets per power of two.
LH_SUB_BITS = 5
LH_SUB = 1 << LH_SUB_BITS
LH_BUCKETS = (64 - LH_SUB_BITS + 1) * LH_SUB


def lh_value(b):
    if b < LH_SUB:
        return b
    shift = (b >> LH_SUB_BITS) - 1
    return ((b & (LH_SUB - 1)) | LH_SUB) << shift


def lh_quantile(count, n, vmax, q):
    if not n:
        return 0
    want, acc = int(q * (n - 1)), 0
    for b in range(LH_BUCKETS):
        acc += count[b]
        if acc > want:
            return min(lh_value(b), vmax)
    return vmax


# Collection timing through gc.callbacks: total and longest collection in
# ns. Both callbacks are no-ops while gc is disabled (no collections run).
gc_time = [0, 0, 0]  # [total ns, longest ns, start of the current one]


def gc_callback(phase, info, now=time.perf_counter_ns, t=gc_time):
    if phase == "start":
        t[2] = now()
    else:
        d = now() - t[2]
        t[0] += d
        if d > t[1]:
            t[1] = d


FIELDS = ("rps", "seconds", "requests", "p50", "p99", "p999", "p9999", "max", "rss_mib",
          "duty", "collector_cpu", "gen0", "gen1", "gen2", "max_pause")


def run_phase(shape, gc_on, seconds):
    """One phase, in a child process; prints one "PHASERESULT" line."""
    request = request_tree if shape == "tree" else request_cyclic
    now = time.perf_counter_ns
    cache = {}
    gc.callbacks.append(gc_callback)
    if gc_on:
        gc.enable()
    else:
        gc.disable()
    rng = 0x9E3779B97F4A7C15  # worker 0's seed in bench/server_bench.c
    warm = min(seconds * 0.2, 1.0)  # a fifth of the phase, at most 1 s
    deadline = now() + int(warm * 1e9)
    while True:
        rng ^= (rng << 13) & MASK64
        rng ^= rng >> 7
        rng ^= (rng << 17) & MASK64
        request(cache, rng % KEYS)
        t1 = now()
        if t1 >= deadline:
            break
    # Measured window: from the end of the last warm-up request to the end
    # of the first request that ends past the deadline (counted), so the
    # requests, the collections and the wall time cover the same interval.
    count = [0] * LH_BUCKETS
    n = vmax = 0
    stats0 = gc.get_stats()
    gc_time[0] = gc_time[1] = 0
    start = t1
    deadline = start + int(seconds * 1e9)
    while True:
        rng ^= (rng << 13) & MASK64
        rng ^= rng >> 7
        rng ^= (rng << 17) & MASK64
        t0 = now()
        request(cache, rng % KEYS)
        t1 = now()
        v = t1 - t0
        if v < LH_SUB:
            count[v] += 1
        else:
            shift = v.bit_length() - 1 - LH_SUB_BITS
            count[((shift + 1) << LH_SUB_BITS) + ((v >> shift) & (LH_SUB - 1))] += 1
        if v > vmax:
            vmax = v
        n += 1
        if t1 >= deadline:
            break
    stats1 = gc.get_stats()
    total_ns, pause_ns = gc_time[0], gc_time[1]
    gc.disable()
    gc.callbacks.remove(gc_callback)
    wall = t1 - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    share = total_ns / wall
    r = {
        "rps": n / (wall / 1e9), "seconds": wall / 1e9, "requests": n,
        "p50": lh_quantile(count, n, vmax, 0.5), "p99": lh_quantile(count, n, vmax, 0.99),
        "p999": lh_quantile(count, n, vmax, 0.999),
        "p9999": lh_quantile(count, n, vmax, 0.9999), "max": vmax, "rss_mib": rss_mib,
        "duty": share, "collector_cpu": share,
        "gen0": stats1[0]["collections"] - stats0[0]["collections"],
        "gen1": stats1[1]["collections"] - stats0[1]["collections"],
        "gen2": stats1[2]["collections"] - stats0[2]["collections"],
        "max_pause": pause_ns,
    }
    print("PHASERESULT " + " ".join(repr(r[f]) for f in FIELDS), flush=True)


def run_child(shape, gc_on, seconds):
    """Runs one phase in a fresh interpreter; returns its results or None."""
    import os
    import subprocess

    cmd = [sys.executable, os.path.abspath(__file__), "--phase", shape,
           "on" if gc_on else "off", repr(seconds)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        return None
    for line in p.stdout.splitlines():
        f = line.split()
        if f and f[0] == "PHASERESULT" and len(f) == len(FIELDS) + 1:
            return {k: float(x) for k, x in zip(FIELDS, f[1:])}
    return None


def usage():
    sys.exit(f"usage: server_bench.py [-t seconds] [-r rounds 1..{MAX_ROUNDS}] "
             "[-s tree,cyclic]")


def main(argv):
    if argv[:1] == ["--phase"]:
        if len(argv) != 4 or argv[1] not in SHAPES or argv[2] not in ("on", "off"):
            usage()
        run_phase(argv[1], argv[2] == "on", float(argv[3]))
        return 0
    import getopt
    import statistics

    seconds, rounds, shapes = 5.0, 1, list(SHAPES)
    try:
        opts, rest = getopt.getopt(argv, "t:r:s:")
        for o, a in opts:
            if o == "-t":
                seconds = float(a)
            elif o == "-r":
                rounds = int(a)
            else:
                shapes = a.split(",")
    except (getopt.GetoptError, ValueError):
        usage()
    if (rest or not seconds > 0 or not 1 <= rounds <= MAX_ROUNDS or not shapes
            or any(s not in SHAPES for s in shapes)):
        usage()
    print(f"server_bench.py: {seconds:.3g} s per phase, {rounds} round(s), CPython "
          f"{sys.version.split()[0]}; PHASE shape workers gc rps p50 p99 p99.9 p99.99 "
          "max(us) rss(MiB) duty collector_cpu gen0/1/2 max_pause(us)", flush=True)
    res = {}
    failed = False
    for r in range(rounds):
        for s in shapes:
            for on in (0, 1):
                p = run_child(s, on, seconds)
                res[(s, on, r)] = p
                if p is None:
                    print(f"server_bench.py: phase {s}/1/{'on' if on else 'off'} failed",
                          file=sys.stderr)
                    failed = True
                    continue
                print(f"PHASE {s} 1 {'on' if on else 'off'} {p['rps']:.0f} "
                      f"{p['p50'] / 1e3:.1f} {p['p99'] / 1e3:.1f} {p['p999'] / 1e3:.1f} "
                      f"{p['p9999'] / 1e3:.1f} {p['max'] / 1e3:.1f} {p['rss_mib']:.1f} "
                      f"{p['duty']:.3f} {p['collector_cpu']:.3f} "
                      f"{p['gen0']:.0f}/{p['gen1']:.0f}/{p['gen2']:.0f} "
                      f"{p['max_pause'] / 1e3:.1f}", flush=True)
    if failed:
        return 1
    print(f"\n{'shape':<7} {'workers':>7} {'on/off':>9} {'p50 us':>9} {'p99.99':>9} "
          f"{'max us':>9} {'off p99.99':>9} {'rss MiB':>8} {'duty':>6} {'gc cpu':>7} "
          f"{'pause us':>9}")
    med = statistics.median_low  # a value that was measured, as the C bench
    for s in shapes:
        off = [res[(s, 0, r)] for r in range(rounds)]
        on = [res[(s, 1, r)] for r in range(rounds)]
        ratio = med([a["rps"] / b["rps"] for a, b in zip(on, off)])
        p50 = med([a["p50"] / 1e3 for a in on])
        p9999 = med([a["p9999"] / 1e3 for a in on])
        mx = med([a["max"] / 1e3 for a in on])
        off9999 = med([b["p9999"] / 1e3 for b in off])
        rss = med([a["rss_mib"] for a in on])
        duty = med([a["duty"] for a in on])
        cpu = med([a["collector_cpu"] for a in on])
        pause = max(a["max_pause"] / 1e3 for a in on)
        print(f"{s:<7} {1:>7} {ratio:8.3f}x {p50:9.1f} {p9999:9.1f} {mx:9.1f} {off9999:9.1f} "
              f"{rss:8.1f} {100 * duty:5.1f}% {100 * cpu:6.1f}% {pause:9.1f}")
        print(f"RESULT cpython {s} 1 {ratio:.3f} {p9999:.1f} {mx:.1f} {rss:.1f} {duty:.3f} "
              f"{pause:.1f}")
    print(f"(medians over {rounds} round(s); on/off = throughput with collection on / off; "
          "latency and rss with collection on; duty = gc cpu = time in collections / wall "
          "time, CPython collecting on the request thread; pause = longest collection)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
