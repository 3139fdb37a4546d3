"""Test grids and random problems shared by the tests and the benchmarks (as pytorch_scatter's
``testing.py``): random inputs of the ops at any size, a cell with bounded solid pieces, and the
relative error measure the tolerances are written in. Needs only torch.
"""

from __future__ import annotations

import torch

from . import fem

#: Tolerances of an op against the float64 oracle, relative to the largest reference entry.
TOL = {torch.float32: 2e-5, torch.float64: 1e-12}

#: Small test grids: one voxel, the smallest even grid, odd grids, a multigrid-coarsenable one.
GRID_SIZES = (1, 2, 3, 5, 8)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (both moved to CPU float64)."""
    a = a.detach().cpu().double()
    b = b.detach().cpu().double()
    scale = b.abs().max().item() if b.numel() else 1.0
    return (a - b).abs().max().item() / max(scale, 1e-300) if a.numel() else 0.0


def random_spd(*shape: int, generator=None) -> torch.Tensor:
    """Random symmetric positive definite Voigt matrices [*shape, 6, 6] (float64)."""
    A = torch.randn(*shape, 6, 6, dtype=torch.float64, generator=generator)
    return A @ A.transpose(-1, -2) + 6 * torch.eye(6, dtype=torch.float64)


def random_problem(B, L, M, n, dtype, device, *, J=None, seed=0, batched_mats=True):
    """Random inputs of the ops: u [B, L, 3, n^3], phase [B, M, n^3], per-phase C, Ke, Fe, Ce
    (Fe with J columns, default L; Fe with J != 6 is random, otherwise from C)."""
    g = torch.Generator().manual_seed(seed)
    mb = B if batched_mats else 1
    C = random_spd(mb, M, generator=g)
    Ke, Fe, Ce = fem.element_matrices(C, 1.0 / n)
    J = L if J is None else J
    if J != 6:
        Fe = torch.randn(mb, M, 24, J, dtype=torch.float64, generator=g)
    if L != 6:
        Ce = torch.randn(mb, M, L, L, dtype=torch.float64, generator=g)
        Ce = Ce + Ce.transpose(-1, -2)
    u = torch.randn(B, L, 3, n, n, n, dtype=torch.float64, generator=g)
    phase = torch.rand(B, M, n, n, n, dtype=torch.float64, generator=g)
    cast = dict(dtype=dtype, device=device)
    return dict(u=u.to(**cast), phase=phase.to(**cast), C=C.to(**cast), Ke=Ke.to(**cast),
                Fe=Fe.to(**cast), Ce=Ce.to(**cast))


def frame_with_pieces(n: int = 16) -> torch.Tensor:
    """A percolating frame (rods along x, y, z), six floating 2^3 blocks and two voxels hinged
    corner to corner off the frame's corner: 8 bounded pieces."""
    vox = torch.zeros(n, n, n)
    vox[:2, :2, :] = 1
    vox[:2, :, :2] = 1
    vox[:, :2, :2] = 1
    for i, j, k in [(5, 5, 5), (10, 5, 5), (5, 10, 5), (5, 5, 10), (10, 10, 10), (10, 10, 5)]:
        vox[i:i + 2, j:j + 2, k:k + 2] = 1
    vox[2, 2, 2] = vox[3, 3, 3] = 1
    return vox



def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, tol: float, msg: str | None = None) -> None:
    """``torch.testing.assert_close`` with the error measured against the largest |expected| entry:
    every |actual - expected| <= tol * max|expected| (shapes, and dtypes after the cast to
    float64 on the CPU, must match). The tolerances of this project are written this way because
    fields and stiffness tensors have entries of very different sizes, some exactly zero."""
    a = actual.detach().cpu().double()
    b = expected.detach().cpu().double()
    scale = float(b.abs().max()) if b.numel() else 1.0
    torch.testing.assert_close(a, b, rtol=0.0, atol=tol * max(scale, 1e-300), msg=msg)


def cubic_grid(n: int, width: int) -> torch.Tensor:
    """``[n, n, n]`` cell of three orthogonal square struts (``width`` voxels) through the centre:
    exactly cubic under voxelisation, so its C^H is cubic."""
    lo, hi = (n - width) // 2, (n + width) // 2
    vox = torch.zeros(n, n, n)
    vox[lo:hi, lo:hi, :] = 1
    vox[lo:hi, :, lo:hi] = 1
    vox[:, lo:hi, lo:hi] = 1
    return vox
