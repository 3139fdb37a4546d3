"""From the final grey density to the printable 0/1 cell.

The cell is {rho >= level}. The level is 0.5 when that meets the volume constraint; otherwise
(``"eq"``: always) it is the level whose cell's volume fraction is nearest the target (``"le"``:
the nearest at or below it). A level set of a density that is exactly symmetric
(``density.DensityMap.physical``) is exactly symmetric too: whole orbits are in or out.
"""

from __future__ import annotations

import torch

from .constraints import VolumeConstraint


def threshold_design(rho: torch.Tensor, volume: VolumeConstraint) -> tuple[torch.Tensor, float]:
    """The 0/1 cell ``rho.shape`` (float64) of a density ``rho`` ``[n, n, n]`` in [0, 1], and its level."""
    if rho.dim() != 3:
        raise ValueError(f"rho must be a density [n, n, n], got shape {tuple(rho.shape)}")
    rho = rho.detach().to(torch.float64)
    N = rho.numel()
    if volume.kind == "le" and float((rho >= 0.5).double().mean()) <= volume.fraction:
        return (rho >= 0.5).to(torch.float64), 0.5
    # candidate levels: the distinct values, largest first; cells {rho >= v} grow down the list
    values, counts = torch.unique(rho.reshape(-1), sorted=True, return_counts=True)
    values, counts = values.flip(0), counts.flip(0)
    solid = torch.cumsum(counts, 0)  # voxels in {rho >= values[i]}
    goal = volume.fraction * N
    if volume.kind == "le":
        ok = (solid <= goal + 1e-9).nonzero().flatten()
        i = int(ok[-1]) if len(ok) else 0
    else:
        i = int((solid.to(torch.float64) - goal).abs().argmin())
    level = float(values[i])
    return (rho >= level).to(torch.float64), level


__all__ = ["threshold_design"]
