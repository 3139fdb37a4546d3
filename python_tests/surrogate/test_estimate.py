"""The error estimate of an energy-form C^H (surrogate.estimate): the identity it rests on, its
coarse operator, its limits (exact field, many CG steps), its invariances, and its accuracy on
library cells of every family with the shipped checkpoint."""

import warnings

import numpy as np
import pytest
import torch

from phnet_cuda import CellProblem, homogenize
from phnet_cuda.geometry import make_cell, reachable_range, tubular_gyroid
from phnet_cuda.surrogate.estimate import (
    TwoLevelPreconditioner,
    coarse_size,
    error_matrix,
    estimate_error,
    relative_error,
)

SHAPE = (80.0, 85.0, 78.0, 1.0, 1.3, 1.7)


def _random_field(B, n, seed=0):
    """A smooth-plus-rough periodic zero-mean field ``[B, 6, 3, n, n, n]`` (float64)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, 6, 3, n, n, n, generator=g, dtype=torch.float64) * 0.02
    x = torch.arange(n, dtype=torch.float64) / n
    wave = torch.sin(2 * np.pi * x)[:, None, None] * torch.cos(2 * np.pi * x)[None, :, None] * torch.ones(n)
    u = u + 0.1 * wave * torch.randn(B, 6, 3, 1, 1, 1, generator=g, dtype=torch.float64)
    return u - u.mean(dim=(3, 4, 5), keepdim=True)


def _fractional_cells(n, B=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    tg = torch.stack([tubular_gyroid(n, 0.25 + 0.1 * b) for b in range(B)]).double()
    return (0.8 * tg + 0.2 * torch.rand(B, n, n, n, generator=g, dtype=torch.float64)).clamp(0, 1)


@pytest.mark.parametrize("shape", [None, SHAPE])
def test_energy_identity(shape):
    """C^H(u) = C^H(u*) + E^T K E exactly (E = u - u*, the cross terms cancel because K u* = f),
    on the cube and recovered on a parallelepiped as M^T D_hat M: the identity the estimate
    rests on, checked with the assembled operator, independently of the estimator."""
    n = 8
    vox = _fractional_cells(n)
    prob = CellProblem(n, E=3.0, nu=0.3, shape=shape, dtype=torch.float64)
    ref = homogenize(vox, E=3.0, nu=0.3, shape=shape, tol=1e-12)
    u = ref.u + _random_field(2, n)
    CH_u = prob.homogenized_tensor(u, vox)
    CH_u = 0.5 * (CH_u + CH_u.transpose(1, 2))
    e = u - ref.u
    D_hat = torch.einsum("blcxyz,bmcxyz->blm", e, prob.stiffness_apply(e, vox))
    D = prob.recover(0.5 * (D_hat + D_hat.transpose(1, 2)))
    assert torch.allclose(CH_u - ref.CH, D, rtol=1e-8, atol=1e-10 * float(D.abs().max()))
    assert (torch.linalg.eigvalsh(D) > -1e-10 * float(D.abs().max())).all()  # positive semi-definite
    # not trivial: the field error is a sizeable share of C^H
    assert float(torch.linalg.matrix_norm(D).min()) > 1e-3 * float(torch.linalg.matrix_norm(ref.CH).min())


@pytest.mark.parametrize("shape", [None, SHAPE])
def test_many_steps_give_the_exact_error(shape):
    """With enough CG steps the estimated D equals the true C^H(u) - C^H (float32 CG: to 1e-4),
    for per-sample E (D scales with E) and a parallelepiped (D recovered to the global basis)."""
    n = 8
    vox = _fractional_cells(n)
    E = torch.tensor([3.0, 750.0], dtype=torch.float64)
    ref = homogenize(vox, E=E, nu=0.3, shape=shape, tol=1e-12)
    prob = CellProblem(n, E=E, nu=0.3, shape=shape, dtype=torch.float64)
    u = ref.u + _random_field(2, n, seed=3)
    CH_u = prob.homogenized_tensor(u, vox)
    CH_u = 0.5 * (CH_u + CH_u.transpose(1, 2))
    D_true = CH_u - ref.CH
    D = error_matrix(u, vox, E=E, nu=0.3, shape=shape, steps=60)
    scale = torch.linalg.matrix_norm(D_true)[:, None, None]
    assert ((D - D_true).abs() / scale).max() < 1e-4, ((D - D_true).abs() / scale).max()
    est = relative_error(CH_u, D)
    true = torch.linalg.matrix_norm(D_true) / torch.linalg.matrix_norm(ref.CH)
    assert torch.allclose(est, true, rtol=1e-3)
    # a few steps: a positive semi-definite estimate of the right size
    D3 = error_matrix(u, vox, E=E, nu=0.3, shape=shape)
    assert (torch.linalg.eigvalsh(D3) > -1e-6 * float(D3.abs().max())).all()
    ratio = torch.linalg.matrix_norm(D3) / torch.linalg.matrix_norm(D_true)
    assert ((ratio > 0.5) & (ratio < 2.0)).all(), ratio
    assert torch.equal(error_matrix(u, vox, E=E, shape=shape, steps=0), torch.zeros(2, 6, 6, dtype=torch.float64))


@pytest.mark.parametrize("shape", [None, SHAPE])
def test_exact_field_has_zero_estimate(shape):
    """At the solver's solution the estimated error is ~0 (the residual vanishes)."""
    vox = torch.stack([tubular_gyroid(16, 0.2), make_cell("octet", 16, 0.25)]).double()
    ref = homogenize(vox, shape=shape, tol=1e-10)
    est = estimate_error(ref.CH, ref.u, vox, shape=shape)
    assert est.shape == (2,) and (est < 1e-6).all(), est


