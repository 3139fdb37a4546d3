"""Exports: C^H and its constants as JSON / CSV, voxel cells with fields as VTK (ParaView, via
meshio), and the solid surface as STL (marching cubes) for slicing and 3D printing.

Conventions (docs/conventions.md): C^H ``[6, 6]`` Voigt (order xx yy zz yz xz xy,
engineering shears, unit of E); voxel arrays ``[n, n, n]`` over the reference cube, voxel
(i, j, k) = cube region [i, i+1] x [j, j+1] x [k, k+1] / n. Geometry is written in physical
coordinates x = scale * J xi with J = ``shapes.lattice_matrix(shape)`` (the cell's own lengths;
identity for the cube), so parallelepiped cells appear sheared as they are.
"""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import torch

from .. import shapes
from .._checks import positive_int, positive_number
from ..conventions import VOIGT_ORDER
from .tensor import _check_stiffness, anisotropy_indices, compliance, engineering_constants, voigt_reuss_moduli

#: Upper-triangle entries of C^H written to CSV, as (name, row, column), names 1-based.
CSV_TENSOR_COLUMNS = tuple((f"C{p + 1}{q + 1}", p, q) for p in range(6) for q in range(p, 6))


# ------------------------------------------------------------------------------ JSON / CSV
def _jsonable(x):
    """Tensors/arrays -> lists, numpy scalars -> Python, NaN/inf -> None (strict JSON)."""
    if isinstance(x, torch.Tensor):
        return _jsonable(x.detach().cpu().tolist())
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def tensor_report(CH) -> dict:
    """Everything about one C^H ``[6, 6]`` as a JSON-ready dict: ``voigt_order``, ``CH``,
    ``compliance`` (S = C^-1), ``engineering_constants`` (``post.engineering_constants``),
    ``anisotropy`` (universal A^U, Zener or None when not cubic) and ``voigt_reuss`` moduli."""
    C = _check_stiffness(CH)
    if C.shape != (6, 6):
        raise ValueError(f"CH must be [6, 6], got shape {tuple(C.shape)}")
    return {"voigt_order": list(VOIGT_ORDER), "CH": C.tolist(), "compliance": compliance(C).tolist(),
            "engineering_constants": engineering_constants(C),
            "anisotropy": anisotropy_indices(C), "voigt_reuss": voigt_reuss_moduli(C)}


def write_json(path, data) -> str:
    """Write ``data`` (dict/list; tensors and numpy arrays become nested lists, NaN -> null) as
    indented JSON; returns the path. Build C^H reports with ``tensor_report``."""
    path = os.fspath(path)
    _parent(path)
    with open(path, "w") as fh:
        json.dump(_jsonable(data), fh, indent=2, allow_nan=False)
    return path


def csv_rows(CH, extra: dict | None = None) -> tuple[list[str], list[list]]:
    """Header and rows of the C^H table: one row per cell with ``cell``, the 21 upper-triangle
    entries C11 ... C66 (1-based Voigt indices), the 12 engineering constants, ``A_U``,
    ``zener`` (empty when not cubic), then the ``extra`` columns (name -> scalar, shared by
    every row, or a sequence with one value per cell)."""
    C = _check_stiffness(CH)
    Cs = C.unsqueeze(0) if C.dim() == 2 else C
    if Cs.dim() != 3:
        raise ValueError(f"CH must be [6, 6] or [B, 6, 6], got shape {tuple(C.shape)}")
    B = Cs.shape[0]
    extra = dict(extra or {})
    columns = {}
    for name, value in extra.items():
        if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
            vals = list(value.tolist() if hasattr(value, "tolist") else value)
            if len(vals) != B:
                raise ValueError(f"extra[{name!r}] has {len(vals)} values, expected one per cell ({B})")
            columns[name] = vals
        else:
            columns[name] = [value] * B
    const_names = list(engineering_constants(Cs[0]))
    header = ["cell"] + [c[0] for c in CSV_TENSOR_COLUMNS] + const_names + ["A_U", "zener"] + list(columns)
    rows = []
    for b in range(B):
        consts = engineering_constants(Cs[b])
        aniso = anisotropy_indices(Cs[b])
        row = [b] + [float(Cs[b, p, q]) for _, p, q in CSV_TENSOR_COLUMNS] + [consts[k] for k in const_names]
        row += [aniso["universal"], "" if aniso["zener"] is None else aniso["zener"]]
        row += [columns[k][b] for k in columns]
        rows.append(row)
    return header, rows


def write_csv(path, CH, extra: dict | None = None) -> str:
    """Write the C^H table of ``csv_rows`` (``CH`` ``[6, 6]`` or ``[B, 6, 6]``); returns the path.
    Floats are written with 17 significant digits (round trip exact)."""
    header, rows = csv_rows(CH, extra)
    path = os.fspath(path)
    _parent(path)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([f"{v:.17g}" if isinstance(v, float) else v for v in row])
    return path


