"""bench/summary.py DIR - one table from the raw outputs bench/run_all.sh
keeps in DIR. Every row: cog's median, then each peer's median and cog's
speedup over it (peer time / cog time, or cog rate / peer rate: > 1 means
cog is faster)."""
import re
import sys

d = sys.argv[1]
rows = []


def read(name):
    try:
        with open(f"{d}/{name}") as f:
            return f.read()
    except OSError:
        return ""


def row(bench, workload, unit, cog, peers, higher_better=False):
    cells = []
    for name, v in peers:
        if v is None or cog is None:
            continue
        sp = (cog / v) if higher_better else (v / cog)
        cells.append(f"{name} {v:g} ({sp:.2f}x)")
    rows.append((bench, workload, unit, "-" if cog is None else f"{cog:g}", "  ".join(cells)))


def num(pattern, text):
    m = re.search(pattern, text, re.M)
    return float(m.group(1)) if m else None


# refcount: "variant ... ns/pair M pairs/s"
t = read("refcount.txt")
plain = num(r"^plain non-atomic counter\s+([\d.]+)", t)
atomic = num(r"^plain atomic counter\s+([\d.]+)", t)
owner = num(r"^cog owner \S+\s+([\d.]+)", t)
xa = num(r"^cross: plain atomic, 2 threads\s+([\d.]+)", t)
xc = num(r"^cross: cog shared path, 2 threads\s+([\d.]+)", t)
row("refcount", "owner incref+decref", "ns/pair", owner, [("plain", plain), ("atomic", atomic)])
row("refcount", "cross-thread, 2 threads", "ns/pair", xc, [("atomic", xa)])

# allocator: "RESULT"-derived table "workload cog glibc mimalloc jemalloc ..."
t = read("alloc.txt")
for line in t.splitlines():
    f = line.split()
    if len(f) >= 5 and re.match(r"^[a-z_0-9]+$", f[0]) and f[0] != "workload":
        try:
            c, g, m, j = (float(x) for x in f[1:5])
        except ValueError:
            continue
        row("alloc", f[0], "ns/op", c, [("glibc", g), ("mimalloc", m), ("jemalloc", j)])

# allocator pairs against glibc in the same process (alloc_bench vsglibc):
# "RESULT cog size_N ns", "RESULT glibc-same-process size_N ns" and
# "RATIO vsglibc size_N median-of-per-round cog/glibc min max"; the
# speedup shown is that per-round median's inverse.
t = read("alloc_vsglibc.txt")
for m in re.finditer(r"^RATIO vsglibc size_(\d+) ([\d.]+)", t, re.M):
    n, r = m.group(1), float(m.group(2))
    c = num(rf"^RESULT cog size_{n} ([\d.]+)", t)
    g = num(rf"^RESULT glibc-same-process size_{n} ([\d.]+)", t)
    if c is not None and g is not None and r > 0:
        rows.append(("alloc", f"pair {n} B, glibc in-process", "ns/pair", f"{c:g}",
                     f"glibc {g:g} ({1 / r:.2f}x)"))
for m in re.finditer(r"^RATIO api_vsglibc size_(\d+) ([\d.]+)", t, re.M):
    n, r = m.group(1), float(m.group(2))
    c = num(rf"^RESULT cog-mem-api size_{n} ([\d.]+)", t)
    g = num(rf"^RESULT glibc-same-process size_{n} ([\d.]+)", t)
    if c is not None and g is not None and r > 0:
        rows.append(("alloc", f"cog_mem_alloc/free {n} B, glibc in-process", "ns/pair",
                     f"{c:g}", f"glibc {g:g} ({1 / r:.2f}x)"))

# intern: "threads=N <impl>  X Mops/s (min..max)  Y ns CPU/lookup [concurrency C]"
# (older outputs had "median X Mops/s")
t = read("intern.txt")
for nt in (1, 2):
    def mops(impl):
        return num(rf"^threads={nt} {re.escape(impl)}\s+(?:median\s+)?([\d.]+) Mops/s", t)
    for cog_impl in ("cog (mortal)", "cog (immortal)"):
        row("intern", f"hit lookup {cog_impl}, {nt} thr", "Mops/s", mops(cog_impl),
            [("mutex", mops("mutex table")), ("glib", mops("glib"))], higher_better=True)