def test_estimate_is_scale_free_and_per_sample():
    """The relative estimate does not depend on E (u does not); per-sample materials give the
    estimates of separate calls."""
    vox = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.45)]).double()
    prob = CellProblem(8, dtype=torch.float64)
    u = homogenize(vox, tol=1e-12).u + _random_field(2, 8, seed=5)
    CH = prob.homogenized_tensor(u, vox)
    one = estimate_error(CH, u, vox)
    big = estimate_error(CH * 1e30, u, vox, E=1e30)
    assert torch.allclose(one, big, rtol=1e-10)
    nu = torch.tensor([0.25, 0.35], dtype=torch.float64)
    both = error_matrix(u, vox, nu=nu, shape=SHAPE)
    for b in range(2):
        alone = error_matrix(u[b:b + 1], vox[b:b + 1], nu=float(nu[b]), shape=SHAPE)
        assert torch.allclose(both[b], alone[0], rtol=1e-5, atol=1e-9 * float(alone.abs().max()))


def _dense_operator(prob, vox):
    """The assembled K ``[N, N]`` of one cell (N = 3 n^3, dof (component, x, y, z)), column by column."""
    n = prob.n
    N = 3 * n ** 3
    eye = torch.eye(N, dtype=prob.dtype).reshape(1, N, 3, n, n, n)
    return prob.stiffness_apply(eye, vox).reshape(N, N)


def test_coarse_operator_is_the_galerkin_product():
    """The two-level preconditioner's coarse matrix is P^T K P of the assembled fine K and the
    periodic trilinear interpolation P (written out here as a Kronecker product), and the
    preconditioner is D^-1 r + P K_c^+ P^T r: a cell without symmetry (fractional voxels, a
    parallelepiped material) so that any mix-up of axes, children or phases shows."""
    n = 8
    m = coarse_size(n)
    assert m == 4
    vox = _fractional_cells(n, B=1)
    prob = CellProblem(n, shape=SHAPE, dtype=torch.float64)
    pre = TwoLevelPreconditioner(prob.phases(vox), prob.Ke)
    K = _dense_operator(prob, vox)
    A = torch.zeros(n, m, dtype=torch.float64)  # 1D periodic linear interpolation, node i at i / n
    for i in range(n):
        t = i * m / n
        A[i, int(t)] += 1 - (t - int(t))
        A[i, (int(t) + 1) % m] += t - int(t)
    P = torch.kron(torch.eye(3, dtype=torch.float64), torch.kron(A, torch.kron(A, A)))  # [3 n^3, 3 m^3]
    Kc = P.T @ K @ P
    Nc = 3 * m ** 3
    Q = torch.eye(Nc, dtype=torch.float64) - torch.kron(torch.eye(3, dtype=torch.float64),
                                                        torch.full((m ** 3, m ** 3), 1.0 / m ** 3, dtype=torch.float64))
    # K_c^+ K_c = identity on zero-mean coarse fields
    assert torch.allclose(pre.Kc_inv[0] @ Kc @ Q, Q, atol=1e-8)
    r = torch.randn(1, 2, 3, n, n, n, dtype=torch.float64)
    r = r - r.mean(dim=(3, 4, 5), keepdim=True)
    blocks = torch.zeros(3 * n ** 3, 3 * n ** 3, dtype=torch.float64)  # nodal 3 x 3 diagonal blocks of K
    node = torch.arange(n ** 3)
    for a in range(3):
        for b in range(3):
            blocks[a * n ** 3 + node, b * n ** 3 + node] = K[a * n ** 3 + node, b * n ** 3 + node]
    flat = r.reshape(2, -1).T  # [N, 2]
    z = torch.linalg.solve(blocks, flat) + P @ torch.linalg.pinv(Kc, hermitian=True, rtol=1e-12) @ P.T @ flat
    z = z.T.reshape(r.shape)
    z = z - z.mean(dim=(3, 4, 5), keepdim=True)
    assert torch.allclose(pre(r), z, rtol=1e-7, atol=1e-9 * float(z.abs().max()))


