"""Element matrices (fem.py) and materials (materials.py) against analytic facts."""

from __future__ import annotations

import math

import pytest
import torch
from support import random_spd

from phnet_cuda import fem, materials


def test_isotropic_stiffness_values():
    E, nu = 2.5, 0.3
    C = materials.isotropic_stiffness(E, nu)
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    assert C.shape == (6, 6)
    assert math.isclose(C[0, 0].item(), lam + 2 * mu, rel_tol=1e-15)
    assert math.isclose(C[0, 1].item(), lam, rel_tol=1e-15)
    assert math.isclose(C[3, 3].item(), mu, rel_tol=1e-15)
    assert C[0, 3].item() == 0.0
    # Compliance recovers E and nu.
    S = torch.linalg.inv(C)
    assert math.isclose(1 / S[0, 0].item(), E, rel_tol=1e-13)
    assert math.isclose(-S[0, 1].item() / S[0, 0].item(), nu, rel_tol=1e-13)


def test_isotropic_stiffness_batched_and_errors():
    C = materials.isotropic_stiffness(torch.tensor([1.0, 2.0]), 0.25)
    assert C.shape == (2, 6, 6)
    assert torch.allclose(C[1], 2 * C[0])
    with pytest.raises(ValueError, match="E must be positive"):
        materials.isotropic_stiffness(-1.0, 0.3)
    with pytest.raises(ValueError, match=r"nu must lie in \(-1, 0.5\)"):
        materials.isotropic_stiffness(1.0, 0.5)
    with pytest.raises(ValueError, match="soft_ratio"):
        materials.two_phase_stiffness(1.0, 0.3, 0.0)


def test_material_voxel_tensor():
    vox = torch.tensor([[[[1.0, 0.0], [0.25, 1.0]], [[0.0, 0.0], [1.0, 0.5]]]])  # [1, 2, 2, 2]
    mat = materials.material_voxel_tensor(vox, E=3.0, nu=0.2, soft_ratio=1e-6, dtype=torch.float64)
    assert mat.shape == (1, 36, 2, 2, 2)
    hard = materials.isotropic_stiffness(3.0, 0.2)
    soft = materials.isotropic_stiffness(3e-6, 0.2)
    v = vox[0, 1, 0, 0].item()  # 0.25 ... pick voxel (0, 1, 0)
    v = vox[0, 0, 1, 0].item()
    expect = v * hard + (1 - v) * soft
    assert torch.allclose(mat[0, :, 0, 1, 0].reshape(6, 6), expect, rtol=1e-14, atol=0)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        materials.material_voxel_tensor(vox * 2)
    with pytest.raises(ValueError, match=r"\[n, n, n\] or \[B, n, n, n\]"):
        materials.material_voxel_tensor(torch.zeros(2, 3, 4))


def test_material_voxel_tensor_with_shape_matches_cell_problem():
    """With shape=, each voxel holds vox C_hat_hard + (1 - vox) C_hat_soft, C_hat = M^-T C M^-1."""
    from phnet_cuda import CellProblem

    g = torch.Generator().manual_seed(3)
    vox = torch.rand(2, 3, 3, 3, generator=g, dtype=torch.float64)
    shape = torch.tensor([[80.0, 85.0, 75.0, 1.0, 1.5, 2.0], [90.0, 90.0, 90.0, 1.0, 1.0, 1.0]])
    E = torch.tensor([2.0, 5.0])
    mat = materials.material_voxel_tensor(vox, E=E, nu=0.25, soft_ratio=1e-3, shape=shape, dtype=torch.float64)
    prob = CellProblem(3, E=E, nu=0.25, soft_ratio=1e-3, shape=shape, dtype=torch.float64)
    for b in range(2):
        expect = torch.einsum("xyz,pq->pqxyz", vox[b], prob.C_hat[b, 0]) + \
            torch.einsum("xyz,pq->pqxyz", 1 - vox[b], prob.C_hat[b, 1])
        assert torch.allclose(mat[b], expect.reshape(36, 3, 3, 3), rtol=1e-13, atol=0)
    # the unit cube shape is the identity transformation
    cube = materials.material_voxel_tensor(vox[1], E=5.0, nu=0.25, soft_ratio=1e-3,
                                           shape=(90, 90, 90, 1, 1, 1), dtype=torch.float64)
    plain = materials.material_voxel_tensor(vox[1], E=5.0, nu=0.25, soft_ratio=1e-3, dtype=torch.float64)
    assert torch.allclose(cube, plain, rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="batch"):
        materials.material_voxel_tensor(vox, shape=torch.ones(3, 6) * 90)


