"""Command line: ``phnet demo`` (main job) and ``phnet homogenize``.

Errors in user input (missing files, bad arrays, bad options) end with a one-line message on
stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input, reported as one line."""


def _format_matrix(C: torch.Tensor) -> str:
    return "\n".join("  " + " ".join(f"{float(v):11.4e}" for v in row) for row in C)


def _format_constants(consts: dict) -> str:
    keys = list(consts)
    return "\n".join("  " + "  ".join(f"{k} = {consts[k]:.5g}" for k in keys[i:i + 3]) for i in range(0, len(keys), 3))


def _load_voxels(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise UserError(f"voxel file not found: {path}")
    try:
        vox = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad files
        raise UserError(f"cannot read {path} as a .npy array: {exc}") from None
    if vox.ndim not in (3, 4) or len(set(vox.shape[-3:])) != 1:
        raise UserError(f"{path}: expected a voxel array [n, n, n] or [B, n, n, n], got shape {vox.shape}")
    if vox.dtype == bool:
        vox = vox.astype(np.float32)
    if not np.issubdtype(vox.dtype, np.number):
        raise UserError(f"{path}: expected numbers, got dtype {vox.dtype}")
    vox = vox.astype(np.float64)
    if vox.size and (vox.min() < 0 or vox.max() > 1 or not np.isfinite(vox).all()):
        raise UserError(f"{path}: voxel values must lie in [0, 1], got range [{vox.min()}, {vox.max()}]")
    return vox


def _parse_shape(text: str | None):
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--shape: expected six numbers a_xy,a_yz,a_xz,lx,ly,lz, got {text!r}") from None
    if len(values) != 6:
        raise UserError(f"--shape: expected six numbers a_xy,a_yz,a_xz,lx,ly,lz, got {len(values)}")
    return values


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device: unknown device {name!r}") from None


def _report(CH: torch.Tensor, res, extra: dict) -> dict:
    from .post import engineering_constants
    return {
        "CH": CH.tolist(),
        "voigt_order": ["xx", "yy", "zz", "yz", "xz", "xy"],
        "engineering_constants": engineering_constants(CH),
        "iterations": res.iterations,
        "max_relative_residual": float(res.residual.max()),
        "converged": res.converged,
        "seconds": res.seconds,
        **extra,
    }


def cmd_homogenize(args) -> int:
    from .post import engineering_constants
    from .solver import homogenize
    shape = _parse_shape(args.shape)
    vox = _load_voxels(args.voxels)
    res = homogenize(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, tol=args.tol,
                     device=_device(args.device))
    CHs = res.CH if res.CH.dim() == 3 else res.CH[None]
    reports = []
    for b, CH in enumerate(CHs.cpu()):
        print(f"cell {b}: C^H (Voigt xx yy zz yz xz xy):\n{_format_matrix(CH)}")
        print(f"engineering constants:\n{_format_constants(engineering_constants(CH))}")
        reports.append(_report(CH, res, {"cell": b, "volume_fraction": float(np.mean(vox[b] if vox.ndim == 4 else vox))}))
    print(f"{res.iterations} iterations, max residual {float(res.residual.max()):.2e}, "
          f"{'converged' if res.converged else 'NOT converged'}, {res.seconds:.2f} s")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(reports if len(reports) > 1 else reports[0], fh, indent=2)
        print(f"wrote {args.out}")
    return 0 if res.converged else 1


def cmd_demo(args) -> int:
    from . import CellProblem
    from .geometry import tubular_gyroid
    from .post import engineering_constants, von_mises
    from .solver import homogenize

    device = _device(args.device)
    shape = _parse_shape(args.shape)
    os.makedirs(args.out, exist_ok=True)
    vox = tubular_gyroid(args.n, args.vf)
    print(f"phnet demo: Tubular-Gyroid cell, n = {args.n}, volume fraction {float(vox.mean()):.4f}, "
          f"shape {tuple(shape)}, E = {args.E:g}, nu = {args.nu:g}, soft ratio {args.soft_ratio:g}, device {device}")
    res = homogenize(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, tol=args.tol,
                     device=device)
    CH = res.CH.cpu()
    print(f"numerical homogenization (matrix-free multigrid-preconditioned CG on the custom ops): {res.iterations} "
          f"iterations, {res.seconds:.2f} s, max residual {float(res.residual.max()):.1e}")
    print(f"C^H (Voigt xx yy zz yz xz xy):\n{_format_matrix(CH)}")
    consts = engineering_constants(CH)
    print(f"engineering constants:\n{_format_constants(consts)}")

    # The label-free loss at u = 0 and at the solution: the energy form turns any u into an
    # upper bound of the diagonal of C^H, tight at the solution.
    prob = CellProblem(args.n, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, device=device,
                       dtype=torch.float64)
    t0 = time.perf_counter()
    loss_sol = prob.energy_loss(res.u, vox, reduction="none")
    t_loss = time.perf_counter() - t0
    zero = torch.zeros_like(res.u)
    bound0 = torch.diagonal(prob.homogenized_tensor(zero, vox)[0]).cpu()
    print(f"energy_loss at the solution: {float(loss_sol.sum()):.6e} ({1e3 * t_loss:.1f} ms); "
          f"diag C^H bound from u = 0 (Voigt): {[round(float(v), 4) for v in bound0]}")

    eps, sig = prob.element_fields(res.u, vox, macro_strain=torch.tensor([1.0, 0, 0, 0, 0, 0]))
    vm = von_mises(sig)[0].cpu()
    report = _report(CH, res, {"cell": "tubular_gyroid", "n": args.n, "volume_fraction": float(vox.mean()),
                               "shape": shape,
                               "E": args.E, "nu": args.nu, "soft_ratio": args.soft_ratio,
                               "energy_loss_at_solution": loss_sol.cpu().tolist(),
                               "max_von_mises_under_unit_exx": float(vm.max())})
    path = os.path.join(args.out, "demo_report.json")
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"wrote {path}")
    try:
        png = _demo_plot(vox, vm, res.history, os.path.join(args.out, "demo_fields.png"))
        print(f"wrote {png}")
    except ImportError:
        print("matplotlib not installed: no figure written")
    return 0 if res.converged else 1


