"""The element matrices in the Walsh-Hadamard basis: sparse closed forms of Ke and Fe.

Conventions (docs/conventions.md): local node ``nd = 4 a + 2 b + c`` at offset (a, b, c), dof
``3 nd + component``, 2 x 2 x 2 Gauss rule, Voigt ``[xx, yy, zz, yz, xz, xy]`` with engineering
shears. Everything is float64.

The transform. With h1 = [[1, 1], [1, -1]] / sqrt(2) (orthogonal and symmetric),

    H = h1 (x) h1 (x) h1 (x) I_3 = W (x) I_3 / sqrt(8),   W = [[1, 1], [1, -1]]^(x3)   [24, 24]

(torch.kron order: the x factor is the most significant bit, like a in nd = 4a + 2b + c, and the
displacement component is the fastest index, like dof = 3 nd + component). H is orthogonal,
symmetric and its own inverse: H[3 nd + i, 3 p + j] = delta_ij (-1)^popcount(nd & p) / sqrt(8).
Walsh dof ``3 p + i`` is mode ``p = 4 alpha + 2 beta + gamma`` of component i; bit alpha (beta,
gamma) says whether the mode alternates along x (y, z). In this basis K^ = H^T Ke H and
F^ = H^T Fe, and Ke u = H K^ H^T u = W K^ W u / 8.

Derivation. In 1-D on an element of length h (local s in [0, 1]) the Walsh vectors are the
nodal values of the Legendre polynomials on [0, 1]: w_0 = (1, 1) of phi_0 = 1, w_1 = (1, -1) of
phi_1 = 1 - 2 s; so Walsh mode p is the trilinear polynomial phi_p = prod_d phi_{p_d}(s_d)
(p = 0 constant, 4 = linear in x, 6 = bilinear in x y, 7 = trilinear). The 2-point Gauss rule is
exact up to cubics, so it integrates every product below exactly, and the three 1-D factors of
Ke (N_0 = 1 - s, N_1 = s, dN/dx = (-1, 1) / h) are, in the normalised basis h1,

    stiffness  D^ = h1^T [int N_a' N_b'] h1 = diag(0, 2/h)   rank one: phi_0' = 0, phi_1' = -2/h
    mass       M^ = h1^T [int N_a  N_b ] h1 = diag(h/2, h/6) diagonal: int phi_0 phi_1 = 0
    mixed      G^ = h1^T [int N_a  N_b'] h1 = -e_0 e_1^T     rank one: phi_b' is nonzero only for
                                                              b = 1, and a constant, which is
                                                              orthogonal to phi_1 (so a = 0 only).

(The derivative maps phi_1 to a constant and phi_0 to zero; the Gauss points 1/2 +- 1/(2 sqrt 3)
are symmetric about 1/2, so phi_1 averages to zero.) With the tensor C_ikjl (= the Voigt entry
C[(ik), (jl)], engineering shears make no factors) Ke = sum_kl C_ikjl A^kl, where the 8 x 8
A^kl[nd, nd'] = int d_k N_nd d_l N_nd' factorises over the three directions d into
F_d = D if d = k = l, G^T if d = k != l, G if d = l != k, and M otherwise. The Walsh transform of a
Kronecker product is the Kronecker product of the transforms, hence

    K^[3p + i, 3q + j] = sum_kl C_ikjl prod_d F^_d[p_d, q_d],

and prod_d F^_d[p_d, q_d] is structurally non-zero only where every factor is: D^ at (1, 1), M^ on
the diagonal, G^ at (0, 1), G^T at (1, 0). For the strain-displacement component d_k u_i that means:
d_k sees only the Walsh dofs (p, i) with p_k = 1 and sends them to mode p - e_k (bit k cleared);
the energy couples (p, i) with (q, j) through (k, l) iff both land on the same mode,

    k = l:   q = p with p_k = 1                       (D^ M^ M^: a_k(p) = (2/h) m(p_d) m(p_d'), d, d' != k)
    k != l:  q = p xor e_k xor e_l, p_k = 1, p_l = 0  (G^T G^ M^: value m(p_d) for the third d)

with m(0) = h/2, m(1) = h/6 (the diagonal of M^; G^T[1, 0] G^[0, 1] = (-1)(-1) = 1).
Mode 0 (the rigid translation) couples to nothing. So 7 diagonal 3 x 3 blocks (p = 1 .. 7) and
12 off-diagonal ones (6 ordered pairs (k, l) x 2 values of the third bit) can be non-zero:
19 x 9 = 171 entries for a general symmetric C (STIFFNESS_PATTERN). Each off-diagonal block gets
exactly one (k, l). For an isotropic C, C_ikjl = lambda delta_ik delta_jl + mu (delta_ij delta_kl +
delta_il delta_jk): the diagonal blocks sum_k a_k(p) C_ikjk are diagonal (7 x 3 = 21) and an
off-diagonal block (k != l) is lambda E_kl + mu E_lk (12 x 2 = 24): 45 entries
(STIFFNESS_PATTERN_ISOTROPIC). The same 45 hold for any C with the isotropic zero pattern, i.e. an
orthotropic C aligned with the axes (normal-shear entries and off-diagonal shear entries zero),
such as the C_hat of a rectangular-box cell.

Loads: Fe[3 nd + i, Q] = sum_k C[(ik), Q] int d_k N_nd, and int d_k N_nd is (-1, 1) (= -w_1) along k
and (h/2, h/2) (= h/2 w_0) along the other two directions, so its Walsh transform is non-zero only
at p = e_k (the mode linear in direction k), where it is -sqrt(2) (h / sqrt(2))^2 = -h^2 / sqrt(2):

    F^[3 e_k + i, Q] = -(h^2 / sqrt 2) C[(ik), Q],   e_x = 4, e_y = 2, e_z = 1,

9 rows x 6 = 54 entries for a general C (LOAD_PATTERN), 15 for an isotropic one (for i = k the
row of C is a normal one, 3 entries; for i != k a shear one, 1 entry; LOAD_PATTERN_ISOTROPIC).
The dense Fe has 144 entries, of which 120 are non-zero for an isotropic C (row 3 nd + i has 5 of
6: the shear column (jl) with i not in {j, l} is zero).

Cost of Ke u_e (``apply_walsh``, counted scalar operations per element): forward transform W u
(3 butterfly stages x 8 add/sub x 3 components = 72), the sparse product (nnz multiplications,
nnz - 21 additions: 21 non-zero rows), the 1/8 scale of the 21 non-zero rows, the inverse
transform (72): 234 flops for the isotropic pattern, 486 for the anisotropic one, against
24 x 24 + 24 x 23 = 1128 for the dense product (1152 counting a multiply-add per entry). A kernel
can fold the 1/8 into the stored values (-21) and skip the rigid mode: its sum in the last forward
stage (-3) and its zero input in the first inverse stage (-3, a negation instead of a subtraction).
"""

