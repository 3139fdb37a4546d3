"""Percolation of the solid phase through a periodic cell.

The cell is labelled once without periodicity (``scipy.ndimage.label``, face connectivity); the
components are then joined across the three pairs of opposite faces by a union-find that keeps
for every component its position in the tiling (an integer cell offset). A face contact that
closes a loop inside one tree gives a *cycle vector* c in Z^3: that component touches its own
translate by c. The cycle vectors of a component generate a lattice L of translations under which
its infinite periodic copy is invariant.

* ``criterion="image"`` (default, the definition of the library's contract): the solid percolates
  in direction d when some component reaches its own periodic image one period away along d,
  i.e. e_d lies in L.
* ``criterion="unbounded"``: the infinite cluster is unbounded along d, i.e. some cycle vector has
  a non-zero d-component (a rod along (1, 1, 0) is unbounded in x and y, but never reaches its
  image one period away along x alone).
"""

from __future__ import annotations

import numpy as np
import torch

_CRITERIA = ("image", "unbounded")


def _lattice_basis(vectors) -> list[list[int]]:
    """Echelon (Hermite-like) basis of the integer lattice spanned by ``vectors`` (rows in Z^3),
    by integer row reduction (Euclid on each column)."""
    rows = [list(map(int, v)) for v in vectors if any(v)]
    basis = []
    for col in range(3):
        pivot_rows = [r for r in rows if r[col] != 0]
        rest = [r for r in rows if r[col] == 0]
        while len(pivot_rows) > 1:
            pivot_rows.sort(key=lambda r: abs(r[col]))
            p = pivot_rows[0]
            reduced = [p]
            for r in pivot_rows[1:]:
                q = r[col] // p[col]
                r = [a - q * b for a, b in zip(r, p)]
                (reduced if r[col] != 0 else rest).append(r)
            pivot_rows = reduced
        if pivot_rows:
            basis.append(pivot_rows[0])
        rows = [r for r in rest if any(r)]
    return basis


def _in_lattice(basis, v) -> bool:
    """Whether the integer vector v lies in the lattice with echelon ``basis``."""
    v = list(v)
    for row in basis:
        col = next(i for i, a in enumerate(row) if a != 0)
        if v[col] % row[col]:
            return False
        q = v[col] // row[col]
        v = [a - q * b for a, b in zip(v, row)]
    return not any(v)


def _check_solid(vox, threshold: float) -> np.ndarray:
    arr = vox.detach().cpu().numpy() if isinstance(vox, torch.Tensor) else np.asarray(vox)
    if arr.ndim != 3:
        raise ValueError(f"vox: expected a voxel array [n, n, n], got shape {tuple(arr.shape)}")
    return arr > threshold


def _periodic_components(solid: np.ndarray):
    """Face-connected components of a periodic boolean grid.

    Returns ``(labels, count, root, offset, cycles)``: the non-periodic labels ``[n, n, n]``
    (0 = void, 1..count), for every label its periodic component (``root[l]``) and its position
    in the tiling relative to the root (``offset[l]``, integer cell offsets ``[count + 1, 3]``),
    and for every root the list of its cycle vectors (empty: the component is bounded)."""
    from scipy import ndimage

    labels, count = ndimage.label(solid)  # default structure: face (6-) connectivity
    parent = np.arange(count + 1)
    offset = np.zeros((count + 1, 3), dtype=np.int64)  # position of a node relative to its parent
    cycles = {}  # root -> list of cycle vectors

    def find(x):
        # Returns the root and the position of x relative to it; compresses the path.
        path = []
        while parent[x] != x:
            path.append(x)
            x = parent[x]
        root = x
        acc = np.zeros(3, dtype=np.int64)
        for node in reversed(path):
            acc = acc + offset[node]
            offset[node] = acc
            parent[node] = root
        return root

    for axis in range(3):
        last = np.take(labels, -1, axis=axis).ravel()
        first = np.take(labels, 0, axis=axis).ravel()
        touching = (last > 0) & (first > 0)
        if not touching.any():
            continue
        pairs = np.unique(np.stack([last[touching], first[touching]], axis=1), axis=0)
        step = np.zeros(3, dtype=np.int64)
        step[axis] = 1
        for a, b in pairs.tolist():
            # Component a in cell c touches component b in cell c + e_axis: pos(b) = pos(a) + e.
            ra, rb = find(a), find(b)
            pa = offset[a] if a != ra else np.zeros(3, dtype=np.int64)
            pb = offset[b] if b != rb else np.zeros(3, dtype=np.int64)
            if ra != rb:
                # Attach rb under ra so that pos(b) = pos(a) + step (positions relative to ra).
                parent[rb] = ra
                offset[rb] = pa + step - pb
                cycles.setdefault(ra, []).extend(cycles.pop(rb, []))
            else:
                cycle = pa + step - pb
                if cycle.any():
                    cycles.setdefault(ra, []).append(cycle.tolist())
    root = np.array([find(x) for x in range(count + 1)], dtype=np.int64)
    offset[root == np.arange(count + 1)] = 0
    return labels, count, root, offset, {r: cycles.get(r, []) for r in np.unique(root[1:]).tolist()}


