"""Building (phnet_cuda.data.build): Dataset 1 structure and determinism, resuming an
interrupted build, and fractional cells."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from data.helpers import (
    N1,
    N,
    assert_same_contents,
    dataset1_levels,
    lattice_volume,
    reference_cell,
    tiny_spec,
)

from phnet_cuda import data, geometry, materials, shapes
from phnet_cuda.data import build as build_mod


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


def test_resume_after_interrupted_build(tmp_path, monkeypatch):
    ref = tmp_path / "ref.h5"
    data.build_dataset(tiny_spec(), ref, progress=False)
    part = tmp_path / "part.h5"
    res = data.build_dataset(tiny_spec(), part, max_chunks=1, progress=False)
    assert res["status"] == "building" and res["chunks_done"] == 1 and res["chunks"] == 3
    with pytest.raises(data.DatasetError, match=r"incomplete \(1 of 3 chunks"):
        data.CellDataset(part)
    # a crash in the middle of the second chunk: the chunk is redone on resume
    real, calls = build_mod._make_cell, []

    def crashing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(build_mod, "_make_cell", crashing)
    with pytest.raises(KeyboardInterrupt):
        data.build_dataset(tiny_spec(), part, progress=False)
    monkeypatch.setattr(build_mod, "_make_cell", real)
    assert data.dataset_info(part)["chunks_done"] == 1
    res = data.build_dataset(tiny_spec(), part, progress=False)
    assert res["status"] == "complete" and res["chunks_done"] == 3
    assert_same_contents(ref, part)
    assert data.build_dataset(tiny_spec(), part, progress=False)["status"] == "complete"  # no-op
    with pytest.raises(data.DatasetError, match="different spec"):
        data.build_dataset(tiny_spec(seed=8), part, progress=False)


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
