"""Planning (phnet_cuda.data.plan): shape sampling, the held-out volume-fraction split, and
Dataset 2 planned and built against the geometry-library contract (a fake library and the real one)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from data.helpers import N1, N, dataset1_levels, lattice_volume

from phnet_cuda import data, geometry


def test_sample_shapes_redraws_and_reference_convention():
    # wide angle ranges: rejected rows are redrawn, every cell stays valid
    p = data.sample_shapes(np.random.default_rng(0), 2000, angles=(20, 160), lengths=(1, 3))
    assert ((p[:, :3] >= 20) & (p[:, :3] <= 160)).all() and np.abs(lattice_volume(p) - 1).max() < 1e-12
    q = data.sample_shapes(np.random.default_rng(0), 50, angles=(60, 90), convention="reference")
    assert np.abs(lattice_volume(q) - 1).max() < 1e-12


def test_held_out_volume_fraction_split(tmp_path):
    path = tmp_path / "vf.h5"
    data.build_dataset("dataset1", path, n=N1, scale=0.002, split_by="volume_fraction", progress=False)
    with h5py.File(path, "r") as f:
        level = f["geometry/vf_index"][...][f["samples/geometry"][...]]
        train, test = f["split/train"][...], f["split/test"][...]
    levels = dataset1_levels()
    test_levels = sorted(set(level[test].tolist()))
    assert not set(test_levels) & set(level[train].tolist())  # whole levels held out
    assert set(test_levels) | set(level[train].tolist()) == set(levels)
    assert len(test_levels) == round(0.2 * len(levels)) and len(test) == 3 * len(test_levels)
    ranks = [levels.index(v) for v in test_levels]  # spread evenly over the interior
    assert ranks[0] >= 2 and ranks[-1] <= len(levels) - 3 and max(np.diff(ranks)) - min(np.diff(ranks)) <= 1


class FakeLibrary:
    """The geometry library's contract (cell_types, make_cell, reachable_range, percolation)
    with Tubular-Gyroid cells, so Dataset 2's planning runs before the real library lands."""

    REACH = {"truss": (0.05, 0.25), "tpms_sheet": (0.02, 0.5), "tpms_network": (0.01, 0.6)}

    @staticmethod
    def cell_types(family=None):
        names = {"tpms_sheet": [f"sheet_{i}" for i in range(16)], "tpms_network": ["tubular_gyroid"],
                 "truss": [f"truss_{i:03d}" for i in range(104)]}
        return names[family] if family else sum(names.values(), [])

    @classmethod
    def family(cls, name):
        return next(f for f in cls.REACH if name in cls.cell_types(f))

    @classmethod
    def reachable_range(cls, name, n):
        return cls.REACH[cls.family(name)]

    @classmethod
    def make_cell(cls, name, n, volume_fraction, *, fractional=False, dtype=torch.float32):
        lo, hi = cls.reachable_range(name, n)
        if not lo <= volume_fraction <= hi or (name == "truss_103" and volume_fraction > 0.2):
            raise ValueError(f"{name}: volume_fraction {volume_fraction} out of reach")
        return geometry.tubular_gyroid(n, volume_fraction).to(dtype)

    @staticmethod
    def percolation(vox, threshold=0.5):
        return (bool(vox.mean() > 0.1), True, True)


@pytest.fixture
def fake_library(monkeypatch):
    for name in ("cell_types", "make_cell", "reachable_range", "percolation"):
        monkeypatch.setattr(geometry, name, getattr(FakeLibrary, name), raising=False)


