"""Rigid-piece deflation in the solver (``homogenize(deflate=True)``, the default) against the
plain multigrid PCG (``deflate=False``), on the same cells in one run.

Cells: under-resolved ones whose solid splits into pieces hinged at voxel edges/corners or
floating (``geometry.bounded_clusters``) - held-out TG cells of the accuracy benchmark at n = 16
(one of them at vf 0.026 with 23 pieces, alone and in its batch of 8), library cells with 27, 240
and 672 pieces, a frame with six floating blocks - and a TG cell with none (the overhead).
Correctness first: both C^H must agree to 1e-7 (relative, Frobenius; both solved to tol 1e-8)
before a time is kept. Writes benchmarks/results/deflation_<machine>.json.

    python benchmarks/deflation.py [--device cpu] [--tol 1e-8] [--out ...json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import torch
from bench_env import RESULTS_DIR, device_name, environment, format_table, slug

from phnet_cuda.geometry import bounded_clusters, make_cell, tubular_gyroid
from phnet_cuda.solver import homogenize

HELD_OUT = RESULTS_DIR / "tmp" / "accuracy_tg_n16_c48_s2026.pt"  # written by benchmarks/accuracy.py


def frame_with_blocks(n: int = 16) -> torch.Tensor:
    vox = torch.zeros(n, n, n)
    vox[:2, :2, :] = vox[:2, :, :2] = vox[:, :2, :2] = 1
    for i, j, k in [(5, 5, 5), (10, 5, 5), (5, 10, 5), (5, 5, 10), (10, 10, 10), (10, 10, 5)]:
        vox[i:i + 2, j:j + 2, k:k + 2] = 1
    return vox


def cases():
    out = []
    if HELD_OUT.exists():
        b = torch.load(HELD_OUT, weights_only=True)["batch"]
        for name, sl in (("TG held-out #19 (vf 0.026), n 16", slice(19, 20)), ("TG held-out #16-23 (batch 8), n 16", slice(16, 24))):
            out.append((name, b["vox"][sl].double(), dict(E=b["E"][sl], nu=b["nu"][sl], shape=b["shape"][sl])))
    out += [("frame + 6 floating blocks, n 16", frame_with_blocks()[None], {}),
            ("octo vf 0.10, n 16", make_cell("octo", 16, 0.1)[None], {}),
            ("rod_packing_i2y vf 0.20, n 16", make_cell("rod_packing_i2y", 16, 0.2)[None], {}),
            ("lidinoid vf 0.10, n 32", make_cell("lidinoid", 32, 0.1)[None], {}),
            ("TG vf 0.02, n 32 (no pieces)", tubular_gyroid(32, 0.02)[None], {})]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--out", default=None)
    opts = p.parse_args()
    load_average = os.getloadavg()[0]
    rows = []
    for name, vox, kw in cases():
        pieces = sum(len(bounded_clusters(v)) for v in vox)
        res = {}
        for deflate in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res[deflate] = homogenize(vox, tol=opts.tol, deflate=deflate, device=opts.device, max_iter=2000, **kw)
        a, d = res[False], res[True]
        diff = float(((d.CH - a.CH).norm(dim=(-2, -1)) / a.CH.norm(dim=(-2, -1))).max())
        if not diff < 1e-7:
            sys.exit(f"{name}: deflated and plain C^H differ by {diff:.1e}; not reporting times")
        rows.append({"cell": name, "pieces": pieces, "deflated": d.deflated, "CH_difference": diff,
                     "iterations_plain": a.iterations, "iterations_deflated": d.iterations,
                     "seconds_plain": a.seconds, "seconds_deflated": d.seconds,
                     "converged": bool(a.converged and d.converged), "time_ratio": d.seconds / a.seconds})
        print(f"{name}: {a.iterations} -> {d.iterations} iterations, {a.seconds:.2f} -> {d.seconds:.2f} s", flush=True)
    cols = [("cell", lambda r: r["cell"]), ("pieces", lambda r: str(r["pieces"])),
            ("it plain", lambda r: str(r["iterations_plain"])), ("it deflated", lambda r: str(r["iterations_deflated"])),
            ("s plain", lambda r: f"{r['seconds_plain']:.2f}"), ("s deflated", lambda r: f"{r['seconds_deflated']:.2f}"),
            ("x time", lambda r: f"{r['time_ratio']:.2f}"), ("C^H diff", lambda r: f"{r['CH_difference']:.0e}")]
    dev = device_name(opts.device)
    print(f"homogenize, tol {opts.tol:g}, float64, seconds include set-up; {dev}")
    print(format_table(rows, cols, left={"cell"}))
    out = opts.out or str(RESULTS_DIR / f"deflation_{slug(dev)}.json")
    with open(out, "w") as f:
        json.dump({"environment": environment(load_average, device=dev, tol=opts.tol), "rows": rows}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
