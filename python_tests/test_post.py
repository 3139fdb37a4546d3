"""Post-processing (phnet_cuda.post) against independent references: closed forms for isotropic
and cubic tensors, the full fourth-order compliance tensor, brute force over random macroscopic
stresses, volume averages, re-solving with a new base material, finite differences of the
exported displacements."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import phnet_cuda as pc
from phnet_cuda import post, shapes
from phnet_cuda.geometry import tubular_gyroid
from support import random_spd, rel_err

SHAPE = (75.0, 75.0, 75.0, 1.0, 1.0, 2.0)
SKEW = (80.0, 70.0, 85.0, 1.0, 1.2, 1.5)


def cubic_stiffness(C11: float, C12: float, C44: float) -> torch.Tensor:
    C = torch.zeros(6, 6, dtype=torch.float64)
    C[:3, :3] = C12
    C[range(3), range(3)] = C11
    C[range(3, 6), range(3, 6)] = C44
    return C


def full_compliance(S_voigt: np.ndarray) -> np.ndarray:
    """S_ijkl from the Voigt compliance with engineering shears: each shear index halves."""
    pairs = shapes.VOIGT_PAIRS
    S4 = np.zeros((3, 3, 3, 3))
    for a, (i, j) in enumerate(pairs):
        for b, (k, m) in enumerate(pairs):
            f = (0.5 if a >= 3 else 1.0) * (0.5 if b >= 3 else 1.0)
            for (p, q) in {(i, j), (j, i)}:
                for (r, s) in {(k, m), (m, k)}:
                    S4[p, q, r, s] = f * S_voigt[a, b]
    return S4


# ------------------------------------------------------------------------------ constants
def test_isotropic_constants_and_indices():
    E, nu = 3.7, 0.28
    C = pc.isotropic_stiffness(E, nu)
    c = post.engineering_constants(C)
    for k in ("E_x", "E_y", "E_z"):
        assert abs(c[k] - E) < 1e-12 * E
    for k in ("G_yz", "G_xz", "G_xy"):
        assert abs(c[k] - E / (2 * (1 + nu))) < 1e-12 * E
    for k in ("nu_xy", "nu_xz", "nu_yx", "nu_yz", "nu_zx", "nu_zy"):
        assert abs(c[k] - nu) < 1e-12
    ind = post.anisotropy_indices(C)
    assert abs(ind["universal"]) < 1e-12 and abs(ind["zener"] - 1) < 1e-12
    m = post.voigt_reuss_moduli(C)
    K, G = E / (3 * (1 - 2 * nu)), E / (2 * (1 + nu))
    for key, ref in (("K_V", K), ("K_R", K), ("G_V", G), ("G_R", G)):
        assert abs(m[key] - ref) < 1e-12 * ref


def test_poisson_convention_orthotropic():
    # nu_ij = -eps_j / eps_i under uniaxial stress along i, from a hand-built orthotropic S.
    Ex, Ey, Ez, nu_xy, nu_xz, nu_yz = 2.0, 3.0, 5.0, 0.2, 0.3, 0.1
    S = np.zeros((6, 6))
    S[0, 0], S[1, 1], S[2, 2] = 1 / Ex, 1 / Ey, 1 / Ez
    S[0, 1] = S[1, 0] = -nu_xy / Ex
    S[0, 2] = S[2, 0] = -nu_xz / Ex
    S[1, 2] = S[2, 1] = -nu_yz / Ey
    S[3, 3], S[4, 4], S[5, 5] = 1 / 0.7, 1 / 0.8, 1 / 0.9
    c = post.engineering_constants(torch.from_numpy(np.linalg.inv(S)))
    assert abs(c["nu_xy"] - nu_xy) < 1e-12 and abs(c["nu_xz"] - nu_xz) < 1e-12 and abs(c["nu_yz"] - nu_yz) < 1e-12
    assert abs(c["nu_yx"] - nu_xy * Ey / Ex) < 1e-12 and abs(c["nu_zy"] - nu_yz * Ez / Ey) < 1e-12
    assert abs(c["G_yz"] - 0.7) < 1e-12 and abs(c["G_xy"] - 0.9) < 1e-12 and abs(c["E_z"] - Ez) < 1e-12


def test_cubic_directional_young_closed_form():
    C = cubic_stiffness(3.0, 1.2, 0.7)
    S = np.linalg.inv(C.numpy())
    S11, S12, S44 = S[0, 0], S[0, 1], S[3, 3]
    J = S11 - S12 - S44 / 2
    closed = {(1, 0, 0): 1 / S11, (1, 1, 0): 1 / (S11 - J / 2), (1, 1, 1): 1 / (S11 - 2 * J / 3)}
    for d, ref in closed.items():
        assert abs(float(post.directional_young(C, torch.tensor(d, dtype=torch.float64))) - ref) < 1e-12 * ref
    d = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u = (d / d.norm(dim=1, keepdim=True)).numpy()
    quart = (u[:, 0] ** 2 * u[:, 1] ** 2 + u[:, 1] ** 2 * u[:, 2] ** 2 + u[:, 2] ** 2 * u[:, 0] ** 2)
    ref = 1 / (S11 - 2 * J * quart)
    assert rel_err(post.directional_young(C, d), torch.from_numpy(ref)) < 1e-12
    # Zener ratio and the cubic closed form of the universal index, A^U = 6/5 (sqrt A - 1/sqrt A)^2.
    A = 2 * 0.7 / (3.0 - 1.2)
    assert abs(post.zener_anisotropy(C) - A) < 1e-12
    assert abs(post.universal_anisotropy(C) - 1.2 * (math.sqrt(A) - 1 / math.sqrt(A)) ** 2) < 1e-12


def test_directional_young_general_against_fourth_order_tensor():
    # An anisotropic (triclinic) C: 1/E(d) = d_i d_j d_k d_l S_ijkl with the full tensor.
    g = torch.Generator().manual_seed(3)
    C = random_spd(2, generator=g)
    d = torch.randn(5, 7, 3, dtype=torch.float64, generator=g)
    E = post.directional_young(C, d)
    assert E.shape == (2, 5, 7)
    for b in range(2):
        S4 = full_compliance(np.linalg.inv(C[b].numpy()))
        u = (d / d.norm(dim=-1, keepdim=True)).numpy()
        ref = 1 / np.einsum("...i,...j,...k,...l,ijkl->...", u, u, u, u, S4)
        assert rel_err(E[b], torch.from_numpy(ref)) < 1e-12
    # E(d) = E(-d), and a single C gives directions.shape[:-1].
    assert rel_err(post.directional_young(C[0], -d), E[0]) < 1e-14


def test_isotropic_directional_young_is_constant():
    E = post.directional_young(pc.isotropic_stiffness(2.5, 0.3), post.sphere_directions(12))
    assert E.shape == (13, 25) and (E - 2.5).abs().max() < 1e-12


def test_zener_requires_cubic_and_bad_inputs():
    C = random_spd(generator=torch.Generator().manual_seed(4))
    assert post.anisotropy_indices(C)["zener"] is None and post.universal_anisotropy(C) > 0
    with pytest.raises(ValueError, match="not cubic"):
        post.zener_anisotropy(C)
    with pytest.raises(ValueError, match=r"CH must be .*got shape \(6, 5\)"):
        post.engineering_constants(torch.ones(6, 5))
    with pytest.raises(ValueError, match="non-zero"):
        post.directional_young(C, torch.zeros(3))
    with pytest.raises(ValueError, match=r"directions must be \[\.\.\., 3\]"):
        post.directional_young(C, torch.ones(4))


# ------------------------------------------------------------------------------ local fields
@pytest.fixture(scope="module")
def two_phase():
    """A random two-phase cell (soft phase 20% as stiff) in a skewed cell, solved tightly."""
    g = torch.Generator().manual_seed(0)
    vox = (torch.rand(6, 6, 6, generator=g) > 0.5).float()
    mat = dict(E=1.0, nu=0.3, soft_ratio=0.2, shape=SKEW)
    res = pc.homogenize(vox, tol=1e-12, **mat)
    return vox, mat, res


def test_worst_case_solid_cell_is_von_mises_norm():
    vox = torch.ones(4, 4, 4)
    res = pc.homogenize(vox, E=2.0, nu=0.3, shape=SKEW, tol=1e-12)
    A = post.stress_concentration(res.u, vox, E=2.0, nu=0.3, shape=SKEW)
    assert rel_err(A, torch.eye(6, dtype=torch.float64).expand_as(A)) < 1e-10
    # A_e = I: max vm over unit Sigma = sqrt(lambda_max(P)) = sqrt(3) (a pure shear).
    vm, direction = post.worst_case_von_mises(A, return_direction=True, chunk=7)
    assert (vm - math.sqrt(3)).abs().max() < 1e-9
    assert (direction[..., :3].abs().max()) < 1e-6
    lam = np.linalg.eigvalsh(post.von_mises_form().numpy())
    assert np.allclose(lam, [0, 1.5, 1.5, 3, 3, 3], atol=1e-14)
    # Uniaxial yield of a solid is sigma_y, pure shear sigma_y / sqrt(3).
    s = post.yield_stress(A, 5.0, torch.eye(6, dtype=torch.float64)[[0, 3]], vox=vox)
    assert rel_err(s, torch.tensor([[5.0, 5.0 / math.sqrt(3)]], dtype=torch.float64)) < 1e-9


def test_worst_case_against_brute_force(two_phase):
    vox, mat, res = two_phase
    A = post.stress_concentration(res.u, vox, **mat)
    # Independent A: the local stress of each unit macroscopic stress through local_fields.
    cols = [post.local_fields(res.u, vox, macro_stress=torch.eye(6, dtype=torch.float64)[k], **mat)[1][0]
            for k in range(6)]
    A_ref = torch.stack(cols, dim=-1).permute(1, 2, 3, 0, 4)  # [n, n, n, 6, 6]
    assert rel_err(A[0], A_ref) < 1e-10
    vm, direction = post.worst_case_von_mises(A, return_direction=True, chunk=50)
    # Brute force: many random unit Voigt stresses never exceed it and come within 5%.
    g = torch.Generator().manual_seed(5)
    sig = torch.randn(20000, 6, dtype=torch.float64, generator=g)
    sig = sig / sig.norm(dim=1, keepdim=True)
    brute = post.von_mises(torch.einsum("bxyzpq,kq->kbpxyz", A, sig)).amax(dim=0)
    ratio = brute / vm
    assert float(ratio.max()) <= 1 + 1e-12 and float(ratio.min()) > 0.95
    # The maximizing direction attains it: re-load the cell with Sigma* of the peak voxel.
    e = np.unravel_index(int(vm.argmax()), tuple(vm.shape))
    _, s_star = post.local_fields(res.u, vox, macro_stress=direction[e], **mat)
    assert abs(float(post.von_mises(s_star)[e]) - float(vm[e])) < 1e-9 * float(vm[e])


def test_stress_driven_fields_average_to_macro_stress(two_phase):
    vox, mat, res = two_phase
    Sigma = torch.tensor([0.3, -1.0, 0.5, 0.2, -0.1, 0.7], dtype=torch.float64)
    eps, sig = post.local_fields(res.u, vox, macro_stress=Sigma, **mat)
    assert eps.shape == sig.shape == (1, 6, 6, 6, 6)
    assert rel_err(sig.mean(dim=(2, 3, 4))[0], Sigma) < 1e-9
    assert rel_err(eps.mean(dim=(2, 3, 4))[0], torch.linalg.solve(res.CH, Sigma)) < 1e-9
    # Strain route: the stress average is C^H E_bar.
    E_bar = torch.tensor([1.0, 0.2, -0.3, 0.0, 0.4, 0.1], dtype=torch.float64)
    eps, sig = post.local_fields(res.u, vox, macro_strain=E_bar, **mat)
    assert rel_err(eps.mean(dim=(2, 3, 4))[0], E_bar) < 1e-12
    assert rel_err(sig.mean(dim=(2, 3, 4))[0], res.CH @ E_bar) < 1e-9
    with pytest.raises(ValueError, match="exactly one of macro_strain and macro_stress"):
        post.local_fields(res.u, vox, macro_strain=E_bar, macro_stress=Sigma, **mat)
    with pytest.raises(ValueError, match=r"macro_stress must be a Voigt vector \[6\]"):
        post.local_fields(res.u, vox, macro_stress=[1.0, 2.0], **mat)


def test_yield_stress_reaches_sigma_y(two_phase):
    vox, mat, res = two_phase
    A = post.stress_concentration(res.u, vox, **mat)
    dirs = torch.tensor([[1.0, 0, 0, 0, 0, 0], [0.5, 0.5, -1.0, 0.3, 0, 0.2]], dtype=torch.float64)
    s = post.yield_stress(A, 40.0, dirs, vox=vox)
    assert s.shape == (1, 2)
    for k in range(2):
        _, sig = post.local_fields(res.u, vox, macro_stress=s[0, k] * dirs[k] / dirs[k].norm(), **mat)
        peak = float(post.von_mises(sig)[0][vox >= 0.5].max())
        assert abs(peak - 40.0) < 1e-9 * 40.0
    # The worst direction over all unit stresses gives the smallest first-yield stress.
    worst = post.worst_case_von_mises(A)
    assert float(s.min()) >= 40.0 / float(worst[0][vox >= 0.5].max()) * (1 - 1e-12)
    with pytest.raises(ValueError, match="sigma_y must be a positive"):
        post.yield_stress(A, -1.0, dirs)
    with pytest.raises(ValueError, match="non-zero"):
        post.yield_stress(A, 1.0, torch.zeros(6))


def test_displacement_field_matches_voxel_strain(two_phase):
    vox, mat, res = two_phase
    E_bar = torch.tensor([0.4, -0.2, 1.0, 0.3, 0.1, -0.5], dtype=torch.float64)
    scale = 3.0
    w = post.displacement_field(res.u, E_bar, shape=SKEW, scale=scale)[0].numpy()  # [3, n+1, n+1, n+1]
    n = vox.shape[-1]
    # Voxel-average gradient of the trilinear field: face-average differences along xi, then
    # the chain rule with the physical cell matrix.
    g = np.stack([n * (w[:, 1:, :-1, :-1] + w[:, 1:, 1:, :-1] + w[:, 1:, :-1, 1:] + w[:, 1:, 1:, 1:]
                       - w[:, :-1, :-1, :-1] - w[:, :-1, 1:, :-1] - w[:, :-1, :-1, 1:] - w[:, :-1, 1:, 1:]) / 4,
                  n * (w[:, 1:, 1:, :-1] + w[:, :-1, 1:, :-1] + w[:, 1:, 1:, 1:] + w[:, :-1, 1:, 1:]
                       - w[:, 1:, :-1, :-1] - w[:, :-1, :-1, :-1] - w[:, 1:, :-1, 1:] - w[:, :-1, :-1, 1:]) / 4,
                  n * (w[:, 1:, :-1, 1:] + w[:, :-1, :-1, 1:] + w[:, 1:, 1:, 1:] + w[:, :-1, 1:, 1:]
                       - w[:, 1:, :-1, :-1] - w[:, :-1, :-1, :-1] - w[:, 1:, 1:, :-1] - w[:, :-1, 1:, :-1]) / 4],
                 axis=1)  # [component d, xi axis a, n, n, n]
    Jinv = np.linalg.inv(scale * shapes.lattice_matrix(SKEW).numpy())
    grad = np.einsum("daxyz,ab->dbxyz", g, Jinv)  # du_d / dx_b
    eps_fd = np.stack([grad[i, j] if i == j else grad[i, j] + grad[j, i] for i, j in shapes.VOIGT_PAIRS])
    eps, _ = post.local_fields(res.u, vox, macro_strain=E_bar, **mat)
    assert rel_err(torch.from_numpy(eps_fd), eps[0]) < 1e-10
    # The fluctuation alone is periodic.
    f = post.displacement_field(res.u, E_bar, shape=SKEW, include_macro=False)[0]
    assert torch.equal(f[:, 0], f[:, -1]) and torch.equal(f[:, :, :, 0], f[:, :, :, -1])


# ------------------------------------------------------------------------------ base material
@pytest.mark.parametrize("shape", [None, SHAPE], ids=["cube", "parallelepiped"])
def test_change_base_material_against_resolving(shape):
    vox = tubular_gyroid(12, 0.3)
    base = pc.homogenize(vox, E=1.0, nu=0.25, shape=shape, tol=1e-10)
    # A pure E change is exact.
    ref = pc.homogenize(vox, E=3.0, nu=0.25, shape=shape, tol=1e-10).CH
    assert rel_err(post.change_base_material(base.CH, 1.0, 0.25, 3.0, 0.25), ref) < 1e-9
    # Poisson change: within the errors stated in the docstring, the field estimate much closer.
    for nu_new, bound_clm, bound_fields in ((0.15, 0.04, 0.0025), (0.45, 0.11, 0.04)):
        ref = pc.homogenize(vox, E=3.0, nu=nu_new, shape=shape, tol=1e-10).CH
        err = lambda C: float((C - ref).norm() / ref.norm())  # noqa: E731
        e_scale = err(3.0 * base.CH)
        e_clm = err(post.change_base_material(base.CH, 1.0, 0.25, 3.0, nu_new))
        e_fld = err(post.change_base_material(base.CH, 1.0, 0.25, 3.0, nu_new, u=base.u, vox=vox, shape=shape))
        assert e_clm < bound_clm and e_fld < bound_fields, (nu_new, e_clm, e_fld)
        assert e_fld < e_clm < e_scale


def test_change_base_material_solid_cell_exact():
    C = pc.isotropic_stiffness(2.0, 0.3)
    ref = pc.isotropic_stiffness(5.0, 0.1)
    assert rel_err(post.change_base_material(C, 2.0, 0.3, 5.0, 0.1), ref) < 1e-13
    vox = torch.ones(3, 3, 3)
    res = pc.homogenize(vox, E=2.0, nu=0.3, tol=1e-12)
    assert rel_err(post.change_base_material(res.CH, 2.0, 0.3, 5.0, 0.1, u=res.u, vox=vox), ref) < 1e-10
    with pytest.raises(ValueError, match="nu_new must be a Poisson ratio"):
        post.change_base_material(C, 2.0, 0.3, 5.0, 0.5)
    with pytest.raises(ValueError, match="give both u and vox"):
        post.change_base_material(C, 2.0, 0.3, 5.0, 0.1, u=res.u)


def test_clm_shift_exact_in_plane_strain_2d():
    """The relation behind change_base_material: a z-extruded cell with holes is a plane-strain
    problem, whose base compliance is the plane-stress one of (E / (1 - nu^2), nu / (1 - nu)).
    Keeping E / (1 - nu^2) fixed, the in-plane effective compliance shifts exactly like the
    base's (CLM), up to the FE discretization (1e-3 here); plain E scaling is 9% off."""
    n = 12
    c = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    X, Y = torch.meshgrid(c, c, indexing="ij")
    holes = ((X - 0.5) ** 2 + (Y - 0.4) ** 2 < 0.09) | ((X - 0.1) ** 2 + (Y - 0.9) ** 2 < 0.01)
    vox = (~holes).float()[:, :, None].expand(n, n, n).contiguous()
    ip = [0, 1, 5]

    def inplane_S(C):
        return torch.linalg.inv(C[ip][:, ip])

    E, nu, nu2 = 1.0, 0.3, 0.1
    E2 = E * (1 - nu2 ** 2) / (1 - nu ** 2)
    S0 = inplane_S(pc.homogenize(vox, E=E, nu=nu, tol=1e-11).CH)
    S1 = inplane_S(pc.homogenize(vox, E=E2, nu=nu2, tol=1e-11).CH)
    shifted = S0 + inplane_S(pc.isotropic_stiffness(E2, nu2)) - inplane_S(pc.isotropic_stiffness(E, nu))
    assert float((shifted - S1).norm() / S1.norm()) < 2e-3
    assert float((S0 - S1).norm() / S1.norm()) > 0.05
