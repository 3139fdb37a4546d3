"""Solver benchmark of phnet_cuda: ``phnet_cuda.solver.homogenize`` against SciPy baselines.

Cells: the tubular gyroid ``phnet_cuda.geometry.tubular_gyroid(n, vf)`` (vf = solid fraction),
two phases E = 1 / E_s = soft_ratio E (default 1e-6), nu = 0.3, all six unit macroscopic strains,
float64, relative residual tolerance ``tol`` = 1e-8 per load case (docs/conventions.md).

Methods (each row runs in a fresh Python subprocess, so that its peak memory is its own):

    multigrid  the project solver, ``homogenize(..., preconditioner="multigrid")`` (default)
    jacobi     the project solver with its 3 x 3 nodal block-Jacobi preconditioner (baseline)
    direct     SciPy baseline A: ``scipy.sparse.linalg.splu`` of the assembled K (SuperLU, one
               factorization, then the six right-hand sides in one triangular solve); skipped
               above ``--direct-max-n`` (fill-in makes it infeasible)
    amg        SciPy baseline B: CG preconditioned with a PyAMG smoothed-aggregation V-cycle
               (``pyamg.smoothed_aggregation_solver``; near-nullspace = the six rigid-body modes,
               block size 3, symmetric block Gauss-Seidel pre- and post-smoothing, so the
               preconditioner is SPD) to the same relative residual ``tol``, one load at a time;
               skipped above ``--amg-max-n``

Baseline assembly (vectorised numpy, float64, from ``CellProblem``'s element matrices, exactly
the ops' numbering): dof = 3 * node + component, node = (i n + j) n + k; voxel e = (i, j, k) has
local node nd = 4a + 2b + c at ((i+a), (j+b), (k+c)) mod n with local dofs 3 nd + comp, and the
element matrix vox_e Ke[0] + (1 - vox_e) Ke[1]. K is built directly in CSR, row by row: every
node couples to the 27 nodes of its periodic 3 x 3 x 3 neighbourhood, and the 3 x 3 block
between node p and node p + d sums the (nd_a, nd_b) blocks of the (up to 8) voxels holding both
nodes, whose local offsets differ by d. The loads f are assembled the same way from Fe.
Periodic K is singular (rigid translations). The baselines fix that by pinning the three dofs
of one node (row/column removed) and afterwards subtracting the mean per component, which
gives the project's zero-mean solution: f is orthogonal to the translations, so the pinned
solution satisfies the full periodic system exactly. The pinned node is node 0 (default; in
the tubular gyroid it lies in the void, held only by the soft phase) or, with
``--pin stiffest``, the node of largest stiffness diagonal (a hard-phase node); at n = 16 and 24
the choice changed neither PyAMG's iteration count (+-1) nor the direct solver's accuracy.

Correctness first: for every method the parent process computes, with the project's ops,
the true relative residual max_i ||K u_i - f_i|| / ||f_i|| (``CellProblem.residual``) and C^H from the
displacements (``CellProblem.homogenized_tensor`` with u as ``[1, 6, 3, n, n, n]``), and
compares project and baseline C^H: dC = ||C_proj - C_base||_F / ||C_base||_F must be < 1e-6
(``--ch-tolerance``); a row that reports convergence must also have a true residual <= 10 tol.
A failure or an error makes the exit status 1. Unconverged project rows
(the Jacobi baseline at the iteration cap) are reported as such, not as failures.

Timings (seconds, wall clock; CUDA synchronised):

    project rows   solve = ``result.seconds`` (load vectors, preconditioner setup, PCG, C^H);
                   total = the whole ``homogenize`` call (also the element matrices and moving
                   the voxels); the median of ``--repeats`` calls (CUDA 5, CPU 1) after a
                   warm-up call (CUDA: the same cell; CPU: n = 8).
    baseline rows  asm = assembling K and f and pinning; setup = factorization / AMG hierarchy;
                   solve = the six solves; total = asm + setup + solve.
    x best         best baseline time (setup + solve, i.e. NOT counting its assembly) divided by
                   the project row's total, where "best baseline" is the faster of direct and amg.

Peak memory: CPU rows report the growth of the worker's peak resident set size
(``ru_maxrss``) over the method (after imports, the cell and the warm-up); CUDA rows report
``torch.cuda.max_memory_allocated`` (and the host RSS growth in the JSON).

Sweeps (in this process, project solver only, iterations to ``tol``, capped at the solver's
default 20 n + 500 or ``--max-iter``): iterations versus n (``--sweep-n``) at ``--soft-ratio``
and versus soft_ratio (``--sweep-soft``, 1e-1 ... 1e-9) at n = ``--sweep-soft-n``, for multigrid
and jacobi, at vf = ``--sweep-vf``. Points the table already has are reused, so the default
n-sweep (the table's n) costs nothing extra; ``--sweep-n 16 24 32 48 64 96`` adds n = 96.

Largest cell (``--largest``, CUDA only): multigrid on increasing n (``--largest-n``) until a
run fails (out of memory, or the worker timeout); reports time and peak GPU memory.

Results: a table on stdout, the project targets, ``benchmarks/results/solver_<device>.json``
(environment, every row, the sweeps) and ``benchmarks/results/solver_<device>.png`` (the
iteration sweeps); ``--out`` sets the JSON path (the PNG goes next to it).

Default run: CPU, n 16 24 32 48 64, vf 0.1 and 0.3, direct up to n = 16 (n = 24 already takes
minutes and a 3 GB factor), amg up to n = 48, and the sweeps. ``--quick``: n 16 24, vf 0.1, no
sweeps (a smoke test of every method and check).

Usage (from the repository root):
    PHNET_CUDA_LIBRARY=build/dev-cpu/_phnet_ops.so .venv/bin/python benchmarks/solver.py --quick
    .venv/bin/python benchmarks/solver.py --threads 1           # on a shared / busy CPU
    .venv/bin/python benchmarks/solver.py --sweep-n 16 24 32 48 64 96
    python benchmarks/solver.py --device cuda                   # n up to 128, largest cell
On a busy CPU use ``--threads 1``: with other processes on the cores every parallel region of
the project solver can stall for a scheduler slice, which makes it many times slower (the SciPy
baselines are single-threaded either way). Needs ``pyamg`` (baseline B); without it the amg rows
are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

# importing bench_env also makes phnet_cuda importable from a source checkout
from bench_env import RESULTS_DIR, cpus, describe, device_name, environment, fmt, format_table, slug, sync

import phnet_cuda
from phnet_cuda.geometry import tubular_gyroid
from phnet_cuda.problem import CellProblem
from phnet_cuda.reference import assemble_loads, assemble_stiffness, dofs_to_field
from phnet_cuda.solver import homogenize

try:
    import pyamg
except ImportError:  # baseline B is skipped
    pyamg = None

try:
    from tqdm import tqdm
except ImportError:  # progress bar is optional
    tqdm = None

PROJECT_METHODS = ("multigrid", "jacobi")
BASELINE_METHODS = ("direct", "amg")
METHODS = PROJECT_METHODS + BASELINE_METHODS
LOADS = 6
RESULT_TAG = "SOLVER_BENCH_RESULT "  # prefix of the worker's JSON line on stdout
TRUE_RESIDUAL_SLACK = 10.0  # a converged row's true residual may exceed tol by this factor (drift)

def rigid_body_modes(n: int) -> np.ndarray:
    """The six rigid-body modes ``[3 n^3, 6]`` at the nodes (i, j, k) / n - 1/2: translations
    x, y, z, then rotations about x, y, z (near-nullspace for smoothed aggregation)."""
    c = np.arange(n) / n - 0.5
    x, y, z = (g.reshape(-1) for g in np.meshgrid(c, c, c, indexing="ij"))
    zero, one = np.zeros_like(x), np.ones_like(x)
    modes = [(one, zero, zero), (zero, one, zero), (zero, zero, one),
             (zero, -z, y), (z, zero, -x), (-y, x, zero)]
    return np.stack([np.stack(m, axis=1).reshape(-1) for m in modes], axis=1)


@dataclass
class PinnedSystem:
    """K and f with the three dofs of one node removed (fixes the rigid translation)."""

    K: sp.csr_matrix
    f: np.ndarray
    keep: np.ndarray  # kept dofs of the full system
    node: int
    n: int

    def expand(self, x: np.ndarray) -> np.ndarray:
        """Reduced solution ``[N - 3, L]`` -> full zero-mean displacements ``[L, 3, n, n, n]``."""
        full = np.zeros((3 * self.n ** 3, x.shape[1]))
        full[self.keep] = x
        u = dofs_to_field(full, self.n)
        return u - u.mean(axis=(2, 3, 4), keepdims=True)


def pin_node(K: sp.csr_matrix, f: np.ndarray, pin: str, n: int) -> PinnedSystem:
    """Remove the rows and columns of one node: node 0 (``pin="0"``) or the node with the largest
    stiffness diagonal (``pin="stiffest"``, a hard-phase node)."""
    if pin == "stiffest":
        node = int(np.argmax(K.diagonal().reshape(-1, 3).sum(axis=1)))
    else:
        node = int(pin)
    keep = np.setdiff1d(np.arange(K.shape[0]), np.arange(3 * node, 3 * node + 3))
    K_red = K[keep][:, keep].tocsr()
    return PinnedSystem(K=K_red, f=f[keep], keep=keep, node=node, n=n)


def element_matrices(n: int, opts) -> tuple[np.ndarray, np.ndarray]:
    """The project's float64 element matrices (Ke ``[2, 24, 24]``, Fe ``[2, 24, 6]``)."""
    prob = CellProblem(n, E=opts["E"], nu=opts["nu"], soft_ratio=opts["soft_ratio"], dtype=torch.float64)
    return prob.Ke[0].numpy(), prob.Fe[0].numpy()


