"""PH-Net prediction: certified bounds, the hybrid exact mode, resampling, checkpoints, CLI."""

import os
import warnings

import pytest
import torch

from phnet_cuda import homogenize
from phnet_cuda.geometry import tubular_gyroid
from phnet_cuda.surrogate.checkpoint import atomic_save
from phnet_cuda.surrogate.predict import DEFAULT_CHECKPOINT, interpolate_periodic, predict, resample_voxels

SHAPE = (80.0, 85.0, 78.0, 1.0, 1.3, 1.7)


def test_upper_bounds_and_refinement(tiny_checkpoint):
    """Any network's prediction bounds the true diagonal from above (energy principle), and the
    refined result is the solver's answer."""
    vox = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.5)]).double()
    ref = homogenize(vox, E=3.0, nu=0.3, shape=SHAPE, tol=1e-10)
    res = predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=tiny_checkpoint)
    assert res.CH.shape == (2, 6, 6) and res.u.shape == (2, 6, 3, 8, 8, 8) and res.gap is None
    true_diag = torch.diagonal(ref.CH, dim1=1, dim2=2)
    assert (res.CH_upper >= true_diag * (1 - 1e-9)).all()
    assert torch.allclose(res.CH_upper, torch.diagonal(res.CH_network, dim1=1, dim2=2))
    refined = predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=tiny_checkpoint, refine_tol=1e-10)
    assert refined.converged and refined.iterations > 0
    assert torch.allclose(refined.CH, ref.CH, rtol=1e-8, atol=1e-10 * float(ref.CH.abs().max()))
    assert torch.allclose(refined.gap, (res.CH_upper - true_diag) / true_diag, rtol=1e-6, atol=1e-9)
    assert set(refined.timings) == {"network", "stage", "refine", "total"}
    # one cell in, one [6, 6] out; numpy accepted
    one = predict(vox[0].numpy(), E=3.0, nu=0.3, shape=SHAPE, checkpoint=tiny_checkpoint)
    assert one.CH.shape == (6, 6) and torch.allclose(one.CH, res.CH[0], rtol=1e-6)


def test_fixed_refinement_budget(tiny_checkpoint):
    """refine_iters runs exactly that many PCG iterations from the prediction (no warning: a
    budget, not a tolerance), the C^H error falls with each, and the diagonal stays an upper
    bound (energy form of a periodic field)."""
    vox = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.5)]).double()
    ref = homogenize(vox, E=3.0, nu=0.3, shape=SHAPE, tol=1e-10)
    net = predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=tiny_checkpoint)
    errors = [torch.linalg.matrix_norm(net.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH)]
    true_diag = torch.diagonal(ref.CH, dim1=1, dim2=2)
    for k in (1, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a budget, not a tolerance: no warning
            res = predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=tiny_checkpoint, refine_iters=k)
        assert res.iterations == k and not res.converged
        with pytest.warns(RuntimeWarning, match="not converged"):
            same = homogenize(vox, E=3.0, nu=0.3, shape=SHAPE, x0=net.u, max_iter=k, tol=1e-300)
        assert torch.allclose(res.CH, same.CH, rtol=1e-12, atol=1e-14)
        assert (torch.diagonal(res.CH, dim1=1, dim2=2) >= true_diag * (1 - 1e-9)).all()
        assert torch.allclose(res.CH_upper, net.CH_upper)  # the network's bound is kept
        errors.append(torch.linalg.matrix_norm(res.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH))
    assert all(bool((b < a).all()) for a, b in zip(errors, errors[1:])), errors
    # a tolerance that the budget cannot reach is reported
    with pytest.warns(RuntimeWarning, match="not converged"):
        res = predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=tiny_checkpoint, refine_tol=1e-12, refine_iters=1)
    assert not res.converged
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="refine_iters"):
            predict(vox, checkpoint=tiny_checkpoint, refine_iters=bad)