from __future__ import annotations

import math

import torch

from .conventions import ELEMENT_DOFS, VOIGT_PAIRS

# Same validation and messages as fem.element_matrices (one message per rule); no dense element
# matrix is computed here.
from .fem import _check_C

AXES = 3
WALSH_MODES = 8  # p = 4 alpha + 2 beta + gamma, like nd = 4 a + 2 b + c
RIGID_MODE = 0  # the constant mode: its rows and columns of K^ are zero

# Voigt index of the tensor pair (i, k) (symmetric: (1, 2) and (2, 1) are both yz).
_VOIGT = [[next(q for q, pair in enumerate(VOIGT_PAIRS) if sorted(pair) == sorted((i, k))) for k in range(AXES)]
          for i in range(AXES)]


def _bit(p: int, d: int) -> int:
    """Bit of Walsh mode (or local node) ``p`` along direction d (0 = x is the most significant)."""
    return (p >> (AXES - 1 - d)) & 1


def _factor(dk: int, dl: int, d: int) -> str:
    """Which 1-D factor A^kl (k = dk, l = dl) has along direction d: 'D' stiffness, 'Gt' / 'G' mixed, 'M' mass."""
    if d == dk == dl:
        return "D"
    if d == dk:
        return "Gt"  # the test function's derivative: int N_a' N_b = G[b, a]
    if d == dl:
        return "G"
    return "M"