def _relative_residuals(K: sp.spmatrix, x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """||K x_l - f_l|| / ||f_l|| per column."""
    return np.linalg.norm(K @ x - f, axis=0) / np.maximum(np.linalg.norm(f, axis=0), np.finfo(float).tiny)


# ----------------------------------------------------------------------------- the methods
def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0



def run_project(vox: np.ndarray, method: str, spec: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """The project solver on one cell: warm-up, then ``spec["repeats"]`` timed calls.
    Returns (record, u ``[6, 3, n, n, n]``, C^H ``[6, 6]``)."""
    device = spec["device"]
    kwargs = dict(E=spec["E"], nu=spec["nu"], soft_ratio=spec["soft_ratio"], tol=spec["tol"],
                  device=device, preconditioner=method, max_iter=spec["max_iter"])
    n = vox.shape[-1]
    full_warmup = device.startswith("cuda") and spec.get("full_warmup", True)
    warm = vox if full_warmup else tubular_gyroid(8, 0.3).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # convergence is recorded, not warned
        homogenize(torch.from_numpy(warm), **kwargs)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        rss0 = _peak_rss_mib()
        seconds, walls = [], []
        for _ in range(spec["repeats"]):
            sync(device)
            start = time.perf_counter()
            res = homogenize(torch.from_numpy(vox), **kwargs)
            sync(device)
            walls.append(time.perf_counter() - start)
            seconds.append(res.seconds)
    record = {
        "iterations": res.iterations,
        "converged": res.converged,
        "method_residual": float(res.residual.max()),
        "solve_s": statistics.median(seconds),
        "total_s": statistics.median(walls),
        "all_solve_s": seconds,
        "host_peak_mib": _peak_rss_mib() - rss0,
    }
    if device.startswith("cuda"):
        record["gpu_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    record["peak_mib"] = record.get("gpu_peak_mib", record["host_peak_mib"])
    assert res.u.shape == (1, LOADS, 3, n, n, n)
    return record, res.u[0].cpu().numpy(), res.CH.cpu().numpy()


def solve_direct(system: PinnedSystem) -> tuple[dict, np.ndarray]:
    """Baseline A: SuperLU factorization of the pinned K (minimum-degree ordering of K + K^T,
    symmetric mode, diagonal pivoting), then all six loads in one solve."""
    start = time.perf_counter()
    lu = spla.splu(system.K.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                   options={"SymmetricMode": True})
    setup = time.perf_counter() - start
    start = time.perf_counter()
    x = lu.solve(system.f)
    solve = time.perf_counter() - start
    info = {"setup_s": setup, "solve_s": solve, "iterations": None, "factor_nnz": int(lu.L.nnz + lu.U.nnz)}
    return info, x


def solve_amg(system: PinnedSystem, tol: float, maxiter: int) -> tuple[dict, np.ndarray]:
    """Baseline B: PyAMG smoothed aggregation (rigid-body near-nullspace, block size 3,
    symmetric block Gauss-Seidel smoothing) as the preconditioner of CG, one load at a time, to
    ||r|| <= tol ||f|| (pyamg.krylov.cg, criteria 'rr')."""
    start = time.perf_counter()
    A = sp.bsr_matrix(system.K, blocksize=(3, 3))
    B = rigid_body_modes(system.n)[system.keep]
    smoother = ("block_gauss_seidel", {"sweep": "symmetric"})
    ml = pyamg.smoothed_aggregation_solver(A, B=B, symmetry="symmetric", strength="symmetric",
                                           presmoother=smoother, postsmoother=smoother)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    x = np.zeros_like(system.f)
    iterations, infos = [], []
    for load in range(system.f.shape[1]):
        residuals: list[float] = []
        x[:, load], info = ml.solve(system.f[:, load], tol=tol, maxiter=maxiter, accel="cg",
                                    residuals=residuals, return_info=True)
        iterations.append(len(residuals) - 1)
        infos.append(int(info))
    solve = time.perf_counter() - start
    record = {"setup_s": setup, "solve_s": solve, "iterations": max(iterations),
              "iterations_per_load": iterations, "converged": all(i == 0 for i in infos),
              "levels": len(ml.levels), "operator_complexity": float(ml.operator_complexity()),
              "grid_complexity": float(ml.grid_complexity())}
    return record, x


def run_baseline(vox: np.ndarray, method: str, spec: dict) -> tuple[dict, np.ndarray]:
    """Assemble, pin, solve with a SciPy baseline; returns (record, u ``[6, 3, n, n, n]``)."""
    n = vox.shape[-1]
    Ke, Fe = element_matrices(n, spec)
    rss0 = _peak_rss_mib()
    start = time.perf_counter()
    system = pin_node(assemble_stiffness(vox, Ke), assemble_loads(vox, Fe), spec["pin"], n)
    assemble = time.perf_counter() - start
    if method == "direct":
        record, x = solve_direct(system)
    else:
        record, x = solve_amg(system, spec["tol"], spec["max_iter"])
    record.update(asm_s=assemble, pinned_node=system.node,
                  method_residual=float(_relative_residuals(system.K, x, system.f).max()),
                  nnz=int(system.K.nnz))
    if method == "direct":
        record["converged"] = record["method_residual"] <= spec["tol"]
    record["total_s"] = assemble + record["setup_s"] + record["solve_s"]
    record["peak_mib"] = record["host_peak_mib"] = _peak_rss_mib() - rss0
    return record, system.expand(x)


def worker(spec: dict) -> dict:
    """Run one method on one cell (in a fresh process); saves u (and C^H) to ``spec["out"]``."""
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    vox = tubular_gyroid(spec["n"], spec["vf"]).numpy()
    arrays = {}
    if spec["method"] in PROJECT_METHODS:
        record, arrays["u"], arrays["CH"] = run_project(vox, spec["method"], spec)
    else:
        record, arrays["u"] = run_baseline(vox, spec["method"], spec)
    if spec.get("save", True):
        np.savez(spec["out"], **arrays)
    record["rss_peak_total_mib"] = _peak_rss_mib()
    return record


def _worker_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    try:
        record = worker(spec)
    except Exception as exc:  # reported to the parent as the row's error
        record = {"error": describe(exc)}
    print(RESULT_TAG + json.dumps(record), flush=True)
    return 0



def launch(spec: dict, timeout: float) -> dict:
    """Run ``worker(spec)`` in a subprocess; the record, or {"error": ...} if it failed."""
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"worker exit status {proc.returncode}: {tail}"[:500]}


# ----------------------------------------------------------------------------- rows
@dataclass
class Row:
    """One (device, n, vf, method) result."""

    device: str
    n: int
    vf: float
    method: str
    dofs: int
    iterations: int | None = None
    converged: bool | None = None
    asm_s: float | None = None
    setup_s: float | None = None
    solve_s: float | None = None
    total_s: float | None = None
    peak_mib: float | None = None
    true_residual: float | None = None
    method_residual: float | None = None
    max_dCH: float | None = None
    dCH: dict = field(default_factory=dict)  # other method -> relative Frobenius difference
    speedup_vs_best: float | None = None
    skipped: str | None = None
    error: str | None = None
    failure: str | None = None
    CH: list | None = None
    extra: dict = field(default_factory=dict)

    @property
    def is_project(self) -> bool:
        return self.method in PROJECT_METHODS

    @property
    def ran(self) -> bool:
        return self.skipped is None and self.error is None

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        if self.error:
            return "ERROR"
        if self.failure:
            return "FAIL"
        return "ok" if self.converged else "not converged"


def skip_reason(method: str, n: int, opts) -> str | None:
    """Why a baseline does not run on this cell (None: it runs)."""
    if method == "direct" and n > opts.direct_max_n:
        return (f"n = {n} > --direct-max-n {opts.direct_max_n}: the SuperLU fill-in of the periodic "
                f"3D matrix ({3 * n ** 3:,} dofs) grows to GBs and many minutes")
    if method == "amg" and pyamg is None:
        return "pyamg is not installed"
    if method == "amg" and n > opts.amg_max_n:
        return (f"n = {n} > --amg-max-n {opts.amg_max_n}: single-threaded PyAMG-CG takes many "
                f"minutes per cell here")
    return None


def make_spec(method: str, n: int, vf: float, device: str, opts, out: Path) -> dict:
    """The worker's arguments (JSON-serialisable)."""
    return {"method": method, "n": n, "vf": vf, "device": device if method in PROJECT_METHODS else "cpu",
            "E": opts.E, "nu": opts.nu, "soft_ratio": opts.soft_ratio, "tol": opts.tol,
            "max_iter": opts.max_iter if method in PROJECT_METHODS else opts.amg_max_iter,
            "repeats": opts.repeats if method in PROJECT_METHODS else 1, "pin": opts.pin,
            "threads": opts.threads, "out": str(out)}


def fill_row(row: Row, record: dict) -> None:
    """Copy a worker record into the row (known fields; the rest goes to ``extra``)."""
    for key, value in record.items():
        if key in ("iterations", "converged", "asm_s", "setup_s", "solve_s", "total_s", "peak_mib",
                   "method_residual", "error"):
            setattr(row, key, value)
        else:
            row.extra[key] = value


def relative_difference(C: np.ndarray, C_ref: np.ndarray) -> float:
    return float(np.linalg.norm(C - C_ref) / np.linalg.norm(C_ref))


def check_cell(rows: list[Row], arrays: dict[str, dict], vox: np.ndarray, opts) -> None:
    """True residuals and C^H of every method with the project's ops (CPU, float64), then the
    pairwise C^H differences between project solvers and baselines, and the speedups."""
    n = vox.shape[-1]
    prob = CellProblem(n, E=opts.E, nu=opts.nu, soft_ratio=opts.soft_ratio, dtype=torch.float64)
    vox_t = torch.from_numpy(vox)[None].double()
    f = prob.load_vectors(vox_t)
    f_norm = torch.linalg.vector_norm(f, dim=(2, 3, 4, 5))
    C = {}
    for row in rows:
        if not row.ran:
            continue
        u = torch.from_numpy(arrays[row.method]["u"])[None]
        res = prob.residual(u, vox_t)
        row.true_residual = float((torch.linalg.vector_norm(res, dim=(2, 3, 4, 5)) / f_norm).max())
        C[row.method] = (arrays[row.method]["CH"] if row.is_project
                         else prob.homogenized_tensor(u, vox_t)[0].numpy())
        row.CH = C[row.method].tolist()
    for row in rows:
        if row.method not in C:
            continue
        others = BASELINE_METHODS if row.is_project else PROJECT_METHODS
        for other in others:
            if other in C:
                base = other if row.is_project else row.method
                proj = row.method if row.is_project else other
                row.dCH[other] = relative_difference(C[proj], C[base])
        converged_peers = [o for o in row.dCH if row.converged and _converged(rows, o)]
        if row.dCH:
            row.max_dCH = max(row.dCH.values())
        bad = {o: row.dCH[o] for o in converged_peers if not row.dCH[o] < opts.ch_tolerance}
        problems = []
        if bad:
            problems.append("C^H differs: " + ", ".join(f"{o} {d:.2e}" for o, d in bad.items()))
        if row.converged and not row.true_residual <= TRUE_RESIDUAL_SLACK * opts.tol:
            problems.append(f"claims convergence, but the true residual is {row.true_residual:.2e}")
        row.failure = "; ".join(problems) or None
    best = best_baseline_seconds(rows)
    for row in rows:
        if row.is_project and row.ran and best is not None:
            row.speedup_vs_best = best / row.total_s


def _converged(rows: list[Row], method: str) -> bool:
    return any(r.method == method and r.ran and r.converged for r in rows)


def best_baseline_seconds(rows: list[Row]) -> float | None:
    """setup + solve of the faster converged baseline (assembly not counted), or None."""
    times = [r.setup_s + r.solve_s for r in rows if not r.is_project and r.ran and r.converged]
    return min(times) if times else None


def bench_cell(device: str, n: int, vf: float, opts, tmp: Path, progress) -> list[Row]:
    """All methods on one cell (each in its own worker), then the correctness checks."""
    rows, arrays = [], {}
    for method in opts.methods:
        row = Row(device=device if method in PROJECT_METHODS else "cpu", n=n, vf=vf, method=method,
                  dofs=3 * n ** 3)
        rows.append(row)
        if progress is not None:
            progress.set_postfix_str(f"n={n} vf={vf} {method}")
        row.skipped = skip_reason(method, n, opts)
        if row.skipped is None:
            out = tmp / f"{device}_{n}_{vf}_{method}.npz"
            fill_row(row, launch(make_spec(method, n, vf, device, opts, out), opts.worker_timeout))
            if row.error is None:
                with np.load(out) as data:
                    arrays[method] = {k: data[k] for k in data.files}
                out.unlink()
        if progress is not None:
            progress.update()
    try:
        check_cell(rows, arrays, tubular_gyroid(n, vf).numpy(), opts)
    except Exception as exc:  # recorded as the cell's error
        for row in rows:
            if row.ran:
                row.error = f"correctness check: {describe(exc)}"
    return rows


# ----------------------------------------------------------------------------- sweeps
def sweep_point(n: int, vf: float, soft_ratio: float, method: str, device: str, opts) -> dict:
    """Iterations (and time) of the project solver on one cell, in this process."""
    vox = tubular_gyroid(n, vf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = homogenize(vox, E=opts.E, nu=opts.nu, soft_ratio=soft_ratio, tol=opts.tol, device=device,
                         preconditioner=method, max_iter=opts.max_iter)
    return {"n": n, "vf": vf, "soft_ratio": soft_ratio, "method": method, "device": device,
            "iterations": res.iterations, "converged": res.converged,
            "residual": float(res.residual.max()), "seconds": res.seconds, "source": "sweep"}


def table_points(rows: list[Row], device: str, soft_ratio: float) -> dict:
    """Sweep points the table already measured: (n, vf, soft_ratio, method) -> point."""
    return {(r.n, r.vf, soft_ratio, r.method): {
        "n": r.n, "vf": r.vf, "soft_ratio": soft_ratio, "method": r.method, "device": device,
        "iterations": r.iterations, "converged": r.converged, "residual": r.method_residual,
        "seconds": r.solve_s, "source": "table"}
        for r in rows if r.is_project and r.ran and r.device == device}


def run_sweeps(device: str, opts, known: dict) -> dict:
    """Iterations versus n (soft_ratio = opts.soft_ratio) and versus soft_ratio (n fixed);
    points already in ``known`` (the table's rows) are reused, not solved again."""
    methods = opts.sweep_methods or PROJECT_METHODS
    points = [("n", n, opts.soft_ratio, m) for n in opts.sweep_n for m in methods]
    points += [("soft", opts.sweep_soft_n, s, m) for s in opts.sweep_soft for m in methods]
    out: dict = {"vf": opts.sweep_vf, "versus_n": [], "versus_soft_ratio": []}
    todo = [p for p in points if (p[1], opts.sweep_vf, p[2], p[3]) not in known]
    if todo:
        with warnings.catch_warnings():  # warm-up (first-call overheads)
            warnings.simplefilter("ignore", RuntimeWarning)
            homogenize(tubular_gyroid(8, 0.3), tol=opts.tol, device=device)
    progress = tqdm(total=len(todo), desc="sweeps", unit="solve") if tqdm and todo else None
    for kind, n, soft, method in points:
        point = known.get((n, opts.sweep_vf, soft, method))
        if point is None:
            try:
                point = sweep_point(n, opts.sweep_vf, soft, method, device, opts)
            except Exception as exc:  # recorded, the sweep goes on
                point = {"n": n, "vf": opts.sweep_vf, "soft_ratio": soft, "method": method, "device": device,
                         "error": describe(exc)}
            if progress is not None:
                progress.update()
        out["versus_n" if kind == "n" else "versus_soft_ratio"].append(point)
    if progress is not None:
        progress.close()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def run_largest(opts, tmp: Path) -> dict:
    """Multigrid on CUDA for increasing n until a run fails; the largest that ran, and why the
    next one did not (one timed call after a small warm-up; u is not kept)."""
    attempts = []
    iterator = tqdm(opts.largest_n, desc="largest cell", unit="cell") if tqdm else opts.largest_n
    for n in iterator:
        spec = make_spec("multigrid", n, opts.largest_vf, "cuda", opts, tmp / f"largest_{n}.npz")
        spec.update(repeats=1, full_warmup=False, save=False)
        record = launch(spec, opts.worker_timeout)
        record.update(n=n, dofs=3 * n ** 3)
        attempts.append(record)
        if "error" in record or not record.get("converged"):
            break
    ok = [a for a in attempts if "error" not in a and a.get("converged")]
    return {"vf": opts.largest_vf, "attempts": attempts, "largest": ok[-1] if ok else None,
            "first_failure": next((a for a in attempts if a not in ok), None)}


# ----------------------------------------------------------------------------- targets
def target_cpu_speedup(rows: list[Row]) -> str:
    """CPU n = 48: project (multigrid) >= 10x faster than the best SciPy baseline."""
    found = [r for r in rows if r.method == "multigrid" and r.device == "cpu" and r.n == 48]
    if not found:
        return "not-measured (no CPU n=48 rows)"
    if any(not r.ran or r.failure for r in found):
        return "FAIL (a multigrid n=48 row failed or errored)"
    if any(r.speedup_vs_best is None for r in found):
        return "not-measured (no baseline ran at n=48)"
    worst = min(r.speedup_vs_best for r in found)
    ok = worst >= 10.0 and all(r.converged for r in found)
    detail = ", ".join(f"vf {r.vf}: {r.speedup_vs_best:.1f}x" for r in found)
    return f"{'PASS' if ok else 'FAIL'} ({detail})"


def target_gpu_time(rows: list[Row]) -> str:
    """GPU n = 48: six loads to 1e-8 in under 50 ms (multigrid ``result.seconds``)."""
    found = [r for r in rows if r.method == "multigrid" and r.device.startswith("cuda") and r.n == 48]
    if not found:
        return "not-measured (no GPU n=48 rows)"
    if any(not r.ran or r.failure for r in found):
        return "FAIL (a multigrid n=48 row failed or errored)"
    ok = all(r.converged and r.solve_s < 0.050 for r in found)
    detail = ", ".join(f"vf {r.vf}: {1e3 * r.solve_s:.1f} ms, {r.iterations} it" for r in found)
    return f"{'PASS' if ok else 'FAIL'} ({detail})"


def target_largest(largest: dict | None) -> str:
    """GPU: the largest cell that fits, with its time and memory."""
    if not largest:
        return "not-measured (GPU only: --device cuda --largest)"
    best, fail = largest["largest"], largest["first_failure"]
    if best is None:
        return f"FAIL (even n = {largest['attempts'][0]['n']} did not run)"
    text = (f"measured: n = {best['n']} ({best['dofs']:,} dofs), {best['solve_s']:.2f} s, "
            f"{best['iterations']} it, {best.get('gpu_peak_mib', float('nan')) / 1024:.1f} GiB peak")
    if fail is not None:
        text += f"; n = {fail['n']}: {fail.get('error', 'not converged')}"
    else:
        text += "; every --largest-n ran (try larger n)"
    return text


def targets(rows: list[Row], largest: dict | None) -> list[dict]:
    return [
        {"target": "CPU n=48: project solver >= 10x faster than the best SciPy baseline (tol 1e-8)",
         "status": target_cpu_speedup(rows)},
        {"target": "GPU n=48: six loads to 1e-8 in under 50 ms", "status": target_gpu_time(rows)},
        {"target": "GPU: largest cell that fits in GPU memory (time, memory)", "status": target_largest(largest)},
    ]


# ----------------------------------------------------------------------------- reporting

COLUMNS = (  # header, row -> text
    ("dev", lambda r: r.device),
    ("n", lambda r: str(r.n)),
    ("vf", lambda r: f"{r.vf:g}"),
    ("method", lambda r: r.method),
    ("iters", lambda r: fmt(r.iterations, "d")),
    ("asm s", lambda r: fmt(r.asm_s, ".3f")),
    ("setup s", lambda r: fmt(r.setup_s, ".3f")),
    ("solve s", lambda r: fmt(r.solve_s, ".3f")),
    ("total s", lambda r: fmt(r.total_s, ".3f")),
    ("peak MiB", lambda r: fmt(r.peak_mib, ".0f")),
    ("true res", lambda r: fmt(r.true_residual, ".1e")),
    ("max dC^H", lambda r: fmt(r.max_dCH, ".1e")),
    ("x best", lambda r: fmt(r.speedup_vs_best, ".1f")),
    ("status", lambda r: r.status),
)
LEFT = {"dev", "method", "status"}


def format_notes(rows: list[Row]) -> str:
    """Skips, errors and failures, one line each."""
    out = []
    for r in rows:
        tag = f"{r.device} n={r.n} vf={r.vf:g} {r.method}"
        if r.skipped:
            out.append(f"skipped  {tag}: {r.skipped}")
        if r.error:
            out.append(f"ERROR    {tag}: {r.error}")
        if r.failure:
            out.append(f"FAIL     {tag}: {r.failure}")
    return "\n".join(out)


def format_sweeps(sweeps: dict) -> str:
    """Iteration counts of the sweeps as two small tables (method columns)."""
    out = []
    for key, label, spec in (("versus_n", "n", "d"), ("versus_soft_ratio", "soft_ratio", ".0e")):
        points = sweeps.get(key, [])
        if not points:
            continue
        xs = sorted({p["n" if key == "versus_n" else "soft_ratio"] for p in points}, reverse=key != "versus_n")
        out.append(f"iterations versus {label} (vf {sweeps['vf']:g}"
                   + (f", n {points[0]['n']})" if key != "versus_n" else ")") + "; * = not converged")
        out.append(f"  {label:>10}  " + "  ".join(f"{m:>10}" for m in PROJECT_METHODS))
        for x in xs:
            cells = []
            for m in PROJECT_METHODS:
                p = next((q for q in points
                          if q["method"] == m and q["n" if key == "versus_n" else "soft_ratio"] == x), None)
                cells.append("-" if p is None or "error" in p else f"{p['iterations']}{'' if p['converged'] else '*'}")
            out.append(f"  {format(x, spec):>10}  " + "  ".join(f"{c:>10}" for c in cells))
    return "\n".join(out)


def _first(sweeps: dict, key: str, name: str):
    return sweeps[key][0][name] if sweeps.get(key) else float("nan")


def plot_sweeps(sweeps: dict, path: Path, title: str) -> bool:
    """PNG: iterations versus n and versus soft_ratio (log x); open markers = not converged."""
    if not sweeps.get("versus_n") and not sweeps.get("versus_soft_ratio"):
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, xkey, xlabel in ((axes[0], "versus_n", "n", "n (voxels per edge)"),
                                  (axes[1], "versus_soft_ratio", "soft_ratio", "soft_ratio = E_soft / E")):
        for method, marker in zip(PROJECT_METHODS, ("o", "s")):
            pts = sorted((p for p in sweeps.get(key, []) if p["method"] == method and "error" not in p),
                         key=lambda p: p[xkey])
            if not pts:
                continue
            line, = ax.plot([p[xkey] for p in pts], [p["iterations"] for p in pts], marker=marker, label=method)
            bad = [p for p in pts if not p["converged"]]
            if bad:
                ax.plot([p[xkey] for p in bad], [p["iterations"] for p in bad], marker=marker, linestyle="none",
                        markerfacecolor="white", markeredgecolor=line.get_color(), markersize=9,
                        label=f"{method}: not converged (cap)")
        if key == "versus_soft_ratio":
            ax.set_xscale("log")
            pts = sweeps.get(key, [])
            if pts:
                ax.set_title(f"n = {pts[0]['n']}, vf = {sweeps['vf']:g}")
        else:
            ax.set_title(f"vf = {sweeps['vf']:g}, soft_ratio = {_first(sweeps, key, 'soft_ratio'):g}")
            ax.set_xticks(sorted({p["n"] for p in sweeps.get(key, [])}))
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PCG iterations to tol")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True




# ----------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="project solver device")
    p.add_argument("--n", type=int, nargs="+",
                   help="grid sizes (default CPU 16 24 32 48 64, CUDA 16 ... 128; --quick: 16 24)")
    p.add_argument("--vf", type=float, nargs="+", help="solid volume fractions (default 0.1 0.3; --quick: 0.1)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--tol", type=float, default=1e-8, help="relative residual per load case")
    p.add_argument("--soft-ratio", type=float, default=1e-6)
    p.add_argument("--E", type=float, default=1.0)
    p.add_argument("--nu", type=float, default=0.3)
    p.add_argument("--max-iter", type=int, help="project PCG iteration cap (default: the solver's 20 n + 500)")
    p.add_argument("--amg-max-iter", type=int, default=500, help="CG iteration cap of the AMG baseline")
    p.add_argument("--direct-max-n", type=int,
                   help="largest n for the SuperLU baseline (default 16)")
    p.add_argument("--amg-max-n", type=int, default=48, help="largest n for the AMG baseline")
    p.add_argument("--pin", default="0", help="baseline pinned node: a node index or 'stiffest'")
    p.add_argument("--repeats", type=int, help="timed project calls per row (default CPU 1, CUDA 5)")
    p.add_argument("--threads", type=int, help="CPU threads of torch and the ops (default: torch's)")
    p.add_argument("--ch-tolerance", type=float, default=1e-6, help="max relative C^H difference")
    p.add_argument("--sweep-n", type=int, nargs="*",
                   help="iterations-versus-n grid sizes (default CPU 16 24 32 48 64, CUDA 16 ... 128; "
                        "points the table has are reused; no values: no sweep)")
    p.add_argument("--sweep-soft", type=float, nargs="*",
                   help="iterations-versus-soft_ratio values (default 1e-1 ... 1e-9; no values: no sweep)")
    p.add_argument("--sweep-soft-n", type=int, help="n of the soft_ratio sweep (default CPU 24, CUDA 64)")
    p.add_argument("--sweep-methods", nargs="+", choices=PROJECT_METHODS, default=None,
                   help="project preconditioners of the sweeps (default: multigrid and jacobi; jacobi "
                        "needs hundreds of iterations, so leave it out of sweeps beyond n = 48)")
    p.add_argument("--sweep-vf", type=float, default=0.1, help="vf of the sweeps")
    p.add_argument("--largest", action=argparse.BooleanOptionalAction, default=None,
                   help="CUDA: find the largest cell that runs (default on for --device cuda)")
    p.add_argument("--largest-n", type=int, nargs="+", default=[128, 192, 256, 320, 384, 448, 512])
    p.add_argument("--largest-vf", type=float, default=0.3)
    p.add_argument("--worker-timeout", type=float, default=1800.0, help="seconds per method run")
    p.add_argument("--quick", action="store_true", help="smoke run: n 16 24, vf 0.1, no sweeps")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/solver_<device>.json)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    cuda = opts.device == "cuda"
    if opts.n is None:
        opts.n = [16, 24] if opts.quick else ([16, 24, 32, 48, 64, 96, 128] if cuda else [16, 24, 32, 48, 64])
    if opts.vf is None:
        opts.vf = [0.1] if opts.quick else [0.1, 0.3]
    if opts.sweep_n is None:
        opts.sweep_n = [] if opts.quick else ([16, 24, 32, 48, 64, 96, 128] if cuda else [16, 24, 32, 48, 64])
    if opts.sweep_soft is None:
        opts.sweep_soft = [] if opts.quick else [float(f"1e-{k}") for k in range(1, 10)]
    opts.sweep_soft_n = opts.sweep_soft_n or (64 if cuda else 24)
    opts.repeats = opts.repeats or (5 if cuda else 1)
    opts.direct_max_n = 16 if opts.direct_max_n is None else opts.direct_max_n
    opts.largest = (cuda and not opts.quick) if opts.largest is None else opts.largest
    if opts.largest and not cuda:
        p.error("--largest needs --device cuda")
    return opts


def check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    if device == "cuda" and not phnet_cuda.has_cuda_kernels():
        raise SystemExit(f"the loaded library {phnet_cuda.load_library()} has no CUDA kernels")


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.worker:
        return _worker_main(opts.worker)
    check_device(opts.device)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    load_average = os.getloadavg()[0]
    threads = opts.threads or torch.get_num_threads()
    print(f"{device_name(opts.device)}; torch/op threads {threads}; load average {load_average:.1f}")
    if load_average >= cpus() - 0.5 and threads > 1:
        print(f"warning: load average {load_average:.1f} on {cpus()} CPUs: other processes compete for the "
              "cores, and every parallel region of the project solver can stall for a scheduler slice "
              "(many times slower); use --threads 1")
    if pyamg is None:
        print("warning: pyamg is not installed; the amg baseline is skipped (pip install pyamg)")

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="phnet_solver_bench_") as tmpdir:
        tmp = Path(tmpdir)
        cells = [(n, vf) for n in opts.n for vf in opts.vf]
        progress = tqdm(total=len(cells) * len(opts.methods), desc="methods", unit="run") if tqdm else None
        for n, vf in cells:
            rows += bench_cell(opts.device, n, vf, opts, tmp, progress)
        if progress is not None:
            progress.close()
        largest = run_largest(opts, tmp) if opts.largest else None
    sweeps = run_sweeps(opts.device, opts, table_points(rows, opts.device, opts.soft_ratio))

    print()
    print(format_table(rows, COLUMNS, LEFT))
    notes = format_notes(rows)
    if notes:
        print("\n" + notes)
    if sweeps["versus_n"] or sweeps["versus_soft_ratio"]:
        print("\n" + format_sweeps(sweeps))
    target_list = targets(rows, largest)
    print("\nProject targets:")
    for t in target_list:
        print(f"  {t['target']:<82} {t['status']}")

    name = device_name(opts.device)
    out = opts.out or RESULTS_DIR / f"solver_{slug(name)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {k: getattr(opts, k) for k in ("device", "n", "vf", "methods", "tol", "soft_ratio", "E", "nu",
                                            "max_iter", "amg_max_iter", "direct_max_n", "amg_max_n", "pin",
                                            "repeats", "ch_tolerance", "sweep_n", "sweep_soft", "sweep_soft_n",
                                            "sweep_vf", "largest_n", "largest_vf")}
    result = {"device_name": name, "environment": environment(
        load_average, numpy=np.__version__, scipy=scipy.__version__, pyamg=getattr(pyamg, "__version__", None),
        threads=opts.threads or torch.get_num_threads(), cpu=device_name("cpu"),
        gpu=torch.cuda.get_device_name(opts.device) if opts.device.startswith("cuda") else None),
              "config": config, "rows": [asdict(r) | {"status": r.status} for r in rows],
              "sweeps": sweeps, "largest": largest, "targets": target_list}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {out}")
    png = out.with_suffix(".png")
    if plot_sweeps(sweeps, png, f"phnet_cuda PCG iterations to {opts.tol:g}, tubular gyroid ({name})"):
        print(f"sweep plot written to {png}")

    bad = [r for r in rows if r.error or r.failure]
    if bad:
        print(f"{len(bad)} row(s) failed", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