def test_dataset2_against_the_library_contract(fake_library, tmp_path):
    full = data.plan_dataset(data.load_spec("dataset2", n=N))
    assert len(full.type_names) == 116 and full.num_geometries == 116 * 40 == full.num_samples
    assert full.type_names[:2] == ["truss_000", "truss_001"] and "truss_103" in full.type_names  # spread picks
    assert full.type_family == ["truss"] * 100 + ["tpms_sheet"] * 16
    path = tmp_path / "d2.h5"
    res = data.build_dataset("dataset2", path, n=N, scale=0.01, progress=False)
    assert res["geometries"] == 80 and res["samples"] == 80 and res["built"] == 80  # 1 + 1 types, 40 levels
    info = data.dataset_info(path, verify=True)
    assert info["cell_types"] == ["truss_000", "sheet_0"]
    assert info["vf_adjustments"] == [{"group": 0, "type": "truss_000", "reachable": [0.05, 0.25],
                                       "action": "clip", "used_range": [0.05, 0.25]}]
    with h5py.File(path, "r") as f:
        types, target = f["geometry/type"][...], f["geometry/vf_target"][...]
        assert np.allclose(target[types == 0], np.linspace(0.05, 0.25, 40), rtol=0, atol=1e-15)  # 40 levels kept
        assert np.allclose(target[types == 1], np.linspace(0.02, 0.33, 40), rtol=0, atol=1e-15)
        assert np.array_equal(f["samples/shape"][...], np.tile([90.0, 90, 90, 1, 1, 1], (80, 1)))  # cubes
        assert np.array_equal(f["geometry/voxels"][7], geometry.tubular_gyroid(N, float(target[7])).numpy())
    # skipped levels, a cell the library refuses, percolation required, split by type
    small = {"name": "d2", "n": N, "seed": 3, "chunk": 4, "out_of_range": "skip", "require_percolation": True,
             "groups": [{"family": "truss", "count": 2, "vf": {"range": [0.02, 0.3], "count": 8}},
                        {"family": "tpms_sheet", "count": 1, "vf": [0.05, 0.3]}],
             "split": {"by": "type", "test_fraction": 0.34}}
    path = tmp_path / "small.h5"
    data.build_dataset(small, path, progress=False)
    info = data.dataset_info(path, verify=True)
    grid = np.linspace(0.02, 0.3, 8)
    kept = grid[(grid >= 0.05) & (grid <= 0.25)]
    assert info["cell_types"] == ["truss_000", "truss_103", "sheet_0"]
    assert info["geometries"] == 18 and info["geometries_skipped"] == 2 * (8 - len(kept))
    assert [a["skipped"] for a in info["vf_adjustments"]] == [grid[(grid < 0.05) | (grid > 0.25)].tolist()] * 2
    expected = {}  # (type, vf) -> why the cell must be rejected, from the fake library's rules
    for t, values in (("truss_000", kept), ("truss_103", kept), ("sheet_0", [0.05, 0.3])):
        for v in values:
            if t == "truss_103" and v > 0.2:
                expected[(t, round(float(v), 9))] = "out of reach"
            elif float(geometry.tubular_gyroid(N, float(v)).mean()) <= 0.1:
                expected[(t, round(float(v), 9))] = "does not percolate"
    got = {(r["type"], round(r["vf"], 9)): r["reason"] for r in info["rejected"]}
    assert sorted(got) == sorted(expected) and len(expected) >= 4
    assert all(expected[k] in got[k] for k in expected)
    with h5py.File(path, "r") as f:
        status, geom = f["geometry/status"][...], f["samples/geometry"][...]
        train, test = f["split/train"][...], f["split/test"][...]
        types = f["geometry/type"][...]
        assert f["geometry/percolates"][...][status == 1].min() == 1
    assert sorted(np.concatenate([train, test]).tolist()) == np.nonzero(status[geom] == 1)[0].tolist()
    assert len(set(types[geom[test]].tolist())) == 1 and not set(types[geom[test]]) & set(types[geom[train]])


def test_dataset2_with_the_real_library(tmp_path):
    spec = {"name": "d2_real", "n": N1, "seed": 5, "out_of_range": "clip",
            "groups": [{"family": "truss", "count": 2, "vf": {"range": [0.1, 0.3], "count": 2}},
                       {"family": "tpms_sheet", "count": 1, "vf": {"range": [0.1, 0.3], "count": 2}}]}
    res = data.build_dataset(spec, tmp_path / "d2.h5", progress=False)
    assert res["status"] == "complete" and res["geometries"] == 6
    assert res["built"] + res["rejected"] + res["skipped"] == 6 and res["built"] >= 2
    info = data.dataset_info(tmp_path / "d2.h5", verify=True)
    assert [geometry.cell_family(t) for t in info["cell_types"]] == ["truss", "truss", "tpms_sheet"]
    with h5py.File(tmp_path / "d2.h5", "r") as f:
        for g in np.nonzero(f["geometry/status"][...] == 1)[0]:
            name = info["cell_types"][f["geometry/type"][g]]
            ref = geometry.make_cell(name, N1, float(f["geometry/vf_target"][g])).numpy()
            assert np.array_equal(f["geometry/voxels"][g], ref.astype(np.uint8))
            lo, hi = geometry.reachable_range(name, N1)
            assert lo <= f["geometry/vf_target"][g] <= hi
    ds = data.CellDataset(tmp_path / "d2.h5", "all")
    assert len(ds) == res["built"] and ds[0]["vox"].shape == (N1, N1, N1)


def test_reference_conventions_sample_the_code_and_the_paper_cells():
    """convention="reference" gives the cells the reference method's published code homogenizes
    (rows of S T), "reference_paper" the cells its paper describes (columns): compared through
    the Gram matrices J^T J (lengths and angles, frame-free) of the unit-volume lattices."""
    from phnet_cuda import shapes

    code = data.sample_shapes(np.random.default_rng(4), 20, angles=(60, 90), lengths=(1, 2), convention="reference")
    paper = data.sample_shapes(np.random.default_rng(4), 20, angles=(60, 90), lengths=(1, 2),
                               convention="reference_paper")

    def gram(J):
        return J.transpose(-1, -2) @ J

    # the same random stream: the first 3 draws are the angles, the next 3 the lengths, per row
    rng = np.random.default_rng(4)
    drawn = np.concatenate([rng.uniform(60, 90, size=(20, 3)), rng.uniform(1, 2, size=(20, 3))], axis=1)
    want_code = gram(shapes.reference_code_lattice(torch.from_numpy(drawn)))
    want_paper = gram(shapes.reference_paper_lattice(torch.from_numpy(drawn)))
    got_code = gram(shapes.unit_volume(shapes.lattice_matrix(torch.from_numpy(code))))
    got_paper = gram(shapes.unit_volume(shapes.lattice_matrix(torch.from_numpy(paper))))
    torch.testing.assert_close(got_code, want_code, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got_paper, want_paper, rtol=1e-10, atol=1e-12)
    assert (got_code - got_paper).abs().max() > 1e-2  # different cells