def test_physics_output_stage(tiny_checkpoint, tmp_path):
    """cg_steps: the model's block-Jacobi CG stage after the network. More steps lower every
    certified bound (energy) and keep it a bound; the field is the stage applied to the
    network's; a checkpoint whose config asks for the stage gets it by default, cg_steps=0
    switches it off; bad values raise."""
    from phnet_cuda import CellProblem

    vox = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.5)]).double()
    ref = homogenize(vox, E=3.0, nu=0.3, shape=SHAPE, tol=1e-10)
    true_diag = torch.diagonal(ref.CH, dim1=1, dim2=2)
    runs = [predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=tiny_checkpoint, cg_steps=k) for k in (0, 2, 6)]
    assert [r.cg_steps for r in runs] == [0, 2, 6] and runs[0].timings["stage"] == 0.0
    for a, b in zip(runs, runs[1:]):
        assert (b.CH_upper <= a.CH_upper * (1 + 1e-6)).all()
        assert (b.CH_upper >= true_diag * (1 - 1e-9)).all()
    err = [float((torch.linalg.matrix_norm(r.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH)).mean()) for r in runs]
    assert err[2] < 0.5 * err[0], err
    prob = CellProblem(8, E=3.0, nu=0.3, shape=SHAPE, dtype=torch.float32)
    staged = prob.block_jacobi_cg(runs[0].u.float(), vox.float(), 2).double()
    assert torch.allclose(runs[1].u, staged, rtol=1e-5, atol=1e-6 * float(staged.abs().max()))
    ck = torch.load(tiny_checkpoint, weights_only=True)
    ck["model_config"]["cg_steps"] = 2
    path = str(tmp_path / "staged.pt")
    atomic_save(ck, path)
    own = predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=path)
    assert own.cg_steps == 2 and torch.allclose(own.CH, runs[1].CH)
    assert predict(vox, E=3.0, nu=0.3, shape=SHAPE, checkpoint=path, cg_steps=0).cg_steps == 0
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="cg_steps"):
            predict(vox, checkpoint=tiny_checkpoint, cg_steps=bad)


def test_resampling_and_periodic_interpolation(tiny_checkpoint):
    vox = tubular_gyroid(16, 0.2)
    with pytest.warns(UserWarning, match="resampling"):
        res = predict(vox, checkpoint=tiny_checkpoint)
    assert res.resampled and res.u.shape == (1, 6, 3, 16, 16, 16)
    coarse = resample_voxels(vox[None], 8)
    assert abs(float(coarse.mean()) - float(vox.mean())) < 1e-6  # averaging keeps the volume fraction
    # interpolation reproduces a periodic piecewise-linear field exactly and keeps node values
    u = torch.randn(2, 5, 5, 5, dtype=torch.float64)
    fine = interpolate_periodic(u, 10)
    assert torch.allclose(fine[:, ::2, ::2, ::2], u)
    assert torch.allclose(fine[:, 1, 0, 0], (u[:, 0, 0, 0] + u[:, 1, 0, 0]) / 2)
    assert torch.allclose(fine[:, 9, 0, 0], (u[:, 4, 0, 0] + u[:, 0, 0, 0]) / 2)  # wraps around


def test_bad_checkpoints_and_arguments(tiny_checkpoint, tmp_path):
    vox = tubular_gyroid(8, 0.3)
    with pytest.raises(ValueError, match="does not exist"):
        predict(vox, checkpoint=str(tmp_path / "none.pt"))
    ck = torch.load(tiny_checkpoint, weights_only=True)
    ck["model_config"]["head"] = 8
    atomic_save(ck, str(tmp_path / "bad.pt"))
    with pytest.raises(ValueError, match="do not match"):
        predict(vox, checkpoint=str(tmp_path / "bad.pt"))
    with pytest.raises(ValueError, match="refine_tol"):
        predict(vox, checkpoint=tiny_checkpoint, refine_tol=-1)


