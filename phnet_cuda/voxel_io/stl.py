"""STL meshes: a watertight surface voxelized into an n^3 periodic cell (``voxelize``).

The cell is the box ``box = (xmin, ymin, zmin, xmax, ymax, zmax)`` in the mesh's units, or the
mesh's bounding box when none is given. Parts of the mesh outside the box come back in through
the opposite faces (periodic images), so a unit cell whose struts stick out of its box, or a
mesh of several periods, gives the same cell. A box that is not a cube makes a box-shaped cell
(anisotropic voxels), which a note points out together with the ``shape`` that describes it.
``trimesh`` reads the file (ASCII or binary STL) and merges the triangles' shared corners; the mesh
must be closed (every edge shared by exactly two triangles) and consistently oriented."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .errors import VoxelInputError, option
from .loaded import Loaded
from .voxelize import enclosed_volume, winding_numbers

#: a mesh may span at most this many cell boxes per axis (its periodic images are all visited)
MAX_PERIODS = 8


def parse_box(box) -> tuple[np.ndarray, np.ndarray] | None:
    """``box`` (None, six numbers, or the command line's ``"0,0,0,1,1,1"``) as (lower, upper) with
    lower < upper on every axis."""
    if box is None:
        return None
    expected = "six numbers xmin,ymin,zmin,xmax,ymax,zmax with min < max"
    values = box.split(",") if isinstance(box, str) else box
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise VoxelInputError(f"{option('box')}: expected {expected}, got {box!r}") from None
    if len(values) != 6 or not all(math.isfinite(v) for v in values) or not all(
            values[i] < values[i + 3] for i in range(3)):
        raise VoxelInputError(f"{option('box')}: expected {expected}, got {box!r}")
    return np.array(values[:3]), np.array(values[3:])


def parse_n(n) -> int:
    """``n``, the voxels per cell edge, as a positive int."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise VoxelInputError(f"{option('n')}: expected a positive integer (voxels per cell edge), got {n!r}")
    return int(n)


def _check_stl_signature(path: str) -> None:
    """Refuse a file that is neither a binary STL (80-byte header, triangle count, 50 bytes per
    triangle: the size says it) nor ASCII STL (text starting with ``solid``), before trimesh guesses."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(84)
    count = int.from_bytes(head[80:84], "little") if len(head) == 84 else -1
    if size == 84 + 50 * count or head.lstrip().startswith(b"solid"):
        return
    raise VoxelInputError(f"cannot read {path} as an STL mesh (neither a binary STL, whose size would be 84 + 50 "
                          "bytes per triangle, nor ASCII STL text starting with 'solid')")


def read_stl(path: str, *, n, box=None) -> Loaded:
    """The cell of a watertight STL mesh at n voxels per edge (module docstring)."""
    try:
        import trimesh  # lazy: an optional dependency
    except ImportError:
        raise VoxelInputError(f"{path}: reading STL meshes needs trimesh, which is not installed: pip install "
                              "'phnet_cuda[stl]' (or trimesh==5.2.0)") from None
    if n is None:
        raise VoxelInputError(f"{path}: an STL mesh needs {option('n')}, the voxels per cell edge, to be voxelized")
    n, box = parse_n(n), parse_box(box)
    _check_stl_signature(path)
    try:
        mesh = trimesh.load_mesh(path, file_type="stl")
    except Exception as exc:  # trimesh raises several types for bad files
        first = (str(exc).splitlines() or [""])[0]
        raise VoxelInputError(f"cannot read {path} as an STL mesh ({type(exc).__name__}: {first})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise VoxelInputError(f"{path}: holds no triangles; expected a closed (watertight) STL surface")
    if not mesh.is_watertight:
        open_edges = len(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1))
        raise VoxelInputError(f"{path}: the mesh is not watertight ({open_edges} edge(s) belong to one triangle only, "
                              f"others to more than two); expected a closed surface (repair it, e.g. in MeshLab)")
    if not mesh.is_winding_consistent:
        raise VoxelInputError(f"{path}: the triangles are not consistently oriented (neighbours list their shared "
                              "edge in the same direction); expected a closed, consistently oriented surface")
    triangles = np.asarray(mesh.triangles, dtype=np.float64)
    bounds = (triangles.reshape(-1, 3).min(axis=0), triangles.reshape(-1, 3).max(axis=0))
    if box is None:
        if np.any(bounds[1] <= bounds[0]):
            raise VoxelInputError(f"{path}: the mesh is flat (bounds {bounds[0].tolist()} to {bounds[1].tolist()}); "
                                  "expected a solid with a volume")
        box = bounds
    lower, upper = box
    edges = upper - lower
    spans = (bounds[1] - bounds[0]) / edges
    if np.any(spans > MAX_PERIODS):
        raise VoxelInputError(f"{path}: the mesh spans {np.round(spans, 1).tolist()} cell boxes along x, y, z; "
                              f"expected at most {MAX_PERIODS} ({option('box')} is one period of the structure)")
    winding = winding_numbers(triangles, lower, upper, n)
    if enclosed_volume(triangles) < 0:  # oriented inwards throughout: turn it around
        winding = -winding
    notes = []
    if not np.allclose(edges, edges[0], rtol=1e-9, atol=0):
        lx, ly, lz = (float(v) for v in edges)
        notes.append(f"{path}: the cell box {lx:g} x {ly:g} x {lz:g} is not a cube, so its voxels are not; pass "
                     f"{option('shape')} 90,90,90,{lx:g},{ly:g},{lz:g} (a cube is assumed otherwise)")
    return Loaded((winding > 0).astype(np.uint8), notes=notes,
                  layout=f"{n}^3 voxels of the box {lower.tolist()} to {upper.tolist()}")
