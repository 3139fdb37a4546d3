"""Accuracy of ``post.change_base_material`` against re-solving with the new base material.

For Tubular-Gyroid cells (cube and the (75, 75, 75, 1, 1, 2) parallelepiped, two volume
fractions) C^H is solved with (E = 1, nu = NU0) and then estimated for other Poisson ratios (and
E' = 2.5, which must be exact) in three ways: E scaling only, the CLM compliance shift (C^H only)
and the stress-field refinement (C^H and the solution u); each is compared with a fresh
``homogenize`` at the new material. Error: ||C_est - C_solve||_F / ||C_solve||_F.

    python benchmarks/base_material.py [--n 16] [--out benchmarks/results/base_material_<cpu>.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from bench_env import RESULTS_DIR, cpu_name, format_table, git_commit, slug

import phnet_cuda as pc
from phnet_cuda import post
from phnet_cuda.geometry import tubular_gyroid

NU0 = 0.25
E_NEW = 2.5
NU_NEW = (0.0, 0.15, 0.35, 0.45)
CELLS = [(0.1, None), (0.3, None), (0.1, (75, 75, 75, 1, 1, 2)), (0.3, (75, 75, 75, 1, 1, 2))]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    t_start = time.perf_counter()
    for vf, shape in CELLS:
        vox = tubular_gyroid(args.n, vf)
        base = pc.homogenize(vox, E=1.0, nu=NU0, shape=shape, tol=args.tol)
        for nu_new in NU_NEW:
            ref = pc.homogenize(vox, E=E_NEW, nu=nu_new, shape=shape, tol=args.tol).CH
            scaled = base.CH * E_NEW
            clm = post.change_base_material(base.CH, 1.0, NU0, E_NEW, nu_new)
            t0 = time.perf_counter()
            fields = post.change_base_material(base.CH, 1.0, NU0, E_NEW, nu_new, u=base.u, vox=vox, shape=shape)
            t_fields = time.perf_counter() - t0
            rows.append({"vf": vf, "shape": shape, "n": args.n, "nu_new": nu_new, "E_new": E_NEW,
                         "err_scale_only": rel(scaled, ref), "err_clm": rel(clm, ref),
                         "err_stress_fields": rel(fields, ref), "seconds_stress_fields": t_fields})
        # E alone: exact up to the solver tolerance.
        ref = pc.homogenize(vox, E=E_NEW, nu=NU0, shape=shape, tol=args.tol).CH
        rows.append({"vf": vf, "shape": shape, "n": args.n, "nu_new": NU0, "E_new": E_NEW,
                     "err_scale_only": rel(base.CH * E_NEW, ref),
                     "err_clm": rel(post.change_base_material(base.CH, 1.0, NU0, E_NEW, NU0), ref),
                     "err_stress_fields": rel(post.change_base_material(base.CH, 1.0, NU0, E_NEW, NU0, u=base.u,
                                                                        vox=vox, shape=shape), ref),
                     "seconds_stress_fields": float("nan")})
    cols = [("vf", lambda r: f"{r['vf']:.1f}"), ("cell", lambda r: "cube" if r["shape"] is None else "75,75,75,1,1,2"),
            ("nu'", lambda r: f"{r['nu_new']:.2f}"), ("scale only", lambda r: f"{100 * r['err_scale_only']:.3f}%"),
            ("CLM shift", lambda r: f"{100 * r['err_clm']:.3f}%"),
            ("stress fields", lambda r: f"{100 * r['err_stress_fields']:.3f}%")]
    print(f"base nu = {NU0}, E 1 -> {E_NEW}, n = {args.n}, tol {args.tol:g}")
    print(format_table(rows, cols, left={"cell"}))
    out = args.out or str(RESULTS_DIR / f"base_material_{slug(cpu_name())}.json")
    with open(out, "w") as fh:
        json.dump({"machine": cpu_name(), "commit": git_commit(), "nu0": NU0, "tol": args.tol,
                   "seconds": time.perf_counter() - t_start, "rows": rows}, fh, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
