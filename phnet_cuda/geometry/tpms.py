"""Triply periodic minimal-surface cells."""

from __future__ import annotations

import math

import torch


def _centres(n: int) -> torch.Tensor:
    """Voxel-centre coordinates xi = (i + 1/2) / n, i = 0..n-1 (one period, so periodic)."""
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n


def tubular_gyroid_field(n: int) -> torch.Tensor:
    """The reference method's Tubular-Gyroid level set at voxel centres ``[n, n, n]``:
    TG = 10 (cos x sin y + cos y sin z + cos z sin x) - 0.5 (cos 2x cos 2y + cos 2y cos 2z +
    cos 2z cos 2x), with (x, y, z) = 2 pi xi + 0.75 pi; the solid is TG >= t."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    c = 2 * math.pi * _centres(n) + 0.75 * math.pi
    x, y, z = torch.meshgrid(c, c, c, indexing="ij")
    first = torch.cos(x) * torch.sin(y) + torch.cos(y) * torch.sin(z) + torch.cos(z) * torch.sin(x)
    second = torch.cos(2 * x) * torch.cos(2 * y) + torch.cos(2 * y) * torch.cos(2 * z) + torch.cos(2 * z) * torch.cos(2 * x)
    return 10 * first - 0.5 * second


def threshold_to_volume_fraction(field: torch.Tensor, vf: float) -> torch.Tensor:
    """Binary voxels ``field >= t`` with t chosen so the solid fraction is as close to ``vf`` as
    the voxel count allows (ties are broken by the field value, so the result is exact up to
    1 / n^3)."""
    if not 0.0 < vf < 1.0:
        raise ValueError(f"vf must lie in (0, 1), got {vf}")
    flat = field.reshape(-1)
    k = int(round(vf * flat.numel()))
    if k == 0:
        raise ValueError(f"vf = {vf} is below one voxel of {flat.numel()}")
    t = torch.topk(flat, k).values[-1]
    return (field >= t).to(torch.float32)


def tubular_gyroid(n: int, vf: float) -> torch.Tensor:
    """Tubular-Gyroid cell ``[n, n, n]`` (float32 0/1) at solid volume fraction ``vf``."""
    return threshold_to_volume_fraction(tubular_gyroid_field(n), vf)