def test_anisotropic_phases_reconstruct():
    g = torch.Generator().manual_seed(1)
    Cv = random_spd(2, 3, 3, 3, generator=g)  # [2, 3, 3, 3, 6, 6]
    mat = Cv.permute(0, 4, 5, 1, 2, 3).reshape(2, 36, 3, 3, 3)
    ph = materials.anisotropic_phases(mat)
    assert ph.shape == (2, 21, 3, 3, 3)
    rebuilt = torch.einsum("bmxyz,mpq->bxyzpq", ph, materials.symmetric_basis())
    assert torch.allclose(rebuilt, Cv, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("h", [1.0, 0.125])
def test_element_stiffness_properties(h):
    C = random_spd(generator=torch.Generator().manual_seed(2))
    Ke, Fe, Ce = fem.element_matrices(C, h)
    assert Ke.shape == (24, 24) and Fe.shape == (24, 6) and Ce.shape == (6, 6)
    assert torch.equal(Ke, Ke.T)
    ev = torch.linalg.eigvalsh(Ke)
    # Six rigid-body modes (3 translations, 3 rotations), the rest strictly positive.
    assert (ev[:6].abs() < 1e-12 * ev[-1]).all()
    assert (ev[6:] > 1e-6 * ev[-1]).all()
    assert torch.allclose(Ce, h ** 3 * C)


def test_affine_patch_element():
    """For an affine displacement u(x) = eps x, B u_e = eps exactly, so Ke u_e = Fe eps."""
    C = random_spd(generator=torch.Generator().manual_seed(3))
    h = 0.25
    Ke, Fe, _ = fem.element_matrices(C, h)
    eps = torch.randn(6, dtype=torch.float64)
    grad = torch.tensor([[eps[0], eps[5] / 2, eps[4] / 2],
                         [eps[5] / 2, eps[1], eps[3] / 2],
                         [eps[4] / 2, eps[3] / 2, eps[2]]], dtype=torch.float64)
    x = fem.node_offsets().double() * h  # [8, 3]
    ue = (x @ grad.T).reshape(24)
    assert torch.allclose(Ke @ ue, Fe @ eps, rtol=1e-12, atol=1e-14 * Fe.abs().max().item())
    # And the strain at every Gauss point is eps.
    B = fem.strain_displacement(fem.gauss_points(), h)
    assert torch.allclose(B @ ue, eps.expand(8, 6), atol=1e-14)


def test_element_energy_of_constant_strain():
    """eps^T Ce eps = int eps^T C eps over the element, and u^T Ke u for affine u gives the same."""
    C = random_spd(generator=torch.Generator().manual_seed(4))
    h = 0.5
    Ke, Fe, Ce = fem.element_matrices(C, h)
    B = fem.strain_displacement(fem.gauss_points(), h)
    # Fe = int B^T C: check against the explicit quadrature sum.
    assert torch.allclose(Fe, sum(B[g].T @ C for g in range(8)) * h ** 3 / 8, rtol=1e-14)


def test_element_matrices_reject_bad_C():
    with pytest.raises(ValueError, match=r"\[\.\.\., 6, 6\]"):
        fem.element_matrices(torch.eye(5, dtype=torch.float64), 0.1)
    A = torch.eye(6, dtype=torch.float64)
    A[0, 1] = 1.0
    with pytest.raises(ValueError, match="symmetric"):
        fem.element_matrices(A, 0.1)
    with pytest.raises(ValueError, match="h must be positive"):
        fem.element_matrices(torch.eye(6, dtype=torch.float64), 0.0)


def test_strut_lattice_voxelisation():
    from phnet_cuda.geometry import grid_lattice, strut_lattice, voxel_centres
    from phnet_cuda.geometry.truss import GRID_NODES, GRID_STRUTS
    assert GRID_STRUTS.shape == (12, 2)
    n, r = 12, 0.15
    periodic = grid_lattice(n, r)
    plain = strut_lattice(n, GRID_NODES, GRID_STRUTS, r, periodic=False)
    assert torch.equal(periodic, plain)  # all images of the edge struts are edges themselves
    # A single strut along x through the centre: solid exactly where the distance to the axis <= r.
    one = strut_lattice(n, [[0.0, 0.5, 0.5], [1.0, 0.5, 0.5]], [[0, 1]], r)
    c = voxel_centres(n)
    expect = ((c[..., 1] - 0.5) ** 2 + (c[..., 2] - 0.5) ** 2).sqrt() <= r
    assert torch.equal(one.bool(), expect)
    # Periodic: a strut leaving through x = 1 re-enters at x = 0.
    wrap = strut_lattice(n, [[0.5, 0.5, 0.5], [1.5, 0.5, 0.5]], [[0, 1]], r)
    assert torch.equal(wrap, one)
    with pytest.raises(ValueError, match="radius > 0"):
        strut_lattice(n, GRID_NODES, GRID_STRUTS, 0.0)
