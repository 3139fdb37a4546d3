"""Inverse of batched symmetric positive definite matrices (the multigrid's coarsest level, the
deflation's Galerkin matrix), robust where batched LU is not."""

from __future__ import annotations

import torch


def spd_inverse(A: torch.Tensor) -> torch.Tensor:
    """Inverse of a batch of symmetric positive definite matrices ``[B, N, N]`` by Cholesky.

    Why not ``torch.linalg.inv``: on CPU, batched LU (getrf) of matrices larger than 128 x 128
    returns garbage or raises ("Parameter 6 was incorrect on entry to DLASWP") once
    ``torch.set_num_threads(k > 1)`` has been called (torch 2.13 with MKL; reproduced in
    ``python_tests/test_solver.py``). The batched Cholesky path is unaffected, and is the right
    factorisation for an SPD matrix anyway.

    A matrix that is only positive semi-definite up to rounding falls back to an
    eigendecomposition with |eigenvalue| (floored at eps * the largest): a float32 multigrid
    hierarchy at soft_ratio 1e-9 gives coarse matrices whose soft-phase eigenvalues (~1e-9 of the
    largest) come out slightly negative. Their magnitude is still right, so inverting |w| keeps
    the preconditioner symmetric positive definite and as strong as the exact inverse would be.
    """
    L, info = torch.linalg.cholesky_ex(A)
    if bool((info == 0).all()):
        # A^-1 = L^-T L^-1 from one batched triangular solve rather than torch.cholesky_inverse:
        # same result (to 1e-17) and time (48 matrices of 192 x 192 on 2 idle cores: 54 vs
        # 44 ms), but when other processes load the cores cholesky_inverse (MKL potri) slows
        # down 100x (5.0 s, then the largest part of the multigrid set-up), this only 8x (0.44 s).
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand_as(A)
        L_inv = torch.linalg.solve_triangular(L, eye, upper=False)
        return L_inv.transpose(-1, -2) @ L_inv
    w, V = torch.linalg.eigh(A)
    w = w.abs().clamp_min(w.abs().amax(dim=-1, keepdim=True) * torch.finfo(A.dtype).eps)
    return (V / w[..., None, :]) @ V.transpose(-1, -2)
