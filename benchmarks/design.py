"""Inverse design benchmark (phnet_cuda.design): the issue's targets at n = 32, vf = 0.3.

1. The library: the bulk modulus K = (1/9) sum_{i,j<=3} C^H_ij of every cell type of
   ``phnet_cuda.geometry`` that reaches the volume fraction at n (solved once to 1e-6 and stored
   in ``library_n<n>_vf<vf>.json``; reused when present - ``--redo-library`` to recompute).
2. A bulk-modulus design (cubic symmetry, MMA) against the best library cell and the
   Hashin-Shtrikman upper bound (``design.hashin_shtrikman``), with its wall and CPU time.
3. A negative-Poisson design (cubic symmetry, MMA, a floor on the stiffness E_x).
4. The bulk design again in PH-Net mode (``surrogate="phnet"``, max_error 0.05 and 0.5): its
   speed-up and how far its solver-checked C^H lands from the solver-designed one.

Each design's files (``phnet design``'s, without the STL) go to
``benchmarks/results/design/<name>/``, an isosurface render to ``<name>/render.png``, the
summary to ``benchmarks/results/design/design_<cpu>.json``, and the README's picture of both
designs to ``docs/design_cells.png``.

    python benchmarks/design.py [--n 32] [--vf 0.3] [--threads 2] [--only library|bulk|poisson|phnet|render]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np
import torch
from bench_env import REPO_ROOT, RESULTS_DIR, cpu_name, environment, slug

from phnet_cuda import homogenize
from phnet_cuda.design import bulk_modulus, hashin_shtrikman, optimize, poisson_ratio, shear_modulus, write_outputs
from phnet_cuda.geometry import cell_family, cell_types, make_cell, reachable_range
from phnet_cuda.post import engineering_constants, voigt_reuss_moduli
from phnet_cuda.post.tensor import relative_error

OUT = RESULTS_DIR / "design"
BULK = dict(objective="bulk", symmetry="cubic", iterations=200)  # the defaults otherwise (filter 2, beta 1 -> 16)
POISSON = dict(objective="poisson", symmetry="cubic", init="random", seed=1, bounds=("E_x>=0.01",), iterations=200)


def library(n: int, vf: float, redo: bool) -> dict:
    """K, G, nu of every library type at (n, vf); cached in a JSON file."""
    path = OUT / f"library_n{n}_vf{vf:g}.json"
    if path.exists() and not redo:
        return json.loads(path.read_text())
    rows, skipped = [], []
    t0 = time.perf_counter()
    for name in cell_types():
        lo, hi = reachable_range(name, n)
        if not lo <= vf <= hi:
            skipped.append({"cell": name, "reachable": [lo, hi]})
            continue
        vox = make_cell(name, n, vf, dtype=torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = homogenize(vox, tol=1e-6)
        CH = res.CH
        rows.append({"cell": name, "family": cell_family(name), "volume_fraction": float(vox.mean()),
                     "bulk": float(bulk_modulus(CH)), "shear": float(shear_modulus(CH)),
                     "poisson": float(poisson_ratio(CH)), "converged": res.converged,
                     "hs_bulk_ratio": float(bulk_modulus(CH)) / hashin_shtrikman(float(vox.mean()),
                                                                                 soft_ratio=1e-6)["bulk_upper"]})
        print(f"  {name:40s} vf {rows[-1]['volume_fraction']:.4f} K {rows[-1]['bulk']:.5f} "
              f"({rows[-1]['hs_bulk_ratio']:.1%} of HS)", flush=True)
    data = {"n": n, "vf": vf, "tol": 1e-6, "cells": rows, "unreachable": skipped,
            "seconds": time.perf_counter() - t0, "environment": environment(os.getloadavg()[0])}
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return data


def draw_cell(ax, design: np.ndarray, title: str) -> None:
    """Isosurface of a 0/1 cell on a 3D axes: 2 x 2 cells in x, y, cut at half height in z so that
    closed cavities show, lightly smoothed (periodically), flat shading."""
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    from scipy import ndimage
    from skimage import measure
    n = design.shape[0]
    smooth = ndimage.gaussian_filter(design.astype(np.float64), sigma=0.6, mode="wrap")
    block = np.pad(np.tile(smooth, (2, 2, 1))[:, :, : n // 2 + 1], 1)  # void around: a closed surface
    verts, faces, _, _ = measure.marching_cubes(block, level=0.5)
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-30
    light = np.array([0.4, -0.5, 0.75]) / np.linalg.norm([0.4, -0.5, 0.75])
    shade = 0.35 + 0.65 * np.abs(normal @ light)
    ax.add_collection3d(Poly3DCollection(tri, facecolors=plt.cm.Blues(0.35 + 0.6 * shade), linewidths=0))
    ax.set_xlim(0, 2 * n + 2)
    ax.set_ylim(0, 2 * n + 2)
    ax.set_zlim(0, n // 2 + 3)
    ax.set_box_aspect((2, 2, 0.5))
    ax.set_axis_off()
    ax.view_init(elev=38, azim=-58)
    ax.set_title(title, fontsize=10)


def render(cells: list[tuple[np.ndarray, str]], path) -> None:
    """PNG of one or more 0/1 cells side by side (``draw_cell``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(5.6 * len(cells), 4.2))
    for k, (design, title) in enumerate(cells):
        draw_cell(fig.add_subplot(1, len(cells), k + 1, projection="3d"), design, title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render_design(folder) -> None:
    """``render.png`` of the design in ``folder`` (its design.npy and design.json)."""
    report = json.loads((folder / "design.json").read_text())
    render([(np.load(folder / "design.npy").astype(np.float64),
             f"{folder.name}: {report['objective']['name']} = {report['objective']['value']:.4g}, "
             f"vf = {report['volume_fraction']:.3f}")], folder / "render.png")


def design_run(name: str, n: int, vf: float, settings: dict, **extra) -> dict:
    """Run one design, write its files and render, return its summary."""
    folder = OUT / name
    t0, c0 = time.perf_counter(), time.process_time()
    res = optimize(n=n, volume_fraction=vf, progress=True, **settings, **extra)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    write_outputs(res, folder, stl=False)
    render_design(folder)
    hs = hashin_shtrikman(res.volume_fraction, soft_ratio=res.settings["rho_min"])
    summary = {"name": name, "settings": res.settings, "iterations": res.iterations, "converged": res.converged,
               "stop_reason": res.stop_reason, "wall_seconds": wall, "cpu_seconds": cpu,
               "seconds_per_iteration": wall / max(res.iterations, 1), "objective": res.objective,
               "volume_fraction": res.volume_fraction, "bulk": float(bulk_modulus(res.CH)),
               "shear": float(shear_modulus(res.CH)), "poisson": float(poisson_ratio(res.CH)),
               "hs_bulk_ratio": float(bulk_modulus(res.CH)) / hs["bulk_upper"],
               "hs_shear_voigt_ratio": voigt_reuss_moduli(res.CH)["G_V"] / hs["shear_upper"],
               "engineering_constants": engineering_constants(res.CH), "CH": res.CH.tolist(),
               "solver_iterations": sum(h["solver_iterations"] for h in res.history), "notes": res.notes,
               "environment": environment(os.getloadavg()[0], threads=torch.get_num_threads())}
    print(f"{name}: {res.stop_reason} after {res.iterations} iterations, {wall:.0f} s wall, {cpu:.0f} s CPU; "
          f"objective {res.objective:.5g}, vf {res.volume_fraction:.4f}, K = {summary['hs_bulk_ratio']:.1%} of HS",
          flush=True)
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--vf", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-error", type=float, action="append", default=None,
                   help="PH-Net mode's max_error (repeatable; default 0.05 and 0.5)")
    p.add_argument("--only", choices=("library", "bulk", "poisson", "phnet", "render"), action="append",
                   default=None, help="run only these steps (render: redraw the pictures of the stored designs)")
    p.add_argument("--redo-library", action="store_true")
    opts = p.parse_args()
    os.nice(5)  # the machine is shared
    torch.set_num_threads(opts.threads)
    steps = opts.only or ["library", "bulk", "poisson", "phnet"]
    if steps == ["render"]:
        for folder in sorted(p for p in OUT.iterdir() if (p / "design.npy").exists()):
            render_design(folder)
        readme_picture()
        return
    path = OUT / f"design_{slug(cpu_name())}.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary.update({"n": opts.n, "vf": opts.vf, "threads": opts.threads,
                    "environment": environment(os.getloadavg()[0])})
    summary["hashin_shtrikman"] = hashin_shtrikman(opts.vf, soft_ratio=1e-6)
    if "library" in steps or "bulk" in steps:
        lib = library(opts.n, opts.vf, opts.redo_library)
        best = max(lib["cells"], key=lambda r: r["bulk"])
        summary["library"] = {"cells": len(lib["cells"]), "unreachable": len(lib["unreachable"]), "best_bulk": best,
                              "schwarz_p": next((r for r in lib["cells"] if r["cell"] == "schwarz_p"), None),
                              "lowest_poisson": min(lib["cells"], key=lambda r: r["poisson"])}
    if "bulk" in steps:
        summary["bulk"] = design_run("bulk", opts.n, opts.vf, BULK)
        best = summary["library"]["best_bulk"]
        summary["bulk"]["vs_best_library"] = summary["bulk"]["bulk"] / best["bulk"]
    if "poisson" in steps:
        summary["poisson"] = design_run("poisson", opts.n, opts.vf, POISSON)
    if "phnet" in steps:
        summary["bulk_phnet"] = {}
        for max_error in opts.max_error or [0.05, 0.5]:
            run = design_run(f"bulk_phnet_{max_error:g}", opts.n, opts.vf, BULK, surrogate="phnet",
                             max_error=max_error)
            history = json.loads((OUT / f"bulk_phnet_{max_error:g}" / "history.json").read_text())
            run["refined_iterations"] = sum(h["refined"] for h in history)
            if "bulk" in summary:
                ref = summary["bulk"]
                run["speedup_wall"] = ref["wall_seconds"] / run["wall_seconds"]
                run["speedup_cpu"] = ref["cpu_seconds"] / run["cpu_seconds"]
                run["CH_distance_to_solver_design"] = float(relative_error(torch.tensor(run["CH"]),
                                                                           torch.tensor(ref["CH"])))
                run["bulk_vs_solver_design"] = run["bulk"] / ref["bulk"]
            summary["bulk_phnet"][f"{max_error:g}"] = run
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1))
    print(f"wrote {path}")
    readme_picture()


def readme_picture() -> None:
    """docs/design_cells.png: the bulk and the auxetic design side by side (``draw_cell``), when both exist."""
    if not ((OUT / "bulk" / "design.npy").exists() and (OUT / "poisson" / "design.npy").exists()):
        return
    cells = []
    for name, label in (("bulk", "max bulk modulus"), ("poisson", "min Poisson ratio")):
        report = json.loads((OUT / name / "design.json").read_text())
        value = (f"K = {report['hashin_shtrikman']['bulk_ratio']:.1%} of HS" if name == "bulk" else
                 f"nu = {report['tensor']['engineering_constants']['nu_xy']:.3f}")
        cells.append((np.load(OUT / name / "design.npy").astype(np.float64),
                      f"{label}, vf = {report['volume_fraction']:.3f}: {value}"))
    render(cells, REPO_ROOT / "docs" / "design_cells.png")


if __name__ == "__main__":
    main()
