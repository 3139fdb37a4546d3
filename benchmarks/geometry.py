"""Microstructure-library benchmark: generation time per cell type at n = 48 (default).

For every type of ``phnet_cuda.geometry.cell_types()`` (or ``--families``) it times, on the CPU:

    field     the per-voxel key (level set and its gradient, or the periodic strut distance with
              the node tie-breaker) and its stable sort: the cold cost, paid once per (type, n)
    range     ``reachable_range``: the two rank bisections with a periodic percolation test each
    binary    ``make_cell(name, n, vf)`` with the field cached (median of ``--repeats``)
    fractional ``make_cell(..., fractional=True)`` with the field cached (bisection on the threshold)

at vf = ``--vf`` clamped into the type's reachable range, and checks every cell: |vf - target|
<= 0.0025 (binary) and 1e-6 (fractional). It records each type's reachable range, prints a
per-family summary (mean / max seconds) and writes ``results/geometry_<machine>.json``.
Run with ``OMP_NUM_THREADS=1`` for comparable single-core numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

# importing bench_env also makes phnet_cuda importable from a source checkout
from bench_env import RESULTS_DIR, cpus, device_name, format_table, git_commit, slug
from tqdm import tqdm

from phnet_cuda.geometry import FAMILIES, cell_family, cell_types, library, make_cell, reachable_range


def bench_type(name: str, n: int, vf: float, repeats: int) -> dict:
    library._field.cache_clear()  # cold start for this type
    t0 = time.perf_counter()
    library._field(name, n)
    t_field = time.perf_counter() - t0
    t0 = time.perf_counter()
    lo, hi = reachable_range(name, n)
    t_range = time.perf_counter() - t0
    target = min(max(vf, lo), hi)
    times_b, times_f = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        vox = make_cell(name, n, target)
        times_b.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        frac = make_cell(name, n, target, fractional=True)
        times_f.append(time.perf_counter() - t0)
    err_b = abs(float(vox.double().mean()) - target)
    err_f = abs(float(frac.double().mean()) - target)
    return {"name": name, "family": cell_family(name), "range": [lo, hi], "target": target,
            "field_s": t_field, "range_s": t_range, "binary_s": statistics.median(times_b),
            "fractional_s": statistics.median(times_f), "vf_error_binary": err_b, "vf_error_fractional": err_f,
            "ok": err_b <= 0.0025 and err_f <= 1e-6}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--vf", type=float, default=0.15)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="JSON path (default results/geometry_<machine>.json)")
    opts = ap.parse_args(argv)
    names = [m for fam in opts.families.split(",") for m in cell_types(fam)]
    make_cell("gyroid", 8, 0.5)  # imports (scipy) and first-call overheads out of the timings
    rows = [bench_type(m, opts.n, opts.vf, opts.repeats) for m in tqdm(names, desc="types", unit="type")]

    summary = []
    for fam in FAMILIES:
        sel = [r for r in rows if r["family"] == fam]
        if not sel:
            continue
        summary.append({"family": fam, "types": len(sel),
                        **{f"{k}_mean": statistics.mean(r[k] for r in sel) for k in ("field_s", "range_s", "binary_s",
                                                                                    "fractional_s")},
                        **{f"{k}_max": max(r[k] for r in sel) for k in ("field_s", "range_s")},
                        "lo_max": max(r["range"][0] for r in sel), "hi_min": min(r["range"][1] for r in sel),
                        "reach_002_033": sum(r["range"][0] <= 0.02 and r["range"][1] >= 0.33 for r in sel),
                        "failures": sum(not r["ok"] for r in sel)})

    def ms(k):
        return lambda s: f"{1e3 * s[k]:.1f}"

    print(f"\nn = {opts.n}, target vf {opts.vf:g}, {device_name('cpu')}, torch threads {torch.get_num_threads()}")
    print(format_table(summary, [("family", lambda s: s["family"]), ("types", lambda s: str(s["types"])),
                                 ("field ms", ms("field_s_mean")), ("max", ms("field_s_max")),
                                 ("range ms", ms("range_s_mean")), ("max ", ms("range_s_max")),
                                 ("cell ms", ms("binary_s_mean")), ("fractional ms", ms("fractional_s_mean")),
                                 ("max lo", lambda s: f"{s['lo_max']:.3f}"), ("min hi", lambda s: f"{s['hi_min']:.3f}"),
                                 ("reach 0.02-0.33", lambda s: str(s["reach_002_033"])),
                                 ("fail", lambda s: str(s["failures"]))], left={"family"}))
    name = device_name("cpu")
    out = opts.out or RESULTS_DIR / f"geometry_{slug(name)}.json"
    result = {"benchmark": "geometry", "machine": name, "cpus": cpus(), "torch_threads": torch.get_num_threads(),
              "git_commit": git_commit(), "n": opts.n, "vf": opts.vf, "summary": summary, "types": rows}
    RESULTS_DIR.mkdir(exist_ok=True)
    with open(out, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"wrote {out}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
