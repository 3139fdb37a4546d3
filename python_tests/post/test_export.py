"""Exports (phnet_cuda.post.export): JSON/CSV round trips, VTK files re-read with meshio, STL
files re-read with meshio and with an independent binary parser and checked watertight."""

from __future__ import annotations

import csv
import json
import struct

import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from support import random_spd

from phnet_cuda import shapes
from phnet_cuda.geometry import tubular_gyroid
from phnet_cuda.post import export, tensor

SHAPE = (75.0, 75.0, 75.0, 1.0, 1.0, 2.0)

def read_binary_stl(path) -> tuple[np.ndarray, np.ndarray]:
    """Facet normals [F, 3] and corners [F, 3, 3] of a binary STL (80-byte header, count,
    then 50 bytes per facet), parsed with struct."""
    data = open(path, "rb").read()
    (count,) = struct.unpack_from("<I", data, 80)
    assert len(data) == 84 + 50 * count
    rec = np.array([struct.unpack_from("<12f", data, 84 + 50 * f) for f in range(count)], dtype=np.float64)
    return rec[:, :3], rec[:, 3:].reshape(count, 3, 3)


def edge_counts(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, undirected = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    _, oriented = np.unique(directed, axis=0, return_counts=True)
    return undirected, oriented


# ------------------------------------------------------------------------------ JSON / CSV
def test_json_and_csv_round_trip(tmp_path):
    g = torch.Generator().manual_seed(2)
    C = random_spd(3, generator=g)
    report = export.tensor_report(C[0])
    path = export.write_json(tmp_path / "r.json", {**report, "nan": float("nan"), "arr": np.arange(3),
                                                   "t": torch.ones(2)})
    back = json.loads(open(path).read())
    assert np.array_equal(np.array(back["CH"]), C[0].numpy())
    assert back["nan"] is None and back["arr"] == [0, 1, 2] and back["t"] == [1.0, 1.0]
    assert back["engineering_constants"] == tensor.engineering_constants(C[0])
    assert back["anisotropy"]["zener"] is None
    assert np.allclose(np.array(back["compliance"]) @ C[0].numpy(), np.eye(6), atol=1e-12)

    path = export.write_csv(tmp_path / "r.csv", C, {"vf": [0.1, 0.2, 0.3], "tag": "x"})
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 3
    for b, row in enumerate(rows):
        for name, p, q in export.CSV_TENSOR_COLUMNS:
            assert float(row[name]) == float(C[b, p, q])  # 17 digits: exact round trip
        consts = tensor.engineering_constants(C[b])
        assert all(float(row[k]) == v for k, v in consts.items())
        assert float(row["A_U"]) == tensor.universal_anisotropy(C[b]) and row["zener"] == ""
        assert float(row["vf"]) == [0.1, 0.2, 0.3][b] and row["tag"] == "x"
    with pytest.raises(ValueError, match=r"extra\['vf'\] has 2 values, expected one per cell \(3\)"):
        export.write_csv(tmp_path / "bad.csv", C, {"vf": [1, 2]})


# ------------------------------------------------------------------------------ VTK
@pytest.mark.parametrize("ext", ["vtu", "vtk"])
def test_vtk_round_trip(tmp_path, ext):
    import meshio
    n, scale = 5, 2.0
    g = torch.Generator().manual_seed(1)
    vox = (torch.rand(n, n, n, generator=g) > 0.4).float()
    stress = torch.randn(6, n, n, n, dtype=torch.float64, generator=g)
    vm = torch.rand(n, n, n, dtype=torch.float64, generator=g)
    disp = torch.randn(3, n + 1, n + 1, n + 1, dtype=torch.float64, generator=g)
    path = export.write_vtk(tmp_path / f"f.{ext}", vox, shape=SHAPE, scale=scale,
                            cell_data={"stress": stress, "vm": vm}, point_data={"u": disp})
    mesh = meshio.read(path)
    hexes = mesh.cells_dict["hexahedron"]
    assert hexes.shape == (n ** 3, 8) and mesh.points.shape == ((n + 1) ** 3, 3)
    J = scale * shapes.lattice_matrix(SHAPE).numpy()
    # Each cell's first corner is its voxel's lowest node, x = J (i, j, k) / n.
    ijk = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert np.allclose(mesh.points[hexes[:, 0]], (ijk / n) @ J.T, atol=1e-12)
    assert np.allclose(mesh.points[hexes[:, 6]], ((ijk + 1) / n) @ J.T, atol=1e-12)
    # Positive hexahedron volumes (corner 0 edges to 1, 3, 4) summing to the cell volume.
    p = mesh.points
    vols = np.linalg.det(np.stack([p[hexes[:, 1]] - p[hexes[:, 0]], p[hexes[:, 3]] - p[hexes[:, 0]],
                                   p[hexes[:, 4]] - p[hexes[:, 0]]], axis=1))
    assert (vols > 0).all() and abs(vols.sum() - np.linalg.det(J)) < 1e-10
    cd = {k: v[0] for k, v in mesh.cell_data.items()}
    assert np.array_equal(cd["vox"].ravel(), vox.numpy().ravel())
    assert np.allclose(cd["stress"], stress.reshape(6, -1).T.numpy())
    assert np.allclose(cd["vm"].ravel(), vm.numpy().ravel())
    assert np.allclose(mesh.point_data["u"], disp.reshape(3, -1).T.numpy())
    # Only the solid voxels.
    path = export.write_vtk(tmp_path / f"s.{ext}", vox, solid_only=True, cell_data={"vm": vm})
    solid = meshio.read(path)
    assert len(solid.cells_dict["hexahedron"]) == int((vox >= 0.5).sum())
    assert np.allclose(solid.cell_data["vm"][0].ravel(), vm.numpy().ravel()[vox.numpy().ravel() >= 0.5])


def test_vtk_errors(tmp_path):
    vox = torch.ones(3, 3, 3)
    with pytest.raises(ValueError, match="must end in .vtu or .vtk"):
        export.write_vtk(tmp_path / "a.txt", vox)
    with pytest.raises(ValueError, match=r"cell_data\['s'\] must be \[n, n, n\] or \[C, n, n, n\] with n = 3"):
        export.write_vtk(tmp_path / "a.vtu", vox, cell_data={"s": torch.ones(4, 4, 4)})
    with pytest.raises(ValueError, match=r"vox must be one voxel cell \[n, n, n\]"):
        export.write_vtk(tmp_path / "a.vtu", torch.ones(2, 3, 3, 3))


# ------------------------------------------------------------------------------ STL
@pytest.mark.parametrize("tile,shape", [(1, None), (2, SHAPE)], ids=["cube", "tiled-parallelepiped"])
def test_stl_watertight(tmp_path, tile, shape):
    import meshio
    n, vf = 16, 0.1
    vox = tubular_gyroid(n, vf)
    info = export.write_stl(tmp_path / "cell.stl", vox, shape=shape, tile=tile, scale=10.0)
    # meshio re-read (it merges equal corners into shared points).
    mesh = meshio.read(info["path"])
    faces = mesh.cells_dict["triangle"]
    assert len(faces) == info["triangles"] > 1000
    undirected, oriented = edge_counts(faces)
    assert (undirected == 2).all(), "every edge must be shared by exactly two triangles"
    assert (oriented == 1).all(), "consistent winding: each directed edge once"
    # Independent parse: merge corners by exact coordinates, same checks, outward normals.
    normals, corners = read_binary_stl(info["path"])
    pts, inv = np.unique(corners.reshape(-1, 3), axis=0, return_inverse=True)
    faces2 = inv.reshape(-1, 3)
    undirected, oriented = edge_counts(faces2)
    assert (undirected == 2).all() and (oriented == 1).all()
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert (np.einsum("ij,ij->i", cross, normals) > 0).all()
    # One connected surface (the TG cell is connected, also across tiles); Euler characteristic
    # V - E + F = 2 - 2 genus is even for a closed orientable surface.
    graph = coo_matrix((np.ones(3 * len(faces2)), (faces2.ravel(), np.roll(faces2, 1, axis=1).ravel())),
                       shape=(len(pts), len(pts)))
    assert connected_components(graph, directed=False)[0] == 1
    assert (len(pts) - len(undirected) + len(faces2)) % 2 == 0
    # Enclosed volume ~ the solid volume of the cell (its achieved fraction; marching cubes cuts
    # voxel corners), inside the cell box.
    J = 10.0 * (np.eye(3) if shape is None else shapes.lattice_matrix(shape).numpy())
    solid = float(vox.mean()) * tile ** 3 * abs(np.linalg.det(J))
    assert abs(info["volume"] - export.signed_volume(pts, faces2)) < 1e-4 * solid
    assert abs(info["volume"] / solid - 1) < 0.08
    xi = pts @ np.linalg.inv(J).T
    assert xi.min() > -1e-6 and xi.max() < tile + 1e-6


def test_stl_errors(tmp_path):
    with pytest.raises(ValueError, match="no solid above level"):
        export.write_stl(tmp_path / "e.stl", torch.zeros(4, 4, 4))
    with pytest.raises(ValueError, match="must end in .stl"):
        export.write_stl(tmp_path / "e.obj", torch.ones(4, 4, 4))
    with pytest.raises(ValueError, match="tile must be a positive int"):
        export.solid_surface(torch.ones(4, 4, 4), tile=0)
