"""The HDF5 format (phnet_cuda.data.h5): the round trip of a tiny file, checksums, and corrupt,
truncated, foreign and missing files."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import torch
from data.helpers import N, reference_cell, tiny_spec

from phnet_cuda import data


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
        assert np.allclose(vf_target, np.linspace(0.2, 0.4, 6), rtol=0, atol=1e-15)
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
