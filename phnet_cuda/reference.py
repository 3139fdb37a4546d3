"""Pure-PyTorch implementations of every custom op (roll + einsum, any dtype incl. float64).

They are the oracle of the tests and the baseline of the benchmarks. Element dofs are
gathered with ``torch.roll`` into ``[B, L, n, n, n, 24]`` tensors (local numbering of
``conventions.NODE_OFFSETS``, shared with ``grid``), multiplied with the per-phase element matrices by
einsum, and scattered back with the opposite rolls. Shapes and meanings are those of the op schemas in
csrc/op_schemas.h.

The assembled global matrices (``assemble_stiffness``, ``assemble_loads``: SciPy CSR, float64) are
a second, independent route to K and f, used by the tests and by the SciPy baselines of
``benchmarks/solver.py``. Test-only: no production module imports this one.
"""

from __future__ import annotations

import numpy as np
import torch

from . import fem
from .conventions import NODE_OFFSETS
from .grid import gather_elements, scatter_elements


def _per_sample(mats: torch.Tensor, B: int) -> torch.Tensor:
    return mats.expand(B, *mats.shape[1:])


def stiffness_apply(u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor) -> torch.Tensor:
    """K u: ``u [B, L, 3, n, n, n]``, ``phase [B, M, n, n, n]``, ``Ke [B|1, M, 24, 24]``."""
    B = u.shape[0]
    ue = gather_elements(u)
    Ke = _per_sample(Ke, B)
    ye = torch.zeros_like(ue)
    for m in range(phase.shape[1]):
        ye = ye + phase[:, None, m, ..., None] * torch.einsum("blxyzs,brs->blxyzr", ue, Ke[:, m])
    return scatter_elements(ye)


def load_vectors(phase: torch.Tensor, Fe: torch.Tensor) -> torch.Tensor:
    """Assembled loads ``[B, L, 3, n, n, n]`` for ``Fe [B|1, M, 24, L]``."""
    Fe = _per_sample(Fe, phase.shape[0])
    fe = torch.einsum("bmxyz,bmrl->blxyzr", phase, Fe)
    return scatter_elements(fe)


def energy_loss(u, phase, Ke, Fe) -> torch.Tensor:
    """Energies ``[B, L]``: u_l^T K u_l / 2 - u_l^T f_l."""
    Ku = stiffness_apply(u, phase, Ke)
    f = load_vectors(phase, Fe)
    return (0.5 * u * Ku - u * f).sum(dim=(2, 3, 4, 5))


def energy_loss_backward(grad, u, phase, Ke, Fe) -> torch.Tensor:
    """grad[b, l] (K u_l - f_l)."""
    r = stiffness_apply(u, phase, Ke) - load_vectors(phase, Fe)
    return grad[:, :, None, None, None, None] * r


def homogenized_tensor(u, phase, Ke, Fe, Ce) -> torch.Tensor:
    """Energy form summed over the cell ``[B, L, L]`` (= |Omega| C^H), from Ke/Fe/Ce."""
    B = u.shape[0]
    Ku = stiffness_apply(u, phase, Ke)
    f = load_vectors(phase, Fe)
    uKu = torch.einsum("bpcxyz,bqcxyz->bpq", u, Ku)
    uf = torch.einsum("bpcxyz,bqcxyz->bpq", u, f)
    vol = torch.einsum("bmxyz,bmpq->bpq", phase, _per_sample(Ce, B))
    return vol - uf - uf.transpose(1, 2) + uKu


