"""Labelling (phnet_cuda.data.label): labels, resumed in batches, against direct homogenize calls."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch
from support import assert_rel_close

import phnet_cuda
from phnet_cuda import data


def test_labels_match_homogenize(tmp_path, tiny_file):
    path = tmp_path / "lab.h5"
    shutil.copy(tiny_file, path)
    first = data.label_dataset(path, "test", batch=2, tol=1e-10, limit=2, progress=False)
    assert first["labelled"] == 2 and first["pending"] == 1 and first["not_converged"] == 0
    second = data.label_dataset(path, "test", batch=2, tol=1e-10, progress=False)  # resumes
    assert second["labelled"] == 1 and second["pending"] == 0
    assert data.label_dataset(path, "test", progress=False)["labelled"] == 0
    with pytest.raises(ValueError, match="batch must be a positive int, got 0"):
        data.label_dataset(path, "test", batch=0, progress=False)
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
            assert_rel_close(torch.from_numpy(CH[s]), res.CH, 1e-9)
    ds = data.CellDataset(path, "test")
    batch = ds[list(range(len(ds)))]
    assert batch["labelled"].all() and torch.isfinite(batch["CH"]).all()
