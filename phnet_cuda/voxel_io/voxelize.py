"""A closed triangle mesh as a periodic voxel cell: voxel (i, j, k) is solid when its centre, or any
periodic image of it (shifted by whole cell edges), lies inside the mesh.

Method: the generalized winding number along vertical lines. Every voxel column (i, j) is a line
parallel to z through the voxel centres; a triangle whose projection onto the xy plane covers the
line crosses it once, at a height found by barycentric interpolation, and counts +1 if it faces
up (+z) and -1 if it faces down. The winding number of a point is the sum over the crossings
above it: 1 inside a closed outward-oriented surface, 0 outside (2 where two closed pieces
overlap). Periodic images are summed in closed form: the lines of every column image (x + a lx,
y + b ly) that meet the mesh are collected into their column, and a crossing at height z adds to
every voxel centre image below it (``_add_crossings``). A voxel is solid where the sum is
positive, which is the union of the images for a consistently oriented mesh.

Lines through a shared edge or vertex of the projected mesh would be counted twice or not at all
by a plain inside test. Each edge is therefore evaluated with its two end points in one fixed
(lexicographic) order, so the triangles on either side compute the identical number, and a line
exactly on an edge is decided as if it were moved by an infinitesimal (e, e^2) - simulation of
simplicity - so it lies in exactly one of them, also at vertices. Triangles that are vertical
(zero projected area) are never crossed by a line in general position and are skipped."""

from __future__ import annotations

import numpy as np

#: (triangle, column) pairs examined per batch: bounds the working memory (~100 bytes a pair)
_PAIRS_PER_BATCH = 1 << 21


