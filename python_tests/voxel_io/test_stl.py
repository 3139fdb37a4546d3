"""STL meshes voxelized into periodic cells (phnet_cuda.voxel_io.stl, .voxelize), against exact
voxel counts and analytic shapes: axis-aligned boxes (counted by hand, inside the cell, across
its faces, and with voxel-centre lines exactly on the mesh's edges and vertices), a rotated box, a
sphere (its volume fraction against 4/3 pi r^3) and a torus (not convex, a hole). Meshes are
made by trimesh and written as STL; bad meshes are one-line errors."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from phnet_cuda.voxel_io import VoxelInputError, read_voxels
from phnet_cuda.voxel_io.voxelize import winding_numbers

trimesh = pytest.importorskip("trimesh")


def _centres(n, lo=0.0, hi=1.0):
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


def _count(n, a, b):
    """Voxel centres of the unit cell strictly inside (a, b), an interval that may wrap around."""
    c = _centres(n)
    return int(sum(((c + k > a) & (c + k < b)).sum() for k in (-1, 0, 1)))


def _stl(tmp_path, mesh, name="m.stl"):
    path = tmp_path / name
    mesh.export(path)
    return path


def test_a_box_gives_its_exact_voxel_count(tmp_path):
    n = 16
    lo, hi = np.array([0.1, 0.2, 0.3]), np.array([0.6, 0.7, 0.9])
    path = _stl(tmp_path, trimesh.creation.box(bounds=[lo, hi]))
    r = read_voxels(path, n=n, box=(0, 0, 0, 1, 1, 1))
    c = _centres(n)
    expected = (c[:, None, None] > lo[0]) & (c[:, None, None] < hi[0]) & (c[None, :, None] > lo[1]) & \
        (c[None, :, None] < hi[1]) & (c[None, None, :] > lo[2]) & (c[None, None, :] < hi[2])
    assert r.format == "stl" and r.voxels.shape == (n, n, n) and np.array_equal(r.voxels, expected.astype(float))
    assert int(r.voxels.sum()) == _count(n, 0.1, 0.6) * _count(n, 0.2, 0.7) * _count(n, 0.3, 0.9) == 8 * 8 * 9
    assert "voxelized at the voxel centres" in r.describe() and r.threshold.value is None
    # the mesh's own bounds as the cell: every voxel solid (a box 0.5 x 0.5 x 0.6: noted)
    with pytest.warns(UserWarning, match="not a cube"):
        assert read_voxels(path, n=8).voxels.sum() == 8 ** 3


def test_a_box_across_the_cell_faces_comes_back_periodically(tmp_path):
    n = 16
    path = _stl(tmp_path, trimesh.creation.box(bounds=[[0.8, 0.2, -0.25], [1.3, 0.7, 0.3]]))
    r = read_voxels(path, n=n, box="0,0,0,1,1,1")
    assert int(r.voxels.sum()) == _count(n, 0.8, 1.3) * _count(n, 0.2, 0.7) * _count(n, -0.25, 0.3) == 8 * 8 * 9
    c = _centres(n)
    in_x = (c > 0.8) | (c < 0.3)
    assert np.array_equal(r.voxels[:, 8, 0] > 0, in_x)  # x: [0.8, 1] and, wrapped, [0, 0.3]
    # a mesh of two periods along z gives the same cell as one
    twice = trimesh.util.concatenate([trimesh.creation.box(bounds=[[0.8, 0.2, z - 0.25], [1.3, 0.7, z + 0.3]])
                                      for z in (0.0, 1.0)])
    assert np.array_equal(read_voxels(_stl(tmp_path, twice, "two.stl"), n=n, box=(0, 0, 0, 1, 1, 1)).voxels, r.voxels)


def test_voxel_centre_lines_on_edges_and_vertices_count_once(tmp_path):
    """A box whose walls pass exactly through voxel-centre lines, and whose top and bottom faces are
    split along a diagonal through centre lines: each line is decided as if moved by (e, e^2), so a
    line on the low-x (low-y) wall is inside and on the high-x (high-y) wall outside: 7 x 7 columns
    (not 8 x 8, 6 x 6 or a line counted twice), every one of them 9 voxels tall."""
    n = 16
    c = _centres(n)
    lo, hi = c[4], c[11]  # 0.28125 and 0.71875: voxel-centre lines on the walls and the diagonal
    mesh = trimesh.creation.box(bounds=[[lo, lo, 0.3], [hi, hi, 0.9]])
    assert any(np.allclose(np.sort(mesh.vertices[f][:, :2], axis=0)[[0, -1]], [[lo, lo], [hi, hi]])
               for f in mesh.faces)  # a face has the diagonal through (lo, lo) and (hi, hi) as an edge
    w = winding_numbers(mesh.triangles, [0, 0, 0], [1, 1, 1], n)
    assert w.min() == 0 and w.max() == 1
    columns = w.any(axis=2)
    expected = np.zeros((n, n), bool)
    expected[4:11, 4:11] = True
    assert np.array_equal(columns, expected)
    assert np.array_equal(w.sum(axis=2)[4:11, 4:11], np.full((7, 7), 9))


def test_a_rotated_box_matches_the_analytic_test_at_every_centre(tmp_path):
    n = 24
    mesh = trimesh.creation.box(extents=[0.4, 0.3, 0.5])
    rot = trimesh.transformations.rotation_matrix(0.5, [1, 2, 3])
    mesh.apply_transform(rot)
    mesh.apply_translation([0.5, 0.5, 0.5])
    r = read_voxels(_stl(tmp_path, mesh), n=n, box=(0, 0, 0, 1, 1, 1))
    c = _centres(n)
    p = np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1) - 0.5
    local = np.abs(p @ rot[:3, :3])  # coordinates in the box's own axes
    margin = np.min(np.array([0.2, 0.15, 0.25]) - local, axis=-1)
    assert np.abs(margin).min() > 1e-6  # no centre on the surface: the comparison is exact
    assert np.array_equal(r.voxels > 0, margin > 0) and 0 < r.voxels.mean() < 1


def test_sphere_volume_fraction_approaches_four_thirds_pi_r_cubed(tmp_path):
    """The tolerance, split into what the code controls and what the grid does. (1) Every voxel whose
    centre lies farther from the sphere than the mesh's largest deviation from it (the facets'
    sagitta, 0.11 % of r at 4 subdivisions) must be solid exactly when |x - c| < r: checked voxel
    by voxel, so the voxelized fraction can differ from the fraction of centres inside the true
    sphere by at most the share of centres within that band. (2) The fraction of centres inside
    differs from 4/3 pi r^3 by the lattice-point discrepancy of a ball, a property of the grid
    (computed here exactly, 2.1 %, 0.32 %, 0.07 % at n = 16, 32, 64). So |vf - V| <= discrepancy +
    band, which must hold at every n, and at n = 64 the fraction is within 0.5 % of 4/3 pi r^3."""
    r0, centre = 0.35, np.array([0.5, 0.5, 0.5])
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=r0)
    mesh.apply_translation(centre)
    path = _stl(tmp_path, mesh)
    sagitta = r0 - np.linalg.norm(mesh.triangles.mean(axis=1) - centre, axis=1).min()
    assert 0 < sagitta < 2e-3 * r0
    exact = 4 / 3 * math.pi * r0 ** 3
    for n in (16, 32, 64):
        vox = read_voxels(path, n=n, box=(0, 0, 0, 1, 1, 1)).voxels
        c = _centres(n)
        d = np.sqrt(sum(g ** 2 for g in np.meshgrid(c - 0.5, c - 0.5, c - 0.5, indexing="ij")))
        sure = np.abs(d - r0) > sagitta
        assert np.array_equal((vox > 0)[sure], (d < r0)[sure])
        discrepancy = abs((d < r0).mean() - exact)
        band = (~sure).mean()
        assert abs(vox.mean() - exact) <= discrepancy + band, (n, vox.mean(), exact)
    assert abs(vox.mean() / exact - 1) < 0.005


def test_a_torus_has_its_hole(tmp_path):
    n = 32
    R, a = 0.3, 0.12
    mesh = trimesh.creation.torus(major_radius=R, minor_radius=a, major_sections=96, minor_sections=48)
    mesh.apply_translation([0.5, 0.5, 0.5])
    vox = read_voxels(_stl(tmp_path, mesh), n=n, box=(0, 0, 0, 1, 1, 1)).voxels > 0
    c = _centres(n)
    x, y, z = np.meshgrid(c - 0.5, c - 0.5, c - 0.5, indexing="ij")
    d = np.sqrt((np.sqrt(x ** 2 + y ** 2) - R) ** 2 + z ** 2)
    sure = np.abs(d - a) > 2e-3  # the mesh's facets deviate from the torus by less than this
    assert np.array_equal(vox[sure], (d < a)[sure])
    assert not vox[n // 2, n // 2, :].any()  # the column through the hole is empty


def test_inverted_mesh_gives_the_same_cell(tmp_path):
    n = 12
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    sphere.apply_translation([0.5, 0.5, 0.5])
    inverted = trimesh.Trimesh(sphere.vertices, sphere.faces[:, ::-1])
    a = read_voxels(_stl(tmp_path, sphere, "a.stl"), n=n, box=(0, 0, 0, 1, 1, 1)).voxels
    b = read_voxels(_stl(tmp_path, inverted, "b.stl"), n=n, box=(0, 0, 0, 1, 1, 1)).voxels
    assert np.array_equal(a, b) and 0 < a.mean() < 1


def test_a_box_that_is_not_a_cube_is_noted(tmp_path):
    path = _stl(tmp_path, trimesh.creation.box(bounds=[[0, 0, 0], [1, 1, 2]]))
    with pytest.warns(UserWarning, match=r"m.stl: the cell box 1 x 1 x 2 is not a cube, so its voxels are not; pass "
                                         r"shape 90,90,90,1,1,2"):
        r = read_voxels(path, n=4)
    assert r.voxels.sum() == 64 and len(r.notes) == 1


def test_bad_meshes_and_options_are_one_line(tmp_path):
    box = trimesh.creation.box()
    opened = trimesh.Trimesh(box.vertices, box.faces[:-1])
    flipped = trimesh.Trimesh(box.vertices, np.vstack([box.faces[:-1], box.faces[-1:, ::-1]]))
    cases = [
        (_stl(tmp_path, opened, "open.stl"), {"n": 4}, "the mesh is not watertight (3 edge(s) belong to one triangle"),
        (_stl(tmp_path, flipped, "flip.stl"), {"n": 4}, "the triangles are not consistently oriented"),
        (_stl(tmp_path, box), {}, "an STL mesh needs n, the voxels per cell edge"),
        (_stl(tmp_path, box), {"n": 0}, "n: expected a positive integer (voxels per cell edge), got 0"),
        (_stl(tmp_path, box), {"n": 4, "box": "0,0,0,1,1"}, "box: expected six numbers xmin,ymin,zmin,xmax,ymax,zmax"),
        (_stl(tmp_path, box), {"n": 4, "box": (0, 0, 0, 1, -1, 1)}, "with min < max, got (0, 0, 0, 1, -1, 1)"),
        (_stl(tmp_path, box), {"n": 4, "box": (0, 0, 0, 0.1, 0.1, 0.1)},
         "the mesh spans [10.0, 10.0, 10.0] cell boxes"),
        (_stl(tmp_path, box), {"n": 4, "threshold": 0.5}, "threshold: does not apply to an STL mesh"),
    ]
    (tmp_path / "empty.stl").write_text("solid empty\nendsolid empty\n")
    cases.append((tmp_path / "empty.stl", {"n": 4}, "holds no triangles; expected a closed (watertight) STL surface"))
    data = (tmp_path / "m.stl").read_bytes()
    (tmp_path / "cut.stl").write_bytes(data[:-20])
    cases.append((tmp_path / "cut.stl", {"n": 4}, "neither a binary STL, whose size would be 84 + 50 bytes per"))
    for path, kwargs, needle in cases:
        with pytest.raises(VoxelInputError) as info:
            read_voxels(path, **kwargs)
        msg = str(info.value)
        names_it = path.name in msg or msg.startswith(("n:", "box:", "threshold:"))  # the file or the argument
        assert "\n" not in msg and names_it and needle in msg, (needle, msg)


def test_without_trimesh_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    path = _stl(tmp_path, trimesh.creation.box())
    monkeypatch.setitem(sys.modules, "trimesh", None)  # import trimesh now raises ImportError
    with pytest.raises(VoxelInputError, match=r"m.stl: reading STL meshes needs trimesh, which is not installed: "
                                              r"pip install 'phnet_cuda\[stl\]'"):
        read_voxels(path, n=4)