# Structural non-zeros of the 1-D factors in the Walsh basis (module docstring): (row, col) bits.
_NONZERO_1D = {"D": {(1, 1)}, "M": {(0, 0), (1, 1)}, "G": {(0, 1)}, "Gt": {(1, 0)}}


def _one_d_walsh(h: float) -> dict[str, torch.Tensor]:
    """Closed-form 1-D factors in the basis h1 (module docstring), ``[2, 2]`` float64 each."""
    D = torch.tensor([[0.0, 0.0], [0.0, 2.0 / h]], dtype=torch.float64)
    M = torch.tensor([[h / 2.0, 0.0], [0.0, h / 6.0]], dtype=torch.float64)
    G = torch.tensor([[0.0, -1.0], [0.0, 0.0]], dtype=torch.float64)
    return {"D": D, "M": M, "G": G, "Gt": G.T.contiguous()}


def _couples(p: int, q: int, dk: int, dl: int) -> bool:
    """Whether prod_d F^_d[p_d, q_d] of A^kl (k = dk, l = dl) is structurally non-zero."""
    return all((_bit(p, d), _bit(q, d)) in _NONZERO_1D[_factor(dk, dl, d)] for d in range(AXES))


def _stiffness_pattern(c_may_be_nonzero) -> tuple[tuple[int, int], ...]:
    """Entries (3p + i, 3q + j) of K^ that can be non-zero when the Voigt entries of C flagged in
    the 6 x 6 boolean table ``c_may_be_nonzero`` are (sorted, row-major)."""
    out = set()
    for p in range(WALSH_MODES):
        for q in range(WALSH_MODES):
            for dk in range(AXES):
                for dl in range(AXES):
                    if not _couples(p, q, dk, dl):
                        continue
                    for i in range(AXES):
                        for j in range(AXES):
                            if c_may_be_nonzero[_VOIGT[i][dk]][_VOIGT[j][dl]]:
                                out.add((3 * p + i, 3 * q + j))
    return tuple(sorted(out))


def _load_pattern(c_may_be_nonzero) -> tuple[tuple[int, int], ...]:
    """Entries (3p + i, Q) of F^ that can be non-zero: p = e_k and C[(ik), Q] possibly non-zero."""
    out = set()
    for k in range(AXES):
        p = 1 << (AXES - 1 - k)  # e_k: the mode linear along k
        for i in range(AXES):
            for Q in range(6):
                if c_may_be_nonzero[_VOIGT[i][k]][Q]:
                    out.add((3 * p + i, Q))
    return tuple(sorted(out))


# Which Voigt entries of C may be non-zero: any (general symmetric C), or the isotropic zero pattern
# (normal-normal block full, shear block diagonal; shared by cubic and axis-aligned orthotropic C).
_ANY_C = [[True] * 6 for _ in range(6)]
_ISOTROPIC_C = [[(P < 3 and Q < 3) or P == Q for Q in range(6)] for P in range(6)]

#: (row, col) of K^ = H^T Ke H that can be non-zero for any symmetric C: 171 (of 576).
STIFFNESS_PATTERN: tuple[tuple[int, int], ...] = _stiffness_pattern(_ANY_C)
#: ... for an isotropic (or axis-aligned orthotropic) C: 45.
STIFFNESS_PATTERN_ISOTROPIC: tuple[tuple[int, int], ...] = _stiffness_pattern(_ISOTROPIC_C)
#: (row, Voigt column) of F^ = H^T Fe that can be non-zero for any symmetric C: 54 (of 144).
LOAD_PATTERN: tuple[tuple[int, int], ...] = _load_pattern(_ANY_C)
#: ... for an isotropic (or axis-aligned orthotropic) C: 15.
LOAD_PATTERN_ISOTROPIC: tuple[tuple[int, int], ...] = _load_pattern(_ISOTROPIC_C)


