"""Properties of a homogenized stiffness tensor C^H alone (no fields): accuracy, compliance,
engineering constants, Voigt/Reuss moduli, anisotropy indices and the directional Young's modulus.

Conventions (docs/conventions.md): Voigt order [xx, yy, zz, yz, xz, xy], strains with
engineering shears (gamma_yz = 2 eps_yz), so sigma = C eps with a symmetric 6 x 6 C and the
compliance S = C^-1 maps stresses to engineering strains. Stresses in Voigt vectors carry no
factors (sigma_yz once). Tensors carry the unit of the base Young's modulus E (e.g. MPa).

``relative_error`` (PH-Net's accuracy measure), ``compliance``, ``engineering_constants``,
``voigt_reuss_moduli``, ``universal_anisotropy`` / ``zener_anisotropy`` / ``is_cubic`` /
``anisotropy_indices``, ``directional_young`` (E(d) over many directions, with
``uniaxial_voigt`` and ``sphere_directions``).
"""

from __future__ import annotations

import math

import torch

_SHEAR_NAMES = ("G_yz", "G_xz", "G_xy")
_AXES = "xyz"


# ------------------------------------------------------------------------------ validation
def _check_stiffness(CH, name: str = "CH") -> torch.Tensor:
    """float64 ``[..., 6, 6]`` (detached) with finite entries."""
    C = torch.as_tensor(CH.detach() if isinstance(CH, torch.Tensor) else CH, dtype=torch.float64)
    if C.dim() < 2 or tuple(C.shape[-2:]) != (6, 6):
        raise ValueError(f"{name} must be a Voigt matrix [6, 6] or a batch [B, 6, 6], got shape {tuple(C.shape)}")
    if not torch.isfinite(C).all():
        raise ValueError(f"{name} must have finite entries")
    return C


def relative_error(CH, CH_ref) -> torch.Tensor:
    """delta = ||CH - CH_ref||_F / ||CH_ref||_F (float64): a scalar tensor for two ``[6, 6]``
    matrices, ``[B]`` for batches (broadcast), on CH's device. PH-Net's accuracy measure."""
    A, R = _check_stiffness(CH, "CH"), _check_stiffness(CH_ref, "CH_ref")
    R = R.to(A.device)
    try:
        diff = A - R
    except RuntimeError:
        raise ValueError(f"CH and CH_ref must have broadcastable shapes, got {tuple(A.shape)} and "
                         f"{tuple(R.shape)}") from None
    return torch.linalg.matrix_norm(diff) / torch.linalg.matrix_norm(R)


def compliance(CH) -> torch.Tensor:
    """Compliance S = C^-1 ``[..., 6, 6]`` (float64) of Voigt stiffness matrices ``[..., 6, 6]``.

    S maps a stress vector (no factors) to the engineering strain vector."""
    C = _check_stiffness(CH)
    S = torch.linalg.inv(C)
    return 0.5 * (S + S.transpose(-1, -2))


# ------------------------------------------------------------------------------ constants
def engineering_constants(CH: torch.Tensor) -> dict[str, float]:
    """Engineering constants of one C^H ``[6, 6]`` (Voigt, engineering shears, unit of E).

    From the compliance S = C^-1 (indices 1-based, order xx yy zz yz xz xy):
    E_x = 1 / S_11, E_y = 1 / S_22, E_z = 1 / S_33; G_yz = 1 / S_44, G_xz = 1 / S_55,
    G_xy = 1 / S_66; the six Poisson ratios nu_ij = -S_ji / S_ii = -eps_j / eps_i under a
    uniaxial stress along i (so nu_ij / E_i = nu_ji / E_j). Keys: ``E_x, E_y, E_z, G_yz, G_xz,
    G_xy, nu_xy, nu_xz, nu_yx, nu_yz, nu_zx, nu_zy``."""
    C = _check_stiffness(CH)
    if C.shape != (6, 6):
        raise ValueError(f"CH must be [6, 6], got shape {tuple(C.shape)}")
    S = torch.linalg.inv(C)
    out = {}
    for i in range(3):
        out[f"E_{_AXES[i]}"] = float(1.0 / S[i, i])
    for k, name in enumerate(_SHEAR_NAMES):
        out[name] = float(1.0 / S[3 + k, 3 + k])
    for i in range(3):
        for j in range(3):
            if i != j:
                out[f"nu_{_AXES[i]}{_AXES[j]}"] = float(-S[j, i] / S[i, i])
    return out