def _demo_plot(vox, vm, history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    k = vox.shape[-1] // 2
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].imshow(vox[:, :, k].numpy().T, origin="lower", cmap="gray_r")
    axes[0].set_title(f"cell, slice z = {k}")
    im = axes[1].imshow(vm[:, :, k].numpy().T, origin="lower", cmap="inferno")
    axes[1].set_title("von Mises stress, unit macro strain e_xx")
    fig.colorbar(im, ax=axes[1])
    axes[2].semilogy(history)
    axes[2].set_xlabel("PCG iteration")
    axes[2].set_ylabel("max relative residual")
    axes[2].set_title("solver convergence")
    for ax in axes[:2]:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phnet", description="Periodic voxel homogenization (phnet_cuda).")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="homogenize an embedded Tubular-Gyroid cell and show the ops")
    demo.add_argument("--n", type=int, default=24, help="voxels per edge (default 24)")
    demo.add_argument("--vf", type=float, default=0.10, help="solid volume fraction (default 0.10)")
    demo.add_argument("--E", type=float, default=750.0, help="Young's modulus of the base material (default 750, MPa)")
    demo.add_argument("--nu", type=float, default=0.25, help="Poisson ratio (default 0.25)")
    demo.add_argument("--soft-ratio", type=float, default=1e-6, help="E_soft / E (default 1e-6)")
    demo.add_argument("--shape", default="75,75,75,1,1,2",
                      help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (default 75,75,75,1,1,2; 90,90,90,1,1,1 = cube)")
    demo.add_argument("--tol", type=float, default=1e-6, help="solver tolerance (default 1e-6)")
    demo.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    demo.add_argument("--out", default="phnet_demo", help="output folder (default ./phnet_demo)")
    demo.set_defaults(func=cmd_demo)

    hom = sub.add_parser("homogenize", help="C^H of voxel cells stored in a .npy file")
    hom.add_argument("voxels", help=".npy voxel array [n, n, n] or [B, n, n, n] in [0, 1]")
    hom.add_argument("--E", type=float, default=1.0)
    hom.add_argument("--nu", type=float, default=0.3)
    hom.add_argument("--soft-ratio", type=float, default=1e-6)
    hom.add_argument("--shape", default=None,
                     help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (degrees, lengths; CONVENTIONS); default cube")
    hom.add_argument("--tol", type=float, default=1e-8)
    hom.add_argument("--device", default=None)
    hom.add_argument("--out", default=None, help="write the result as JSON")
    hom.set_defaults(func=cmd_homogenize)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"phnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # argument validation inside the library
        print(f"phnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
