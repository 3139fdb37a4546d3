"""The saved state of a design run (phnet_cuda.design.state) and the final 0/1 cell
(phnet_cuda.design.threshold)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from phnet_cuda.design import DensityMap, VolumeConstraint, threshold_design
from phnet_cuda.design.state import first_difference, load_state, save_state
from phnet_cuda.design.symmetry import group_transforms


def test_state_round_trip_is_exact_and_atomic(tmp_path):
    path = tmp_path / "s" / "state.npz"
    x = np.random.default_rng(0).uniform(size=17)
    header = {"settings": {"n": 8, "shape": [90, 90, 90, 1, 1, 1]}, "history": [{"objective": 0.1 + 1e-17}]}
    save_state(path, {"x": x, "u": np.ones((1, 6, 3, 2, 2, 2))}, header)
    arrays, back = load_state(path)
    assert np.array_equal(arrays["x"], x) and arrays["u"].shape == (1, 6, 3, 2, 2, 2)
    assert back["settings"] == header["settings"] and back["history"] == header["history"]
    assert os.listdir(path.parent) == ["state.npz"]  # no temporary file left behind
    assert first_difference(back["settings"], {"n": 8, "shape": [90, 90, 90, 1, 1, 1]}) is None
    assert first_difference(back["settings"], {"n": 16, "shape": [90, 90, 90, 1, 1, 1]}) == "n: 8 -> 16"


def test_state_refuses_pickles_foreign_files_and_other_versions(tmp_path):
    bad = tmp_path / "pickled.npz"
    np.savez(bad, header=np.array('{"version": 1}'), x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot read the design state"):
        load_state(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a design state"):
        load_state(foreign)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.array('{"version": 99}'))
    with pytest.raises(ValueError, match="state format version 99"):
        load_state(other)
    with pytest.raises(ValueError, match="must end in .npz"):
        save_state(tmp_path / "state.pt", {}, {})


def test_threshold_meets_the_volume_and_keeps_the_symmetry():
    dmap = DensityMap(8, symmetry="cubic", filter_radius=2.0)
    x = torch.rand(dmap.size, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    rho = dmap.physical(x, beta=2.0)
    eq, level = threshold_design(rho, VolumeConstraint(0.3, "eq"))
    assert torch.equal(eq, (rho >= level).double())
    for t in group_transforms("cubic"):
        assert torch.equal(t(eq), eq)
    # nearest achievable volume: no other level of this density comes closer to 0.3
    levels = torch.unique(rho)
    best = min(abs(float((rho >= v).double().mean()) - 0.3) for v in levels)
    assert abs(float(eq.mean()) - 0.3) == best
    le, level_le = threshold_design(rho, VolumeConstraint(0.3, "le"))
    assert float(le.mean()) <= 0.3
    # "le" keeps 0.5 when that already meets the constraint
    low = torch.full((4, 4, 4), 0.2, dtype=torch.float64)
    low[0, 0, :2] = 0.9
    cell, level = threshold_design(low, VolumeConstraint(0.3, "le"))
    assert level == 0.5 and float(cell.sum()) == 2
