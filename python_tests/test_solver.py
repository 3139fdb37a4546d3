"""The numerical solver (phnet_cuda.solver.homogenize): exact laminate formulas, solid cell,
symmetry/positivity, scaling, preconditioners, warm start, non-convergence reporting, and the
exact Galerkin property of the multigrid hierarchy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from phnet_cuda import CellProblem, materials, ops
from phnet_cuda.solver import (DEFLATE_AFTER, MultigridPreconditioner, RigidClusterDeflation, axis_strength,
                               block_jacobi_cg,
                               coarsening_plan, homogenize, prolongate,
                               restrict, spd_inverse)
from support import DEVICES, frame_with_pieces, rel_err


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
    assert rel_err(res.CH, laminate_x(C1, C2, layers / n)) < 1e-9


def test_solid_cell_and_spd_and_scaling():
    res = homogenize(np.ones((6, 6, 6)), E=3.0, nu=0.25, tol=1e-10)
    assert res.CH.shape == (6, 6) and res.u.shape == (1, 6, 3, 6, 6, 6)  # one cell [n, n, n]
    assert rel_err(res.CH, materials.isotropic_stiffness(3.0, 0.25)) < 1e-12
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
    assert rel_err(r5.CH, 5 * r1.CH) < 1e-8
    # The solution has zero mean per component and makes the residual small.
    assert r1.u.mean(dim=(3, 4, 5)).abs().max() < 1e-12
    prob = CellProblem(8, dtype=torch.float64)
    R = prob.residual(r1.u, vox)
    f = prob.load_vectors(vox)
    assert (R.norm() / f.norm()).item() < 1e-9


def _cubic_grid(n: int, width: int) -> torch.Tensor:
    """Three orthogonal square struts through the cell centre: exactly cubic under voxelisation."""
    lo, hi = (n - width) // 2, (n + width) // 2
    vox = torch.zeros(n, n, n)
    vox[lo:hi, lo:hi, :] = 1
    vox[lo:hi, :, lo:hi] = 1
    vox[:, lo:hi, lo:hi] = 1
    return vox


def test_cubic_symmetry():
    CH = homogenize(_cubic_grid(8, 2), tol=1e-11).CH
    d = torch.diagonal(CH)
    assert rel_err(d[:3], d[0].expand(3)) < 1e-9 and rel_err(d[3:], d[3].expand(3)) < 1e-9
    assert rel_err(CH[0, 1:3], CH[0, 1].expand(2)) < 1e-9 and abs(CH[1, 2] - CH[0, 1]) < 1e-9 * CH[0, 0]
    assert CH[:3, 3:].abs().max() < 1e-9 * CH[0, 0] and abs(CH[3, 4]) < 1e-9 * CH[0, 0]


def test_precision_and_preconditioners_agree():
    vox = _cubic_grid(8, 3)
    ref = homogenize(vox, tol=1e-11, preconditioner="multigrid").CH
    assert rel_err(homogenize(vox, tol=1e-11, preconditioner="jacobi").CH, ref) < 1e-9
    assert rel_err(homogenize(vox, tol=1e-11, preconditioner="none", max_iter=5000).CH, ref) < 1e-8
    assert rel_err(homogenize(vox, tol=1e-5, dtype=torch.float32).CH, ref) < 1e-4


@pytest.mark.parametrize("device", DEVICES)
def test_multigrid_is_galerkin_and_iterations_flat(device):
    g = torch.Generator().manual_seed(5)
    vox = (torch.rand(1, 16, 16, 16, generator=g) > 0.6).float()
    prob = CellProblem(16, dtype=torch.float64, device=device)
    phase = prob.phases(vox)
    mg = MultigridPreconditioner(phase, prob.Ke, 6)
    assert mg.grids == [(16, 16, 16), (8, 8, 8), (4, 4, 4)] and mg.plan == [(2, 2, 2)] * 2
    xc = torch.randn(1, 2, 3, 8, 8, 8, dtype=torch.float64, generator=g).to(device)
    coarse = mg.levels[1].apply(xc)
    galerkin = restrict(ops.stiffness_apply(prolongate(xc).contiguous(), phase, prob.Ke))
    assert rel_err(coarse, galerkin) < 1e-13
    its = [homogenize((torch.rand(n, n, n, generator=g) > 0.5).float(), tol=1e-8, device=device).iterations
           for n in (8, 16, 32)]
    assert max(its) <= 2 * min(its) + 5, its


def test_coarsening_plan():
    iso = (1.0, 1.0, 1.0)
    assert coarsening_plan((16, 16, 16), iso) == [(2, 2, 2)] * 2  # same as full coarsening
    assert coarsening_plan((48, 48, 48), iso) == [(2, 2, 2)] * 3  # 48 -> 24 -> 12 -> 6
    assert coarsening_plan((15, 15, 15), iso) == []  # odd n: one level
    # z coupled 30x more weakly: halve x, y until the strengths match (each halving / 4), then
    # all; stop at the 768-unknown coarse grid once the strong axes reach 4
    assert coarsening_plan((32, 32, 32), (1, 1, 0.03)) == [(2, 2, 1)] * 3 + [(1, 1, 2)]
    assert coarsening_plan((32, 32, 32), (1, 1, 0.03), ratio=None) == [(2, 2, 2)] * 3
    assert coarsening_plan((16, 16, 16), (1, 0.045, 0.045)) == [(2, 1, 1), (2, 1, 1), (1, 2, 2)]


def test_axis_strength_follows_the_cell_shape():
    cube = axis_strength(CellProblem(4, dtype=torch.float64).Ke)[0]
    assert torch.allclose(cube, cube[0].expand(3), rtol=1e-12)
    long_z = axis_strength(CellProblem(4, dtype=torch.float64, shape=(90, 90, 90, 1, 1, 4)).Ke)[0]
    assert rel_err(long_z[0], long_z[1]) < 1e-12 and long_z[2] < 0.05 * long_z[0]
    long_x = axis_strength(CellProblem(4, dtype=torch.float64, shape=(90, 90, 90, 4, 1, 1)).Ke)[0]
    assert torch.allclose(long_x, long_z.flip(0), rtol=1e-12)  # same cell, axes relabelled


def test_semi_coarsened_levels_are_galerkin_and_fix_stretched_cells():
    """A cell 4x longer along z: the hierarchy halves x and y only, every level is still the
    Galerkin product P^T K P (with P interpolating along the halved axes), C^H is unchanged, and
    the iterations drop well below those of full coarsening, towards those of a cube."""
    g = torch.Generator().manual_seed(8)
    vox = (torch.rand(1, 16, 16, 16, generator=g) > 0.5).float()
    prob = CellProblem(16, dtype=torch.float64, shape=(90, 90, 90, 1, 1, 4))
    phase = prob.phases(vox)
    assert MultigridPreconditioner(phase, prob.Ke, 6).plan == [(2, 2, 2)] * 2  # default: full
    mg = MultigridPreconditioner(phase, prob.Ke, 6, semi_coarsening=2.0)
    assert mg.plan == [(2, 2, 1), (2, 2, 1)] and mg.grids == [(16, 16, 16), (8, 8, 16), (4, 4, 16)]
    x1 = torch.randn(1, 2, 3, 8, 8, 16, dtype=torch.float64, generator=g)
    galerkin1 = restrict(ops.stiffness_apply(prolongate(x1, (2, 2, 1)).contiguous(), phase, prob.Ke), (2, 2, 1))
    assert rel_err(mg.levels[1].apply(x1), galerkin1) < 1e-13
    x2 = torch.randn(1, 2, 3, 4, 4, 16, dtype=torch.float64, generator=g)
    galerkin2 = restrict(mg.levels[1].apply(prolongate(x2, (2, 2, 1))), (2, 2, 1))
    assert rel_err(mg.levels[2].apply(x2), galerkin2) < 1e-13
    shape = (90, 90, 90, 1, 1, 4)
    semi = homogenize(vox[0], shape=shape, tol=1e-9, deflate=False, semi_coarsening=2.0)
    cube = homogenize(vox[0], tol=1e-9, deflate=False, semi_coarsening=2.0)
    full = homogenize(vox[0], shape=shape, tol=1e-9, deflate=False)
    assert rel_err(semi.CH, full.CH) < 1e-8
    # measured 24 / 15 / 42 (this random cell; a tubular gyroid at n = 32: 15 / 14 / 56)
    assert 1.5 * semi.iterations <= full.iterations and semi.iterations <= 2 * cube.iterations, \
        (semi.iterations, cube.iterations, full.iterations)


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
            assert rel_err(batch.CH[b], homogenize(vox[b], tol=1e-9).CH) < 1e-8
    finally:
        torch.set_num_threads(prev)


def test_spd_inverse_falls_back_when_not_positive_definite():
    A = torch.diag(torch.tensor([1.0, 2.0, -1e-9, 0.0], dtype=torch.float64)).unsqueeze(0)
    X = spd_inverse(A)  # Cholesky fails: eigen-inverse of |w|, floored at eps * max
    assert torch.isfinite(X).all() and torch.allclose(X, X.mT)
    expect = torch.tensor([1.0, 0.5, 1e9, 1 / (2 * torch.finfo(torch.float64).eps)], dtype=torch.float64)
    assert rel_err(torch.diagonal(X[0]), expect) < 1e-12
    B = torch.tensor([[[4.0, 1.0], [1.0, 3.0]]], dtype=torch.float64)
    assert torch.allclose(spd_inverse(B), torch.linalg.inv(B), atol=1e-15)


def test_deflation_of_hinged_and_floating_pieces():
    """Six floating blocks and two corner-hinged voxels add ~40 eigenvalues ~soft_ratio to K;
    deflating their rigid motions removes them: same C^H, a fraction of the iterations."""
    vox = frame_with_pieces()
    plain = homogenize(vox, tol=1e-9, deflate=False)
    deflated = homogenize(vox, tol=1e-9, deflate=True)
    assert plain.deflated == 0 and deflated.deflated == 8
    assert deflated.converged and deflated.iterations * 2 < plain.iterations, (deflated.iterations, plain.iterations)
    assert rel_err(deflated.CH, plain.CH) < 1e-9
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
    assert rel_err(Q(ops.stiffness_apply(w, phase, prob.Ke)), w) < 1e-9
    # A batch mixing a cell with pieces and one without: per-cell answers, counts summed.
    other = _cubic_grid(16, 4)
    batch = homogenize(torch.stack([vox, other.reshape(16, 16, 16)]), tol=1e-9, deflate=True)
    assert batch.deflated == 8 and rel_err(batch.CH[0], plain.CH) < 1e-8
    assert rel_err(batch.CH[1], homogenize(other, tol=1e-9).CH.reshape(6, 6)) < 1e-8
    with pytest.raises(ValueError, match="deflate must be True, False or 'auto'"):
        homogenize(vox, deflate="yes")


def test_soft_ratio_robust():
    vox = _cubic_grid(16, 4)
    its = [homogenize(vox, soft_ratio=r, tol=1e-8).iterations for r in (1e-1, 1e-4, 1e-9)]
    assert max(its) < 60, its


def test_warm_start_and_nonconvergence():
    vox = _cubic_grid(8, 2)
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
    with pytest.raises(ValueError, match="tol must be positive"):
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
    assert rel_err(gpu.CH, cpu.CH) < 1e-8


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
        energy = lambda u: 0.5 * u @ K @ u - f @ u  # noqa: E731
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
