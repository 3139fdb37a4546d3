"""Strut (truss) lattices voxelised by point-to-segment distance."""

from __future__ import annotations

import functools
import itertools
import math

import torch

# The 12 edges of the unit cube: the simple-cubic 'grid' lattice (every periodic image of an
# edge strut is itself in the list).
_CUBE_NODES = [(x, y, z) for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)]
GRID_NODES = torch.tensor(_CUBE_NODES, dtype=torch.float64)
GRID_STRUTS = torch.tensor([(a, b) for a, b in itertools.combinations(range(8), 2)
                            if sum(abs(p - q) for p, q in zip(_CUBE_NODES[a], _CUBE_NODES[b])) == 1.0])


def voxel_centres(n: int) -> torch.Tensor:
    """Voxel-centre coordinates ``[n, n, n, 3]`` (x, y, z) = ((i, j, k) + 1/2) / n."""
    c = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return torch.stack(torch.meshgrid(c, c, c, indexing="ij"), dim=-1)


def strut_distance(points: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance of ``points [..., 3]`` to the segment from a to b (end points included)."""
    ab = b - a
    t = ((points - a) @ ab / (ab @ ab)).clamp(0.0, 1.0)
    return torch.linalg.vector_norm(points - (a + t[..., None] * ab), dim=-1)


def strut_lattice(n: int, nodes, struts, radius: float, *, periodic: bool = True) -> torch.Tensor:
    """Binary voxels ``[n, n, n]`` (float32): a voxel is solid when its centre lies within
    ``radius`` of a strut.

    Args:
        n: voxels per edge of the unit cube.
        nodes: ``[N, 3]`` node coordinates in the unit cell.
        struts: ``[S, 2]`` node index pairs.
        radius: strut radius (cell edge = 1).
        periodic: also use the struts' images shifted by -1, 0, 1 cell in each direction, so
            struts crossing the cell boundary re-enter on the other side.
    """
    if n < 1 or not radius > 0:
        raise ValueError(f"need n >= 1 and radius > 0, got n = {n}, radius = {radius}")
    nodes = torch.as_tensor(nodes, dtype=torch.float64)
    struts = torch.as_tensor(struts, dtype=torch.int64)
    pts = voxel_centres(n)
    shifts = [torch.tensor(s, dtype=torch.float64) for s in itertools.product((-1.0, 0.0, 1.0), repeat=3)] \
        if periodic else [torch.zeros(3, dtype=torch.float64)]
    dist = torch.full((n, n, n), float("inf"), dtype=torch.float64)
    for i, j in struts.tolist():
        for s in shifts:
            dist = torch.minimum(dist, strut_distance(pts, nodes[i] + s, nodes[j] + s))
    return (dist <= radius).to(torch.float32)


def grid_lattice(n: int, radius: float) -> torch.Tensor:
    """Simple-cubic 'grid' lattice: struts along the 12 cube edges."""
    return strut_lattice(n, GRID_NODES, GRID_STRUTS, radius)


# ---------------------------------------------------------------------------------------------
# The truss library: periodic strut nets in the unit cube.
#
# A net is a set of segments (p, q) in cell coordinates; the cell is periodic, so every integer
# translate of a segment is part of the structure too. Most nets are generated as the bonds of a
# given length between two sets of sites (crystallographic nets: pcu, bcu, fcu, dia, sod, ...),
# which makes them exactly periodic and free of duplicate struts.

_S2, _S3 = math.sqrt(2.0), math.sqrt(3.0)

_CORNER = [(0.0, 0.0, 0.0)]
_BODY = [(0.5, 0.5, 0.5)]
_FACES = [(0.5, 0.5, 0.0), (0.5, 0.0, 0.5), (0.0, 0.5, 0.5)]
_EDGES = [(0.5, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, 0.5)]
_TETRA_ALL = [(a, b, c) for a in (0.25, 0.75) for b in (0.25, 0.75) for c in (0.25, 0.75)]
# The four tetrahedral holes of the fcc lattice occupied in diamond (even parity).
_TETRA_EVEN = [(0.25, 0.25, 0.25), (0.75, 0.75, 0.25), (0.75, 0.25, 0.75), (0.25, 0.75, 0.75)]
# srs (the gyroid's labyrinth graph, Laves graph): Wyckoff 8a of I4_1 3 2, 3-connected.
_SRS = [(0.125, 0.125, 0.125), (0.375, 0.875, 0.625), (0.875, 0.625, 0.375), (0.625, 0.375, 0.875),
        (0.625, 0.625, 0.625), (0.875, 0.375, 0.125), (0.375, 0.125, 0.875), (0.125, 0.875, 0.375)]
# Kelvin foam (truncated octahedra around the bcc points): all permutations of (0, 1/4 or 3/4, 1/2).
_KELVIN = sorted({tuple(p) for s in (0.25, 0.75) for p in itertools.permutations((0.0, s, 0.5))})
# Truncated-cube honeycomb (truncated cubes + octahedra): corners cut at c = 1 / (2 + sqrt 2), so
# the octagon and triangle edges have the same length 1 - 2c.
_TC = 1.0 / (2.0 + _S2)
_TRUNC_CUBE = [tuple(v if i == axis else 0.0 for i in range(3)) for axis in range(3) for v in (_TC, 1 - _TC)]
# Rhombicuboctahedron around the cell centre with its square faces on the cell faces: vertices
# (1/2 +- 1/2, 1/2 +- a, 1/2 +- a) and permutations, a = sqrt2 / (2 (2 + sqrt2)) (all edges 2a).
_RCO_A = _S2 / (2.0 * (2.0 + _S2))
_RCO = sorted({tuple(p) for u in (0.5 - _RCO_A, 0.5 + _RCO_A) for w in (0.5 - _RCO_A, 0.5 + _RCO_A)
               for p in ((0.0, u, w), (u, 0.0, w), (u, w, 0.0))})

_TOL = 1e-9


def _bonds(sites_a, sites_b, length: float) -> list:
    """Segments of the given length from each site of A to each periodic image of each site of B
    (cell coordinates; sites in [0, 1)). Images at offsets in {-1, 0, 1}^3 suffice for
    length <= 1."""
    if length > 1.0 + _TOL:
        raise ValueError(f"length: bonds longer than one cell are not supported, got {length}")
    out = []
    for a in sites_a:
        for b in sites_b:
            for s in itertools.product((-1.0, 0.0, 1.0), repeat=3):
                q = tuple(bi + si for bi, si in zip(b, s))
                if abs(math.dist(a, q) - length) < _TOL:
                    out.append((tuple(a), q))
    return out


def _canonical(seg) -> tuple:
    """Key of a segment up to orientation and integer translation (for de-duplication)."""
    keys = []
    for p, q in (seg, seg[::-1]):
        shift = [math.floor(v + _TOL) for v in p]
        keys.append(tuple(round(v - s, 7) for pt in (p, q) for v, s in zip(pt, shift)))
    return min(keys)


def _unique(segments) -> list:
    seen, out = set(), []
    for seg in segments:
        key = _canonical(seg)
        if key not in seen:
            seen.add(key)
            out.append((tuple(seg[0]), tuple(seg[1])))
    return out


def _tesseract() -> list:
    """Cube-in-a-cube: the cell edges, the edges of the inner cube [1/4, 3/4]^3 and the eight
    struts joining the inner corners to the outer ones."""
    inner = [(a, b, c) for a in (0.25, 0.75) for b in (0.25, 0.75) for c in (0.25, 0.75)]
    inner_edges = [(p, q) for p, q in itertools.combinations(inner, 2) if abs(math.dist(p, q) - 0.5) < _TOL]
    spokes = [(p, tuple(round(v) for v in p)) for p in inner]  # (1/4 -> 0, 3/4 -> 1)
    return _bonds(_CORNER, _CORNER, 1.0) + inner_edges + spokes


def _pyrochlore_sites() -> list:
    """Mid-points of the diamond bonds (the pyrochlore / 3D-kagome sites), wrapped into [0, 1)."""
    mids = {tuple(round(((p + q) / 2.0) % 1.0, 9) for p, q in zip(a, b)) for a, b in
            _bonds(_CORNER + _FACES, _TETRA_EVEN, _S3 / 4.0)}
    return sorted(mids)


# name -> (description, segment builder). Every base net is cubic-periodic and percolates in
# x, y and z. 'octahedron' (face centres) and 'cuboctahedron' (edge mid-points) are the same
# infinite net (the rectified cubic honeycomb) with origins (1/2, 1/2, 1/2) apart, so they have
# the same C^H; both are kept because they are the two classic unit cells and because their
# unions with the other nets differ.
BASE_NETS = {
    "sc": ("simple cubic (pcu): the 12 cell edges", lambda: _bonds(_CORNER, _CORNER, 1.0)),
    "bcc": ("body-centred cubic (bcu): corners to the body centre",
            lambda: _bonds(_CORNER, _BODY, _S3 / 2.0)),
    "fcc": ("face-centred cubic: crossed face diagonals (corners to face centres)",
            lambda: _bonds(_CORNER, _FACES, _S2 / 2.0)),
    "octahedron": ("octahedron: face centre to face centre",
                   lambda: _bonds(_FACES, _FACES, _S2 / 2.0)),
    "octet": ("octet truss (fcu): all nearest-neighbour bonds of fcc",
              lambda: _bonds(_CORNER + _FACES, _CORNER + _FACES, _S2 / 2.0)),
    "cuboctahedron": ("cuboctahedron (reo): edge mid-point to edge mid-point on the cell faces",
                      lambda: _bonds(_EDGES, _EDGES, _S2 / 2.0)),
    "diamond": ("diamond (dia): fcc sites to the even tetrahedral holes",
                lambda: _bonds(_CORNER + _FACES, _TETRA_EVEN, _S3 / 4.0)),
    # The same net as fluorite (fcc sites to all eight tetrahedral holes), origin at an octahedral hole.
    "rhombic_dodecahedron": ("rhombic dodecahedron honeycomb (flu): tetrahedral to octahedral holes of fcc",
                             lambda: _bonds(_TETRA_ALL, _BODY + _EDGES, _S3 / 4.0)),
    "kelvin": ("Kelvin cell (sod): truncated octahedra around the bcc points",
               lambda: _bonds(_KELVIN, _KELVIN, _S2 / 4.0)),
    "tesseract": ("tesseract: cell edges, an inner half-size cube and corner-to-corner struts", _tesseract),
    "srs": ("srs / Laves graph: the labyrinth graph of the gyroid (3-connected, chiral)",
            lambda: _bonds(_SRS, _SRS, _S2 / 4.0)),
    "nbo": ("NbO net: edge mid-points to face centres (square-planar nodes)",
            lambda: _bonds(_EDGES, _FACES, 0.5)),
    "pyrochlore": ("pyrochlore / 3D kagome: corner-sharing tetrahedra",
                   lambda: _bonds(_pyrochlore_sites(), _pyrochlore_sites(), _S2 / 4.0)),
    "truncated_cube": ("truncated-cube honeycomb (truncated cubes and octahedra)",
                       lambda: _bonds(_TRUNC_CUBE, _TRUNC_CUBE, 1.0 - 2.0 * _TC)),
    "rhombicuboctahedron": ("rhombicuboctahedron honeycomb (rhombicuboctahedra sharing square faces)",
                            lambda: _bonds(_RCO, _RCO, 2.0 * _RCO_A)),
}

# Pairs left out: their union is another net of the list (or equals one of the pair), or it is
# the union with 'octahedron' moved by (1/2, 1/2, 1/2) - cuboctahedron is octahedron shifted so,
# and bcc, nbo, kelvin and srs are body-centred (invariant under that shift).
_REDUNDANT_UNIONS = {frozenset(p) for p in (("fcc", "octet"), ("octahedron", "octet"), ("fcc", "octahedron"),
                                            ("sc", "tesseract"), ("bcc", "cuboctahedron"),
                                            ("cuboctahedron", "nbo"), ("cuboctahedron", "kelvin"),
                                            ("cuboctahedron", "srs"))}
# Nets with nodes on the cell corners get a 'Z' variant with extra struts along z through them
# (the BCCZ / FCCZ family of the additive-manufacturing literature).
_Z_VARIANTS = ("bcc", "fcc", "octet", "diamond")
_Z_STRUT = [((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))]


def _truss_catalogue() -> dict:
    """name -> (description, tuple of base names, with_z). Unions are named 'a+b'."""
    out = {}
    names = list(BASE_NETS)
    for name in names:
        out[name] = (BASE_NETS[name][0], (name,), False)
    for a, b in itertools.combinations(names, 2):
        if frozenset((a, b)) not in _REDUNDANT_UNIONS:
            out[f"{a}+{b}"] = (f"union of {a} and {b}", (a, b), False)
    for name in _Z_VARIANTS:
        out[f"{name}_z"] = (f"{name} with struts along z through the corners", (name,), True)
    return out


TRUSS_TYPES = _truss_catalogue()


@functools.cache
def lattice_segments(name: str) -> torch.Tensor:
    """Struts of a library truss ``[S, 2, 3]`` (float64 end points in cell coordinates; the
    first end point lies in [0, 1)^3, every integer translate is part of the lattice too)."""
    if name not in TRUSS_TYPES:
        raise ValueError(f"name: unknown truss {name!r}; see phnet_cuda.geometry.cell_types('truss')")
    _, bases, with_z = TRUSS_TYPES[name]
    segs = [s for base in bases for s in BASE_NETS[base][1]()]
    if with_z:
        segs += _Z_STRUT
    return torch.tensor(_unique(segs), dtype=torch.float64)


# Exact-distance cap: the periodic distance is exact wherever it is <= DISTANCE_CAP (cell units)
# and only known to exceed the cap elsewhere. Struts are cut into pieces of at most
# _PIECE_LENGTH so that the nearest image of a piece within the cap is its minimum image:
# cap + piece/2 < 1/2.
DISTANCE_CAP = 0.3
_PIECE_LENGTH = 0.38


def _pieces(segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mid-points ``[M, 3]`` and half-vectors ``[M, 3]`` of the struts cut into short pieces."""
    mids, halves = [], []
    for p, q in segments:
        count = max(1, math.ceil(float(torch.linalg.vector_norm(q - p)) / _PIECE_LENGTH))
        t = torch.arange(count + 1, dtype=torch.float64) / count
        ends = p + t[:, None] * (q - p)
        mids.append((ends[1:] + ends[:-1]) / 2)
        halves.append((ends[1:] - ends[:-1]) / 2)
    return torch.cat(mids), torch.cat(halves)


def _coordinate_axes(points: torch.Tensor) -> list[torch.Tensor]:
    """x, y, z of ``points [..., 3]`` as three broadcastable tensors: for a voxel grid (the
    ``[n, n, n, 3]`` of ``voxel_centres``) 1-D views ``[n, 1, 1]``, ``[1, n, 1]``, ``[1, 1, n]`` so
    the per-axis work is O(n), otherwise the three coordinate arrays."""
    if points.dim() == 4 and points.shape[0] == points.shape[1] == points.shape[2] and points.shape[3] == 3:
        axes = [points[:, 0, 0, 0].reshape(-1, 1, 1), points[0, :, 0, 1].reshape(1, -1, 1),
                points[0, 0, :, 2].reshape(1, 1, -1)]
        if all(torch.equal(points[..., i], axes[i].expand(points.shape[:3])) for i in range(3)):
            return axes
    return list(points.unbind(-1))


def _offsets(axes, centre: torch.Tensor) -> list[torch.Tensor]:
    """Minimum-image offsets (each in [-1/2, 1/2]) of the coordinates from ``centre``."""
    out = []
    for a, c in zip(axes, centre.tolist()):
        rel = a - c
        out.append(rel - torch.round(rel))
    return out


def periodic_segment_distance(points: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Distance of ``points [..., 3]`` (cell coordinates) to the periodic strut set generated by
    ``segments [S, 2, 3]`` and all their integer translates. Exact where the distance is at most
    ``DISTANCE_CAP`` (0.3 cell edges); elsewhere the value is an upper bound above the cap.
    float64, shape ``[...]``."""
    points = torch.as_tensor(points, dtype=torch.float64)
    segments = torch.as_tensor(segments, dtype=torch.float64)
    if points.shape[-1:] != (3,) or segments.dim() != 3 or segments.shape[1:] != (2, 3):
        raise ValueError(f"expected points [..., 3] and segments [S, 2, 3], got {tuple(points.shape)} and "
                         f"{tuple(segments.shape)}")
    mids, halves = _pieces(segments)
    axes = _coordinate_axes(points)
    best = torch.full(points.shape[:-1], float("inf"), dtype=torch.float64)
    for m, h in zip(mids, halves):
        # offsets from the piece's middle (minimum image), parameter t in [-1, 1] along the piece
        rx, ry, rz = _offsets(axes, m)
        hx, hy, hz = h.tolist()
        t = (rx * hx + ry * hy + rz * hz).div_(hx * hx + hy * hy + hz * hz).clamp_(-1.0, 1.0)
        d2 = (rx - t * hx).square_()
        d2 += (ry - t * hy).square_()
        d2 += (rz - t * hz).square_()
        torch.minimum(best, d2, out=best)
    return best.sqrt_()


def periodic_node_distance(points: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """Distance of ``points [..., 3]`` to the nearest periodic image of ``nodes [N, 3]`` (minimum
    image; exact where < 1/2). float64 ``[...]``."""
    points = torch.as_tensor(points, dtype=torch.float64)
    axes = _coordinate_axes(points)
    best = torch.full(points.shape[:-1], float("inf"), dtype=torch.float64)
    for node in torch.as_tensor(nodes, dtype=torch.float64):
        rx, ry, rz = _offsets(axes, node)
        torch.minimum(best, rx.square() + ry.square() + rz.square(), out=best)
    return best.sqrt_()


def lattice_nodes(name: str) -> torch.Tensor:
    """Distinct strut end points of a library truss, wrapped into [0, 1)^3: ``[N, 3]`` float64."""
    ends = lattice_segments(name).reshape(-1, 3)
    wrapped = torch.remainder(ends + _TOL, 1.0) - _TOL
    return torch.unique(torch.round(wrapped * 1e7) / 1e7, dim=0)


def lattice_distance(name: str, xi: torch.Tensor) -> torch.Tensor:
    """Distance (cell units) of the points ``xi [..., 3]`` to the strut axes of a library truss,
    periodic images included; exact up to ``DISTANCE_CAP``. float64 ``[...]``."""
    return periodic_segment_distance(xi, lattice_segments(name))