# collector: "RESULT impl what n median min max"
t = read("gc.raw")
res = {}
for line in t.splitlines():
    f = line.split()
    if len(f) >= 5 and f[0] == "RESULT":
        res[(f[1], f[2], int(f[3]))] = float(f[4])
# gc_bench.sh's own table has the median of per-round speedups (the three
# collectors run interleaved); prefer it to the ratio of medians.
per_round = {}
for line in read("gc.txt").splitlines():
    f = line.split()
    if len(f) == 7 and f[0] in ("garbage", "live") and f[5].endswith("x"):
        per_round[(f[0], int(f[1]))] = (float(f[5][:-1]), float(f[6][:-1]))
for (impl, what, n) in sorted(k for k in res if k[0] == "cog"):
    c, p, b = res[(impl, what, n)], res.get(("cpython", what, n)), res.get(("boehm", what, n))
    if (what, n) in per_round and p is not None and b is not None:
        sp, sb = per_round[(what, n)]
        rows.append(("gc", f"full collection, {n} {what}", "ms", f"{c:g}",
                     f"cpython {p:g} ({sp:.2f}x)  boehm {b:g} ({sb:.3f}x)"))
    else:
        row("gc", f"full collection, {n} {what}", "ms", c, [("cpython", p), ("boehm", b)])

# pause: "PAUSE n phase samples p50 p99 p999 max" (ns)
t = read("pause.txt")
for line in t.splitlines():
    f = line.split()
    if len(f) == 8 and f[0] == "PAUSE":
        p50, p99, p999, mx = (int(x) / 1000 for x in f[4:8])
        rows.append(("pause", f"probe stall, heap {f[1]}, {f[2]}", "us",
                     f"p99.9 {p999:g}", f"p50 {p50:g}  p99 {p99:g}  max {mx:g}"))
for line in t.splitlines():
    f = line.split()
    if len(f) == 4 and f[0] == "GCTIME":
        rows.append(("pause", f"full collection, heap {f[1]} live", "ms", f[3], f"({f[2]} collections)"))

# young: "YOUNG impl n median min max" (ms), gc_young_bench.sh's aggregate
t = read("young.raw")
young = {}
for line in t.splitlines():
    f = line.split()
    if len(f) == 6 and f[0] == "YOUNG":
        young[(f[1], int(f[2]))] = float(f[3])
for (impl, n) in sorted(k for k in young if k[0] == "cog"):
    base = young.get(("cog", 0))
    growth = f"  ({young[(impl, n)] / base:.2f}x the empty heap's)" if base else ""
    row("gc", f"young collection, 10k beside {n} old", "ms", young[(impl, n)],
        [("cpython", young.get(("cpython", n)))])
    if growth:
        rows[-1] = rows[-1][:4] + (rows[-1][4] + growth,)

# server: "RESULT server|cpython shape workers ratio p9999 max rss duty paced"
srv = {}
for name in ("server.txt", "server_py.txt"):
    for line in read(name).splitlines():
        f = line.split()
        if len(f) == 10 and f[0] == "RESULT" and f[1] in ("server", "cpython"):
            srv[(f[1], f[2], int(f[3]))] = [float(x) for x in f[4:]]
for (impl, shape, w) in sorted(k for k in srv if k[0] == "server"):
    ratio, p9999, mx, rss, duty, paced = srv[(impl, shape, w)]
    py = srv.get(("cpython", shape, w))
    peer = f"cpython {py[0]:.3f}" if py else ""
    rows.append(("server", f"{shape}, {w} worker(s): gc on/off", "ratio", f"{ratio:.3f}",
                 f"{peer}  p99.99 {p9999:g} us  max {mx:g} us  rss {rss:g} MiB  "
                 f"duty {100 * duty:.1f}%  paced {paced:g} us"))

w = [max(len(r[i]) for r in rows + [("bench", "workload", "unit", "cog", "")]) for i in range(4)]
print(f"{'bench':<{w[0]}}  {'workload':<{w[1]}}  {'unit':<{w[2]}}  {'cog':>{w[3]}}  peers: median (cog speedup)")
for r in rows:
    print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:>{w[3]}}  {r[4]}")
