"""Materials in Voigt notation (docs/conventions.md: order [xx, yy, zz, yz, xz, xy], engineering shears).

Functions here build 6 x 6 stiffness matrices of the base material, the two-phase
(hard/soft) mixture, the 36-channel material-voxel tensor of PH-Net, and the 21-phase
decomposition that lets the custom ops handle any per-voxel anisotropic C.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from . import shapes
from .conventions import DEFAULT_SOFT_RATIO
from .conventions import VOIGT_ORDER as VOIGT_ORDER  # re-exported: materials.VOIGT_ORDER predates conventions

Scalar = float | torch.Tensor


def _as_tensor(x: Scalar, name: str, dtype: torch.dtype, device) -> torch.Tensor:
    if isinstance(x, (str, bytes, bool)) or (isinstance(x, np.ndarray) and not np.issubdtype(x.dtype, np.number)):
        raise TypeError(f"{name} must be a number or a per-sample vector [B], got {x!r}")
    if isinstance(x, np.ndarray):
        x = np.ascontiguousarray(x)  # negative strides (np.flip) are fine here
    try:
        t = torch.as_tensor(x, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be a number or a per-sample vector [B], got {x!r} ({exc})") from None
    if t.dim() > 1:
        raise ValueError(f"{name} must be a scalar or a per-sample vector [B], got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {x}")
    return t


def youngs_modulus(E: Scalar, name: str = "E") -> torch.Tensor:
    """``E`` validated as a positive, finite scalar or per-sample ``[B]`` float64 CPU tensor."""
    E_t = _as_tensor(E, name, torch.float64, None)
    if (E_t <= 0).any():
        raise ValueError(f"{name} must be positive, got {E}")
    return E_t


def isotropic_stiffness(E: Scalar = 1.0, nu: Scalar = 0.3, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Isotropic C(E, nu) in Voigt form.

    Args:
        E: Young's modulus (any unit; C has the same unit), scalar or per-sample ``[B]``.
        nu: Poisson ratio in (-1, 0.5), scalar or ``[B]``.
    Returns:
        ``[6, 6]`` for scalars, ``[B, 6, 6]`` for vectors.
    """
    E_t = _as_tensor(E, "E", dtype, device)
    nu_t = _as_tensor(nu, "nu", dtype, device)
    if (E_t <= 0).any():
        raise ValueError(f"E must be positive, got {E}")
    if ((nu_t <= -1) | (nu_t >= 0.5)).any():
        raise ValueError(f"nu must lie in (-1, 0.5), got {nu}")
    E_t, nu_t = torch.broadcast_tensors(E_t, nu_t)
    lam = E_t * nu_t / ((1 + nu_t) * (1 - 2 * nu_t))
    mu = E_t / (2 * (1 + nu_t))
    C = torch.zeros(E_t.shape + (6, 6), dtype=dtype, device=device)
    for p in range(3):
        for q in range(3):
            C[..., p, q] = lam
        C[..., p, p] = lam + 2 * mu
        C[..., p + 3, p + 3] = mu
    return C


