"""Runs every custom op (forward and backward) once on CUDA on small odd-sized problems, so
that `compute-sanitizer --tool memcheck|racecheck` can check the kernels. Also verifies the
results against the CPU kernels. Exit status 0 on success."""

from __future__ import annotations

import sys

import torch

import phnet_cuda
from phnet_cuda import fem, ops


def main() -> int:
    if not torch.cuda.is_available() or not phnet_cuda.has_cuda_kernels():
        print("sanitize_ops: needs a CUDA device and a library built with CUDA kernels", file=sys.stderr)
        return 2
    worst = 0.0
    for dtype in (torch.float32, torch.float64):
        for B, L, M, n in ((2, 6, 2, 5), (1, 3, 3, 2), (1, 6, 21, 3)):
            g = torch.Generator().manual_seed(n)
            A = torch.randn(1, M, 6, 6, dtype=torch.float64, generator=g)
            C = A @ A.transpose(-1, -2) + 6 * torch.eye(6, dtype=torch.float64)
            Ke, Fe, Ce = fem.element_matrices(C, 1.0 / n)
            Fe, Ce = Fe[..., :L], Ce[..., :L, :L]
            cpu = dict(u=torch.randn(B, L, 3, n, n, n, dtype=torch.float64, generator=g),
                       phase=torch.rand(B, M, n, n, n, dtype=torch.float64, generator=g),
                       Ke=Ke, Fe=Fe, Ce=Ce, C=C, macro=torch.randn(B, L, 6, dtype=torch.float64, generator=g))
            results = {}
            for dev in ("cpu", "cuda"):
                t = {k: v.to(device=dev, dtype=dtype) for k, v in cpu.items()}
                u = t["u"].clone().requires_grad_()
                ph = t["phase"].clone().requires_grad_()
                out = [ops.stiffness_apply(u, ph, t["Ke"]), ops.load_vectors(ph, t["Fe"]),
                       ops.energy_loss(u, ph, t["Ke"], t["Fe"]),
                       ops.homogenized_tensor(u, ph, t["Ke"], t["Fe"], t["Ce"]),
                       *ops.element_fields(u, ph, t["C"], t["macro"]),
                       ops.phase_gradient(u, u, u, t["Ke"], t["Fe"])]
                total = sum((o.double() ** 2).sum() for o in out)
                total.backward()
                results[dev] = ([o.detach().cpu().double() for o in out]
                                + [u.grad.cpu().double(), ph.grad.cpu().double()])
            torch.cuda.synchronize()
            for a, b in zip(results["cuda"], results["cpu"]):
                err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
                worst = max(worst, err if dtype == torch.float64 else err * 1e-7)
    print(f"sanitize_ops: all ops ran on CUDA; worst CUDA/CPU relative difference (f64 scale) {worst:.2e}")
    return 0 if worst < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
