"""What the commands share: user errors and the exit status for them, reading voxel files,
parsing --shape and --device, the cell arguments of homogenize and predict, and printing and
reporting C^H (matrices, engineering constants, the JSON report dict)."""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from ..conventions import DEFAULT_SOFT_RATIO, VOIGT_ORDER

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
    from ..post import engineering_constants
    return {
        "CH": CH.tolist(),
        "voigt_order": list(VOIGT_ORDER),
        "engineering_constants": engineering_constants(CH),
        "iterations": res.iterations,
        "max_relative_residual": float(res.residual.max()),
        "converged": res.converged,
        "seconds": res.seconds,
        **extra,
    }


def _add_cell_arguments(p: argparse.ArgumentParser) -> None:
    """The voxel file, material, shape, device and JSON output shared by homogenize and predict."""
    p.add_argument("voxels", help=".npy voxel array [n, n, n] or [B, n, n, n] in [0, 1]")
    p.add_argument("--E", type=float, default=1.0)
    p.add_argument("--nu", type=float, default=0.3)
    p.add_argument("--soft-ratio", type=float, default=DEFAULT_SOFT_RATIO)
    p.add_argument("--shape", default=None,
                   help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (degrees, lengths; docs/conventions.md); default cube")
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None, help="write the result as JSON")