def two_phase_stiffness(E: Scalar = 1.0, nu: Scalar = 0.3, soft_ratio: Scalar = DEFAULT_SOFT_RATIO,
                        *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Stiffness of the hard and the soft phase, ``[..., 2, 6, 6]`` (index 0 hard, 1 soft).

    The soft phase is C(soft_ratio * E, nu) (docs/conventions.md, soft_ratio = 1e-6 by default).
    """
    ratio = _as_tensor(soft_ratio, "soft_ratio", dtype, device)
    if ((ratio <= 0) | (ratio > 1)).any():
        raise ValueError(f"soft_ratio must lie in (0, 1], got {soft_ratio}")
    hard = isotropic_stiffness(E, nu, dtype=dtype, device=device)
    E_t = _as_tensor(E, "E", dtype, device)
    E_s, nu_s = torch.broadcast_tensors(E_t * ratio, _as_tensor(nu, "nu", dtype, device))
    soft = isotropic_stiffness(E_s, nu_s, dtype=dtype, device=device)
    hard, soft = torch.broadcast_tensors(hard, soft)
    return torch.stack([hard, soft], dim=-3)


class CubeMaterials(NamedTuple):
    """The two phases of a cell as the cube problem sees them (``cube_materials``), float64 CPU.

    C ``[B|1, 2, 6, 6]`` physical stiffness (hard, soft) in the global frame; C_hat the cube
    material M^-T C M^-1 of each phase (= C for shape None); J ``[B|1, 3, 3]`` lattice matrix
    scaled to unit volume; M ``[B|1, 6, 6]`` its strain map; shape None or the validated cell,
    parameters ``[B|1, 6]`` or a lattice matrix ``[B|1, 3, 3]`` as given. B is the batch of the
    per-sample materials or shapes, 1 if shared.
    """

    C: torch.Tensor
    C_hat: torch.Tensor
    J: torch.Tensor
    M: torch.Tensor
    shape: torch.Tensor | None


def cube_materials(E: Scalar = 1.0, nu: Scalar = 0.3, soft_ratio: Scalar = DEFAULT_SOFT_RATIO,
                   shape=None) -> CubeMaterials:
    """Two-phase material plus the shape-material transformation, defined once for the solver
    (``CellProblem``) and the network input (``material_voxel_tensor``) so that both always see
    the same problem.

    Args:
        E, nu, soft_ratio: scalars or per-sample ``[B]``.
        shape: None (unit cube), parallelepiped parameters ``[6]`` / ``[B, 6]``
            (``shapes.shape_parameters``) or a lattice matrix ``[3, 3]`` / ``[B, 3, 3]`` whose
            columns are the lattice vectors in the global frame (``shapes.cell_shape``).
    Raises:
        ValueError: invalid materials or shape, or per-sample materials and shapes whose
            batches differ.
    """
    C = two_phase_stiffness(E, nu, soft_ratio, dtype=torch.float64)  # [2, 6, 6] or [B, 2, 6, 6]
    if C.dim() == 3:
        C = C.unsqueeze(0)
    if shape is None:
        eye3 = torch.eye(3, dtype=torch.float64).unsqueeze(0)
        eye6 = torch.eye(6, dtype=torch.float64).unsqueeze(0)
        return CubeMaterials(C, C, eye3, eye6, None)
    cell = shapes.cell_shape(shape).cpu()  # parameters [6] / [B, 6] or a lattice [3, 3] / [B, 3, 3]
    if shapes.shape_batch(cell) is None:
        cell = cell.unsqueeze(0)
    Bs, Bc = cell.shape[0], C.shape[0]
    if Bs != 1 and Bc != 1 and Bs != Bc:
        raise ValueError(f"shape has batch {Bs}, but the per-sample materials have batch {Bc}")
    J = shapes.unit_volume(shapes.lattice_matrix(cell))
    M = shapes.strain_map(J)
    C_hat = shapes.transform_stiffness(C, M[:, None])  # [max(Bs, Bc), 2, 6, 6]
    return CubeMaterials(C, C_hat, J, M, cell)


def check_voxels(vox, name: str = "vox") -> torch.Tensor:
    """Validate a voxel array ``[n, n, n]`` or ``[B, n, n, n]`` with values in [0, 1]; returns ``[B, n, n, n]``.

    Accepts torch tensors and numpy arrays (any strides) of a real or bool dtype. Values outside
    [0, 1] (a 0/255 image, labels 0/1/2, negative numbers) and NaN/inf are rejected with the
    range found: an integer array is not silently read as stiffness fractions."""
    if isinstance(vox, np.ndarray):
        vox = np.ascontiguousarray(vox)  # torch cannot wrap negative strides (np.flip)
    if not isinstance(vox, torch.Tensor):
        try:
            vox = torch.as_tensor(vox)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a voxel array (torch tensor or numpy array), got "
                            f"{type(vox).__name__} ({exc})") from None
    if vox.dim() == 3:
        vox = vox.unsqueeze(0)
    if vox.dim() != 4 or not (vox.shape[1] == vox.shape[2] == vox.shape[3]) or vox.shape[1] < 1:
        raise ValueError(f"{name} must be a voxel array [n, n, n] or [B, n, n, n], got shape {tuple(vox.shape)}")
    if vox.dtype.is_complex:
        raise ValueError(f"{name} must be real, got dtype {vox.dtype}")
    if vox.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor (no values); pass a CPU or CUDA tensor")
    if vox.numel() and vox.dtype != torch.bool:
        lo, hi = float(vox.detach().min()), float(vox.detach().max())
        # NaN propagates through min/max and inf lies outside [0, 1]: one pass catches both
        if lo < 0 or hi > 1 or lo != lo or hi != hi:
            hint = " (a 0/255 image? divide it by 255)" if hi == 255 and lo >= 0 else ""
            raise ValueError(f"{name} values must lie in [0, 1] (1 = hard phase), got range [{lo:g}, {hi:g}]{hint}")
    return vox


def two_phase_fractions(vox: torch.Tensor, dtype=None) -> torch.Tensor:
    """Phase fractions ``[B, 2, n, n, n]`` = (vox, 1 - vox) for ``vox`` ``[B, n, n, n]``."""
    v = vox.to(dtype or (vox.dtype if vox.dtype.is_floating_point else torch.float32))
    return torch.stack([v, 1 - v], dim=1)


def material_voxel_tensor(vox, E: Scalar = 1.0, nu: Scalar = 0.3, soft_ratio: Scalar = DEFAULT_SOFT_RATIO,
                          *, shape=None, dtype=torch.float32) -> torch.Tensor:
    """PH-Net's 36-channel input: per-voxel C_e = vox C_hard + (1 - vox) C_soft, flattened row-major.

    Args:
        vox: ``[n, n, n]`` or ``[B, n, n, n]`` in [0, 1]; the tensor is built on ``vox.device``.
        E, nu, soft_ratio: scalars or per-sample ``[B]``.
        shape: None (unit cube), parallelepiped parameters ``[6]`` / ``[B, 6]``
            (alpha_xy, alpha_yz, alpha_xz in degrees, l_x, l_y, l_z; docs/conventions.md) or a
            lattice matrix ``[3, 3]`` / ``[B, 3, 3]`` (columns = lattice vectors). When given,
            each phase's C is replaced by the cube material C_hat = M^-T C M^-1 of the
            shape-material transformation, so the network sees the same problem the solver does.
    Returns:
        ``[B, 36, n, n, n]``; channel ``6 p + q`` is ``C_e[p, q]`` (docs/conventions.md).
    """
    vox = check_voxels(vox)
    B = vox.shape[0]
    Cs = cube_materials(E, nu, soft_ratio, shape).C_hat
    if Cs.shape[0] not in (1, B):
        raise ValueError(f"per-sample materials/shapes have batch {Cs.shape[0]}, but vox has batch {B}")
    Cs = Cs.to(vox.device).expand(B, 2, 6, 6)
    phase = two_phase_fractions(vox, torch.float64)
    out = torch.einsum("bmxyz,bmpq->bpqxyz", phase, Cs)
    return out.reshape(B, 36, *vox.shape[1:]).to(dtype)


def symmetric_basis(dtype=torch.float64, device=None) -> torch.Tensor:
    """The 21 basis matrices ``[21, 6, 6]`` of symmetric 6 x 6 matrices, in the order of
    ``symmetric_pairs()``: E^(pp) = e_p e_p^T, E^(pq) = e_p e_q^T + e_q e_p^T (p < q).
    A symmetric C equals sum_m C[p_m, q_m] E^(m)."""
    pairs = symmetric_pairs()
    basis = torch.zeros(len(pairs), 6, 6, dtype=dtype, device=device)
    for m, (p, q) in enumerate(pairs):
        basis[m, p, q] = 1
        basis[m, q, p] = 1
    return basis


def symmetric_pairs() -> list[tuple[int, int]]:
    """Upper-triangle index pairs (p, q), p <= q, row-major: 21 of them."""
    return [(p, q) for p in range(6) for q in range(p, 6)]


def anisotropic_phases(material: torch.Tensor) -> torch.Tensor:
    """Decompose a per-voxel material ``[B, 36, n, n, n]`` (the material-voxel tensor) into
    21 'phases' ``[B, 21, n, n, n]`` whose element matrices are those of ``symmetric_basis()``.

    With them, the ops handle any per-voxel symmetric C (graded, multi-material, shape-
    transformed). The input must be symmetric in (p, q)."""
    if material.dim() != 5 or material.shape[1] != 36:
        raise ValueError(f"material must be [B, 36, n, n, n], got shape {tuple(material.shape)}")
    C = material.reshape(material.shape[0], 6, 6, *material.shape[2:])
    asym = (C - C.transpose(1, 2)).abs().amax() if C.numel() else torch.tensor(0.0)
    scale = C.abs().amax() if C.numel() else torch.tensor(1.0)
    if asym > 1e-6 * max(float(scale), 1e-30):
        raise ValueError(f"material must hold symmetric 6x6 matrices, max asymmetry {float(asym):.3g}")
    return torch.stack([C[:, p, q] for p, q in symmetric_pairs()], dim=1)
