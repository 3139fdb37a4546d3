"""The numerical solver (phnet_cuda.solver.homogenize): exact laminate formulas, solid cell,
symmetry/positivity, scaling, preconditioners, warm start, non-convergence reporting, and the
exact Galerkin property of the multigrid hierarchy."""

from __future__ import annotations

import torch
from support import assert_rel_close

from phnet_cuda.linalg.dense import spd_inverse
from phnet_cuda.solver import homogenize


def test_batched_coarse_solve_survives_explicit_thread_count():
    """torch 2.13 + MKL: after torch.set_num_threads(k > 1), batched torch.linalg.inv of matrices
    over 128 x 128 returns garbage or raises. The multigrid's coarse matrix at n = 16 is 192 x 192
    and is inverted per sample, so a batch solve used to fail exactly when a user set threads."""
    prev = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(11)
        A = torch.randn(8, 192, 192, dtype=torch.float64, generator=g)
        A = A @ A.mT + 192 * torch.eye(192, dtype=torch.float64)
        assert (A @ spd_inverse(A) - torch.eye(192, dtype=torch.float64)).abs().max() < 1e-12
        vox = (torch.rand(4, 16, 16, 16, generator=g) > 0.6).float()
        batch = homogenize(vox, tol=1e-9)
        assert batch.converged and batch.iterations < 60
        for b in range(4):  # same answer as one cell at a time
            assert_rel_close(batch.CH[b], homogenize(vox[b], tol=1e-9).CH, 1e-8)
    finally:
        torch.set_num_threads(prev)


def test_spd_inverse_falls_back_when_not_positive_definite():
    A = torch.diag(torch.tensor([1.0, 2.0, -1e-9, 0.0], dtype=torch.float64)).unsqueeze(0)
    X = spd_inverse(A)  # Cholesky fails: eigen-inverse of |w|, floored at eps * max
    assert torch.isfinite(X).all() and torch.allclose(X, X.mT)
    expect = torch.tensor([1.0, 0.5, 1e9, 1 / (2 * torch.finfo(torch.float64).eps)], dtype=torch.float64)
    assert_rel_close(torch.diagonal(X[0]), expect, 1e-12)
    B = torch.tensor([[[4.0, 1.0], [1.0, 3.0]]], dtype=torch.float64)
    assert torch.allclose(spd_inverse(B), torch.linalg.inv(B), atol=1e-15)
