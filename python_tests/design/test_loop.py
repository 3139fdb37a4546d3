"""The design loop (phnet_cuda.design.optimize): a tiny design improves and meets its volume,
resuming continues exactly, PH-Net mode runs and is checked by the solver."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phnet_cuda import homogenize
from phnet_cuda.design import bulk_modulus, optimize
from phnet_cuda.design.bounds import hashin_shtrikman
from phnet_cuda.design.symmetry import group_transforms

pytest.importorskip("mmapy")
TINY = dict(n=8, volume_fraction=0.3, symmetry="cubic", filter_radius=1.5, beta_every=6, beta_max=8.0,
            init="sphere", solver_tol=1e-6)


def test_tiny_bulk_design_improves_and_meets_the_volume():
    res = optimize("bulk", iterations=20, **TINY)
    objective = [h["objective"] for h in res.history]
    assert objective[-1] > 1.5 * objective[0]
    # at a fixed beta the objective grows, up to MMA's small setbacks; a beta doubling may drop it
    for a, b in zip(res.history, res.history[1:]):
        if a["beta"] == b["beta"]:
            assert b["objective"] > a["objective"] * (1 - 5e-3), (a, b)
    assert abs(res.history[-1]["volume"] - 0.3) < 0.01 * 0.3
    # the 0/1 cell: exactly symmetric, its volume within half an orbit of 0.3 (an orbit of the cubic
    # group holds up to 48 of the 512 voxels), its C^H the solver's
    for t in group_transforms("cubic"):
        assert torch.equal(t(res.design), res.design)
    assert abs(res.volume_fraction - 0.3) <= 24 / 512 and res.volume_fraction == float(res.design.mean())
    CH = homogenize(res.design, tol=1e-10).CH
    assert float((res.CH - CH).abs().max()) < 1e-7 * float(CH.abs().max())
    assert res.objective == pytest.approx(float(bulk_modulus(CH)), rel=1e-7)
    assert 0.5 < res.objective / hashin_shtrikman(res.volume_fraction)["bulk_upper"] < 1


def test_oc_design_improves_its_objective():
    res = optimize("shear", optimizer="oc", iterations=10, **TINY)
    objective = [h["objective"] for h in res.history]
    assert objective[-1] > 1.5 * objective[0]
    assert abs(res.history[-1]["volume"] - 0.3) < 1e-4  # OC meets the volume by bisection


def test_resume_continues_to_the_same_result(tmp_path):
    state = tmp_path / "state.npz"
    settings = dict(iterations=8, **TINY)
    straight = optimize("bulk", **settings)
    first = optimize("bulk", **{**settings, "iterations": 3}, state_path=state, checkpoint_every=2)
    assert first.iterations == 3 and first.stop_reason == "iteration limit"
    resumed = optimize("bulk", **settings, state_path=state, checkpoint_every=2)
    assert resumed.iterations == 8
    assert [h["objective"] for h in resumed.history] == [h["objective"] for h in straight.history]
    assert torch.equal(resumed.density, straight.density) and torch.equal(resumed.design, straight.design)
    with pytest.raises(ValueError, match=r"other settings \(penal: 3.0 -> 4.0\)"):
        optimize("bulk", **settings, penal=4.0, state_path=state)


def test_parallelepiped_design_is_checked_on_its_cell():
    shape = (80.0, 85.0, 75.0, 1.0, 1.2, 0.9)
    res = optimize("young", direction=(0, 0, 1), n=6, shape=shape, symmetry="orthotropic", iterations=3,
                   filter_radius=1.5)
    CH = homogenize(res.design, shape=shape, tol=1e-10).CH  # the cell's C^H (global frame)
    assert float((res.CH - CH).abs().max()) < 1e-7 * float(CH.abs().max())
    assert res.settings["shape"] == list(shape)


def test_design_bad_input():
    with pytest.raises(ValueError, match="optimizer 'oc' handles the objectives bulk, shear and young"):
        optimize("poisson", optimizer="oc", n=6, iterations=1)
    with pytest.raises(ValueError, match=r"init must be a density \[6, 6, 6\]"):
        optimize("bulk", n=6, init=np.zeros((5, 5, 5)), iterations=1)
    with pytest.raises(ValueError, match="rho_min must lie in"):
        optimize("bulk", n=6, rho_min=2.0, iterations=1)
    with pytest.raises(TypeError, match="bounds must hold StiffnessBound"):
        optimize("bulk", n=6, bounds=[3], iterations=1)
    with pytest.raises(ValueError, match="wraps around a cell of n = 4"):
        optimize("bulk", n=4, iterations=1)


def test_phnet_mode_runs_and_the_solver_checks_the_result(tiny_checkpoint):
    res = optimize("bulk", iterations=4, surrogate="phnet", max_error=0.5, checkpoint=tiny_checkpoint, **TINY)
    assert res.iterations == 4 and all("estimate" in h for h in res.history)
    CH = homogenize(res.design, tol=1e-10).CH
    assert float((res.CH - CH).abs().max()) < 1e-7 * float(CH.abs().max())
