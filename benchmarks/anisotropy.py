"""Semi-coarsening multigrid against full coarsening on stretched and sheared cells, in one run.

The voxels of a stretched parallelepiped are stretched too: on the reference cube its material
C_hat = M^-T C M^-1 couples the short directions more strongly than the long one, and a point
smoother then leaves error that a fully coarsened grid cannot represent. With
``semi_coarsening=2.0``, ``homogenize`` halves only the strongly coupled axes until the
couplings even out; ``semi_coarsening=None`` (the default) coarsens all axes together.
Cells: tubular gyroids (vf 0.15) and a library octet truss (vf 0.25) on a cube and on
parallelepipeds with aspect ratios 2-4, one sheared, at n = 32.
Correctness first: both C^H must agree to 1e-7 (relative, Frobenius; tol 1e-8) before a time is
kept. Seconds include the multigrid set-up. Writes benchmarks/results/anisotropy_<machine>.json.

    python benchmarks/anisotropy.py [--device cpu] [--n 32] [--tol 1e-8] [--out ...json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from bench_env import RESULTS_DIR, device_name, environment, format_table, slug

from phnet_cuda.geometry import make_cell, tubular_gyroid
from phnet_cuda.problem import CellProblem
from phnet_cuda.solver import axis_strength, coarsening_plan, homogenize

SHAPES = [("cube", None), ("lengths 1, 1, 2", (90, 90, 90, 1, 1, 2)), ("lengths 1, 1, 4", (90, 90, 90, 1, 1, 4)),
          ("lengths 1, 3, 3", (90, 90, 90, 1, 3, 3)), ("lengths 1, 2, 4", (90, 90, 90, 1, 2, 4)),
          ("sheared 75 deg, lengths 1, 1, 3", (75, 75, 75, 1, 1, 3))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--out", default=None)
    opts = p.parse_args()
    load_average = os.getloadavg()[0]
    cells = [("TG vf 0.15", tubular_gyroid(opts.n, 0.15)), ("octet vf 0.25", make_cell("octet", opts.n, 0.25))]
    rows = []
    for cell, vox in cells:
        for shape_name, shape in SHAPES:
            res = {key: homogenize(vox.double(), shape=shape, tol=opts.tol, device=opts.device, semi_coarsening=semi)
                   for key, semi in (("full", None), ("semi", 2.0))}
            a, b = res["full"], res["semi"]
            diff = float((b.CH - a.CH).norm() / a.CH.norm())
            if not (a.converged and b.converged and diff < 1e-7):
                sys.exit(f"{cell}, {shape_name}: converged {a.converged}/{b.converged}, C^H differ by {diff:.1e}; "
                         "not reporting times")
            strength = axis_strength(CellProblem(opts.n, shape=shape, dtype=torch.float64).Ke)[0]
            plan = coarsening_plan((opts.n,) * 3, strength.tolist(), ratio=2.0)  # what semi used
            rows.append({"cell": cell, "shape": shape_name, "plan": [list(f) for f in plan],
                         "iterations_full": a.iterations, "iterations_semi": b.iterations,
                         "seconds_full": a.seconds, "seconds_semi": b.seconds,
                         "speedup": a.seconds / b.seconds, "CH_difference": diff})
            print(f"{cell}, {shape_name}: iterations {a.iterations} -> {b.iterations}, seconds "
                  f"{a.seconds:.2f} -> {b.seconds:.2f} (full -> semi), plan {plan}", flush=True)
    cols = [("cell", lambda r: r["cell"]), ("shape", lambda r: r["shape"]),
            ("it full", lambda r: str(r["iterations_full"])), ("it semi", lambda r: str(r["iterations_semi"])),
            ("s full", lambda r: f"{r['seconds_full']:.2f}"), ("s semi", lambda r: f"{r['seconds_semi']:.2f}"),
            ("x", lambda r: f"{r['speedup']:.2f}"), ("C^H diff", lambda r: f"{r['CH_difference']:.0e}")]
    dev = device_name(opts.device)
    print(f"homogenize n = {opts.n}, tol {opts.tol:g}, float64 CG, float32 multigrid; seconds include set-up; {dev}")
    print(format_table(rows, cols, left={"cell", "shape"}))
    out = opts.out or str(RESULTS_DIR / f"anisotropy_{slug(dev)}.json")
    with open(out, "w") as f:
        json.dump({"environment": environment(load_average, device=dev, n=opts.n, tol=opts.tol), "rows": rows}, f,
                  indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