def _parent(path: str) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


# ------------------------------------------------------------------------------ geometry
def _cell_matrix(shape, scale) -> np.ndarray:
    sc = positive_number(scale, "scale")
    if shape is None:
        return sc * np.eye(3)
    J = shapes.lattice_matrix(shape)
    if J.dim() != 2:
        raise ValueError(f"shape must describe one cell [6], got a batch {tuple(J.shape)}")
    return sc * J.numpy()


def _voxels(vox, name: str = "vox") -> np.ndarray:
    a = vox.detach().cpu().numpy() if isinstance(vox, torch.Tensor) else np.asarray(vox)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or len(set(a.shape)) != 1 or a.shape[0] < 1:
        raise ValueError(f"{name} must be one voxel cell [n, n, n] (or [1, n, n, n]), got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(f"{name} values must lie in [0, 1], got range [{a.min()}, {a.max()}]")
    return a


def voxel_grid(n: int, shape=None, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Hexahedral grid of one cell: points ``[(n + 1)^3, 3]`` at x = scale * J (i, j, k) / n
    (point index (i (n + 1) + j) (n + 1) + k) and cells ``[n^3, 8]`` in VTK hexahedron order,
    cell index (i n + j) n + k = the C-order of a voxel array ``[n, n, n]``. Right-handed (det J > 0),
    so every hexahedron has positive volume."""
    n = positive_int(n, "n")
    J = _cell_matrix(shape, scale)
    xi = np.arange(n + 1) / n
    grid = np.stack(np.meshgrid(xi, xi, xi, indexing="ij"), axis=-1).reshape(-1, 3)
    points = grid @ J.T
    i, j, k = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij"))
    m = n + 1

    def pid(a, b, c):
        return ((i + a) * m + (j + b)) * m + (k + c)

    corners = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]
    cells = np.stack([pid(a, b, c) for a, b, c in corners], axis=1).astype(np.int64)
    return points, cells


def _cell_array(name: str, value, n: int) -> np.ndarray:
    a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if a.ndim == 5 and a.shape[0] == 1:
        a = a[0]  # a batch of one [1, C, n, n, n]
    if a.shape == (n, n, n):
        return a.reshape(-1).astype(np.float64)
    if a.ndim == 4 and a.shape[1:] == (n, n, n):
        return a.reshape(a.shape[0], -1).T.astype(np.float64).copy()
    raise ValueError(f"cell_data[{name!r}] must be [n, n, n] or [C, n, n, n] with n = {n}, got shape {a.shape}")


def _point_array(name: str, value, n: int) -> np.ndarray:
    a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    m = n + 1
    if a.ndim == 5 and a.shape[0] == 1:
        a = a[0]
    if a.shape == (m, m, m):
        return a.reshape(-1).astype(np.float64)
    if a.ndim == 4 and a.shape[1:] == (m, m, m):
        return a.reshape(a.shape[0], -1).T.astype(np.float64).copy()
    raise ValueError(f"point_data[{name!r}] must be [n+1, n+1, n+1] or [C, n+1, n+1, n+1] with n = {n}, "
                     f"got shape {a.shape}")


def write_vtk(path, vox, *, shape=None, scale: float = 1.0, cell_data: dict | None = None,
              point_data: dict | None = None, solid_only: bool = False) -> str:
    """Write a voxel cell as a hexahedral mesh for ParaView (meshio; ``.vtu`` XML or ``.vtk``
    legacy, chosen by the extension).

    Args:
        vox: ``[n, n, n]`` in [0, 1]; written as the cell field ``vox``.
        shape, scale: geometry x = scale * J xi (``voxel_grid``).
        cell_data: name -> per-voxel ``[n, n, n]`` or ``[C, n, n, n]`` (C components, e.g. the
            six Voigt stresses of ``post.local_fields`` or the worst-case von Mises stress).
        point_data: name -> ``[n+1, n+1, n+1]`` or ``[C, n+1, n+1, n+1]`` on the grid points
            (e.g. ``post.displacement_field``, then "Warp By Vector" in ParaView).
        solid_only: write only the voxels with vox >= 0.5 (points are kept).
    Returns:
        the path.
    """
    import meshio
    path = os.fspath(path)
    if not path.lower().endswith((".vtu", ".vtk")):
        raise ValueError(f"path must end in .vtu or .vtk, got {path!r}")
    v = _voxels(vox)
    n = v.shape[0]
    points, cells = voxel_grid(n, shape, scale)
    data = {"vox": v.reshape(-1)}
    for name, value in (cell_data or {}).items():
        if name == "vox":
            raise ValueError("cell_data must not redefine 'vox' (it is written from the vox argument)")
        data[name] = _cell_array(name, value, n)
    pdata = {name: _point_array(name, value, n) for name, value in (point_data or {}).items()}
    keep = v.reshape(-1) >= 0.5 if solid_only else np.ones(n ** 3, dtype=bool)
    if not keep.any():
        raise ValueError("solid_only=True but vox has no voxel >= 0.5")
    mesh = meshio.Mesh(points, [("hexahedron", cells[keep])],
                       cell_data={k: [a[keep]] for k, a in data.items()}, point_data=pdata)
    _parent(path)
    mesh.write(path)
    return path


# ------------------------------------------------------------------------------ STL
def solid_surface(vox, *, shape=None, tile=1, level: float = 0.5, smooth: float = 0.0,
                  scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Closed triangle surface of the solid (vox >= level) by marching cubes.

    The cell is tiled k x k x k (``tile`` = k, or (k_x, k_y, k_z)), optionally smoothed
    periodically with a Gaussian of ``smooth`` voxels (before tiling, so tiles stay seamless),
    padded by one layer of void so the surface also closes where the solid meets the outer
    boundary (a connected cell gives a watertight surface), and contoured at ``level`` with
    ``skimage.measure.marching_cubes`` on the voxel centres. Vertices are mapped to the cell:
    x = scale * J xi with xi = (index + 1/2) / n and J = ``shapes.lattice_matrix(shape)``.
    Triangles are wound so that normals point out of the solid (positive enclosed volume).

    Returns:
        vertices ``[V, 3]`` float64 and triangles ``[F, 3]`` int64 (shared vertices).
    """
    from scipy import ndimage
    from skimage import measure
    v = _voxels(vox)
    n = v.shape[0]
    reps = (tile,) * 3 if isinstance(tile, (int, np.integer)) else tuple(tile)
    if len(reps) != 3 or any(not isinstance(r, (int, np.integer)) or r < 1 for r in reps):
        raise ValueError(f"tile must be a positive int or three positive ints, got {tile!r}")
    if not (isinstance(smooth, (int, float)) and smooth >= 0):
        raise ValueError(f"smooth must be a Gaussian width >= 0 in voxels, got {smooth!r}")
    if not 0 < float(level) < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if smooth > 0:
        v = ndimage.gaussian_filter(v, sigma=float(smooth), mode="wrap")
    field = np.pad(np.tile(v, reps), 1, mode="constant", constant_values=0.0)
    if not field.max() > level:
        raise ValueError(f"vox has no solid above level {level} (max {v.max():.3g}): no surface")
    verts, faces, _, _ = measure.marching_cubes(field, level=float(level))
    J = _cell_matrix(shape, scale)
    xi = (verts - 1.0 + 0.5) / n  # padded index -> voxel index -> voxel-centre coordinate
    x = xi @ J.T
    faces = faces.astype(np.int64)
    if signed_volume(x, faces) < 0:
        faces = faces[:, ::-1].copy()
    return x, faces


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed triangle mesh (divergence theorem, sum of signed tetrahedra);
    positive when the normals (right-hand winding) point outwards."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def write_stl(path, vox, *, shape=None, tile=1, level: float = 0.5, smooth: float = 0.0, scale: float = 1.0,
              binary: bool = True) -> dict:
    """Write the solid surface (``solid_surface``, same arguments) as an STL file (binary by
    default) with outward facet normals, ready for a slicer.

    Returns:
        ``{"path", "triangles", "vertices", "volume"}`` (volume enclosed, in scale^3 units of the
        cell parameters' length).
    """
    import meshio
    path = os.fspath(path)
    if not path.lower().endswith(".stl"):
        raise ValueError(f"path must end in .stl, got {path!r}")
    verts, faces = solid_surface(vox, shape=shape, tile=tile, level=level, smooth=smooth, scale=scale)
    a, b, c = (verts[faces[:, k]] for k in range(3))
    normals = np.cross(b - a, c - a)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    # meshio would divide by zero on a degenerate triangle; give those a zero normal instead.
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    mesh = meshio.Mesh(verts, [("triangle", faces)], cell_data={"facet_normals": [normals]})
    _parent(path)
    meshio.write(path, mesh, file_format="stl", binary=binary)
    return {"path": path, "triangles": int(faces.shape[0]), "vertices": int(verts.shape[0]),
            "volume": signed_volume(verts, faces)}


__all__ = ["CSV_TENSOR_COLUMNS", "csv_rows", "signed_volume", "solid_surface", "tensor_report", "voxel_grid",
           "write_csv", "write_json", "write_stl", "write_vtk"]