def test_coarse_sizes():
    assert [coarse_size(n) for n in (4, 8, 16, 48, 9, 15, 10, 14, 7, 17, 2)] == [2, 4, 4, 4, 3, 3, 5, 2, None, None,
                                                                                None]
    # no coarse grid (prime n): block Jacobi alone still converges to the exact error
    n = 7
    vox = (0.3 + 0.7 * torch.rand(1, n, n, n, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    prob = CellProblem(n, dtype=torch.float64)
    ref = homogenize(vox, tol=1e-12)
    u = ref.u + _random_field(1, n, seed=4)
    CH = prob.homogenized_tensor(u, vox)
    D_true = 0.5 * (CH + CH.transpose(1, 2)) - ref.CH
    D = error_matrix(u, vox, steps=80)
    assert float(torch.linalg.matrix_norm(D - D_true) / torch.linalg.matrix_norm(D_true)) < 1e-3


LIBRARY = [("tubular_gyroid", 0.1), ("tubular_gyroid", 0.25), ("octet", 0.2), ("bcc", 0.15), ("kelvin", 0.25),
           ("sc", 0.12), ("gyroid", 0.2), ("schwarz_p", 0.15), ("gyroid_network", 0.15), ("schwarz_p_network", 0.25)]


def test_estimate_tracks_the_true_error_on_library_cells():
    """The shipped checkpoint on cells of every family (TG, truss, TPMS sheet and network), cube
    and a parallelepiped, n = 16: estimate / true error (vs homogenize(tol=1e-10)) >= 0.5 on at
    least 95% of the cells and their median within [0.85, 1.2] (measured over 96 cells: 0.82 -
    1.29, median 0.99)."""
    from phnet_cuda.surrogate.predict import predict

    cells = []
    for name, vf in LIBRARY:
        lo, hi = reachable_range(name, 16)
        cells.append(make_cell(name, 16, min(max(vf, lo + 1e-3), hi - 1e-3)).double())
    vox = torch.stack(cells)
    ratios = []
    for shape in (None, (65.0, 90.0, 70.0, 1.0, 1.0, 2.5)):
        ref = homogenize(vox, shape=shape, tol=1e-10).CH
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # these cells are outside its training range
            res = predict(vox, shape=shape)
        true = torch.linalg.matrix_norm(res.CH - ref) / torch.linalg.matrix_norm(ref)
        assert float(true.max()) > 0.1  # the premise: the prediction is far off on some of them
        ratios += (res.error_estimate / true).tolist()
    ratios = np.array(ratios)
    assert np.mean(ratios >= 0.5) >= 0.95, ratios
    assert 0.85 <= np.median(ratios) <= 1.2, ratios


def test_bad_arguments_name_themselves():
    vox = tubular_gyroid(8, 0.3)[None].double()
    u = torch.zeros(1, 6, 3, 8, 8, 8, dtype=torch.float64)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="steps"):
            error_matrix(u, vox, steps=bad)
    with pytest.raises(ValueError, match="u must be"):
        error_matrix(u[:, :3], vox)
    with pytest.raises(ValueError, match="vox"):
        error_matrix(u, tubular_gyroid(16, 0.3)[None])  # n of the cells is not u's
    with pytest.raises(ValueError, match="batch"):
        error_matrix(u, torch.cat([vox, vox]))
