"""Label-free datasets (phnet_cuda.data): HDF5 round trip, Dataset 1 structure and determinism,
resumable builds, corrupt/truncated-file detection, labels against direct homogenize calls, the
torch Dataset / loader (shapes, dtypes, workers, DistributedSampler shards), the on-the-fly
material tensor, Dataset 2 planning against the geometry-library contract, and the CLI."""

from __future__ import annotations

import json
import math
import shutil

import h5py
import numpy as np
import pytest
import torch

import phnet_cuda
from phnet_cuda import data, geometry, materials, shapes
from phnet_cuda.cli import main
from support import rel_err

N = 8  # voxels per edge of the tiny custom specs: tiny cells, the logic is the same
N1 = 16  # Dataset 1 tests: the Tubular Gyroid percolates down to ~4 % at n = 16 (~12 % at n = 8)
HAS_LIBRARY = all(hasattr(geometry, f) for f in ("cell_types", "make_cell", "reachable_range"))


def reference_cell(name, n, vf):
    """The generator the builder must have used (the library once it exists)."""
    if HAS_LIBRARY:
        return geometry.make_cell(name, n, vf)
    assert name == "tubular_gyroid"
    return geometry.tubular_gyroid(n, vf)


def reachable(name, n):
    return geometry.reachable_range(name, n) if HAS_LIBRARY else (1 / n ** 3, 1 - 1 / n ** 3)


def tiny_spec(**over) -> dict:
    """6 Tubular-Gyroid cells x 2 random parallelepipeds, sampled materials, 3 build chunks."""
    spec = {"name": "tiny", "n": N, "seed": 7, "chunk": 2,
            "groups": [{"types": ["tubular_gyroid"], "vf": {"range": [0.15, 0.35], "count": 6},
                        "shapes": {"per_cell": 2, "angles": [70, 90], "lengths": [1, 1.5]}}],
            "materials": {"E": {"range": [1.0, 3.0]}, "nu": {"choices": [0.25, 0.3]},
                          "soft_ratio": {"log_range": [1e-6, 1e-4]}},
            "split": {"test_fraction": 0.25, "by": "sample"}}
    spec.update(over)
    return spec


def contents(path) -> dict:
    """Every dataset and attribute of a file (the creation time left out)."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
        out.update({f"@{k}": v for k, v in f.attrs.items() if k != "created_utc"})
    return out


def assert_same_contents(a, b):
    ca, cb = contents(a), contents(b)
    assert sorted(ca) == sorted(cb)
    for k in ca:
        if isinstance(ca[k], np.ndarray):
            assert ca[k].dtype == cb[k].dtype and ca[k].shape == cb[k].shape, k
            assert np.array_equal(ca[k], cb[k], equal_nan=ca[k].dtype.kind == "f"), k
        else:
            assert ca[k] == cb[k], k


def lattice_volume(p: np.ndarray) -> np.ndarray:
    """Cell volume from the CONVENTIONS lattice vectors, written out independently of shapes.py."""
    a = np.deg2rad(p[:, :3])
    cxy, cyz, cxz = np.cos(a[:, 0]), np.cos(a[:, 1]), np.cos(a[:, 2])
    sxy = np.sin(a[:, 0])
    cy = (cyz - cxz * cxy) / sxy
    cz = np.sqrt(1 - cxz ** 2 - cy ** 2)
    return p[:, 3] * p[:, 4] * p[:, 5] * sxy * cz


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.h5"
    res = data.build_dataset(tiny_spec(), path, progress=False)
    assert res["status"] == "complete"
    return path


@pytest.fixture(scope="module")
def d1_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d1.h5"
    data.build_dataset("dataset1", path, n=N1, scale=0.002, progress=False)
    return path


def dataset1_levels():
    """Grid positions of Dataset 1's 40 levels the Tubular Gyroid reaches at n = N1."""
    lo, hi = reachable("tubular_gyroid", N1)
    return [k for k, v in enumerate(np.linspace(0.02, 0.33, 40)) if lo <= v <= hi]


