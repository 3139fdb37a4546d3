"""PH-Net prediction: certified bounds, the hybrid exact mode, resampling, checkpoints, the error
estimate, max_error refinement and the out-of-distribution notice."""

import os
import re
import warnings

import numpy as np
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
    assert set(refined.timings) == {"network", "stage", "estimate", "refine", "total"}
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


def _user_warnings(fn):
    """Run fn, return (its result, the messages of the UserWarnings it raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def test_error_estimate_in_every_prediction(tiny_checkpoint):
    """Every prediction carries error_estimate [B] ([] for one cell), equal to the estimator's
    on the returned field; after refine_tol it describes the refined (exact) C^H; estimate=False
    skips it; bad arguments raise naming them."""
    from phnet_cuda.surrogate.estimate import estimate_error

    vox = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.5)]).double()
    res, _ = _user_warnings(lambda: predict(vox, E=3.0, shape=SHAPE, checkpoint=tiny_checkpoint))
    assert res.error_estimate.shape == (2,) and res.refined.tolist() == [False, False]
    assert torch.allclose(res.error_estimate, estimate_error(res.CH, res.u, vox, E=3.0, shape=SHAPE), rtol=1e-6)
    ref = homogenize(vox, E=3.0, shape=SHAPE, tol=1e-10)
    true = torch.linalg.matrix_norm(res.CH - ref.CH) / torch.linalg.matrix_norm(ref.CH)
    assert ((res.error_estimate > 0.5 * true) & (res.error_estimate < 2 * true)).all(), (res.error_estimate, true)
    one, _ = _user_warnings(lambda: predict(vox[0], E=3.0, shape=SHAPE, checkpoint=tiny_checkpoint))
    assert one.error_estimate.shape == () and one.refined.shape == ()
    assert torch.allclose(one.error_estimate, res.error_estimate[0], rtol=1e-5)
    exact, _ = _user_warnings(lambda: predict(vox, E=3.0, shape=SHAPE, checkpoint=tiny_checkpoint, refine_tol=1e-10))
    assert exact.refined.all() and (exact.error_estimate < 1e-6).all()
    off, _ = _user_warnings(lambda: predict(vox, checkpoint=tiny_checkpoint, estimate=False))
    assert off.error_estimate is None and off.timings["estimate"] == 0.0
    with pytest.raises(ValueError, match="max_error"):
        predict(vox, checkpoint=tiny_checkpoint, max_error=-0.1)
    with pytest.raises(ValueError, match="max_error"):
        predict(vox, checkpoint=tiny_checkpoint, max_error=0.01, refine_tol=1e-6)
    with pytest.raises(ValueError, match="max_error"):
        predict(vox, checkpoint=tiny_checkpoint, max_error=0.01, estimate=False)
    with pytest.raises(TypeError, match="estimate"):
        predict(vox, checkpoint=tiny_checkpoint, estimate="yes")
    for name in ("E", "nu", "soft_ratio"):
        with pytest.raises(TypeError, match=f"^{name} must be a number"):
            predict(vox, checkpoint=tiny_checkpoint, **{name: "abc"})


def _library_mix():
    """In-distribution TG cells and truss / TPMS cells the shipped model gets 5-30% wrong, n = 16."""
    from phnet_cuda.geometry import make_cell

    return torch.stack([tubular_gyroid(16, 0.2), make_cell("kelvin", 16, 0.25), tubular_gyroid(16, 0.3),
                        make_cell("octet", 16, 0.25), make_cell("gyroid", 16, 0.2)]).double()


def test_max_error_refines_exactly_the_cells_over_it():
    """max_error (shipped model): the cells whose estimate exceeds it, and only those, come from
    the warm-started solver, and their C^H meet it against homogenize(tol=1e-10); the others keep
    the network's C^H and estimate (already within it)."""
    vox = _library_mix()
    shape = torch.tensor([[90, 90, 90, 1, 1, 1], SHAPE, (85, 80, 88, 1.2, 1.0, 1.6), SHAPE, (90, 90, 90, 1, 1, 1)],
                         dtype=torch.float64)
    max_error = 0.01
    plain, _ = _user_warnings(lambda: predict(vox, E=750.0, shape=shape))
    over = plain.error_estimate > max_error
    assert over.any() and not over.all()  # the premise: a mix
    res, _ = _user_warnings(lambda: predict(vox, E=750.0, shape=shape, max_error=max_error))
    assert torch.equal(res.refined, over)
    assert res.iterations > 0 and res.converged and res.timings["refine"] > 0
    ref = homogenize(vox, E=750.0, shape=shape, tol=1e-10).CH
    err = torch.linalg.matrix_norm(res.CH - ref) / torch.linalg.matrix_norm(ref)
    assert (err[over] < max_error).all(), err
    assert (res.error_estimate <= max_error).all()
    keep = ~over
    assert torch.equal(res.CH[keep], plain.CH[keep]) and torch.equal(res.error_estimate[keep],
                                                                      plain.error_estimate[keep])
    assert torch.equal(res.CH_network, plain.CH_network) and torch.equal(res.CH_upper, plain.CH_upper)
    assert res.gap[keep].isnan().all() and not res.gap[over].isnan().any()
    assert (res.gap[over] >= -1e-9).all()  # the network's bounds stay above the refined C^H
    # a threshold above every estimate refines nothing
    none, _ = _user_warnings(lambda: predict(vox, E=750.0, shape=shape, max_error=1.0))
    assert not none.refined.any() and none.iterations == 0 and none.converged is None
    assert torch.equal(none.CH, plain.CH)


