"""Gradient w.r.t. the element matrices (material sensitivities): time and peak memory of the
package's formula (``ops._ke_grad``: shifted copies of the fields and batched products) against
the gather formula it replaced (both fields gathered into [B, L, n, n, n, 24] element vectors,
one einsum), in the same run.

Each (method, n) runs in a fresh subprocess so that its peak memory is its own: the peak RSS
growth over the inputs on CPU, ``torch.cuda.max_memory_allocated`` growth on CUDA. Correctness
first: the two results must agree to 1e-12 (relative, float64) before anything is timed.

    python benchmarks/material_gradient.py [--n 32 48 64] [--device cpu] [--out ...json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from bench_env import RESULTS_DIR, device_name, environment, format_table, slug, sync

from phnet_cuda import ops, reference

B, L, M = 1, 6, 2  # one cell, six load cases, two phases (the energy's own layout)


def gather_formula(v: torch.Tensor, u: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bmxyz,blxyzr,blxyzs->bmrs", phase, reference.gather_elements(v),
                        reference.gather_elements(u))


METHODS = {"package": ops._ke_grad, "gather": gather_formula}


def inputs(n: int, device: str):
    g = torch.Generator().manual_seed(n)
    v = torch.randn(B, L, 3, n, n, n, generator=g, dtype=torch.float64).to(device)
    u = torch.randn(B, L, 3, n, n, n, generator=g, dtype=torch.float64).to(device)
    ph = torch.rand(B, 1, n, n, n, generator=g, dtype=torch.float64).to(device)
    return v, u, torch.cat([ph, 1 - ph], dim=1)


def peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(method: str, n: int, device: str, repeats: int) -> dict:
    args = inputs(n, device)
    sync(device)
    base = peak_bytes(device)
    fn = METHODS[method]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"method": method, "n": n, "seconds": statistics.median(times),
            "peak_extra_mib": (peak_bytes(device) - base) / 2 ** 20}


def check(n: int, device: str) -> float:
    args = inputs(n, device)
    new, ref = ops._ke_grad(*args), gather_formula(*args)
    return float((new - ref).abs().max() / ref.abs().max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[32, 48, 64])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/material_gradient_<device>.json)")
    p.add_argument("--check-n", type=int, default=12, help="grid of the correctness check")
    p.add_argument("--worker", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    opts = p.parse_args()
    if opts.worker:
        print(json.dumps(worker(opts.worker[0], int(opts.worker[1]), opts.device, opts.repeats)))
        return
    load_average = os.getloadavg()[0]
    err = check(opts.check_n, opts.device)
    print(f"correctness (n = {opts.check_n}): max relative difference {err:.1e}")
    if not err < 1e-12:
        sys.exit(f"the package formula disagrees with the gather formula ({err:.1e}); not timing")
    rows = []
    for n in opts.n:
        for method in METHODS:
            res = subprocess.run([sys.executable, __file__, "--device", opts.device, "--repeats", str(opts.repeats),
                                  "--worker", method, str(n)], capture_output=True, text=True, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    by = {(r["method"], r["n"]): r for r in rows}
    for r in rows:
        g = by[("gather", r["n"])]
        r["memory_ratio_vs_gather"] = r["peak_extra_mib"] / max(g["peak_extra_mib"], 1e-9)
        r["time_ratio_vs_gather"] = r["seconds"] / g["seconds"]
    cols = [("n", lambda r: str(r["n"])), ("method", lambda r: r["method"]),
            ("seconds", lambda r: f"{r['seconds']:.3f}"), ("peak extra MiB", lambda r: f"{r['peak_extra_mib']:.0f}"),
            ("x time", lambda r: f"{r['time_ratio_vs_gather']:.2f}"),
            ("x memory", lambda r: f"{r['memory_ratio_vs_gather']:.2f}")]
    name = device_name(opts.device)
    print(f"d/dKe of sum_e phase_m v_e^T Ke_m u_e, B = {B}, L = {L}, M = {M}, float64, {name}")
    print(format_table(rows, cols, left={"method"}))
    out = opts.out or str(RESULTS_DIR / f"material_gradient_{slug(name)}.json")
    with open(out, "w") as fh:
        json.dump({"device_name": name, "environment": environment(load_average), "check_error": err, "rows": rows},
                  fh, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
