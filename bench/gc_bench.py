"""bench/gc_bench.py - CPython's gc.collect() on the shape of
bench/gc_shape.h (rings of RING nodes, two references per node):
N nodes of cyclic garbage, and N live nodes held by a root list.
Same output format as bench/gc_bench.c.
usage: python3 gc_bench.py [runs] [heap sizes...]"""
import gc
import statistics
import sys
import time

RING, CHORD_MUL, CHORD_ADD = 100, 7, 3


class Node:
    # __slots__: a GC-tracked object with two references and no __dict__,
    # the closest Python analogue of the C node.
    __slots__ = ("a", "b")


def build(n, roots):
    for _ in range(n // RING):
        ring = [Node() for _ in range(RING)]
        for i, node in enumerate(ring):
            node.a = ring[(i + 1) % RING]
            node.b = ring[(CHORD_MUL * i + CHORD_ADD) % RING]
        if roots is not None:
            roots.append(ring[0])


def timed_collect():
    t0 = time.perf_counter()
    found = gc.collect()
    return (time.perf_counter() - t0) * 1e3, found


def report(what, n, v):
    v.sort()
    print(f"RESULT cpython {what} {n} {statistics.median_low(v):.2f} {v[0]:.2f} {v[-1]:.2f}",
          flush=True)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    sizes = [int(a) for a in sys.argv[2:]] or [1000000]
    gc.disable()  # only the collections we time
    gc.collect()
    for n in sizes:
        v = []
        for r in range(-1, runs):  # r = -1: warm-up, not recorded
            build(n, None)
            t, found = timed_collect()
            if found < n // RING * RING:
                sys.exit(f"gc_bench.py: garbage: found {found} of {n}")
            if r >= 0:
                v.append(t)
        report("garbage", n, v)
        roots = []
        build(n, roots)
        timed_collect()
        v = []
        for _ in range(runs):
            t, found = timed_collect()
            if found != 0:
                sys.exit(f"gc_bench.py: live: {found} objects collected")
            v.append(t)
        report("live", n, v)
        del roots
        gc.collect()


main()