def test_max_error_with_an_untrained_network(tiny_checkpoint):
    """An untrained network: every cell is far over max_error, so every cell is refined, to it."""
    vox = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.5)]).double()
    res, _ = _user_warnings(lambda: predict(vox, E=3.0, shape=SHAPE, checkpoint=tiny_checkpoint, max_error=1e-3))
    ref = homogenize(vox, E=3.0, shape=SHAPE, tol=1e-10).CH
    err = torch.linalg.matrix_norm(res.CH - ref) / torch.linalg.matrix_norm(ref)
    assert res.refined.all() and res.converged and (err < 1e-3).all(), err
    assert torch.allclose(res.error_estimate, err, rtol=1.0)  # same order as the true error


def test_out_of_distribution_notice_names_each_reason(tiny_checkpoint):
    """One UserWarning per call listing every reason that applies (resampling, volume fraction,
    shape - parameters or a lattice matrix -, material, large error estimate) with its cells;
    in-distribution TG cells with the shipped model: no warning at all."""
    from phnet_cuda import shapes

    tg = tubular_gyroid(16, 0.2).double()
    inside = (80.0, 85.0, 78.0, 1.0, 1.3, 1.7)
    J = shapes.lattice_matrix(torch.tensor(inside, dtype=torch.float64))
    c, s = np.cos(0.7), np.sin(0.7)
    rotated = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64) @ J * 3.0  # same cell
    for kw in ({}, {"shape": inside}, {"shape": rotated}, {"E": 750.0}):
        res, msgs = _user_warnings(lambda kw=kw: predict(tg, **kw))
        assert msgs == [] and res.out_of_distribution == [], (kw, msgs)
    vox = torch.stack([tg, tubular_gyroid(16, 0.45).double()])
    cases = [({}, r"volume fraction outside the training range \[0.02, 0.33\]: cell\(s\) \[1\]"),
             ({"shape": (60.0, 85.0, 80.0, 1.0, 1.0, 1.0)}, r"cell shape outside .*: cell\(s\) \[0, 1\]"),
             ({"shape": (80.0, 85.0, 80.0, 1.0, 1.0, 3.0)}, r"length ratio 3"),
             ({"shape": torch.stack([J, torch.diag(torch.tensor([1.0, 1.0, 3.0], dtype=torch.float64))])},
              r"cell shape outside .*: cell\(s\) \[1\]"),
             ({"nu": torch.tensor([0.3, 0.2])}, r"material outside the training range \(nu 0.3\): cell\(s\) \[1\]"),
             ({"soft_ratio": 1e-3}, r"material outside the training range \(soft_ratio 1e-06\): cell\(s\) \[0, 1\]")]
    for kw, pattern in cases:
        res, msgs = _user_warnings(lambda kw=kw: predict(vox, **kw))
        assert len(msgs) == 1, (kw, msgs)
        assert re.search(pattern, msgs[0]), (kw, msgs[0])
        assert any(re.search(pattern, r) for r in res.out_of_distribution)
    # the estimate: cells far from the training set (no other reason applies to them)
    res, msgs = _user_warnings(lambda: predict(_library_mix()))
    assert len(msgs) == 1 and re.search(r"error estimate of the returned C\^H above 5%: cell\(s\) \[1, 3, 4\]",
                                        msgs[0]), msgs
    assert "volume fraction" not in msgs[0] and "shape" not in msgs[0]
    # resampling (folded into the same notice), with the untrained network's other reasons
    res, msgs = _user_warnings(lambda: predict(tubular_gyroid(16, 0.3), checkpoint=tiny_checkpoint))
    assert len(msgs) == 1 and "resampling the cells to 8^3" in msgs[0] and "error estimate" in msgs[0], msgs
    assert res.out_of_distribution[0].startswith("resolution")