def voigt_reuss_moduli(CH) -> dict[str, float]:
    """Voigt and Reuss bulk and shear moduli of one C ``[6, 6]`` (Hill 1952), unit of C.

    K_V = (C11 + C22 + C33 + 2 (C12 + C13 + C23)) / 9,
    G_V = (C11 + C22 + C33 - (C12 + C13 + C23) + 3 (C44 + C55 + C66)) / 15,
    1 / K_R = S11 + S22 + S33 + 2 (S12 + S13 + S23),
    15 / G_R = 4 (S11 + S22 + S33) - 4 (S12 + S13 + S23) + 3 (S44 + S55 + S66)
    (S with engineering shears, so S44 = 1 / G for an isotropic material)."""
    C = _check_stiffness(CH)
    if C.shape != (6, 6):
        raise ValueError(f"CH must be [6, 6], got shape {tuple(C.shape)}")
    S = torch.linalg.inv(C)

    def sums(A):
        return (float(A[0, 0] + A[1, 1] + A[2, 2]), float(A[0, 1] + A[0, 2] + A[1, 2]),
                float(A[3, 3] + A[4, 4] + A[5, 5]))

    c_n, c_o, c_s = sums(C)
    s_n, s_o, s_s = sums(S)
    return {"K_V": (c_n + 2 * c_o) / 9, "G_V": (c_n - c_o + 3 * c_s) / 15,
            "K_R": 1.0 / (s_n + 2 * s_o), "G_R": 15.0 / (4 * s_n - 4 * s_o + 3 * s_s)}


def universal_anisotropy(CH) -> float:
    """Universal anisotropy index A^U = 5 G_V / G_R + K_V / K_R - 6 of one C ``[6, 6]``
    (Ranganathan & Ostoja-Starzewski 2008): 0 exactly for an isotropic C, > 0 otherwise;
    valid for any symmetry and invariant under rotations."""
    m = voigt_reuss_moduli(CH)
    return 5 * m["G_V"] / m["G_R"] + m["K_V"] / m["K_R"] - 6


def is_cubic(CH, rtol: float = 1e-6) -> bool:
    """True when C ``[6, 6]`` has cubic symmetry in the x, y, z axes within ``rtol`` * max|C|:
    C11 = C22 = C33, C12 = C13 = C23, C44 = C55 = C66 and every other entry 0."""
    C = _check_stiffness(CH)
    if C.shape != (6, 6):
        raise ValueError(f"CH must be [6, 6], got shape {tuple(C.shape)}")
    tol = rtol * float(C.abs().max())
    groups = ([(0, 0), (1, 1), (2, 2)], [(0, 1), (0, 2), (1, 2)], [(3, 3), (4, 4), (5, 5)])
    for g in groups:
        vals = [float(C[i, j]) for i, j in g]
        if max(vals) - min(vals) > tol:
            return False
    mask = torch.ones(6, 6, dtype=torch.bool)
    for g in groups:
        for i, j in g:
            mask[i, j] = mask[j, i] = False
    return bool((C[mask].abs() <= tol).all())


def zener_anisotropy(CH, rtol: float = 1e-6) -> float:
    """Zener ratio A = 2 C44 / (C11 - C12) of a cubic C ``[6, 6]`` (1 for isotropic).

    Raises ValueError when C is not cubic in the x, y, z axes (``is_cubic`` with ``rtol``): the
    ratio has no meaning otherwise; use ``universal_anisotropy`` for general C."""
    C = _check_stiffness(CH)
    if C.shape != (6, 6):
        raise ValueError(f"CH must be [6, 6], got shape {tuple(C.shape)}")
    if not is_cubic(C, rtol):
        raise ValueError("CH is not cubic (C11 = C22 = C33, C12 = C13 = C23, C44 = C55 = C66, others 0) "
                         f"within rtol = {rtol:g}; the Zener ratio needs cubic symmetry")
    return float(2 * C[3, 3] / (C[0, 0] - C[0, 1]))


