"""The CPU targets of issue 16, measured in one run against their baselines.

* ``energy_loss`` forward + backward (n = 32, B = 8, float32, two-phase cells through
  ``CellProblem``, i.e. the one-matrix form and the Walsh path) against the eager pure-PyTorch
  roll/einsum implementation (``phnet_cuda.reference``, dof axis innermost) on the same inputs,
  after checking that both give the same loss and gradient;
* the same op with ``PHNET_ELEMENT_MATH=dense`` (the element math the kernels had before the
  Walsh basis), to separate what the basis buys;
* ``homogenize`` of Tubular-Gyroid cells at n = 48, vf 0.1 and 0.3, tol 1e-8 (the issue's target:
  at most 3 s on 2 cores), with and without the Walsh path.

Best of ``--repeats`` calls after one warm-up; torch threads as ``--threads``. Writes
benchmarks/results/cpu_targets_<machine>.json.

    python benchmarks/cpu_targets.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_env import RESULTS_DIR, device_name, git_commit, slug  # noqa: E402  (sets sys.path)

import phnet_cuda as pc  # noqa: E402
from phnet_cuda import reference  # noqa: E402
from phnet_cuda.geometry import make_cell  # noqa: E402


def best_of(fn, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls after one untimed call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def with_element_math(kind: str, fn):
    """``fn`` run with ``PHNET_ELEMENT_MATH=kind`` ("dense") or the default (``"walsh"``)."""
    def run():
        old = os.environ.pop("PHNET_ELEMENT_MATH", None)
        if kind == "dense":
            os.environ["PHNET_ELEMENT_MATH"] = "dense"
        try:
            return fn()
        finally:
            os.environ.pop("PHNET_ELEMENT_MATH", None)
            if old is not None:
                os.environ["PHNET_ELEMENT_MATH"] = old
    return run


def energy_rows(repeats: int) -> dict:
    """energy_loss forward+backward, ours (Walsh and dense) against the eager reference."""
    n, B = 32, 8
    torch.manual_seed(0)
    prob = pc.CellProblem(n)
    vox = (torch.rand(B, n, n, n) > 0.6).float()
    u = (0.01 * torch.randn(B, 6, 3, n, n, n)).requires_grad_()
    phase = prob.phases(vox)

    def ours():
        loss = prob.energy_loss(u, vox, reduction="sum")
        return loss, torch.autograd.grad(loss, u)[0]

    def eager():
        loss = reference.energy_loss(u, phase, prob.Ke, prob.Fe).sum()
        return loss, torch.autograd.grad(loss, u)[0]

    (la, ga), (lb, gb) = ours(), eager()
    err = float((ga - gb).abs().max() / gb.abs().max())
    la, lb = float(la.detach()), float(lb.detach())
    if err > 1e-4 or abs(la - lb) > 1e-4 * abs(lb):
        raise SystemExit(f"energy_loss disagrees with the reference: gradient error {err:.2e}")
    t_walsh = best_of(with_element_math("walsh", ours), repeats)
    t_dense = best_of(with_element_math("dense", ours), repeats)
    t_eager = best_of(eager, 1)
    return {"n": n, "B": B, "gradient_error": err, "walsh_s": t_walsh, "dense_s": t_dense, "eager_s": t_eager,
            "speedup_vs_eager": t_eager / t_walsh, "walsh_vs_dense": t_dense / t_walsh}


def solver_rows(repeats: int) -> list:
    """homogenize of TG cells at n = 48, Walsh vs dense element math (same iterations)."""
    rows = []
    for vf in (0.1, 0.3):
        vox = make_cell("tubular_gyroid", 48, vf)
        res = {}

        def solve(out=res, vox=vox):
            out["r"] = pc.homogenize(vox, tol=1e-8)

        t_walsh = best_of(with_element_math("walsh", solve), repeats)
        ch, it = res["r"].CH, res["r"].iterations
        t_dense = best_of(with_element_math("dense", solve), repeats)
        rows.append({"vf": vf, "iterations": it, "walsh_s": t_walsh, "dense_s": t_dense,
                     "CH_difference": float((res["r"].CH - ch).norm() / ch.norm())})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None)
    opts = p.parse_args()
    torch.set_num_threads(opts.threads)
    energy = energy_rows(opts.repeats)
    print(f"energy_loss fwd+bwd n=32 B=8 float32: {energy['walsh_s'] * 1e3:.0f} ms (dense element math "
          f"{energy['dense_s'] * 1e3:.0f} ms, {energy['walsh_vs_dense']:.2f}x), eager reference "
          f"{energy['eager_s'] * 1e3:.0f} ms: {energy['speedup_vs_eager']:.1f}x (target >= 20x)", flush=True)
    solver = solver_rows(max(1, opts.repeats - 2))
    for r in solver:
        print(f"homogenize TG n=48 vf {r['vf']}: {r['walsh_s']:.2f} s (dense {r['dense_s']:.2f} s), "
              f"{r['iterations']} iterations, C^H difference {r['CH_difference']:.1e} (target <= 3 s)")
    name = device_name("cpu")
    out = opts.out or RESULTS_DIR / f"cpu_targets_{slug(name)}.json"
    with open(out, "w") as fh:
        json.dump({"device": name, "commit": git_commit(), "threads": opts.threads, "energy": energy,
                   "homogenize": solver}, fh, indent=2)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