# ----------------------------------------------------------------------------- file format
def test_hdf5_round_trip(tiny_file):
    spec = data.load_spec(tiny_spec())
    plan = data.plan_dataset(spec)
    with h5py.File(tiny_file, "r") as f:
        a = f.attrs
        assert a["format"] == data.FORMAT and a["status"] == "complete" and a["n"] == N and a["seed"] == 7
        assert json.loads(a["spec"]) == spec
        assert set(json.loads(a["versions"])) >= {"phnet_cuda", "torch", "numpy", "h5py"}
        vox = f["geometry/voxels"]
        assert vox.dtype == np.uint8 and vox.shape == (6, N, N, N) and vox.compression == "gzip"
        assert vox.chunks == (1, N, N, N)
        vf_target = f["geometry/vf_target"][...]
        assert np.allclose(vf_target, np.linspace(0.15, 0.35, 6), rtol=0, atol=1e-15)
        for g in range(6):  # each geometry stored once, exactly the generator's cell
            ref = reference_cell("tubular_gyroid", N, float(vf_target[g])).numpy().astype(np.uint8)
            assert np.array_equal(vox[g], ref)
            assert f["geometry/vf"][g] == pytest.approx(ref.mean(), abs=1e-15)
        assert (f["geometry/status"][...] == 1).all()
        assert [s.decode() for s in f["geometry/type_names"][...]] == ["tubular_gyroid"]
        geom = f["samples/geometry"][...]
        assert np.array_equal(geom, np.repeat(np.arange(6), 2))
        for key, ref in (("shape", plan.sample_shape), ("E", plan.sample_E), ("nu", plan.sample_nu),
                         ("soft_ratio", plan.sample_soft_ratio)):
            assert np.array_equal(f[f"samples/{key}"][...], ref), key
        E, nu, sr = f["samples/E"][...], f["samples/nu"][...], f["samples/soft_ratio"][...]
        assert ((E >= 1) & (E <= 3)).all() and set(nu) <= {0.25, 0.3} and ((sr >= 1e-6) & (sr <= 1e-4)).all()
        assert len(set(E)) == 12  # sampled per sample, not per cell
        assert np.isnan(f["labels/CH"][...]).all() and (f["labels/converged"][...] == -1).all()
        train, test = f["split/train"][...], f["split/test"][...]
        assert len(test) == 3 and len(train) == 9  # round(0.25 * 12)
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(12))
        stored = json.loads(a["checksums"])
        assert "geometry/voxels" in stored and "samples/shape" in stored and "split/test" in stored
    ds = data.CellDataset(tiny_file, "test")
    with h5py.File(tiny_file, "r") as f:
        for i, s in enumerate(ds.indices):
            item = ds[i]
            g = int(f["samples/geometry"][s])
            assert int(item["index"]) == s and int(item["geometry"]) == g
            assert torch.equal(item["vox"], torch.from_numpy(f["geometry/voxels"][g]))
            assert torch.equal(item["shape"], torch.from_numpy(f["samples/shape"][s]))
            assert float(item["E"]) == f["samples/E"][s] and float(item["nu"]) == f["samples/nu"][s]