def test_shipped_model_is_accurate_on_held_out_cells():
    """The checkpoint inside the package: held-out TG volume fractions and shapes, and the
    hybrid mode converges in fewer iterations than a cold solve."""
    assert os.path.exists(DEFAULT_CHECKPOINT), "the shipped checkpoint is missing from the package"
    vfs, shapes_ = [0.0655, 0.1845, 0.2955], [(78, 86, 81, 1.2, 1.8, 1.1), (88, 77, 84, 1.9, 1.0, 1.4),
                                               (90, 90, 90, 1, 1, 1)]
    vox = torch.stack([tubular_gyroid(16, v) for v in vfs]).double()
    shape = torch.tensor(shapes_, dtype=torch.float64)
    ref = homogenize(vox, E=750.0, nu=0.3, shape=shape, tol=1e-8)
    res = predict(vox, E=750.0, nu=0.3, shape=shape)
    delta = torch.linalg.matrix_norm(res.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH)
    from phnet_cuda.surrogate.predict import load_model

    _, n_train = load_model()
    assert n_train == 16
    ck = torch.load(DEFAULT_CHECKPOINT, weights_only=True)
    assert float(delta.mean()) < 2.5 * float(ck["metrics"]["delta_mean"])  # consistent with its own report
    assert float(delta.mean()) < 0.01  # the 1% target (48 cells in benchmarks/accuracy.py: 0.51%)
    # the shipped model was trained through its physics output stage: its network alone is far
    # off (benchmarks/accuracy.py: 9.1%), the stage is what brings it under 1%
    assert res.cg_steps == ck["model_config"]["cg_steps"] == 4
    alone = predict(vox, E=750.0, nu=0.3, shape=shape, cg_steps=0)
    delta_alone = torch.linalg.matrix_norm(alone.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH)
    assert float(delta_alone.mean()) < 2.5 * float(ck["metrics"]["delta_mean_network"])
    assert float(delta_alone.mean()) > 5 * float(delta.mean())
    # one warm-started iteration beats one cold iteration by far (measured over 48 cells in
    # benchmarks/accuracy.py: 0.16% vs 6.7%)
    warm = predict(vox, E=750.0, nu=0.3, shape=shape, refine_iters=1)
    with pytest.warns(RuntimeWarning, match="not converged"):
        cold = homogenize(vox, E=750.0, nu=0.3, shape=shape, max_iter=1)
    delta_warm = torch.linalg.matrix_norm(warm.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH)
    delta_cold = torch.linalg.matrix_norm(cold.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH)
    assert float(delta_warm.mean()) < 0.3 * float(delta_cold.mean()), (delta_warm, delta_cold)
    assert float(delta_warm.mean()) < 0.5 * float(delta.mean())
    refined = predict(vox, E=750.0, nu=0.3, shape=shape, refine_tol=1e-8)
    assert refined.converged and refined.iterations <= ref.iterations  # savings: benchmarks/accuracy.py
    assert torch.allclose(refined.CH, ref.CH, rtol=1e-6, atol=1e-9 * float(ref.CH.abs().max()))


def test_prediction_above_the_voigt_bound_warns(tiny_checkpoint):
    """An untrained network's C^H exceeds the Voigt bound (impossible for the true C^H): predict
    says so, naming the cells; the shipped model on a cell of its training family stays quiet."""
    vox = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.5)]).double()
    with pytest.warns(UserWarning, match=r"cell\(s\) \[0, 1\] exceeds the Voigt bound"):
        res = predict(vox, checkpoint=tiny_checkpoint, cg_steps=0)
    assert (torch.linalg.eigvalsh(res.CH_network - _voigt(vox)).amax(dim=1) > 0).all()  # the premise holds
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        predict(tubular_gyroid(16, 0.2))


def _voigt(vox):
    """Volume average of the two isotropic phases (E = 1, nu = 0.3, soft 1e-6) [B, 6, 6], written
    out independently of CellProblem.voigt_bound."""
    from phnet_cuda.materials import isotropic_stiffness

    vf = vox.mean(dim=(1, 2, 3)).double()[:, None, None]
    return vf * isotropic_stiffness(1.0, 0.3) + (1 - vf) * isotropic_stiffness(1e-6, 0.3)
