"""Nodal 3 x 3 block Jacobi of the periodic voxel operator: the diagonal blocks of K, their
inverses and their application.

Every node's three displacement components are coupled by the diagonal block of K at that node;
inverting these 3 x 3 blocks (rather than K's scalar diagonal) is what makes a point smoother
work on elasticity. Used as the plain Jacobi preconditioner, inside the multigrid's Chebyshev
smoother and by PH-Net's physics output stage.
"""

from __future__ import annotations

import torch

from ..conventions import NODE_OFFSETS


def assemble_blocks(blocks_per_voxel) -> torch.Tensor:
    """Nodal 3 x 3 diagonal blocks ``[B, n, n, n, 3, 3]`` from per-voxel element blocks:
    ``blocks_per_voxel(nd)`` -> ``[B, n, n, n, 3, 3]`` = the (nd, nd) block of each voxel's
    element matrix; node p collects it from the voxel of which it is local node nd."""
    total = None
    for nd, (a, b, c) in enumerate(NODE_OFFSETS):
        part = torch.roll(blocks_per_voxel(nd), shifts=(a, b, c), dims=(1, 2, 3))
        total = part if total is None else total + part
    return total


def invert_blocks(blocks: torch.Tensor) -> torch.Tensor:
    """Inverse nodal blocks ``[B, n, n, n, 3, 3]`` -> ``[B, 3, 3, n, n, n]`` (component-major, so
    applying them is nine broadcast multiply-adds over contiguous fields)."""
    return torch.linalg.inv(blocks).permute(0, 4, 5, 1, 2, 3).contiguous()


def jacobi_blocks(phase: torch.Tensor, Ke: torch.Tensor) -> torch.Tensor:
    """Inverse 3 x 3 nodal diagonal blocks of K ``[B, 3, 3, n, n, n]`` for a phase mixture
    (phase ``[B, M, n, n, n]``, Ke ``[B|1, M, 24, 24]``)."""
    Kb = Ke.expand(phase.shape[0], *Ke.shape[1:])
    return invert_blocks(assemble_blocks(
        lambda nd: torch.einsum("bmxyz,bmij->bxyzij", phase, Kb[:, :, 3 * nd:3 * nd + 3, 3 * nd:3 * nd + 3])))


def apply_blocks(inv: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """z = D^-1 r for r ``[B, L, 3, n, n, n]`` and inverse blocks ``[B, 3, 3, n, n, n]``."""
    inv = inv[:, None]  # broadcast over load cases
    return torch.stack([inv[:, :, i, 0] * r[:, :, 0] + inv[:, :, i, 1] * r[:, :, 1] + inv[:, :, i, 2] * r[:, :, 2]
                        for i in range(3)], dim=2)
