"""Parallelepiped cells: lattice matrix, strain map and the shape-material transformation.

Conventions (docs/conventions.md, "Parallelepiped cells"): a cell shape is the six numbers
``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)`` - three angles in degrees and three edge
lengths (any length unit; only ratios matter for C^H). The lattice vectors are

    a1 = l_x (1, 0, 0),  a2 = l_y (cos a_xy, sin a_xy, 0),  a3 = l_z (c_x, c_y, c_z),
    c_x = cos a_xz,  c_y = (cos a_yz - cos a_xz cos a_xy) / sin a_xy,  c_z = sqrt(1 - c_x^2 - c_y^2),

so alpha_xy = angle(a1, a2), alpha_yz = angle(a2, a3), alpha_xz = angle(a1, a3) and
J = [a1 a2 a3] (columns) maps the reference cube P = [0, 1)^3 onto the cell Q: x = J xi.
(90, 90, 90, 1, 1, 1) is the unit cube, J = I. Voxel arrays always live on the cube (xi).

The shape-material transformation (see ``strain_map`` for the derivation): solve the periodic
problem on the cube with the per-voxel material C_hat = M^-T C M^-1 and recover the cell's
homogenized stiffness in the global (x, y, z) Voigt basis as C^H_Q = M^T C_hat^H M, where M is
the 6 x 6 Voigt matrix of the strain map eps -> eps_hat = J^T eps J.

Everything here is computed in float64; functions accept numbers, sequences, numpy arrays or
torch tensors and return torch tensors (on the input tensor's device, else on the CPU).

The reference method's published code (PH-Net) describes cells differently, by J = S T with
S = [[1, cot a_xy, cot a_xz], [0, 1, cot a_yz], [0, 0, 1]] and T = diag(l_x, l_y, l_z), then
scaled to unit volume: ``from_reference_convention`` / ``to_reference_convention`` convert.
"""

from __future__ import annotations

import numpy as np
import torch

from .conventions import SHAPE_NAMES, UNIT_CUBE, VOIGT_PAIRS

#: Smallest accepted c_z^2 = (cell volume / (l_x l_y l_z sin a_xy))^2: below it the three
#: angles describe a (numerically) flat cell.
MIN_CZ2 = 1e-12