def test_training_domain_of_a_dataset_checkpoint(tiny_checkpoint, tiny_file, tmp_path):
    """A dataset-trained checkpoint's domain is read from its HDF5 file (built cells' vf, the
    samples' shapes and materials); a missing file leaves those ranges unchecked, with a note,
    and predict still works."""
    import h5py

    from phnet_cuda.surrogate.domain import cell_angles_and_ratio, outside_reasons, training_domain

    ck = torch.load(tiny_checkpoint, weights_only=True)
    ck["train_config"] = {"n": 8, "data": str(tiny_file), "vf_min": 0.9, "vf_max": 0.95}  # vf keys: not used
    path = str(tmp_path / "ds.pt")
    atomic_save(ck, path)
    dom = training_domain(path)
    with h5py.File(tiny_file, "r") as f:
        built = f["geometry/status"][...] == 1
        vf = f["geometry/vf"][...][built]
        nu = f["samples/nu"][...]
        params = torch.as_tensor(f["samples/shape"][...])
    angles, ratio = cell_angles_and_ratio(params)
    assert dom.source == str(tiny_file) and dom.note == ""
    assert dom.vf == pytest.approx((vf.min(), vf.max())) and dom.nu == pytest.approx((nu.min(), nu.max()))
    assert dom.angles == (70.0, 90.0) and dom.length_ratio == 1.5  # the spec's ranges (data.helpers.tiny_spec)
    assert 70 <= float(angles.min()) and float(angles.max()) <= 90 and float(ratio.max()) <= 1.5  # its samples
    cells = torch.stack([tubular_gyroid(8, 0.3), tubular_gyroid(8, 0.6)]).double()
    lines = outside_reasons(dom, cells, nu=0.3, soft_ratio=1e-5, shape=None)
    assert len(lines) == 1 and "cell(s) [1]" in lines[0] and "volume fraction" in lines[0]
    lines = outside_reasons(dom, cells, nu=0.2, soft_ratio=1e-2, shape=(65.0, 80.0, 80.0, 1.0, 1.0, 1.0))
    assert [line.split(" ")[0] for line in lines] == ["volume", "cell", "material", "material"], lines
    ck["train_config"]["data"] = str(tmp_path / "moved.h5")
    atomic_save(ck, path)
    gone = training_domain(path)
    assert gone.vf is None and gone.angles is None and gone.nu is None and "cannot be read" in gone.note
    res, msgs = _user_warnings(lambda: predict(cells, checkpoint=path))
    assert res.CH.shape == (2, 6, 6) and "volume fraction" not in " ".join(msgs)
