"""The numerical solver (phnet_cuda.solver.homogenize): exact laminate formulas, solid cell,
symmetry/positivity, scaling, preconditioners, warm start, non-convergence reporting, and the
exact Galerkin property of the multigrid hierarchy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from support import assert_rel_close, cubic_grid, rel_err

from phnet_cuda import CellProblem, materials
from phnet_cuda.solver import homogenize


def laminate_x(C1: torch.Tensor, C2: torch.Tensor, f1: float) -> torch.Tensor:
    """Exact C^H of layers normal to x (fractions f1, 1 - f1): stresses (xx, xz, xy) are
    continuous and strains (yy, zz, yz) uniform across the layers."""
    n_idx, t_idx = [0, 4, 5], [1, 2, 3]
    avg = lambda a, b: f1 * a + (1 - f1) * b  # noqa: E731
    blocks = []
    for C in (C1, C2):
        Cnn, Cnt = C[n_idx][:, n_idx], C[n_idx][:, t_idx]
        Ctn, Ctt = C[t_idx][:, n_idx], C[t_idx][:, t_idx]
        inv = torch.linalg.inv(Cnn)
        blocks.append((inv, inv @ Cnt, Ctt - Ctn @ inv @ Cnt, Ctn @ inv))
    Hnn = torch.linalg.inv(avg(blocks[0][0], blocks[1][0]))
    A = avg(blocks[0][1], blocks[1][1])
    Hnt = Hnn @ A
    Htt = avg(blocks[0][2], blocks[1][2]) + avg(blocks[0][3], blocks[1][3]) @ Hnn @ A
    H = torch.zeros(6, 6, dtype=torch.float64)
    H[np.ix_(n_idx, n_idx)] = Hnn
    H[np.ix_(n_idx, t_idx)] = Hnt
    H[np.ix_(t_idx, n_idx)] = Hnt.T
    H[np.ix_(t_idx, t_idx)] = Htt
    return H


@pytest.mark.parametrize("n,layers", [(8, 3), (12, 6), (5, 2)])
@pytest.mark.parametrize("preconditioner", ["multigrid", "jacobi"])
def test_laminate_matches_exact_formula(n, layers, preconditioner):
    vox = torch.zeros(n, n, n)
    vox[:layers] = 1.0
    ratio = 0.05
    res = homogenize(vox, E=2.0, nu=0.3, soft_ratio=ratio, tol=1e-11, preconditioner=preconditioner)
    assert res.converged
    C1 = materials.isotropic_stiffness(2.0, 0.3)
    C2 = materials.isotropic_stiffness(2.0 * ratio, 0.3)
    assert_rel_close(res.CH, laminate_x(C1, C2, layers / n), 1e-9)


def test_solid_cell_and_spd_and_scaling():
    res = homogenize(np.ones((6, 6, 6)), E=3.0, nu=0.25, tol=1e-10)
    assert res.CH.shape == (6, 6) and res.u.shape == (1, 6, 3, 6, 6, 6)  # one cell [n, n, n]
    assert_rel_close(res.CH, materials.isotropic_stiffness(3.0, 0.25), 1e-12)
    batch_of_one = homogenize(torch.ones(1, 6, 6, 6), E=3.0, nu=0.25, tol=1e-10)
    assert batch_of_one.CH.shape == (1, 6, 6)  # a batch stays a batch, even of one
    assert torch.equal(batch_of_one.CH[0], res.CH)
    g = torch.Generator().manual_seed(3)
    vox = (torch.rand(2, 8, 8, 8, generator=g) > 0.45).float()
    r1 = homogenize(vox, E=1.0, tol=1e-10)
    r5 = homogenize(vox, E=5.0, tol=1e-10)
    assert r1.CH.shape == (2, 6, 6) and r1.u.shape == (2, 6, 3, 8, 8, 8)
    assert torch.equal(r1.CH, r1.CH.transpose(1, 2))
    assert (torch.linalg.eigvalsh(r1.CH) > 0).all()
    assert_rel_close(r5.CH, 5 * r1.CH, 1e-8)
    # The solution has zero mean per component and makes the residual small.
    assert r1.u.mean(dim=(3, 4, 5)).abs().max() < 1e-12
    prob = CellProblem(8, dtype=torch.float64)
    R = prob.residual(r1.u, vox)
    f = prob.load_vectors(vox)
    assert (R.norm() / f.norm()).item() < 1e-9


def test_cubic_symmetry():
    CH = homogenize(cubic_grid(8, 2), tol=1e-11).CH
    d = torch.diagonal(CH)
    assert rel_err(d[:3], d[0].expand(3)) < 1e-9 and rel_err(d[3:], d[3].expand(3)) < 1e-9
    assert rel_err(CH[0, 1:3], CH[0, 1].expand(2)) < 1e-9 and abs(CH[1, 2] - CH[0, 1]) < 1e-9 * CH[0, 0]
    assert CH[:3, 3:].abs().max() < 1e-9 * CH[0, 0] and abs(CH[3, 4]) < 1e-9 * CH[0, 0]


def test_precision_and_preconditioners_agree():
    vox = cubic_grid(8, 3)
    ref = homogenize(vox, tol=1e-11, preconditioner="multigrid").CH
    assert_rel_close(homogenize(vox, tol=1e-11, preconditioner="jacobi").CH, ref, 1e-9)
    assert_rel_close(homogenize(vox, tol=1e-11, preconditioner="none", max_iter=5000).CH, ref, 1e-8)
    assert_rel_close(homogenize(vox, tol=1e-5, dtype=torch.float32).CH, ref, 1e-4)


def test_soft_ratio_robust():
    vox = cubic_grid(16, 4)
    its = [homogenize(vox, soft_ratio=r, tol=1e-8).iterations for r in (1e-1, 1e-4, 1e-9)]
    assert max(its) < 60, its


def test_warm_start_and_nonconvergence():
    vox = cubic_grid(8, 2)
    cold = homogenize(vox, tol=1e-10)
    warm = homogenize(vox, tol=1e-10, x0=cold.u)
    assert warm.iterations == 0 and rel_err(warm.CH, cold.CH) < 1e-12
    near = homogenize(vox, tol=1e-10, x0=cold.u * (1 + 1e-3))
    assert near.iterations < cold.iterations
    with pytest.warns(RuntimeWarning, match="not converged after 1 iterations"):
        bad = homogenize(vox, tol=1e-12, max_iter=1, preconditioner="jacobi")
    assert not bad.converged and bad.residual.shape == (1, 6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="preconditioner must be one of"):
        homogenize(np.ones((4, 4, 4)), preconditioner="ilu")
    with pytest.raises(ValueError, match="tol must be a positive finite number, got 0"):
        homogenize(np.ones((4, 4, 4)), tol=0)
    with pytest.raises(ValueError, match=r"\[n, n, n\] or \[B, n, n, n\]"):
        homogenize(np.ones((4, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        homogenize(np.ones((2, 2, 2)), tol=1e-8)  # smallest grid works


def test_reproduces_homo3d_grid_example():
    """The public homo3D example (Dong et al. 2018): 'grid' lattice (struts on the 12 cube edges,
    voxel solid when its centre is within r = 0.1 of a strut), n = 40, lambda = 115.4,
    mu = 79.6 (void: zero stiffness there, soft_ratio 1e-9 here). Published: density 8.5%,
    C11 = 7.1876, C12 = 0.3875, C44 = 0.1489 (4 decimals; cubic, so its Voigt order does not
    matter)."""
    from phnet_cuda.geometry import grid_lattice
    lam, mu = 115.4, 79.6
    E, nu = mu * (3 * lam + 2 * mu) / (lam + mu), lam / (2 * (lam + mu))
    vox = grid_lattice(40, 0.1)
    assert abs(float(vox.mean()) - 0.085) < 1e-3  # 0.0855 here; printed as 8.5%
    CH = homogenize(vox, E=E, nu=nu, soft_ratio=1e-9, tol=1e-9).CH
    for value, published in ((CH[0, 0], 7.1876), (CH[0, 1], 0.3875), (CH[3, 3], 0.1489)):
        assert abs(float(value) - published) <= 5e-5 + 1e-6, (float(value), published)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    from support import CUDA_OK
    if not CUDA_OK:
        pytest.skip("library built without CUDA kernels")
    g = torch.Generator().manual_seed(9)
    vox = (torch.rand(2, 16, 16, 16, generator=g) > 0.5).float()
    shape = torch.tensor([[80.0, 85.0, 90.0, 1.0, 1.2, 1.5], [90.0, 90.0, 90.0, 1.0, 1.0, 1.0]])
    cpu = homogenize(vox, shape=shape, tol=1e-10, device="cpu")
    gpu = homogenize(vox, shape=shape, tol=1e-10, device="cuda")
    assert cpu.converged and gpu.converged
    assert_rel_close(gpu.CH, cpu.CH, 1e-8)