def test_dataset1_structure_and_determinism(d1_file, tmp_path):
    info = data.dataset_info(d1_file)
    assert info["spec"]["groups"][0]["shapes"]["per_cell"] == 3  # 1500 * 0.002
    levels = dataset1_levels()
    assert len(levels) >= 30 and info["geometries_built"] == len(levels)
    assert info["geometries_skipped"] == 40 - len(levels) and not info["rejected"]
    with h5py.File(d1_file, "r") as f:
        status = f["geometry/status"][...]
        assert np.nonzero(status == 1)[0].tolist() == levels and (status[status != 1] == 3).all()
        vf = f["geometry/vf_target"][...]
        assert np.allclose(vf, np.linspace(0.02, 0.33, 40), rtol=0, atol=1e-15)  # the vf grid is kept
        measured = f["geometry/vf"][...][levels]
        cells = f["geometry/voxels"][...][levels]
        assert np.array_equal(measured, cells.reshape(len(levels), -1).mean(1))  # the stored cells' vf
        assert np.abs(measured - vf[levels]).max() < 0.01  # near the target (generator accuracy aside)
        k = levels[len(levels) // 2]
        assert np.array_equal(cells[len(levels) // 2], reference_cell("tubular_gyroid", N1, float(vf[k])).numpy())
        assert np.array_equal(f["samples/geometry"][...], np.repeat(np.arange(40), 3))
        p = f["samples/shape"][...]
        assert ((p[:, :3] >= 75) & (p[:, :3] <= 90)).all()
        ratio = p[:, 3:].max(1) / p[:, 3:].min(1)
        assert (ratio <= 2 + 1e-12).all() and ratio.max() > 1.3  # lengths drawn in [1, 2]
        assert np.abs(lattice_volume(p) - 1).max() < 1e-12  # unit cell volume
        shapes.shape_parameters(torch.from_numpy(p))  # every row a valid parallelepiped
        assert (f["samples/E"][...] == 1).all() and (f["samples/nu"][...] == 0.3).all()
        assert (f["samples/soft_ratio"][...] == 1e-6).all()
        valid = 3 * len(levels)
        assert len(f["split/test"]) == round(0.2 * valid) and len(f["split/train"]) == valid - round(0.2 * valid)
        both = np.concatenate([f["split/train"][...], f["split/test"][...]])
        assert sorted(both.tolist()) == [s for s in range(120) if s // 3 in levels]
    again = tmp_path / "again.h5"
    data.build_dataset("dataset1", again, n=N1, scale=0.002, progress=False)
    assert_same_contents(d1_file, again)  # fixed seeds: identical files
    other = tmp_path / "seed.h5"
    data.build_dataset("dataset1", other, n=N1, scale=0.002, seed=1, progress=False)
    with h5py.File(other, "r") as f, h5py.File(d1_file, "r") as g:
        assert not np.array_equal(f["samples/shape"][...], g["samples/shape"][...])


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


def test_resume_after_interrupted_build(tmp_path, monkeypatch):
    ref = tmp_path / "ref.h5"
    data.build_dataset(tiny_spec(), ref, progress=False)
    part = tmp_path / "part.h5"
    res = data.build_dataset(tiny_spec(), part, max_chunks=1, progress=False)
    assert res["status"] == "building" and res["chunks_done"] == 1 and res["chunks"] == 3
    with pytest.raises(data.DatasetError, match=r"incomplete \(1 of 3 chunks"):
        data.CellDataset(part)
    # a crash in the middle of the second chunk: the chunk is redone on resume
    real, calls = data._make_cell, []

    def crashing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "_make_cell", crashing)
    with pytest.raises(KeyboardInterrupt):
        data.build_dataset(tiny_spec(), part, progress=False)
    monkeypatch.setattr(data, "_make_cell", real)
    assert data.dataset_info(part)["chunks_done"] == 1
    res = data.build_dataset(tiny_spec(), part, progress=False)
    assert res["status"] == "complete" and res["chunks_done"] == 3
    assert_same_contents(ref, part)
    assert data.build_dataset(tiny_spec(), part, progress=False)["status"] == "complete"  # no-op
    with pytest.raises(data.DatasetError, match="different spec"):
        data.build_dataset(tiny_spec(seed=8), part, progress=False)


def test_corrupt_and_truncated_files(tiny_file, tmp_path):
    assert data.verify_file(tiny_file) == {"datasets": 17, "labels": "verified"}
    # a value changed behind the checksums' back
    edited = tmp_path / "edited.h5"
    shutil.copy(tiny_file, edited)
    with h5py.File(edited, "r+") as f:
        f["samples/E"][3] = f["samples/E"][3] + 1e-9
    with pytest.raises(data.DatasetCorruptError, match=r"edited\.h5: dataset 'samples/E' does not match"):
        data.CellDataset(edited)
    # raw bytes flipped inside a compressed voxel chunk
    flipped = tmp_path / "flipped.h5"
    shutil.copy(tiny_file, flipped)
    with h5py.File(flipped, "r") as f:
        info = f["geometry/voxels"].id.get_chunk_info(2)
    raw = bytearray(flipped.read_bytes())
    for k in range(info.byte_offset + 4, info.byte_offset + min(info.size, 24)):
        raw[k] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    with pytest.raises(data.DatasetCorruptError, match=r"flipped\.h5.*geometry/voxels"):
        data.verify_file(flipped)
    # a truncated copy (an interrupted download)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(tiny_file.read_bytes()[: tiny_file.stat().st_size // 2])
    with pytest.raises(data.DatasetCorruptError, match=r"cut\.h5: cannot open as an HDF5 dataset file"):
        data.CellDataset(cut)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(data.DatasetError, match="not a phnet_cuda cell dataset"):
        data.dataset_info(foreign)
    with pytest.raises(data.DatasetError, match="not found"):
        data.CellDataset(tmp_path / "missing.h5")


# ----------------------------------------------------------------------------- labels
def test_labels_match_homogenize(tmp_path, tiny_file):
    path = tmp_path / "lab.h5"
    shutil.copy(tiny_file, path)
    first = data.label_dataset(path, "test", batch=2, tol=1e-10, limit=2, progress=False)
    assert first["labelled"] == 2 and first["pending"] == 1 and first["not_converged"] == 0
    second = data.label_dataset(path, "test", batch=2, tol=1e-10, progress=False)  # resumes
    assert second["labelled"] == 1 and second["pending"] == 0
    assert data.label_dataset(path, "test", progress=False)["labelled"] == 0
    assert data.verify_file(path)["labels"] == "verified"
    with h5py.File(path, "r") as f:
        test, train = f["split/test"][...], f["split/train"][...]
        CH = f["labels/CH"][...]
        assert np.isnan(CH[train]).all() and (f["labels/converged"][...][train] == -1).all()
        assert (f["labels/converged"][...][test] == 1).all() and (f["labels/tol"][...][test] == 1e-10).all()
        for s in test:
            g = int(f["samples/geometry"][s])
            res = phnet_cuda.homogenize(torch.from_numpy(f["geometry/voxels"][g]).double(),
                                        E=float(f["samples/E"][s]), nu=float(f["samples/nu"][s]),
                                        soft_ratio=float(f["samples/soft_ratio"][s]),
                                        shape=f["samples/shape"][s].tolist(), tol=1e-10)
            assert rel_err(torch.from_numpy(CH[s]), res.CH) < 1e-9
    ds = data.CellDataset(path, "test")
    batch = ds[list(range(len(ds)))]
    assert batch["labelled"].all() and torch.isfinite(batch["CH"]).all()


# ----------------------------------------------------------------------------- torch side
def test_loader_shapes_dtypes_and_determinism(d1_file):
    ds = data.CellDataset(d1_file, "train")
    assert len(ds) == data.dataset_info(d1_file)["split"]["train"]["samples"] and ds.cached
    item = ds[5]
    assert item["vox"].shape == (N1, N1, N1) and item["vox"].dtype == torch.uint8
    assert item["shape"].shape == (6,) and item["shape"].dtype == torch.float64
    assert item["CH"].shape == (6, 6) and torch.isnan(item["CH"]).all() and not bool(item["labelled"])
    for key in ("E", "nu", "soft_ratio", "volume_fraction"):
        assert item[key].shape == () and item[key].dtype == torch.float64
    batch = ds[[5, 0, 17]]
    stacked = data.collate([ds[5], ds[0], ds[17]])
    assert sorted(batch) == sorted(stacked)
    for k in batch:
        assert torch.equal(batch[k], stacked[k]) or torch.isnan(batch[k]).all(), k
    assert int(ds[-1]["index"]) == int(ds.indices[-1])
    with pytest.raises(IndexError):
        ds[len(ds)]

    def run(loader):
        return [(b["index"].clone(), b["vox"].clone()) for b in loader]

    a = run(data.make_loader(ds, 16, shuffle=True, seed=3))
    b = run(data.make_loader(ds, 16, shuffle=True, seed=3))
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert sorted(torch.cat([x[0] for x in a]).tolist()) == sorted(ds.indices.tolist())
    assert a[0][1].shape == (16, N1, N1, N1) and a[0][1].dtype == torch.uint8
    # uncached reads in two worker processes (each opens the file itself) give the same batches
    lazy = data.CellDataset(d1_file, "train", cache=False, verify=False)
    assert not lazy.cached and lazy._file is None
    c = run(data.make_loader(lazy, 16, shuffle=True, seed=3, num_workers=2))
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, c))
    assert lazy._file is None  # the parent never opened it


def test_material_tensor_on_the_fly(tiny_file):
    ds = data.CellDataset(tiny_file, "train")
    batch = next(iter(data.make_loader(ds, 4, shuffle=False)))
    assert batch["vox"].dtype == torch.uint8  # only compact cells travel
    out = data.to_device(batch, "cpu")
    vox = batch["vox"].float()
    ref = materials.material_voxel_tensor(vox, batch["E"], batch["nu"], batch["soft_ratio"], shape=batch["shape"])
    assert out["material"].shape == (4, 36, N, N, N) and out["material"].dtype == torch.float32
    assert torch.equal(out["material"], ref)
    assert out["vox"].dtype == torch.float32 and torch.equal(out["vox"], vox)
    # independent check at a solid voxel: M^T C_hat M = C(E, nu) from the Lame constants
    b = 1
    i, j, k = (int(t[0]) for t in torch.nonzero(vox[b] == 1, as_tuple=True))
    C_hat = data.material_tensor(batch, dtype=torch.float64)[b, :, i, j, k].reshape(6, 6)
    E, nu = float(batch["E"][b]), float(batch["nu"][b])
    lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
    C = torch.zeros(6, 6, dtype=torch.float64)
    C[:3, :3] = lam
    C[range(3), range(3)] = lam + 2 * mu
    C[range(3, 6), range(3, 6)] = mu
    M = shapes.strain_map(shapes.unit_volume(shapes.lattice_matrix(batch["shape"][b])))
    assert rel_err(M.T @ C_hat @ M, C) < 1e-12


def test_distributed_sampler_shards(tiny_file):
    ds = data.CellDataset(tiny_file, "all", verify=False)
    assert len(ds) == 12
    for epoch in (0, 1):
        shards = []
        for rank in (0, 1):
            loader = data.make_loader(ds, 5, shuffle=True, seed=11, rank=rank, world_size=2)
            data.set_epoch(loader, epoch)
            shards.append(torch.cat([b["index"] for b in loader]).tolist())
        assert len(shards[0]) == len(shards[1]) == 6
        assert not set(shards[0]) & set(shards[1])  # disjoint
        assert sorted(shards[0] + shards[1]) == list(range(12))  # covering
        if epoch == 0:
            first = shards
    assert first != shards  # set_epoch reshuffles
    # an odd split: DistributedSampler pads with one repeated sample so both ranks step together
    train = data.CellDataset(tiny_file, "train", verify=False)
    parts = [torch.cat([b["index"] for b in data.make_loader(train, 4, rank=r, world_size=2)]).tolist()
             for r in (0, 1)]
    assert len(train) == 9 and len(parts[0]) == len(parts[1]) == 5
    assert set(parts[0]) | set(parts[1]) == set(train.indices.tolist()) and len(set(parts[0]) & set(parts[1])) == 1
    with pytest.raises(ValueError, match="rank"):
        data.make_loader(ds, 5, rank=2, world_size=2)


# ----------------------------------------------------------------------------- specs, Dataset 2
def test_spec_errors_name_the_key(tmp_path):
    cases = [({"n": 1}, r"spec n: expected an integer >= 2, got 1"),
             ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
             ({"split": {"by": "moon"}}, r"split.by: expected one of"),
             ({"materials": {"nu": 0.5}}, r"materials.nu: must lie in \(-1, 0.5\), got 0.5"),
             ({"groups": [{"types": ["tubular_gyroid"], "vf": [0.1, 1.2]}]}, r"groups\[0\].vf: volume fractions"),
             ({"groups": [{"types": ["tubular_gyroid"], "vf": [0.1], "shapes": {"angles": [90, 75]}}]},
              r"groups\[0\].shapes.angles: expected lo <= hi")]
    for over, msg in cases:
        with pytest.raises(ValueError, match=msg):
            data.load_spec(tiny_spec(**over))
    with pytest.raises(ValueError, match="scale must lie in"):
        data.load_spec("dataset1", scale=2.0)
    with pytest.raises(ValueError, match="neither a built-in"):
        data.load_spec(str(tmp_path / "nope.yaml"))
    yml = tmp_path / "mine.yaml"
    yml.write_text("n: 8\ngroups:\n  - types: [tubular_gyroid]\n    vf: [0.2, 0.3]\n")
    spec = data.load_spec(yml)
    assert spec["name"] == "mine" and spec["groups"][0]["shapes"]["per_cell"] == 1
    # wide angle ranges: rejected rows are redrawn, every cell stays valid
    p = data.sample_shapes(np.random.default_rng(0), 2000, angles=(20, 160), lengths=(1, 3))
    assert ((p[:, :3] >= 20) & (p[:, :3] <= 160)).all() and np.abs(lattice_volume(p) - 1).max() < 1e-12
    q = data.sample_shapes(np.random.default_rng(0), 50, angles=(60, 90), convention="reference")
    assert np.abs(lattice_volume(q) - 1).max() < 1e-12


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


@pytest.mark.skipif(not HAS_LIBRARY, reason="the microstructure library (geometry.make_cell) is not available yet")
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


# ----------------------------------------------------------------------------- CLI
def test_cli_build_label_info(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    args = ["dataset", "build", "--spec", "dataset1", "--n", str(N1), "--scale", "0.002", "--out", str(out), "--quiet"]
    assert main(args + ["--max-chunks", "2"]) == 0
    assert "building, 2/5 chunks" in capsys.readouterr().out
    assert main(args) == 0
    levels = dataset1_levels()
    assert f"complete, 5/5 chunks, 40 cell slots ({len(levels)} built, 0 rejected, {40 - len(levels)} out of range), " \
        "120 samples" in capsys.readouterr().out
    assert main(["dataset", "label", str(out), "--split", "test", "--limit", "2", "--batch", "2", "--device", "cpu",
                 "--tol", "1e-8", "--quiet"]) == 0
    assert "labelled 2 samples of split 'test'" in capsys.readouterr().out
    assert main(["dataset", "info", str(out), "--verify"]) == 0
    text = capsys.readouterr().out
    n_test = round(0.2 * 3 * len(levels))
    assert f"test: {n_test} samples, 2 labelled (2 converged)" in text and "checksums OK" in text
    assert main(["dataset", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"]["train"]["samples"] == 3 * len(levels) - n_test


def test_cli_dataset_errors_are_one_line(tmp_path, capsys, tiny_file):
    def error(argv, needle):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("phnet dataset: error:") and needle in err, err

    out = str(tmp_path / "x.h5")
    error(["dataset", "build", "--spec", "dataset1", "--out", out, "--scale", "2"], "--scale: expected a number in (0, 1]")
    error(["dataset", "build", "--spec", "nope", "--out", out], "neither a built-in spec")
    error(["dataset", "build", "--spec", "dataset1", "--out", out, "--n", "1"], "--n: expected an integer >= 2")
    error(["dataset", "build", "--spec", "dataset1", "--out", out, "--split-by", "moon"], "split.by: expected one of")
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [{types: [tubular_gyroid], vf: [0.2]}]\nn: 8\nmaterial: {E: 2}\n")
    error(["dataset", "build", "--spec", str(bad), "--out", out], "unknown key(s) ['material']")
    error(["dataset", "build", "--spec", "dataset1", "--n", str(N1), "--out", str(tiny_file)], "different spec")
    error(["dataset", "label", str(tmp_path / "missing.h5")], "dataset file not found")
    error(["dataset", "label", str(tiny_file), "--split", "dev"], "split must be one of")
    error(["dataset", "label", str(tiny_file), "--batch", "0"], "--batch: expected an integer >= 1")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(tiny_file.read_bytes()[:1000])
    error(["dataset", "info", str(cut)], "cannot open as an HDF5 dataset file")
    assert math.isfinite(tiny_file.stat().st_size)


@pytest.mark.skipif(not HAS_LIBRARY, reason="fractional cells need geometry.make_cell")
def test_fractional_cells_round_trip(tmp_path):
    spec = tiny_spec(fractional=True, voxel_dtype="float32", chunk=8)
    data.build_dataset(spec, tmp_path / "frac.h5", progress=False)
    ds = data.CellDataset(tmp_path / "frac.h5", "all")
    batch = ds[list(range(len(ds)))]
    assert batch["vox"].dtype == torch.float32
    g = int(batch["geometry"][0])
    with h5py.File(tmp_path / "frac.h5", "r") as f:
        vf = float(f["geometry/vf_target"][g])
        assert abs(f["geometry/vf"][g] - vf) < 1e-6  # fractional cells hit the target closely
    ref = geometry.make_cell("tubular_gyroid", N, vf, fractional=True)
    assert torch.equal(batch["vox"][0], ref) and ((ref > 0) & (ref < 1)).any()
    out = data.to_device(batch, "cpu")
    assert torch.equal(out["material"], materials.material_voxel_tensor(
        batch["vox"], batch["E"], batch["nu"], batch["soft_ratio"], shape=batch["shape"]))
