"""Rigid-piece deflation in the solver against the plain multigrid PCG, on the same cells in one
run: ``deflate=False`` (plain), ``"auto"`` (the default: plain for DEFLATE_AFTER iterations, then
restarted with the pieces deflated if not converged) and ``True`` (deflated from the start).

Cells: under-resolved ones whose solid splits into pieces hinged at voxel edges/corners or
floating (``geometry.bounded_clusters``) - held-out TG cells of the accuracy benchmark at n = 16
(one of them at vf 0.026 with 23 pieces, alone and in its batch of 8), library cells with 27, 240
and 672 pieces, a frame with six floating blocks - and a TG cell with none (the overhead).
Correctness first: all three C^H must agree to 1e-7 (relative, Frobenius; solved to tol 1e-8)
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
        for name, sl in (("TG held-out #19 (vf 0.026), n 16", slice(19, 20)),
                         ("TG held-out #16-23 (batch 8), n 16", slice(16, 24))):
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
        for deflate in (False, "auto", True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res[deflate] = homogenize(vox, tol=opts.tol, deflate=deflate, device=opts.device, max_iter=2000, **kw)
        a = res[False]
        diff = max(float(((r.CH - a.CH).norm(dim=(-2, -1)) / a.CH.norm(dim=(-2, -1))).max()) for r in res.values())
        if not diff < 1e-7:
            sys.exit(f"{name}: deflated and plain C^H differ by {diff:.1e}; not reporting times")
        row = {"cell": name, "pieces": pieces, "CH_difference": diff,
               "converged": all(r.converged for r in res.values())}
        for key, r in (("plain", a), ("auto", res["auto"]), ("always", res[True])):
            row.update({f"iterations_{key}": r.iterations, f"seconds_{key}": r.seconds, f"deflated_{key}": r.deflated,
                        f"time_ratio_{key}": r.seconds / a.seconds})
        rows.append(row)
        print(f"{name}: iterations {a.iterations} / {res['auto'].iterations} / {res[True].iterations}, seconds "
              f"{a.seconds:.2f} / {res['auto'].seconds:.2f} / {res[True].seconds:.2f} (plain / auto / always)",
              flush=True)
    cols = [("cell", lambda r: r["cell"]), ("pieces", lambda r: str(r["pieces"]))]
    for key in ("plain", "auto", "always"):
        cols += [(f"it {key}", lambda r, k=key: str(r[f"iterations_{k}"])),
                 (f"s {key}", lambda r, k=key: f"{r[f'seconds_{k}']:.2f}")]
    cols += [("C^H diff", lambda r: f"{r['CH_difference']:.0e}")]
    dev = device_name(opts.device)
    print(f"homogenize, tol {opts.tol:g}, float64, seconds include set-up; {dev}")
    print(format_table(rows, cols, left={"cell"}))
    out = opts.out or str(RESULTS_DIR / f"deflation_{slug(dev)}.json")
    with open(out, "w") as f:
        json.dump({"environment": environment(load_average, device=dev, tol=opts.tol), "rows": rows}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
