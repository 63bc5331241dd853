"""bench/gc_young_bench.py - CPython's gc.collect(0) of Y nodes of cyclic
garbage (default 10000, env YOUNG=n) beside N live old nodes, on the shape
of bench/gc_shape.h: the twin of bench/gc_young_bench.c, same output.
The old heap survives a full gc.collect(), which leaves it in the oldest
generation, so a young collection never looks at it.
usage: python3 gc_young_bench.py [rounds] [old sizes...]   (default 7 0 1000000 4000000)"""
import gc
import os
import sys
import time

RING, CHORD_MUL, CHORD_ADD = 100, 7, 3


class Node:
    # As in bench/gc_bench.py: GC-tracked, two references, no __dict__.
    __slots__ = ("a", "b")


def build(n, roots):  # bench/gc_bench.py's build()
    for _ in range(n // RING):
        ring = [Node() for _ in range(RING)]
        for i, node in enumerate(ring):
            node.a = ring[(i + 1) % RING]
            node.b = ring[(CHORD_MUL * i + CHORD_ADD) % RING]
        if roots is not None:
            roots.append(ring[0])


def bench_old(n, young, rounds):
    old, ny = n // RING * RING, young // RING * RING
    roots = []
    build(n, roots)
    gc.collect()  # promotes the old heap to generation 2
    if len(gc.get_objects(2)) < old:
        sys.exit(f"gc_young_bench.py: old {n}: not in generation 2")
    v = []
    for r in range(-1, rounds):  # r = -1: warm-up, not recorded
        build(young, None)
        t0 = time.perf_counter()
        found = gc.collect(0)
        t = (time.perf_counter() - t0) * 1e3
        if found < ny:
            sys.exit(f"gc_young_bench.py: old {n}: young collection found {found} of {ny}")
        if r >= 0:
            v.append(t)
    v.sort()
    # v[len // 2]: the same median as the C twin's
    print(f"YOUNG cpython {n} {v[len(v) // 2]:.3f} {v[0]:.3f} {v[-1]:.3f}", flush=True)
    del roots
    gc.collect()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    sizes = [int(a) for a in sys.argv[2:]] or [0, 1000000, 4000000]
    young = int(os.environ.get("YOUNG", 10000))
    gc.disable()  # only the collections we time
    gc.collect()
    for n in sizes:
        bench_old(n, young, rounds)


main()
