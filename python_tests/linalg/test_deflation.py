"""The numerical solver (phnet_cuda.solver.homogenize): exact laminate formulas, solid cell,
symmetry/positivity, scaling, preconditioners, warm start, non-convergence reporting, and the
exact Galerkin property of the multigrid hierarchy."""

from __future__ import annotations

import pytest
import torch
from support import assert_rel_close, cubic_grid, frame_with_pieces, rel_err

from phnet_cuda import CellProblem, ops
from phnet_cuda.linalg.deflation import RigidClusterDeflation
from phnet_cuda.solver import DEFLATE_AFTER, homogenize


def test_deflation_of_hinged_and_floating_pieces():
    """Six floating blocks and two corner-hinged voxels add ~40 eigenvalues ~soft_ratio to K;
    deflating their rigid motions removes them: same C^H, a fraction of the iterations."""
    vox = frame_with_pieces()
    plain = homogenize(vox, tol=1e-9, deflate=False)
    deflated = homogenize(vox, tol=1e-9, deflate=True)
    assert plain.deflated == 0 and deflated.deflated == 8
    assert deflated.converged and deflated.iterations * 2 < plain.iterations, (deflated.iterations, plain.iterations)
    assert_rel_close(deflated.CH, plain.CH, 1e-9)
    # "auto" (default): plain for DEFLATE_AFTER iterations, then restarted with the pieces deflated
    auto = homogenize(vox, tol=1e-9)
    assert auto.deflated == 8 and auto.converged and rel_err(auto.CH, plain.CH) < 1e-9
    assert DEFLATE_AFTER < auto.iterations < plain.iterations and len(auto.history) == auto.iterations + 1
    # ... and leaves a solve that converges within DEFLATE_AFTER iterations alone
    assert homogenize(vox, tol=1e-3).deflated == 0
    # Q K w = w for every rigid motion w of a piece (W (W^T K W)^-1 W^T K W = W): here the
    # floating block at (5, 5, 5) translating along y and turning about z through its centre.
    prob = CellProblem(16, dtype=torch.float64)
    phase = prob.phases(vox[None])
    Q = RigidClusterDeflation(vox[None], phase, prob.Ke)
    w = torch.zeros(1, 2, 3, 16, 16, 16, dtype=torch.float64)
    w[0, 0, 1, 5:8, 5:8, 5:8] = 1.0
    x = (torch.arange(5, 8, dtype=torch.float64) - 6) / 16  # node positions about the centre
    w[0, 1, 0, 5:8, 5:8, 5:8] = -x[None, :, None]  # e_z x (x, y, z) = (-y, x, 0)
    w[0, 1, 1, 5:8, 5:8, 5:8] = x[:, None, None]
    assert_rel_close(Q(ops.stiffness_apply(w, phase, prob.Ke)), w, 1e-9)
    # A batch mixing a cell with pieces and one without: per-cell answers, counts summed.
    other = cubic_grid(16, 4)
    batch = homogenize(torch.stack([vox, other.reshape(16, 16, 16)]), tol=1e-9, deflate=True)
    assert batch.deflated == 8 and rel_err(batch.CH[0], plain.CH) < 1e-8
    assert_rel_close(batch.CH[1], homogenize(other, tol=1e-9).CH.reshape(6, 6), 1e-8)
    with pytest.raises(ValueError, match="deflate must be True, False or 'auto'"):
        homogenize(vox, deflate="yes")