def walsh_matrix(dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The orthogonal Walsh transform ``H [24, 24] = W (x) I_3 / sqrt(8)``, W = [[1, 1], [1, -1]]^(x3).

    Normalised to be orthogonal (H^T H = I); it is also symmetric, so H^-1 = H^T = H. Column 3 p + j
    is Walsh mode p (module docstring) of displacement component j: entry
    ``H[3 nd + i, 3 p + j] = delta_ij (-1)^popcount(nd & p) / sqrt(8)``.
    """
    h1 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    W = torch.kron(torch.kron(h1, h1), h1)  # [8, 8], x factor first as in nd = 4a + 2b + c
    H = torch.kron(W, torch.eye(AXES, dtype=torch.float64)) / math.sqrt(WALSH_MODES)  # component fastest
    return H.to(dtype=dtype, device=device)


def _check_h(h: float) -> float:
    if not h > 0:
        raise ValueError(f"h must be positive, got {h}")
    return float(h)


def walsh_stiffness(C: torch.Tensor, h: float) -> torch.Tensor:
    """``K^ = H^T Ke H [..., 24, 24]`` computed directly from C in the Walsh basis (no dense Ke).

    Args:
        C: Voigt stiffness ``[..., 6, 6]``, any symmetric (batched freely).
        h: element edge length.
    Returns:
        float64 ``[..., 24, 24]`` on C's device, exactly zero off ``STIFFNESS_PATTERN`` (and off
        ``STIFFNESS_PATTERN_ISOTROPIC`` for an isotropic C), H from ``walsh_matrix``.
    """
    h = _check_h(h)
    C = _check_C(C)  # [..., 6, 6] float64
    F = _one_d_walsh(h)
    # A^kl in the Walsh basis: the Kronecker product of the transformed 1-D factors, [k, l, 8, 8].
    A = torch.stack([torch.stack([torch.kron(torch.kron(F[_factor(dk, dl, 0)], F[_factor(dk, dl, 1)]),
                                             F[_factor(dk, dl, 2)]) for dl in range(AXES)])
                     for dk in range(AXES)]).to(C.device)
    idx = torch.tensor(_VOIGT, device=C.device)  # [3, 3] Voigt index of (i, k)
    C4 = C[..., idx[:, :, None, None], idx[None, None, :, :]]  # C_ikjl, [..., 3, 3, 3, 3]
    K = torch.einsum("...ikjl,klpq->...piqj", C4, A)  # [..., 8, 3, 8, 3]
    return K.reshape(*C.shape[:-2], ELEMENT_DOFS, ELEMENT_DOFS)


def walsh_loads(C: torch.Tensor, h: float) -> torch.Tensor:
    """``F^ = H^T Fe [..., 24, 6]`` directly from C: rows 3 e_k + i hold -(h^2 / sqrt 2) C[(ik), :].

    Args:
        C: Voigt stiffness ``[..., 6, 6]``, any symmetric (batched freely).
        h: element edge length.
    Returns:
        float64 ``[..., 24, 6]`` on C's device, zero except on the 9 rows of ``LOAD_PATTERN``.
    """
    h = _check_h(h)
    C = _check_C(C)  # [..., 6, 6] float64
    F = C.new_zeros(*C.shape[:-2], ELEMENT_DOFS, 6)  # [..., 24, 6]
    for k in range(AXES):
        p = 1 << (AXES - 1 - k)  # e_k
        for i in range(AXES):
            F[..., 3 * p + i, :] = -(h * h / math.sqrt(2.0)) * C[..., _VOIGT[i][k], :]
    return F


def pattern_values(A: torch.Tensor, pattern) -> torch.Tensor:
    """The entries of ``A [..., R, S]`` on ``pattern`` (a tuple of (row, col)): ``[..., len(pattern)]``."""
    rows, cols = zip(*pattern)
    return A[..., list(rows), list(cols)]


def pattern_mask(pattern, shape: tuple[int, int] = (ELEMENT_DOFS, ELEMENT_DOFS)) -> torch.Tensor:
    """Boolean ``[rows, cols]`` mask of ``pattern`` (a tuple of (row, col))."""
    mask = torch.zeros(shape, dtype=torch.bool)
    rows, cols = zip(*pattern)
    mask[list(rows), list(cols)] = True
    return mask


def _butterflies(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """W x for ``x [..., 8, 3]`` (node or mode, component) by 3 butterfly stages; (W x, flops)."""
    lead = x.shape[:-2]
    y = x.reshape(*lead, 2, 2, 2, AXES)  # [..., a, b, c, component]
    flops = 0
    for d in range(AXES):
        dim = len(lead) + d
        lo, hi = y.select(dim, 0), y.select(dim, 1)  # each [..., 4 pairs x 3 components]
        y = torch.stack([lo + hi, lo - hi], dim=dim)
        flops += 2 * 4 * AXES  # one add and one subtract per pair and component
    return y.reshape(*lead, WALSH_MODES, AXES), flops


def apply_walsh(values: torch.Tensor, u: torch.Tensor, pattern=STIFFNESS_PATTERN, *, return_flops: bool = False):
    """``Ke u`` through the sparse Walsh form: H (K^ (H^T u)) = W (K^ (W u)) / 8.

    Args:
        values: K^ on ``pattern`` ``[..., len(pattern)]`` (``pattern_values(walsh_stiffness(C, h), pattern)``).
        u: element displacements ``[..., 24]`` (dof 3 nd + component); broadcasts with ``values``.
        pattern: the (row, col) entries ``values`` belong to: ``STIFFNESS_PATTERN`` (171) or
            ``STIFFNESS_PATTERN_ISOTROPIC`` (45, exact for isotropic or axis-aligned orthotropic C).
        return_flops: also return the number of scalar floating-point operations per element that
            this sequence of steps performs (module docstring: 234 / 486; dense Ke u: 1128).
    Returns:
        ``Ke u [..., 24]`` in the common dtype, or ``(Ke u, flops)``.
    """
    if values.shape[-1] != len(pattern):
        raise ValueError(f"values must have len(pattern) = {len(pattern)} entries in the last dimension, "
                         f"got shape {tuple(values.shape)}")
    if u.shape[-1] != ELEMENT_DOFS:
        raise ValueError(f"u must be [..., {ELEMENT_DOFS}] element displacements, got shape {tuple(u.shape)}")
    lead = torch.broadcast_shapes(values.shape[:-1], u.shape[:-1])
    dtype = torch.promote_types(values.dtype, u.dtype)
    values = values.to(dtype).expand(*lead, len(pattern))  # [..., P]
    u = u.to(dtype).expand(*lead, ELEMENT_DOFS)  # [..., 24]

    u_hat, flops = _butterflies(u.reshape(*lead, WALSH_MODES, AXES))  # W u, [..., 8, 3]
    u_hat = u_hat.reshape(*lead, ELEMENT_DOFS)  # Walsh dof 3 p + i
    rows = torch.tensor([r for r, _ in pattern], device=u.device)
    cols = torch.tensor([c for _, c in pattern], device=u.device)
    active = sorted(set(rows.tolist()))  # the non-zero rows (21 for both patterns)
    y_hat = torch.zeros_like(u_hat).index_add(-1, rows, values * u_hat[..., cols])  # K^ (W u), [..., 24]
    # One product per entry; each row's first product is an assignment, the rest are additions.
    flops += len(pattern) + (len(pattern) - len(active))
    act = torch.tensor(active, device=u.device)
    # H = W / sqrt(8) on both sides: scale the non-zero rows only (the others stay zero).
    y_hat = y_hat.index_copy(-1, act, y_hat[..., act] * (1.0 / WALSH_MODES))
    flops += len(active)
    y, stage_flops = _butterflies(y_hat.reshape(*lead, WALSH_MODES, AXES))  # W is symmetric: the inverse
    flops += stage_flops
    y = y.reshape(*lead, ELEMENT_DOFS)  # [..., 24]
    return (y, flops) if return_flops else y


__all__ = ["LOAD_PATTERN", "LOAD_PATTERN_ISOTROPIC", "RIGID_MODE", "STIFFNESS_PATTERN", "STIFFNESS_PATTERN_ISOTROPIC",
           "WALSH_MODES", "apply_walsh", "pattern_mask", "pattern_values", "walsh_loads", "walsh_matrix",
           "walsh_stiffness"]