def homogenized_tensor_quadrature(u: torch.Tensor, phase: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Independent route to C^H [B, L, L] (L = 6): integrates
    (eps_i - B u_i)^T C_e (eps_j - B u_j) at the 2 x 2 x 2 Gauss points of every voxel of the
    unit cube, without the element matrices. ``C [B|1, M, 6, 6]``."""
    B, L, n = u.shape[0], u.shape[1], u.shape[-1]
    h = 1.0 / n
    Bg = fem.strain_displacement(fem.gauss_points(), h).to(u)  # [8, 6, 24]
    ue = gather_elements(u)  # [B, L, n, n, n, 24]
    eps = torch.eye(6, dtype=u.dtype, device=u.device)[:L][None, :, None, None, None, None, :] - torch.einsum(
        "gpr,blxyzr->blxyzgp", Bg, ue)  # [B, L, n, n, n, 8, 6]
    Cv = torch.einsum("bmxyz,bmpq->bxyzpq", phase, _per_sample(C, B))
    w = h ** 3 / 8.0
    return w * torch.einsum("bixyzgp,bxyzpq,bjxyzgq->bij", eps, Cv, eps)


def phase_gradient(a, u, b, Ke, Fe) -> torch.Tensor:
    """``[B, M, n, n, n]``: sum_l a_l^T Ke[m] u_l + sum_j b_j . Fe[m][:, j] per voxel."""
    B = u.shape[0]
    Ke = _per_sample(Ke, B)
    Fe = _per_sample(Fe, B)
    ae, ue, be = gather_elements(a), gather_elements(u), gather_elements(b)
    g = torch.einsum("blxyzr,bmrs,blxyzs->bmxyz", ae, Ke, ue)
    return g + torch.einsum("bjxyzr,bmrj->bmxyz", be, Fe)


def element_fields(u, phase, C, macro_strain) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel-average strain and stress ``[B, L, 6, n, n, n]`` each: eps = E_l - B u_l, sig = C_e eps."""
    B, n = u.shape[0], u.shape[-1]
    Bc = fem.center_strain_displacement(n, u.dtype, u.device)
    ue = gather_elements(u)
    eps = macro_strain[:, :, None, None, None, :] - torch.einsum("pr,blxyzr->blxyzp", Bc, ue)
    Cv = torch.einsum("bmxyz,bmpq->bxyzpq", phase, _per_sample(C, B))
    sig = torch.einsum("bxyzpq,blxyzq->blxyzp", Cv, eps)
    return eps.permute(0, 1, 5, 2, 3, 4).contiguous(), sig.permute(0, 1, 5, 2, 3, 4).contiguous()


# ----------------------------------------------------------------- assembled global matrices
STENCIL = tuple((a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1))


def _stencil_index(d: tuple[int, int, int]) -> int:
    """Position of the node offset d in STENCIL (27 neighbours, lexicographic in (-1, 0, 1)^3)."""
    return 9 * (d[0] + 1) + 3 * (d[1] + 1) + (d[2] + 1)


def _phase_weights(vox: np.ndarray) -> np.ndarray:
    """Per-voxel phase fractions ``[2, n, n, n]`` = (vox, 1 - vox) in float64."""
    v = np.asarray(vox, dtype=np.float64)
    return np.stack((v, 1.0 - v))


def _weights_at_nodes(weights: np.ndarray, a: int) -> np.ndarray:
    """Phase fractions of the voxel of which each node is local node a: node p reads voxel
    p - offset(a) (periodic), ``[2, n, n, n]``."""
    return np.roll(weights, NODE_OFFSETS[a], axis=(1, 2, 3))


def assemble_stiffness(vox: np.ndarray, Ke: np.ndarray):
    """Global periodic stiffness K ``[3 n^3, 3 n^3]`` (CSR, float64) of a two-phase cell.

    vox ``[n, n, n]`` in [0, 1]; Ke ``[2, 24, 24]`` (hard, soft) element matrices. Row 3 p + i
    holds, for each of the 27 neighbours q = p + d (periodic), the entries (3 p + i, 3 q + j):
    the sum over local node pairs (a, b) with offset(b) - offset(a) = d of
    sum_m w_m(p - offset(a)) Ke[m, 3a + i, 3b + j]. An independent route to K (explicit global
    matrix, numpy indexing) for the tests and the SciPy baselines of the benchmarks."""
    import scipy.sparse as sp  # scipy only where the oracle's sparse matrix is asked for

    n = vox.shape[-1]
    weights = _phase_weights(vox)
    data = np.zeros((n, n, n, 3, 27, 3))
    for a in range(8):
        Ka = Ke[:, 3 * a:3 * a + 3, :].reshape(2, 3, 8, 3)  # [m, i, b, j]
        contrib = np.tensordot(_weights_at_nodes(weights, a), Ka, axes=(0, 0))  # [n, n, n, i, b, j]
        for b in range(8):
            d = tuple(ob - oa for ob, oa in zip(NODE_OFFSETS[b], NODE_OFFSETS[a]))
            data[:, :, :, :, _stencil_index(d), :] += contrib[:, :, :, :, b, :]
    N = 3 * n ** 3
    index_dtype = np.int32 if 81 * N < np.iinfo(np.int32).max else np.int64
    idx = np.arange(n)
    neighbours = np.empty((n, n, n, 27), dtype=index_dtype)
    for s, (da, db, dc) in enumerate(STENCIL):
        ii, jj, kk = ((idx + da) % n, (idx + db) % n, (idx + dc) % n)
        neighbours[..., s] = (ii[:, None, None] * n + jj[None, :, None]) * n + kk[None, None, :]
    columns = 3 * neighbours[:, :, :, None, :, None] + np.arange(3, dtype=index_dtype)
    columns = np.broadcast_to(columns, data.shape)
    indptr = np.arange(0, 81 * N + 1, 81, dtype=index_dtype)
    K = sp.csr_matrix((data.reshape(-1), columns.reshape(-1), indptr), shape=(N, N))
    K.sum_duplicates()  # sorts the columns; merges repeated neighbours for n < 3
    return K


def assemble_loads(vox: np.ndarray, Fe: np.ndarray) -> np.ndarray:
    """Load vectors ``[3 n^3, 6]`` (dof = 3 node + component) of the six unit strains from the
    element loads Fe ``[2, 24, 6]``: f[3 p + c] = sum_a sum_m w_m(p - offset(a)) Fe[m, 3a + c]."""
    n = vox.shape[-1]
    weights = _phase_weights(vox)
    f = np.zeros((n, n, n, 3, Fe.shape[-1]))
    for a in range(8):
        f += np.tensordot(_weights_at_nodes(weights, a), Fe[:, 3 * a:3 * a + 3, :], axes=(0, 0))
    return f.reshape(3 * n ** 3, Fe.shape[-1])


def dofs_to_field(x: np.ndarray, n: int) -> np.ndarray:
    """``[3 n^3, L]`` dof vectors -> ``[L, 3, n, n, n]`` fields (the ops' layout)."""
    return np.ascontiguousarray(x.reshape(n, n, n, 3, -1).transpose(4, 3, 0, 1, 2))
