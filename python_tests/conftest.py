"""Fixtures shared across test folders, built once per test module into pytest's temporary
directories: a tiny dataset file, a small Dataset 1 file, and a tiny untrained PH-Net checkpoint."""

from __future__ import annotations

import pytest
import torch
from data.helpers import N1, tiny_spec

from phnet_cuda import data
from phnet_cuda.surrogate.checkpoint import atomic_save
from phnet_cuda.surrogate.model import PHNet, PHNetConfig


@pytest.fixture(autouse=True)
def _outside_the_checkout(tmp_path, monkeypatch):
    """Run every test from a scratch folder: a ``python -c`` / ``-m`` subprocess started in the
    repository root would import the source folder ``phnet_cuda/`` (which holds no compiled
    library) instead of the installed package that the tests are about."""
    monkeypatch.chdir(tmp_path)


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


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A random PH-Net (widths 4, 8) saved as a checkpoint trained at n = 8."""
    torch.manual_seed(0)
    cfg = PHNetConfig(widths=(4, 8), head=4)
    model = PHNet(cfg)
    path = str(tmp_path_factory.mktemp("ck") / "tiny.pt")
    atomic_save({"model": model.state_dict(), "model_config": cfg.to_dict(), "train_config": {"n": 8}}, path)
    return path
