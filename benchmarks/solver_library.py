"""Robustness sweep of the solver over the whole microstructure library.

Every cell type of ``phnet_cuda.geometry`` at two volume fractions (10% and 90% of the way across
its reachable range) is solved to 1e-8 on a random parallelepiped: angles uniform in
[60, 90] degrees, lengths (1, U(0.5, 2), U(0.5, 2)), so aspect ratios reach 4. The sweep records
iterations, convergence and seconds per cell. It summarises them by aspect ratio
(l_max / l_min) and smallest angle, which is where a geometric multigrid with point smoothers
slows down: the voxels of a stretched cell are stretched too.

Each solution is checked before it is counted: C^H must be symmetric positive definite, and
its diagonal must not exceed the Voigt bound (the volume average of the phase stiffness).

    python benchmarks/solver_library.py [--n 16] [--quick] [--out benchmarks/results/solver_library_<cpu>.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import warnings

import numpy as np
import torch
from bench_env import RESULTS_DIR, cpu_name, environment, format_table, slug
from tqdm import tqdm

from phnet_cuda import homogenize
from phnet_cuda.geometry import cell_types, make_cell, reachable_range
from phnet_cuda.materials import DEFAULT_SOFT_RATIO, two_phase_stiffness

BANDS = {"aspect": [(1.0, 1.5), (1.5, 2.0), (2.0, 3.0), (3.0, 5.0)], "min_angle": [(60, 70), (70, 80), (80, 90.01)]}


def check_solution(CH: torch.Tensor, vox: torch.Tensor) -> str | None:
    """None when C^H is symmetric positive definite and below the Voigt bound, else why not.
    (The Voigt bound, the volume average of the phase stiffness, holds in the cell's own frame
    whatever its shape: M^T avg(C_hat) M = avg(C).)"""
    if not torch.allclose(CH, CH.T, rtol=0, atol=1e-12 * float(CH.abs().max())):
        return "C^H not symmetric"
    if float(torch.linalg.eigvalsh(CH).min()) <= 0:
        return "C^H not positive definite"
    hard, soft = two_phase_stiffness(1.0, 0.3, DEFAULT_SOFT_RATIO, dtype=torch.float64)  # homogenize's defaults
    vf = float(vox.double().mean())
    if (torch.diagonal(CH) > torch.diagonal(vf * hard + (1 - vf) * soft) * (1 + 1e-8)).any():
        return "C^H diagonal above the Voigt bound"
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="every 8th cell type only")
    p.add_argument("--out", default=None)
    opts = p.parse_args()
    load_average = os.getloadavg()[0]
    rng = np.random.default_rng(opts.seed)
    names = cell_types()[::8] if opts.quick else cell_types()
    rows = []
    for name in tqdm(names, desc="cell types"):
        lo, hi = reachable_range(name, opts.n)
        for frac in (0.1, 0.9):
            vf = lo + frac * (hi - lo)
            shape = [float(a) for a in rng.uniform(60, 90, 3)] + [1.0] + [float(x) for x in rng.uniform(0.5, 2, 2)]
            vox = make_cell(name, opts.n, vf)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is recorded below
                res = homogenize(vox, shape=shape, tol=opts.tol)
            problem = check_solution(res.CH, vox)
            lengths = shape[3:]
            rows.append({"type": name, "vf": float(vox.double().mean()), "shape": shape,
                         "aspect": max(lengths) / min(lengths), "min_angle": min(shape[:3]),
                         "iterations": res.iterations, "converged": res.converged,
                         "max_residual": float(res.residual.max()), "seconds": res.seconds, "check": problem})
    its = [r["iterations"] for r in rows]
    summary = {"solves": len(rows), "not_converged": sum(not r["converged"] for r in rows),
               "failed_checks": sum(r["check"] is not None for r in rows),
               "iterations_median": statistics.median(its), "iterations_max": max(its),
               "iterations_p90": float(np.percentile(its, 90)), "seconds_total": sum(r["seconds"] for r in rows)}
    bands = []
    for key, ranges in BANDS.items():
        for a, b in ranges:
            sel = [r for r in rows if a <= r[key] < b]
            if sel:
                it = [r["iterations"] for r in sel]
                bands.append({"by": key, "range": [a, min(b, 90)], "cells": len(sel), "median": statistics.median(it),
                              "max": max(it), "not_converged": sum(not r["converged"] for r in sel)})
    print(f"{summary['solves']} solves at n = {opts.n} to {opts.tol:g}: {summary['not_converged']} not converged, "
          f"{summary['failed_checks']} failed checks; iterations median {summary['iterations_median']}, "
          f"90th percentile {summary['iterations_p90']:.0f}, max {summary['iterations_max']}")
    cols = [("by", lambda r: r["by"]), ("range", lambda r: f"{r['range'][0]:g}-{r['range'][1]:g}"),
            ("cells", lambda r: str(r["cells"])), ("median it", lambda r: f"{r['median']:g}"),
            ("max it", lambda r: str(r["max"])), ("not conv", lambda r: str(r["not_converged"]))]
    print(format_table(bands, cols, left={"by"}))
    worst = sorted(rows, key=lambda r: -r["iterations"])[:5]
    print("slowest:", "; ".join(f"{r['type']} vf {r['vf']:.3f} aspect {r['aspect']:.2f} angle {r['min_angle']:.0f}: "
                                f"{r['iterations']}" for r in worst))
    name = cpu_name()
    out = opts.out or str(RESULTS_DIR / f"solver_library_{slug(name)}.json")
    with open(out, "w") as fh:
        json.dump({"device_name": name, "environment": environment(load_average, n=opts.n, tol=opts.tol),
                   "summary": summary, "bands": bands, "rows": rows}, fh, indent=2)
    print(f"wrote {out}")
    if summary["failed_checks"]:
        raise SystemExit(f"{summary['failed_checks']} solutions failed their checks")


if __name__ == "__main__":
    main()
