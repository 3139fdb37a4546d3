"""The numerical solver (phnet_cuda.solver.homogenize): exact laminate formulas, solid cell,
symmetry/positivity, scaling, preconditioners, warm start, non-convergence reporting, and the
exact Galerkin property of the multigrid hierarchy."""

from __future__ import annotations

import pytest
import torch
from support import rel_err

from phnet_cuda import CellProblem, ops
from phnet_cuda.linalg.krylov import block_jacobi_cg


def _dense_operator(apply, size: int, shape) -> torch.Tensor:
    """Dense matrix of a linear map of fields ``shape`` (columns = images of unit fields)."""
    eye = torch.eye(size, dtype=torch.float64)
    return torch.stack([apply(eye[j].reshape(shape)).reshape(-1) for j in range(size)], dim=1)


@pytest.mark.parametrize("steps", [1, 2, 3, 6])
def test_block_jacobi_cg_is_the_krylov_energy_minimiser(steps):
    """k steps of block-Jacobi CG from u0 minimise the energy over u0 + span{M r0, (M K) M r0,
    ...} (M = zero-mean projected inverse nodal 3 x 3 blocks). Reference: the dense K of the
    pure-PyTorch operator, its nodal blocks read off the dense matrix, an explicit Krylov basis
    and a Galerkin solve - nothing shared with the implementation but the element matrices."""
    from phnet_cuda import reference

    n, g = 4, torch.Generator().manual_seed(11)
    vox = (torch.rand(1, n, n, n, generator=g) < 0.5).double()
    prob = CellProblem(n, E=2.0, nu=0.3, soft_ratio=1e-3, shape=(80.0, 85.0, 78.0, 1.0, 1.3, 1.7), dtype=torch.float64)
    phase = prob.phases(vox)
    f_all = reference.load_vectors(phase, prob.Fe)  # [1, 6, 3, n, n, n]
    u0_all = 1e-2 * torch.randn(1, 6, 3, n, n, n, dtype=torch.float64, generator=g)
    out = block_jacobi_cg(u0_all, phase, prob.Ke, f_all, steps)
    size = 3 * n ** 3
    K = _dense_operator(lambda v: reference.stiffness_apply(v, phase, prob.Ke), size, (1, 1, 3, n, n, n))
    D_inv = torch.zeros(size, size, dtype=torch.float64)
    idx = torch.arange(n ** 3)
    for p in idx:  # dof (c, node) sits at c * n^3 + node in the [3, n, n, n] layout
        dofs = torch.tensor([p, p + n ** 3, p + 2 * n ** 3])
        D_inv[dofs[:, None], dofs] = torch.linalg.inv(K[dofs[:, None], dofs])
    P = torch.eye(size, dtype=torch.float64)
    for c in range(3):
        P[c * n ** 3:(c + 1) * n ** 3, c * n ** 3:(c + 1) * n ** 3] -= 1.0 / n ** 3
    M = P @ D_inv @ P
    for i in range(6):
        f, u0 = f_all[0, i].reshape(-1), P @ u0_all[0, i].reshape(-1)
        r0 = f - K @ u0
        basis = [M @ r0]
        for _ in range(steps - 1):
            basis.append(M @ K @ basis[-1])
        V, _ = torch.linalg.qr(torch.stack(basis, dim=1))
        c = torch.linalg.solve(V.T @ K @ V, V.T @ r0)
        expected = u0 + V @ c
        got = out[0, i].reshape(-1)
        assert rel_err(got, expected) < 1e-8, (i, rel_err(got, expected))

        def energy(u, f=f):
            return 0.5 * u @ K @ u - f @ u

        assert energy(got) <= energy(u0) + 1e-14 * abs(energy(u0))


def test_block_jacobi_cg_energy_decreases_and_is_differentiable():
    """Every further step lowers the energy (and so the C^H diagonal bound); steps = 0 is the
    zero-mean projection; the gradient w.r.t. the start field passes gradcheck; bad steps raise."""
    n = 6
    vox = (torch.rand(2, n, n, n, generator=torch.Generator().manual_seed(2)) < 0.4).double()
    prob = CellProblem(n, E=1.0, nu=0.3, dtype=torch.float64)
    u0 = 1e-2 * torch.randn(2, 6, 3, n, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    energies = [prob.energy_loss(prob.block_jacobi_cg(u0, vox, k), vox, reduction="none") for k in range(5)]
    for a, b in zip(energies, energies[1:]):
        assert (b <= a + 1e-12 * a.abs()).all()
    assert (energies[-1] < energies[0] - 1e-6 * energies[0].abs()).all()
    zero = prob.block_jacobi_cg(u0, vox, 0)
    assert torch.allclose(zero, u0 - u0.mean(dim=(3, 4, 5), keepdim=True))
    assert torch.allclose(prob.block_jacobi_cg(u0, vox, 3).mean(dim=(3, 4, 5)),
                          torch.zeros(2, 6, 3, dtype=torch.float64), atol=1e-14)
    small = CellProblem(3, E=1.0, nu=0.3, dtype=torch.float64)
    v3 = (torch.rand(1, 3, 3, 3, generator=torch.Generator().manual_seed(4)) < 0.5).double()
    phase = small.phases(v3)
    f = ops.load_vectors(phase, small.Fe)[:, :2]
    x = (1e-2 * torch.randn(1, 2, 3, 3, 3, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda u: block_jacobi_cg(u, phase, small.Ke, f, 2), (x,))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="steps must be a non-negative int"):
            block_jacobi_cg(u0, prob.phases(vox), prob.Ke, prob.load_vectors(vox), bad)
    with pytest.raises(ValueError, match="same shape"):
        block_jacobi_cg(u0[:, :2], prob.phases(vox), prob.Ke, prob.load_vectors(vox), 1)