def _edge_sign(p: np.ndarray, q: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sign (+1 / -1, never 0) of the 2D cross product (q - p) x (point - p) for the points (x, y), with
    p < q lexicographically; a point on the line takes the sign of the point moved by (e, e^2)."""
    e = (q[:, 0] - p[:, 0]) * (y - p[:, 1]) - (q[:, 1] - p[:, 1]) * (x - p[:, 0])
    # moved by (e, e^2): e' = (qx - px) e^2 - (qy - py) e; with p < q, qy == py means qx > px
    dy = q[:, 1] - p[:, 1]
    tie = np.where(dy == 0, 1.0, -np.sign(dy))
    return np.where(e == 0, tie, np.sign(e))


def _inside(a: np.ndarray, b: np.ndarray, c: np.ndarray, orient: np.ndarray, x: np.ndarray,
            y: np.ndarray) -> np.ndarray:
    """Whether the points (x, y) lie inside the projected triangles (a, b, c) of orientation ``orient``
    (sign of the projected area), each edge decided as in the module docstring."""
    inside = np.ones(len(x), dtype=bool)
    for p, q in ((a, b), (b, c), (c, a)):
        forward = (p[:, 0] < q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] < q[:, 1]))
        lo, hi = np.where(forward[:, None], p, q), np.where(forward[:, None], q, p)
        # the interior lies on the left of p -> q for a positive triangle, so of lo -> hi when forward
        side = np.where(forward, orient, -orient)
        inside &= _edge_sign(lo, hi, x, y) == side
    return inside


def _add_crossings(counts: np.ndarray, offsets: np.ndarray, column: np.ndarray, z: np.ndarray,
                   sign: np.ndarray, n: int) -> None:
    """Add crossings of weight ``sign`` at heights ``z`` (voxel units) on the columns ``column`` (flat
    i * n + j): every periodic image k + 0.5 + m n of voxel centre k below z gains ``sign``. Counted
    from a fixed image far below, centre k has a n + [k < b] images below z, where a n + b = the
    number of centre images k' + 0.5 < z, k' >= 0, i.e. ceil(z - 0.5) (a constant per column, which
    sums to zero over a closed mesh's crossings)."""
    below = np.ceil(z - 0.5).astype(np.int64)
    a, b = np.divmod(below, n)
    np.add.at(offsets, column, sign * a)
    np.add.at(counts, (column, np.zeros_like(column)), sign)
    np.add.at(counts, (column, b), -sign)


def winding_numbers(triangles, lower, upper, n: int) -> np.ndarray:
    """The winding number of a closed triangle mesh, summed over periodic images, at the voxel centres
    of the cell box [lower, upper] divided into n^3 voxels (module docstring).

    Args:
        triangles: ``[T, 3, 3]`` vertex coordinates (triangle, corner, xyz); a closed surface.
        lower, upper: the cell box corners ``[3]``.
        n: voxels per cell edge.

    Returns:
        int64 ``[n, n, n]``, axes x, y, z. For a closed surface oriented outwards every entry is >= 0
        and the solid is where it is > 0; an inward-oriented (inverted) mesh gives <= 0, which the
        caller turns around by the sign of the enclosed volume.
    """
    tri = np.asarray(triangles, dtype=np.float64)
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    # voxel units: voxel centres at integer + 0.5, the cell from 0 to n on every axis
    v = (tri - lower) / (upper - lower) * n
    a, b, c = v[:, 0], v[:, 1], v[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = area != 0  # vertical triangles: no line in general position meets them
    a, b, c, area = a[keep], b[keep], c[keep], area[keep]
    orient = np.sign(area)
    # the column lines x = I + 0.5, y = J + 0.5 of every image within each triangle's bounding box
    i_lo = np.ceil(np.minimum(np.minimum(a[:, 0], b[:, 0]), c[:, 0]) - 0.5).astype(np.int64)
    i_hi = np.floor(np.maximum(np.maximum(a[:, 0], b[:, 0]), c[:, 0]) - 0.5).astype(np.int64)
    j_lo = np.ceil(np.minimum(np.minimum(a[:, 1], b[:, 1]), c[:, 1]) - 0.5).astype(np.int64)
    j_hi = np.floor(np.maximum(np.maximum(a[:, 1], b[:, 1]), c[:, 1]) - 0.5).astype(np.int64)
    ni, nj = np.maximum(i_hi - i_lo + 1, 0), np.maximum(j_hi - j_lo + 1, 0)
    pairs = ni * nj
    counts = np.zeros((n * n, n + 1), dtype=np.int64)  # per column: +-1 at the first/after the last centre below
    offsets = np.zeros(n * n, dtype=np.int64)  # per column: whole images below, for every centre
    ends = np.cumsum(pairs)
    start = 0
    while start < len(pairs):
        # triangles [start, stop) with at most _PAIRS_PER_BATCH pairs (at least one triangle)
        stop = max(int(np.searchsorted(ends, (ends[start - 1] if start else 0) + _PAIRS_PER_BATCH, "right")),
                   start + 1)
        t = np.repeat(np.arange(start, stop), pairs[start:stop])
        first = np.repeat(ends[start:stop] - pairs[start:stop], pairs[start:stop])
        r = np.arange(len(t)) + (ends[start - 1] if start else 0) - first
        gi, gj = i_lo[t] + r // nj[t], j_lo[t] + r % nj[t]
        x, y = gi + 0.5, gj + 0.5
        hit = _inside(a[t], b[t], c[t], orient[t], x, y)
        t, x, y, gi, gj = t[hit], x[hit], y[hit], gi[hit], gj[hit]
        # barycentric weights of (x, y) in the projected triangle, then the crossing height
        ta, tb, tc = a[t], b[t], c[t]
        wa = ((tb[:, 0] - x) * (tc[:, 1] - y) - (tb[:, 1] - y) * (tc[:, 0] - x)) / area[t]
        wb = ((tc[:, 0] - x) * (ta[:, 1] - y) - (tc[:, 1] - y) * (ta[:, 0] - x)) / area[t]
        z = wa * ta[:, 2] + wb * tb[:, 2] + (1.0 - wa - wb) * tc[:, 2]
        column = np.mod(gi, n) * n + np.mod(gj, n)
        _add_crossings(counts, offsets, column, z, orient[t].astype(np.int64), n)
        start = stop
    winding = offsets[:, None] + np.cumsum(counts, axis=1)[:, :n]
    return winding.reshape(n, n, n)


def enclosed_volume(triangles) -> float:
    """The signed volume enclosed by a closed triangle mesh (divergence theorem): positive when its
    triangles are oriented outwards (counter-clockwise seen from outside)."""
    tri = np.asarray(triangles, dtype=np.float64)
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)
