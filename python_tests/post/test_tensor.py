"""Tensor-level post-processing (phnet_cuda.post.tensor) against independent references: closed
forms for isotropic and cubic tensors, the full fourth-order compliance tensor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support import assert_rel_close, random_spd

import phnet_cuda as pc
from phnet_cuda.conventions import VOIGT_PAIRS
from phnet_cuda.post import tensor


def cubic_stiffness(C11: float, C12: float, C44: float) -> torch.Tensor:
    C = torch.zeros(6, 6, dtype=torch.float64)
    C[:3, :3] = C12
    C[range(3), range(3)] = C11
    C[range(3, 6), range(3, 6)] = C44
    return C


def full_compliance(S_voigt: np.ndarray) -> np.ndarray:
    """S_ijkl from the Voigt compliance with engineering shears: each shear index halves."""
    pairs = VOIGT_PAIRS
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
    c = tensor.engineering_constants(C)
    for k in ("E_x", "E_y", "E_z"):
        assert abs(c[k] - E) < 1e-12 * E
    for k in ("G_yz", "G_xz", "G_xy"):
        assert abs(c[k] - E / (2 * (1 + nu))) < 1e-12 * E
    for k in ("nu_xy", "nu_xz", "nu_yx", "nu_yz", "nu_zx", "nu_zy"):
        assert abs(c[k] - nu) < 1e-12
    ind = tensor.anisotropy_indices(C)
    assert abs(ind["universal"]) < 1e-12 and abs(ind["zener"] - 1) < 1e-12
    m = tensor.voigt_reuss_moduli(C)
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
    c = tensor.engineering_constants(torch.from_numpy(np.linalg.inv(S)))
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
        assert abs(float(tensor.directional_young(C, torch.tensor(d, dtype=torch.float64))) - ref) < 1e-12 * ref
    d = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u = (d / d.norm(dim=1, keepdim=True)).numpy()
    quart = (u[:, 0] ** 2 * u[:, 1] ** 2 + u[:, 1] ** 2 * u[:, 2] ** 2 + u[:, 2] ** 2 * u[:, 0] ** 2)
    ref = 1 / (S11 - 2 * J * quart)
    assert_rel_close(tensor.directional_young(C, d), torch.from_numpy(ref), 1e-12)
    # Zener ratio and the cubic closed form of the universal index, A^U = 6/5 (sqrt A - 1/sqrt A)^2.
    A = 2 * 0.7 / (3.0 - 1.2)
    assert abs(tensor.zener_anisotropy(C) - A) < 1e-12
    assert abs(tensor.universal_anisotropy(C) - 1.2 * (math.sqrt(A) - 1 / math.sqrt(A)) ** 2) < 1e-12


def test_directional_young_general_against_fourth_order_tensor():
    # An anisotropic (triclinic) C: 1/E(d) = d_i d_j d_k d_l S_ijkl with the full tensor.
    g = torch.Generator().manual_seed(3)
    C = random_spd(2, generator=g)
    d = torch.randn(5, 7, 3, dtype=torch.float64, generator=g)
    E = tensor.directional_young(C, d)
    assert E.shape == (2, 5, 7)
    for b in range(2):
        S4 = full_compliance(np.linalg.inv(C[b].numpy()))
        u = (d / d.norm(dim=-1, keepdim=True)).numpy()
        ref = 1 / np.einsum("...i,...j,...k,...l,ijkl->...", u, u, u, u, S4)
        assert_rel_close(E[b], torch.from_numpy(ref), 1e-12)
    # E(d) = E(-d), and a single C gives directions.shape[:-1].
    assert_rel_close(tensor.directional_young(C[0], -d), E[0], 1e-14)


def test_isotropic_directional_young_is_constant():
    E = tensor.directional_young(pc.isotropic_stiffness(2.5, 0.3), tensor.sphere_directions(12))
    assert E.shape == (13, 25) and (E - 2.5).abs().max() < 1e-12


def test_zener_requires_cubic_and_bad_inputs():
    C = random_spd(generator=torch.Generator().manual_seed(4))
    assert tensor.anisotropy_indices(C)["zener"] is None and tensor.universal_anisotropy(C) > 0
    with pytest.raises(ValueError, match="not cubic"):
        tensor.zener_anisotropy(C)
    with pytest.raises(ValueError, match=r"CH must be .*got shape \(6, 5\)"):
        tensor.engineering_constants(torch.ones(6, 5))
    with pytest.raises(ValueError, match="non-zero"):
        tensor.directional_young(C, torch.zeros(3))
    with pytest.raises(ValueError, match=r"directions must be \[\.\.\., 3\]"):
        tensor.directional_young(C, torch.ones(4))


def test_relative_error():
    A = torch.eye(6, dtype=torch.float64).expand(2, 6, 6)
    assert torch.allclose(tensor.relative_error(1.01 * A, A), torch.full((2,), 0.01, dtype=torch.float64))