# ------------------------------------------------------------------------------ parameters
def _as_float64(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if x.dtype.is_complex or x.dtype == torch.bool:
            raise ValueError(f"{name} must be real numbers, got dtype {x.dtype}")
        return x.detach().to(torch.float64)
    try:
        return torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be 6 numbers {SHAPE_NAMES} or a [B, 6] array, got {x!r}") from err


def _fmt(row: torch.Tensor) -> str:
    return "(" + ", ".join(f"{v:g}" for v in row.tolist()) + ")"


def _check_rows(p: torch.Tensor, name: str, batched: bool) -> None:
    """Finite values, angles in (0, 180) degrees, positive lengths; names the first bad row."""

    def where(rows: torch.Tensor) -> str:
        b = int(rows.nonzero()[0, 0])
        return f"{name}[{b}] = {_fmt(p[b])}" if batched else f"{name} = {_fmt(p[b])}"

    bad = ~torch.isfinite(p).all(dim=1)
    if bad.any():
        raise ValueError(f"{where(bad)}: all six values must be finite")
    bad = ((p[:, :3] <= 0) | (p[:, :3] >= 180)).any(dim=1)
    if bad.any():
        raise ValueError(f"{where(bad)}: the angles (alpha_xy, alpha_yz, alpha_xz) must lie in "
                         "(0, 180) degrees")
    bad = (p[:, 3:] <= 0).any(dim=1)
    if bad.any():
        raise ValueError(f"{where(bad)}: the lengths (l_x, l_y, l_z) must be positive")
    # Angles within rounding of 0 or 180 degrees make two lattice vectors parallel: name the angle
    # (the c_z check that follows divides by sin alpha_xy and could not say which one it is).
    flat = torch.sin(torch.deg2rad(p[:, :3])) < 1e-6
    if flat.any():
        b, k = (int(i) for i in flat.nonzero()[0])
        raise ValueError(f"{where(flat)}: {SHAPE_NAMES[k]} = {float(p[b, k]):g} degrees makes the cell degenerate "
                         f"(two of its lattice vectors are parallel); use an angle in (0, 180) away from the ends")


def _rows(shape, name: str) -> tuple[torch.Tensor, bool]:
    """``[B, 6]`` float64 rows and whether the input was batched; checks the layout only."""
    p = _as_float64(shape, name)
    if p.dim() not in (1, 2) or p.shape[-1] != 6:
        raise ValueError(f"{name} must have 6 entries {SHAPE_NAMES} ([6] or [B, 6]), got shape "
                         f"{tuple(p.shape)}")
    batched = p.dim() == 2
    return (p if batched else p.unsqueeze(0)), batched


def _cosd(deg: torch.Tensor) -> torch.Tensor:
    """cos of degrees, exactly 0 at 90 (so the unit cube gives J = I exactly)."""
    return torch.where(deg == 90, torch.zeros_like(deg), torch.cos(torch.deg2rad(deg)))


def _sind(deg: torch.Tensor) -> torch.Tensor:
    """sin of degrees, exactly 1 at 90."""
    return torch.where(deg == 90, torch.ones_like(deg), torch.sin(torch.deg2rad(deg)))


def _direction_cosines(p: torch.Tensor):
    cxy, cyz, cxz = _cosd(p[:, 0]), _cosd(p[:, 1]), _cosd(p[:, 2])
    sxy = _sind(p[:, 0])
    c_x = cxz
    c_y = (cyz - cxz * cxy) / sxy
    cz2 = 1 - c_x * c_x - c_y * c_y
    return cxy, sxy, c_x, c_y, cz2


def shape_parameters(shape, name: str = "shape") -> torch.Tensor:
    """Validate cell parameters (this library's convention) and return them as float64.

    Args:
        shape: ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)`` - angles in degrees, lengths in
            any unit - as a sequence / numpy array / tensor ``[6]``, or batched ``[B, 6]``.
        name: argument name used in error messages.
    Returns:
        ``[6]`` or ``[B, 6]`` float64 tensor (detached, on the input's device).
    Raises:
        ValueError (saying why) for a wrong number of entries, non-finite values, angles outside
        (0, 180) degrees, non-positive lengths, or angles that give no parallelepiped
        (c_z^2 = 1 - c_x^2 - c_y^2 <= ``MIN_CZ2``; for a valid cell each angle is smaller than
        the sum of the other two and the three sum to less than 360 degrees).
    """
    p, batched = _rows(shape, name)
    _check_rows(p, name, batched)
    cz2 = _direction_cosines(p)[4]
    bad = ~(cz2 > MIN_CZ2)
    if bad.any():
        b = int(bad.nonzero()[0, 0])
        where = f"{name}[{b}] = {_fmt(p[b])}" if batched else f"{name} = {_fmt(p[b])}"
        raise ValueError(
            f"{where}: the angles (alpha_xy, alpha_yz, alpha_xz) give no parallelepiped: "
            f"c_z^2 = 1 - c_x^2 - c_y^2 = {float(cz2[b]):.3g} must exceed {MIN_CZ2:g} (each angle "
            "must be smaller than the sum of the other two, and the three must sum to less than "
            "360 degrees)")
    return p if batched else p[0]


# ------------------------------------------------------------------------------ geometry
def is_lattice(shape) -> bool:
    """True when ``shape`` is a lattice matrix ``[3, 3]`` / ``[B, 3, 3]`` rather than the six
    parameters ``[6]`` / ``[B, 6]`` (the two are told apart by their last dimensions)."""
    if shape is None or isinstance(shape, (str, bytes)):
        return False
    dims = tuple(shape.shape) if hasattr(shape, "shape") else tuple(np.shape(shape))
    return len(dims) in (2, 3) and dims[-2:] == (3, 3)


def cell_shape(shape, name: str = "shape") -> torch.Tensor:
    """Validate a cell given either way and return it as float64 (detached, on the input's device):
    parameters ``[6]`` / ``[B, 6]`` (``shape_parameters``) or a lattice matrix ``[3, 3]`` /
    ``[B, 3, 3]`` whose COLUMNS are the lattice vectors in the global frame (finite, invertible;
    any orientation, any scale). Everything that takes ``shape=`` accepts both."""
    if is_lattice(shape):
        return _check_J(shape, name)
    return shape_parameters(shape, name)


def shape_batch(shape) -> int | None:
    """The per-sample batch of a validated ``cell_shape`` (None when one cell shape is shared)."""
    if shape is None:
        return None
    batched = shape.dim() == (3 if is_lattice(shape) else 2)
    return int(shape.shape[0]) if batched else None


def lattice_matrix(shape) -> torch.Tensor:
    """Lattice matrix J = [a1 a2 a3] (columns) of a cell, docs/conventions.md "Parallelepiped cells".

    Args:
        shape: ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)`` (degrees; length unit of your
            choice), ``[6]`` or ``[B, 6]``, validated by ``shape_parameters``; or a lattice
            matrix ``[3, 3]`` / ``[B, 3, 3]`` (columns = lattice vectors), returned validated.
    Returns:
        float64 ``[3, 3]`` (or ``[B, 3, 3]``); from parameters upper triangular with positive
        diagonal; x = J xi maps the cube onto the cell, volume |Q| = |det J| (= l_x l_y l_z
        sin(a_xy) c_z from parameters).
    """
    if is_lattice(shape):
        return _check_J(shape, "shape")
    p = shape_parameters(shape)
    batched = p.dim() == 2
    p = p if batched else p.unsqueeze(0)
    cxy, sxy, c_x, c_y, cz2 = _direction_cosines(p)
    zero, one = torch.zeros_like(cxy), torch.ones_like(cxy)
    unit = torch.stack([torch.stack([one, cxy, c_x], -1),
                        torch.stack([zero, sxy, c_y], -1),
                        torch.stack([zero, zero, torch.sqrt(cz2)], -1)], -2)  # [B, 3, 3]
    J = unit * p[:, None, 3:]  # column k scaled by its length
    return J if batched else J[0]


def _check_J(J, name: str = "J") -> torch.Tensor:
    J = _as_float64(J, name)
    if J.dim() < 2 or J.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must be [..., 3, 3], got shape {tuple(J.shape)}")
    if not torch.isfinite(J).all():
        raise ValueError(f"{name} must be finite")
    det = torch.linalg.det(J)
    scale = J.abs().flatten(-2).amax(-1) ** 3
    if not (det.abs() > 1e-14 * scale).all():
        worst = float((det.abs() / scale).min())
        raise ValueError(f"{name} must be invertible: its lattice vectors (columns) are (nearly) linearly dependent, "
                         f"|det| / max|entry|^3 = {worst:.3g}, so the cell has no volume")
    return J


def unit_volume(J) -> torch.Tensor:
    """J / |det J|^(1/3): the same cell scaled to unit volume, ``[..., 3, 3]`` float64.

    C^H does not depend on the scale (see ``strain_map``); ``CellProblem`` normalizes with this
    so that C_hat, the cube solution and the energies do not depend on it either."""
    J = _check_J(J)
    return J / torch.linalg.det(J).abs().pow(1.0 / 3.0)[..., None, None]


def strain_map(J) -> torch.Tensor:
    """Voigt matrix M ``[..., 6, 6]`` of the strain map induced by the lattice matrix J.

    Order [xx, yy, zz, yz, xz, xy], engineering shears (docs/conventions.md): eps_hat = M eps, where eps
    is a strain in the global frame of the cell Q and eps_hat = J^T eps J the corresponding
    strain on the reference cube P.

    Derivation. With x = J xi, pair a displacement u on Q with the cube displacement
    u_hat(xi) = J^T u(J xi) (u pulled back as a covector). By the chain rule
    grad_xi u_hat = J^T (grad_x u) J, hence eps_hat = sym(grad_xi u_hat) = J^T eps J, a linear
    map of the physical strain alone. (The plain pairing u_hat(xi) = u(J xi) would give
    grad_x u = grad_xi u_hat J^-1, whose symmetric part depends on the rotation part of
    grad_xi u_hat: no strain map exists for it.) In Voigt form, column K of M is the Voigt vector
    of J^T E_K J with E_K the tensor of the unit engineering strain e_K (off-diagonal entries
    1/2); shears are doubled again on the way back. J^T (.) J composes, so strain_map(J^-1) = M^-1.

    Energy and C^H. With C_hat = M^-T C M^-1, eps^T C eps = eps_hat^T C_hat eps_hat pointwise
    and dx = |det J| dxi, so for periodic fluctuations w <-> w_hat = J^T w(J .) (a bijection,
    also between the trilinear FE spaces, since J^T mixes components by a constant matrix) and a
    macroscopic strain eps_bar <-> eps_hat_bar = M eps_bar:

        1/|Q| int_Q (eps_bar + eps(w))^T C (...) dx = |det J|/|Q| int_P (M eps_bar + eps(w_hat))^T C_hat (...) dxi.

    |Q| = |det J| |P| = |det J|, so the volume cancels; minimizing over w (equivalently w_hat)
    gives eps_bar^T C^H_Q eps_bar = (M eps_bar)^T C_hat^H (M eps_bar), i.e.
    C^H_Q = M^T C_hat^H M, exactly also for the discretized problems. Stresses map by the
    transpose: sigma = C eps = M^T C_hat eps_hat = M^T sigma_hat (sigma . eps = sigma_hat . eps_hat).

    Scale. For J -> s J: M -> s^2 M, C_hat -> s^-4 C_hat, C_hat^H -> s^-4 C_hat^H (C^H is
    homogeneous of degree one in the material), so C^H_Q is unchanged: it depends only on the
    cell's angles and length ratios. Rotating the cell (J -> R J) rotates C^H_Q accordingly.

    Args:
        J: lattice matrix ``[..., 3, 3]`` (any invertible matrix; batched freely).
    Returns:
        float64 ``[..., 6, 6]``; the identity for J = I.
    """
    J = _check_J(J)
    E = torch.zeros(6, 3, 3, dtype=torch.float64, device=J.device)
    for K, (i, j) in enumerate(VOIGT_PAIRS):
        E[K, i, j] += 0.5 if i != j else 1.0
        if i != j:
            E[K, j, i] += 0.5
    T = torch.einsum("...pa,kpq,...qb->...kab", J, E, J)  # J^T E_K J, [..., K, 3, 3]
    rows = [T[..., a, b] * (1.0 if a == b else 2.0) for a, b in VOIGT_PAIRS]  # each [..., K]
    return torch.stack(rows, dim=-2)


def _check_voigt(A, name: str) -> torch.Tensor:
    A = _as_float64(A, name) if not isinstance(A, torch.Tensor) else A
    if A.dim() < 2 or A.shape[-2:] != (6, 6):
        raise ValueError(f"{name} must be [..., 6, 6] Voigt matrices, got shape {tuple(A.shape)}")
    return A


def transform_stiffness(C, M) -> torch.Tensor:
    """Cube material of a cell: C_hat = M^-T C M^-1, ``[..., 6, 6]`` (batch dims broadcast).

    Args:
        C: physical Voigt stiffness ``[..., 6, 6]`` in the global frame.
        M: strain map ``[..., 6, 6]`` from ``strain_map``.
    Returns:
        C_hat (symmetrized exactly) in C's dtype (float32 inputs are computed in float64)."""
    C, M = _check_voigt(C, "C"), _check_voigt(M, "M")
    dtype = C.dtype
    Minv = torch.linalg.inv(M.to(torch.float64))
    C_hat = Minv.transpose(-1, -2) @ C.to(torch.float64) @ Minv
    return (0.5 * (C_hat + C_hat.transpose(-1, -2))).to(dtype)


def recover_stiffness(CH_hat, M) -> torch.Tensor:
    """C^H of the cell in the global frame from the cube's: M^T CH_hat M, ``[..., 6, 6]``.

    Linear in CH_hat (differentiable through autograd); computed in CH_hat's dtype/device."""
    CH_hat, M = _check_voigt(CH_hat, "CH_hat"), _check_voigt(M, "M")
    M = M.to(dtype=CH_hat.dtype, device=CH_hat.device)
    return M.transpose(-1, -2) @ CH_hat @ M


# ------------------------------------------------------------------------------ reference method
def _reference_rows(params, name: str) -> tuple[torch.Tensor, bool]:
    p, batched = _rows(params, name)
    _check_rows(p, name, batched)
    return p, batched


def _cotd(deg: torch.Tensor) -> torch.Tensor:
    return _cosd(deg) / _sind(deg)


def reference_lattice_matrix(params) -> torch.Tensor:
    """J = S T of the reference method (PH-Net's published code), NOT scaled to unit volume.

    Args:
        params: the reference's ``(a_xy, a_yz, a_xz, l_x, l_y, l_z)`` (degrees, lengths),
            ``[6]`` or ``[B, 6]``: S = [[1, cot a_xy, cot a_xz], [0, 1, cot a_yz], [0, 0, 1]],
            T = diag(l_x, l_y, l_z); columns a1 = l_x (1, 0, 0), a2 = l_y (cot a_xy, 1, 0),
            a3 = l_z (cot a_xz, cot a_yz, 1). The reference then divides by (l_x l_y l_z)^(1/3),
            which changes no C^H.
    Returns:
        float64 ``[3, 3]`` or ``[B, 3, 3]``.
    """
    p, batched = _reference_rows(params, "params")
    one, zero = torch.ones_like(p[:, 0]), torch.zeros_like(p[:, 0])
    S = torch.stack([torch.stack([one, _cotd(p[:, 0]), _cotd(p[:, 2])], -1),
                     torch.stack([zero, one, _cotd(p[:, 1])], -1),
                     torch.stack([zero, zero, one], -1)], -2)
    J = S * p[:, None, 3:]
    return J if batched else J[0]


def reference_paper_lattice(params) -> torch.Tensor:
    """The cell the reference method's PAPER describes for its parameters: lattice vectors = the
    COLUMNS of S T (a1 = l_x (1, 0, 0), a2 = l_y (cot a_xy, 1, 0), a3 = l_z (cot a_xz, cot a_yz,
    1)), scaled to unit volume. ``[3, 3]`` / ``[B, 3, 3]`` float64, usable as ``shape=``; the
    same cell as ``from_reference_convention(params)``.

    Args:
        params: the reference's ``(a_xy, a_yz, a_xz, l_x, l_y, l_z)``, ``[6]`` or ``[B, 6]``.
    """
    return unit_volume(reference_lattice_matrix(params))


def reference_code_lattice(params) -> torch.Tensor:
    """The cell the reference method's PUBLISHED CODE homogenizes for its parameters: lattice
    vectors = the ROWS of S T, scaled to unit volume, ``[3, 3]`` / ``[B, 3, 3]`` float64 (columns
    = those vectors), usable as ``shape=``.

    Why rows: that code maps the material with the strain map eps -> A eps A^T, A = (S T)^-1
    (C_hat = M(A)^T C M(A)), which is this library's shape-material transformation of the cell
    J = (S T)^T; it reports C^H in that cell's global frame, and so does
    ``homogenize(vox, shape=reference_code_lattice(params))`` (in this library's Voigt order
    [xx, yy, zz, yz, xz, xy]; the code's is [xx, yy, zz, xy, yz, xz], and it stores voxel arrays
    (z, y, x): see docs/conventions.md for the worked example). For non-orthogonal parameters
    it is a different cell from the paper's (``reference_paper_lattice``): C^H about 20% apart.

    Args:
        params: the reference's ``(a_xy, a_yz, a_xz, l_x, l_y, l_z)``, ``[6]`` or ``[B, 6]``.
    """
    return unit_volume(reference_lattice_matrix(params).transpose(-1, -2))


def from_reference_code_convention(params) -> torch.Tensor:
    """This library's parameters of the cell the reference method's published code homogenizes
    (``reference_code_lattice``): its lengths and pairwise angles, in this library's frame (a1
    along x, a2 in the xy-plane), which is that cell rotated: C^H agrees with the code's up to
    that rotation. For the code's own frame pass ``reference_code_lattice(params)`` as ``shape=``.

    Args:
        params: the reference's ``(a_xy, a_yz, a_xz, l_x, l_y, l_z)``, ``[6]`` or ``[B, 6]``.
    Returns:
        ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)`` float64 ``[6]`` / ``[B, 6]`` of unit volume.
    """
    return lattice_parameters(reference_code_lattice(params))


def lattice_parameters(J: torch.Tensor) -> torch.Tensor:
    """Lengths and pairwise angles (degrees) of the columns of J ``[3, 3]`` / ``[B, 3, 3]``: this
    library's parameters of the same cell, in the frame with a1 along x and a2 in the xy-plane."""
    batched = J.dim() == 3
    J = J if batched else J.unsqueeze(0)
    a = J.transpose(-1, -2)  # rows a1, a2, a3
    lengths = a.norm(dim=-1)  # [B, 3]
    unit = a / lengths[..., None]

    def angle(i: int, k: int) -> torch.Tensor:
        # atan2(|u x v|, u . v): accurate also near 0 and 180 degrees.
        return torch.rad2deg(torch.atan2(torch.linalg.cross(unit[:, i], unit[:, k]).norm(dim=-1),
                                         (unit[:, i] * unit[:, k]).sum(-1)))

    out = torch.cat([torch.stack([angle(0, 1), angle(1, 2), angle(0, 2)], -1), lengths], -1)
    return out if batched else out[0]


def from_reference_convention(params) -> torch.Tensor:
    """This library's shape parameters of the cell the reference method's PAPER describes for
    ``params`` (the COLUMNS reading of J = S T; ``reference_paper_lattice``).

    NOT the cell its published code homogenizes: that code's material map is the exact
    transformation of the cell whose lattice vectors are the ROWS of S T
    (``reference_code_lattice`` / ``from_reference_code_convention``); for non-orthogonal
    parameters the two C^H differ by about 20% (docs/conventions.md, "Interoperability").

    Both this library and the paper put a1 on the +x axis, a2 in the xy-plane with y > 0 and a3
    at z > 0, i.e. J is upper triangular with a positive diagonal; such a J is fixed by the
    lattice lengths and angles (it is the Cholesky factor of the Gram matrix J^T J). So the
    returned parameters give exactly the paper's J (``lattice_matrix(from_reference_convention(p))
    == reference_lattice_matrix(p)``): no rotation is involved. The overall scale is kept (the
    reference's unit-volume scaling changes no C^H; ``CellProblem`` scales to unit volume itself).

    Args:
        params: reference ``(a_xy, a_yz, a_xz, l_x, l_y, l_z)``, ``[6]`` or ``[B, 6]``.
    Returns:
        ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)`` float64 ``[6]`` / ``[B, 6]``: the
        lengths and pairwise angles (degrees) of the columns of S T. For a_xy = a_xz = 90 this is
        (90, a_yz, 90, l_x, l_y, l_z / sin a_yz).
    """
    return lattice_parameters(reference_lattice_matrix(params))


def to_reference_convention(shape) -> torch.Tensor:
    """The reference method's parameters of the cell that this library calls ``shape``.

    Inverse of ``from_reference_convention`` (the paper's columns reading): T = diag(J) and
    S = J T^-1, so
    l_x, l_y, l_z = J_11, J_22, J_33 and cot a_xy = J_12 / J_22, cot a_xz = J_13 / J_33,
    cot a_yz = J_23 / J_33, each angle taken in (0, 180) degrees.

    Args:
        shape: ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)``, ``[6]`` or ``[B, 6]``.
    Returns:
        reference ``(a_xy, a_yz, a_xz, l_x, l_y, l_z)`` float64 ``[6]`` / ``[B, 6]`` with
        ``reference_lattice_matrix(result) == lattice_matrix(shape)`` (same scale).
    """
    J = lattice_matrix(shape_parameters(shape))  # parameters only: their J is upper triangular
    batched = J.dim() == 3
    J = J if batched else J.unsqueeze(0)
    d = torch.diagonal(J, dim1=-2, dim2=-1)  # [B, 3]

    def arccot(c: torch.Tensor) -> torch.Tensor:
        return torch.rad2deg(torch.atan2(torch.ones_like(c), c))

    out = torch.cat([torch.stack([arccot(J[:, 0, 1] / d[:, 1]), arccot(J[:, 1, 2] / d[:, 2]),
                                  arccot(J[:, 0, 2] / d[:, 2])], -1), d], -1)
    return out if batched else out[0]


def cell_volume(shape) -> torch.Tensor:
    """|Q| = det J of a cell (length unit cubed), scalar tensor or ``[B]``."""
    return torch.linalg.det(lattice_matrix(shape))


__all__ = [
    "MIN_CZ2",
    "SHAPE_NAMES",
    "UNIT_CUBE",
    "VOIGT_PAIRS",
    "cell_shape",
    "cell_volume",
    "from_reference_code_convention",
    "is_lattice",
    "lattice_parameters",
    "reference_code_lattice",
    "reference_paper_lattice",
    "shape_batch",
    "from_reference_convention",
    "lattice_matrix",
    "recover_stiffness",
    "reference_lattice_matrix",
    "shape_parameters",
    "strain_map",
    "to_reference_convention",
    "transform_stiffness",
    "unit_volume",
]
