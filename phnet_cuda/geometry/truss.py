"""Strut (truss) lattices voxelised by point-to-segment distance."""

from __future__ import annotations

import itertools

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
