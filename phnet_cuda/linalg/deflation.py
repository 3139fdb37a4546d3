"""Deflation of the rigid motions of a cell's bounded solid pieces (hinged at voxel edges or
corners, or floating in the soft phase): the coarse space W and the balancing two-level
preconditioner built on it.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import ops
from ..conventions import NODE_OFFSETS
from .dense import spd_inverse

MAX_DEFLATED_PIECES = 1024  # W^T K W is [6 C, 6 C] dense: 300 MB in float64 at the cap
_CORNERS = np.array(NODE_OFFSETS, dtype=np.int64)  # the eight nodes of a voxel


def bounded_pieces(vox: torch.Tensor) -> list[list[np.ndarray]]:
    """``geometry.bounded_clusters`` of every cell of ``vox`` ``[B, n, n, n]`` (solid: > 0.5)."""
    from ..geometry import bounded_clusters  # geometry imports scipy: load it when first needed

    return [bounded_clusters(v, 0.5) for v in vox]


class RigidClusterDeflation:
    """Coarse correction Q r = W (W^T K W)^-1 W^T r on the rigid motions of the solid's bounded
    pieces (``geometry.bounded_clusters``).

    Why: on thin, under-resolved cells the solid splits into face-connected pieces that touch
    the rest only at voxel edges/corners (hinges) or not at all (floating in the soft phase).
    Each can move almost rigidly at the soft phase's energy (~soft_ratio), so K has up to six
    eigenvalues ~1e-6 per piece, which neither the smoother nor the trilinear coarse grids see:
    CG then spends about one iteration per such eigenvalue (a vf = 0.026 TG cell at n = 16
    with 23 bounded pieces: 229 iterations instead of ~20). W holds, per piece, its three
    translations and three rotations (about its centroid, in cube coordinates: the cube problem's
    zero-energy motions) on the piece's nodes; a node shared by k pieces gets weight 1/k, so the
    compatible mechanisms (piece A turning about a hinge node it shares with B) lie exactly in
    span W. ``combine`` wraps a preconditioner M (the V-cycle) into the balancing two-level
    preconditioner (I - Q K) M (I - K Q) + Q, symmetric positive definite like M. Periodic
    pieces (reaching their own image) have no rigid motion but the global translation and are
    left out.

    Args:
        vox: ``[B, n, n, n]`` cells (solid where vox > 0.5).
        phase: ``[B, M, n, n, n]`` phase fractions, Ke ``[B|1, M, 24, 24]``: the cube operator.
        max_clusters: a cell with more bounded pieces is not deflated at all (partial deflation
            can slow CG down; the dense W^T K W grows as (6 C)^2).
        pieces: per cell, ``bounded_pieces(vox)`` if already computed.
    """

    def __init__(self, vox: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor, *,
                 max_clusters: int = MAX_DEFLATED_PIECES, chunk: int = 48, pieces=None):
        n = self.n = phase.shape[-1]
        self.spaces = []  # per sample: None or (idx [nnz], cid [nnz], modes [nnz, 6, 3], C, Einv [6C, 6C])
        self.clusters = []
        for b, cell_pieces in enumerate(bounded_pieces(vox) if pieces is None else pieces):
            if len(cell_pieces) > max_clusters:
                # All or nothing: deflating only some of many pieces measurably slowed CG down
                # (lidinoid sheet, n = 32, vf 0.1: 64 of 672 pieces 307 iterations, none 210).
                cell_pieces = []
            self.clusters.append(len(cell_pieces))
            if not cell_pieces:
                self.spaces.append(None)
                continue
            space = self._space(cell_pieces, n, phase.dtype, phase.device)

            def apply(x, b=b):
                return ops.stiffness_apply(x.contiguous(), phase[b:b + 1], Ke[b:b + 1] if Ke.shape[0] > 1 else Ke)

            E = self._galerkin(space, self._groups(cell_pieces, n), apply, chunk)
            self.spaces.append(space + (spd_inverse(0.5 * (E + E.T)[None])[0],))

    @staticmethod
    def _groups(pieces, n: int) -> list[np.ndarray]:
        """Pieces packed into groups whose K-supports (nodes within one voxel of a piece's
        nodes) do not overlap, greedily; per group an owner map ``[n^3]`` (piece or -1)."""
        reach = np.array([(a, b, c) for a in range(-1, 3) for b in range(-1, 3) for c in range(-1, 3)])
        groups = []
        for j, vox_ijk in enumerate(pieces):
            support = np.unique(np.ravel_multi_index(tuple(((vox_ijk[:, None] + reach[None]).reshape(-1, 3) % n).T),
                                                     (n, n, n)))
            for owner in groups:
                if (owner[support] < 0).all():
                    owner[support] = j
                    break
            else:
                owner = np.full(n ** 3, -1, dtype=np.int64)
                owner[support] = j
                groups.append(owner)
        return groups

    def _galerkin(self, space, groups, apply, chunk: int) -> torch.Tensor:
        """E = W^T K W ``[6C, 6C]`` with 6 stiffness products per group instead of per piece:
        K applied to the sum of a group's modes is, near each piece, K applied to that piece's
        mode alone (disjoint K-supports), so every entry of the product is owned by one piece."""
        idx, cid, modes, C = space
        dev = modes.device
        E = modes.new_zeros(C * 6, C * 6)
        # per group and entry: the group's piece whose K-support holds the entry's node (or -1)
        owner = torch.as_tensor(np.stack(groups), device=dev)[:, idx]  # [G, nnz]
        fields = []  # (group, mode) -> sum over the group's pieces of that rigid mode
        for g in range(len(groups)):
            in_group = (owner[g] == cid).to(modes.dtype)  # entries of pieces owned by group g
            for m in range(6):
                y = modes.new_zeros(1, C, 6)
                y[0, :, m] = 1.0
                fields.append(self._W(space, y.reshape(1, -1), entry_mask=in_group))
        fields = torch.cat(fields)  # [6G, 3, n, n, n]
        for a in range(0, fields.shape[0], chunk):
            KF = apply(fields[a:a + chunk][None])[0]  # [l, 3, n, n, n]
            for i in range(KF.shape[0]):
                g, m = divmod(a + i, 6)
                hit = owner[g] >= 0
                vals = torch.einsum("dk,kmd->km", KF[i].reshape(3, -1)[:, idx[hit]], modes[hit])  # [nnz', 6]
                rows = (cid[hit][:, None] * 6 + torch.arange(6, device=dev)).reshape(-1)
                cols = (owner[g][hit] * 6 + m)[:, None].expand(-1, 6).reshape(-1)
                E.index_put_((rows, cols), vals.reshape(-1), accumulate=True)
        return E

    @staticmethod
    def _space(pieces, n: int, dtype, device):
        idx, X, cid = [], [], []
        for j, vox_ijk in enumerate(pieces):
            nodes = np.unique((vox_ijk[:, None, :] + _CORNERS[None]).reshape(-1, 3), axis=0)
            idx.append(np.ravel_multi_index(tuple((nodes % n).T), (n, n, n)))
            X.append(nodes / n)  # unwrapped node positions, cube coordinates (h = 1 / n)
            cid.append(np.full(len(nodes), j))
        idx, X, cid = np.concatenate(idx), np.concatenate(X), np.concatenate(cid)
        C = len(pieces)
        weight = 1.0 / np.bincount(idx, minlength=n ** 3)[idx]
        centre = np.stack([np.bincount(cid, X[:, d], C) / np.bincount(cid, None, C) for d in range(3)], axis=1)
        X = X - centre[cid]
        modes = np.zeros((len(idx), 6, 3))
        modes[:, [0, 1, 2], [0, 1, 2]] = 1.0  # translations
        for a in range(3):  # rotation about axis a: e_a x X
            modes[:, 3 + a] = np.cross(np.eye(3)[a], X)
        modes *= weight[:, None, None]

        def to(x, dt):
            return torch.as_tensor(x, dtype=dt, device=device)

        return to(idx, torch.long), to(cid, torch.long), to(modes, dtype), C

    def _WT(self, space, r: torch.Tensor) -> torch.Tensor:
        """W^T r: ``[L, 3, n, n, n]`` -> ``[L, 6C]``."""
        idx, cid, modes, C = space[:4]
        L = r.shape[0]
        per_entry = torch.einsum("ldk,kmd->lkm", r.reshape(L, 3, -1)[:, :, idx], modes)  # [L, nnz, 6]
        return r.new_zeros(L, C, 6).index_add_(1, cid, per_entry).reshape(L, 6 * C)

    def _W(self, space, y: torch.Tensor, entry_mask: torch.Tensor | None = None) -> torch.Tensor:
        """W y: ``[L, 6C]`` -> ``[L, 3, n, n, n]`` (``entry_mask`` ``[nnz]`` weights the entries)."""
        idx, cid, modes, C = space[:4]
        L, n = y.shape[0], self.n
        if entry_mask is not None:
            modes = modes * entry_mask[:, None, None]
        vals = torch.einsum("lkm,kmd->ldk", y.reshape(L, C, 6)[:, cid], modes)  # [L, 3, nnz]
        return y.new_zeros(L, 3, n ** 3).index_add_(2, idx, vals).reshape(L, 3, n, n, n)

    def combine(self, precondition, apply_K):
        """The balancing (BNN-type) two-level preconditioner (I - Q K) M (I - K Q) + Q around a
        preconditioner M: symmetric positive definite like M, two extra stiffness products per
        application. The additive M + Q is cheaper but over-corrects where M already works
        (lidinoid sheet: 372 iterations against 210 undeflated; balanced: 62)."""
        def balanced(r):
            qr = self(r)
            y = precondition(r - apply_K(qr))
            return y - self(apply_K(y)) + qr
        return balanced

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        """Q r for residuals ``[B, L, 3, n, n, n]`` (zero for cells without bounded pieces)."""
        z = torch.zeros_like(r)
        for b, space in enumerate(self.spaces):
            if space is not None:
                rb = r[b].to(space[2].dtype)
                z[b] = self._W(space, self._WT(space, rb) @ space[4].T).to(r.dtype)
        return z