def anisotropy_indices(CH, rtol: float = 1e-6) -> dict:
    """``{"universal": A^U, "zener": A or None}`` of one C ``[6, 6]``; ``zener`` is None when C is
    not cubic within ``rtol`` (see ``zener_anisotropy``). Isotropic C: A^U = 0, Zener 1."""
    return {"universal": universal_anisotropy(CH),
            "zener": zener_anisotropy(CH, rtol) if is_cubic(CH, rtol) else None}


# ------------------------------------------------------------------------------ directional E
def _unit_directions(directions) -> torch.Tensor:
    d = torch.as_tensor(directions.detach() if isinstance(directions, torch.Tensor) else directions,
                        dtype=torch.float64)
    if d.dim() < 1 or d.shape[-1] != 3:
        raise ValueError(f"directions must be [..., 3] vectors, got shape {tuple(d.shape)}")
    norm = d.norm(dim=-1, keepdim=True)
    if not (torch.isfinite(d).all() and (norm > 0).all()):
        raise ValueError("directions must be finite, non-zero vectors")
    return d / norm


def uniaxial_voigt(directions) -> torch.Tensor:
    """Voigt stress vectors of unit uniaxial stresses d (x) d, ``[..., 6]``:
    (d1^2, d2^2, d3^2, d2 d3, d1 d3, d1 d2) for unit d (directions are normalized first)."""
    d = _unit_directions(directions)
    d1, d2, d3 = d[..., 0], d[..., 1], d[..., 2]
    return torch.stack([d1 * d1, d2 * d2, d3 * d3, d2 * d3, d1 * d3, d1 * d2], dim=-1)


def directional_young(CH, directions) -> torch.Tensor:
    """Young's modulus along directions d: E(d) = 1 / (d (x) d : S : d (x) d).

    With the uniaxial stress sigma = d (x) d as a Voigt vector v = (d1^2, d2^2, d3^2, d2 d3,
    d1 d3, d1 d2) (stress: no factors), S v is the ENGINEERING strain, and the normal strain
    along d is d . eps . d = v . (S v) - the engineering factor 2 of the shears is exactly
    compensated by the single off-diagonal product in v, so 1 / E(d) = v^T S v.

    Args:
        CH: stiffness ``[6, 6]`` or ``[B, 6, 6]`` (unit of E).
        directions: ``[..., 3]`` (any non-zero length; normalized here), e.g. from
            ``sphere_directions``.
    Returns:
        float64 ``directions.shape[:-1]`` for one CH, ``[B, *directions.shape[:-1]]`` for a batch.
    """
    S = compliance(CH)
    v = uniaxial_voigt(directions)
    if S.dim() == 2:
        return 1.0 / torch.einsum("...p,pq,...q->...", v, S, v)
    flat = v.reshape(-1, 6)
    inv_E = torch.einsum("kp,bpq,kq->bk", flat, S.reshape(-1, 6, 6), flat)
    return (1.0 / inv_E).reshape(*S.shape[:-2], *v.shape[:-1])


def sphere_directions(resolution: int = 48) -> torch.Tensor:
    """Unit directions on a latitude-longitude grid ``[resolution + 1, 2 resolution + 1, 3]``
    (polar angle theta in [0, pi] from +z, azimuth phi in [0, 2 pi] from +x), float64: the
    grid of a closed surface plot r(d) = E(d) d."""
    if not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    theta = torch.linspace(0, math.pi, resolution + 1, dtype=torch.float64)
    phi = torch.linspace(0, 2 * math.pi, 2 * resolution + 1, dtype=torch.float64)
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    return torch.stack([torch.sin(t) * torch.cos(p), torch.sin(t) * torch.sin(p), torch.cos(t)], dim=-1)


__all__ = [
    "anisotropy_indices",
    "compliance",
    "directional_young",
    "engineering_constants",
    "is_cubic",
    "relative_error",
    "sphere_directions",
    "uniaxial_voigt",
    "universal_anisotropy",
    "voigt_reuss_moduli",
    "zener_anisotropy",
]