def percolation(vox, threshold: float = 0.5, *, criterion: str = "image") -> tuple[bool, bool, bool]:
    """Whether the solid phase ``vox > threshold`` percolates through the periodic cell in x, y, z.

    Args:
        vox: voxel array ``[n, n, n]`` (torch or numpy; axes x, y, z as in docs/conventions.md), any
            values; solid where ``vox > threshold``. The cell is periodic in all three directions.
        threshold: solid/void threshold (default 0.5, so fractional cells count voxels that are
            more than half solid).
        criterion: ``"image"`` (default): a face-connected path of solid voxels leads from a voxel
            to its own periodic image one period away along that axis. ``"unbounded"``: the
            periodic cluster extends to infinity along that axis (paths may also advance in the
            other directions, e.g. a diagonal rod). See the module docstring.

    Returns:
        ``(in_x, in_y, in_z)`` booleans.
    """
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion: expected one of {_CRITERIA}, got {criterion!r}")
    solid = _check_solid(vox, threshold)
    _, count, _, _, cycles = _periodic_components(solid)
    result = [False, False, False]
    for vectors in cycles.values():
        if not vectors:
            continue
        if criterion == "unbounded":
            for d in range(3):
                result[d] = result[d] or any(v[d] != 0 for v in vectors)
        else:
            basis = _lattice_basis(vectors)
            for d in range(3):
                result[d] = result[d] or _in_lattice(basis, [int(i == d) for i in range(3)])
    return tuple(result)


def bounded_clusters(vox, threshold: float = 0.5) -> list[np.ndarray]:
    """The solid's face-connected pieces that do not reach any periodic image of themselves.

    In a voxel FE model two solid voxels are rigidly joined only through a shared face; pieces
    that meet the rest of the solid at voxel edges or corners alone are hinged to it, and pieces
    that meet it nowhere float in the soft phase. Either way such a bounded piece can move almost
    rigidly at an energy of the order of the soft phase's, which is what slows the solver down on
    thin, under-resolved lattices (``solver.homogenize`` deflates these rigid motions).

    Args:
        vox: voxel array ``[n, n, n]`` (torch or numpy), solid where ``vox > threshold``.
        threshold: solid/void threshold.

    Returns:
        One int64 array ``[m, 3]`` per bounded piece, largest first: the (i, j, k) indices of its
        voxels, unwrapped so that a piece crossing the cell's faces is contiguous (indices may be
        negative or >= n; reduce them modulo n for the stored voxel).
    """
    solid = _check_solid(vox, threshold)
    labels, count, root, offset, cycles = _periodic_components(solid)
    if count == 0:
        return []
    n = np.array(solid.shape, dtype=np.int64)
    idx = np.argwhere(labels > 0)
    lab = labels[labels > 0]  # argwhere and boolean masks both walk in C order
    pieces = {}
    for r, vectors in cycles.items():
        if vectors:
            continue  # reaches its own image: periodic, no rigid motion but the global one
        members = np.flatnonzero(root[lab] == r)
        pieces[r] = idx[members] + offset[lab[members]] * n
    return sorted(pieces.values(), key=len, reverse=True)
