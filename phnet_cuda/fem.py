"""Element matrices of the 8-node trilinear hexahedron (cube of edge h, 2 x 2 x 2 Gauss).

Local numbering (``conventions.NODE_OFFSETS``, restated in csrc/element_math.h): local node
``nd = 4 a + 2 b + c`` sits at offset (a, b, c) in {0, 1}^3 from the voxel's corner node (i, j, k); its dofs are
``3 nd + {0, 1, 2}`` (x, y, z). Everything is computed in float64.

For a material C (any symmetric 6 x 6, also anisotropic):
    Ke = sum_g w_g B_g^T C B_g          [24, 24]   (stiffness)
    Fe = sum_g w_g B_g^T C              [24, 6]    (load columns: f_i = sum_e Fe_e[:, i])
    Ce = h^3 C                          [6, 6]     (integral of C over the element)
with w_g = h^3 / 8. Then, per docs/conventions.md, int_e (eps_i - B u)^T C (eps_j - B u) dV =
Ce_ij - u.Fe[:, j] - u.Fe[:, i] + u^T Ke u for the exact (bi)linear strain fields.
"""

from __future__ import annotations

import math

import torch

from .conventions import NODE_OFFSETS

GAUSS_1D = (0.5 - 0.5 / math.sqrt(3.0), 0.5 + 0.5 / math.sqrt(3.0))  # on [0, 1]


def node_offsets() -> torch.Tensor:
    """``[8, 3]`` integer offsets (a, b, c) of the local nodes, ``nd = 4 a + 2 b + c``
    (``conventions.NODE_OFFSETS`` as a tensor)."""
    return torch.tensor(NODE_OFFSETS, dtype=torch.int64)


def gauss_points(dtype=torch.float64) -> torch.Tensor:
    """``[8, 3]`` Gauss points in the unit element [0, 1]^3 (weights all 1/8)."""
    g = GAUSS_1D
    return torch.tensor([[g[a], g[b], g[c]] for a in range(2) for b in range(2) for c in range(2)], dtype=dtype)


def shape_gradients(points: torch.Tensor, h: float) -> torch.Tensor:
    """Gradients d N_nd / d x at points ``[P, 3]`` (local coords in [0, 1]^3): ``[P, 8, 3]``."""
    off = node_offsets().to(points.dtype)  # [8, 3]
    # N_nd = prod_d (off_d ? s_d : 1 - s_d); derivative of one factor is (off_d ? 1 : -1).
    val = torch.where(off[None] > 0, points[:, None, :], 1 - points[:, None, :])  # [P, 8, 3]
    sign = 2 * off - 1  # [8, 3]
    grads = []
    for d in range(3):
        others = [e for e in range(3) if e != d]
        grads.append(sign[None, :, d] * val[..., others[0]] * val[..., others[1]])
    return torch.stack(grads, dim=-1) / h


def strain_displacement(points: torch.Tensor, h: float) -> torch.Tensor:
    """Strain-displacement matrices B ``[P, 6, 24]`` (Voigt, engineering shears) at ``points``."""
    dN = shape_gradients(points, h)  # [P, 8, 3]
    P = points.shape[0]
    B = torch.zeros(P, 6, 24, dtype=points.dtype)
    for nd in range(8):
        gx, gy, gz = dN[:, nd, 0], dN[:, nd, 1], dN[:, nd, 2]
        ux, uy, uz = 3 * nd, 3 * nd + 1, 3 * nd + 2
        B[:, 0, ux] = gx
        B[:, 1, uy] = gy
        B[:, 2, uz] = gz
        B[:, 3, uy] = gz
        B[:, 3, uz] = gy
        B[:, 4, ux] = gz
        B[:, 4, uz] = gx
        B[:, 5, ux] = gy
        B[:, 5, uy] = gx
    return B


def _check_C(C: torch.Tensor) -> torch.Tensor:
    if C.shape[-2:] != (6, 6):
        raise ValueError(f"C must be [..., 6, 6] Voigt stiffness matrices, got shape {tuple(C.shape)}")
    C = C.to(torch.float64)
    if not torch.allclose(C, C.transpose(-1, -2), rtol=1e-10, atol=1e-12 * float(C.abs().amax().clamp_min(1e-300))):
        raise ValueError("C must be symmetric")
    return C


def element_matrices(C: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Element stiffness, load and volume matrices for materials ``C`` ``[..., 6, 6]``.

    Args:
        C: Voigt stiffness, any symmetric 6 x 6 (batched freely).
        h: element edge length (1 / n for the unit cube of docs/conventions.md).
    Returns:
        ``(Ke [..., 24, 24], Fe [..., 24, 6], Ce [..., 6, 6])`` in float64 on C's device.
    """
    if not h > 0:
        raise ValueError(f"h must be positive, got {h}")
    C = _check_C(C)
    B = strain_displacement(gauss_points(), h).to(C.device)  # [8, 6, 24]
    w = h ** 3 / 8.0
    Ke = w * torch.einsum("gpa,...pq,gqb->...ab", B, C, B)
    Ke = 0.5 * (Ke + Ke.transpose(-1, -2))  # exact symmetry (the CPU ops check it)
    Fe = w * torch.einsum("gpa,...pq->...aq", B, C)
    Ce = h ** 3 * C
    return Ke, Fe, Ce


def element_stiffness(C: torch.Tensor, h: float) -> torch.Tensor:
    """``Ke [..., 24, 24]`` for materials ``C [..., 6, 6]`` (see ``element_matrices``)."""
    return element_matrices(C, h)[0]


def element_load(C: torch.Tensor, h: float) -> torch.Tensor:
    """``Fe [..., 24, 6]`` for materials ``C [..., 6, 6]`` (see ``element_matrices``)."""
    return element_matrices(C, h)[1]


def center_strain_displacement(n: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """B at the voxel centre ``[6, 24]`` (= the Gauss-point average) for h = 1 / n."""
    centre = torch.full((1, 3), 0.5, dtype=torch.float64)
    return strain_displacement(centre, 1.0 / n)[0].to(dtype=dtype, device=device)
