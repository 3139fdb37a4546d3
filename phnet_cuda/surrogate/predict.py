"""PH-Net prediction: C^H of cells in one network pass (plus the physics output stage), with
certified upper bounds, a per-cell error estimate (``surrogate.estimate``), an out-of-distribution
notice (``surrogate.domain``), and exact (hybrid) modes that warm-start the numerical solver from
the prediction: for every cell (``refine_tol`` / ``refine_iters``) or for the cells whose estimate
exceeds ``max_error``."""

from __future__ import annotations

import numbers
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import shapes
from .._checks import device as check_device
from .._checks import non_negative_int, positive_int, positive_number
from ..conventions import DEFAULT_SOFT_RATIO
from ..grid import zero_mean
from ..materials import check_voxels
from ..problem import cached_problem
from ..solver import homogenize
from .checkpoint import DEFAULT_CHECKPOINT, load_model
from .domain import LARGE_ESTIMATE, outside_reasons, training_domain
from .estimate import error_matrix, relative_error
from .stage import network_field, physics_stage


@dataclass
class PredictionResult:
    """Result of ``predict``.

    Attributes:
        CH: homogenized stiffness in the global Voigt basis (recovered on the parallelepiped),
            ``[6, 6]`` for one cell ``[n, n, n]``, else ``[B, 6, 6]`` (float64). With
            ``refine_tol`` it is the solver's exact answer, with only ``refine_iters`` the field
            after those iterations (energy form: its diagonal is still an upper bound), with
            ``max_error`` the solver's answer for the cells in ``refined`` and the network's for
            the others, otherwise the network's.
        CH_network: C^H from the model's displacements (energy form: the network's field after
            the physics output stage of ``cg_steps`` steps, if any), same shape as CH.
        CH_upper: ``[6]`` / ``[B, 6]`` certified upper bounds of the diagonal of the true C^H
            (the energy of the predicted field, docs/conventions.md; C^H(u) - C^H is positive
            semi-definite for any periodic u, so every diagonal entry bounds from above).
        u: displacements ``[B, 6, 3, n, n, n]`` on the cube at the input's n (the model's,
            or the refined ones).
        error_estimate: ``[]`` / ``[B]`` estimated relative Frobenius error
            ||CH - CH_true||_F / ||CH_true||_F of the returned CH (of the refined field where a
            cell was refined; ``surrogate.estimate``: the field's residual through a few
            two-level-preconditioned CG steps; on 96 library cells of every family, cubes and
            parallelepipeds, it was 0.82-1.29 times the true error). None with ``estimate=False``.
        refined: ``[]`` / ``[B]`` bool, the cells whose C^H comes from the solver (all with
            ``refine_tol`` / ``refine_iters``, those whose estimate exceeded ``max_error``).
        gap: relative bound gap ``(CH_upper - diag CH) / diag CH`` ``[6]`` / ``[B, 6]``, exact
            when refined to ``refine_tol``, an underestimate after ``refine_iters`` alone; with
            ``max_error`` that of the refined cells (to the tolerance they were solved to) and
            NaN for the others; None without refinement.
        timings: seconds ``{"network", "stage", "estimate", "refine", "total"}`` (stage: the
            physics output stage; estimate: the error estimates, also those of refined fields;
            refine: the solver's time).
        cg_steps: steps of the physics output stage that were applied (0 = the network alone).
        iterations, converged: solver statistics of the refinement (0 / None without it; with
            ``max_error`` the iterations of all its rounds, and converged = every refined cell
            meets max_error by its estimate).
        resampled: True when the cell was resampled to the checkpoint's n.
        out_of_distribution: the reasons of the out-of-distribution notice (``predict`` warns
            once per call with them): resampling, volume fraction, shape or material outside
            the checkpoint's training range, a large error estimate, a C^H above the Voigt
            bound; each names its cells. [] when none applies.
        checkpoint: absolute path of the checkpoint used.
    """

    CH: torch.Tensor
    CH_network: torch.Tensor
    CH_upper: torch.Tensor
    u: torch.Tensor
    gap: torch.Tensor | None = None
    timings: dict = field(default_factory=dict)
    iterations: int = 0
    converged: bool | None = None
    resampled: bool = False
    checkpoint: str = ""
    cg_steps: int = 0
    error_estimate: torch.Tensor | None = None
    refined: torch.Tensor | None = None
    out_of_distribution: list = field(default_factory=list)


def resample_voxels(vox: torch.Tensor, m: int) -> torch.Tensor:
    """Periodic voxel array ``[B, n, n, n]`` resampled to ``[B, m, m, m]``: voxel averages when n
    is a multiple of m (volume fraction preserved exactly), else the value at each new voxel
    centre (nearest source voxel)."""
    n = vox.shape[-1]
    if n == m:
        return vox
    if n % m == 0:
        return torch.nn.functional.avg_pool3d(vox.unsqueeze(1).float(), n // m).squeeze(1).to(vox.dtype)
    idx = ((torch.arange(m, dtype=torch.float64) + 0.5) * n / m).floor().long().clamp_max(n - 1).to(vox.device)
    return vox[:, idx][:, :, idx][:, :, :, idx]


def interpolate_periodic(u: torch.Tensor, n: int) -> torch.Tensor:
    """Nodal fields ``[..., m, m, m]`` (node i at xi = i / m) trilinearly interpolated onto the
    periodic node grid of size n (node j at xi = j / n): separable linear interpolation with
    wrap-around, exact for fields linear between nodes."""
    m = u.shape[-1]
    if m == n:
        return u
    for axis in (-3, -2, -1):
        s = torch.arange(n, dtype=torch.float64, device=u.device) * m / n
        i0 = s.floor().long()
        w = (s - i0).to(u.dtype)
        i1 = (i0 + 1) % m
        a, b = u.index_select(axis, i0 % m), u.index_select(axis, i1)
        shape = [1] * u.dim()
        shape[axis] = n
        w = w.reshape(shape)
        u = a * (1 - w) + b * w
    return u


def _above_voigt(CH: torch.Tensor, voigt: torch.Tensor, rtol: float = 1e-6) -> str | None:
    """The notice line (naming the cells) when a predicted C^H ``[B, 6, 6]`` exceeds the Voigt bound
    ``[B, 6, 6]`` in some direction: impossible for the true C^H, so the prediction is far off
    there - typically a cell outside the checkpoint's training range. None when none does."""
    excess = torch.linalg.eigvalsh(CH - voigt)[:, -1]  # largest eigenvalue of CH - Voigt
    scale = torch.linalg.eigvalsh(voigt)[:, -1]
    bad = (excess > rtol * scale).nonzero().flatten().tolist()
    if not bad:
        return None
    worst = float((excess / scale).max())
    return (f"the predicted C^H of cell(s) {bad[:10]}{' ...' if len(bad) > 10 else ''} exceeds the Voigt bound (by up "
            f"to {worst:.3g} of its largest eigenvalue), which the true C^H never does")


#: rounds of ``max_error`` refinement: the first solves to max_error / REFINE_TOL_FACTOR, each
#: further round (for cells whose estimate is still above max_error) to a 10x smaller tolerance
REFINE_TOL_FACTOR = 3.0
REFINE_ROUNDS = 3


def _material(x, name: str):
    """A per-sample material given as a list or array becomes a float64 tensor (so that the cached
    problems can tell scalars from batches); real scalars and tensors pass unchanged (their values
    are checked where the problem is built); anything else is a TypeError naming ``name``."""
    if isinstance(x, (list, tuple, np.ndarray)):
        try:
            return torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError):
            pass
    elif isinstance(x, (numbers.Real, torch.Tensor)):
        return x
    raise TypeError(f"{name} must be a number or per-sample numbers [B], got {type(x).__name__} {x!r:.60}")


def predict(vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None, checkpoint: str | None = None,
            refine_tol: float | None = None, refine_iters: int | None = None, max_error: float | None = None,
            estimate: bool = True, device=None, batch_size: int = 16,
            cg_steps: int | None = None) -> PredictionResult:
    """Homogenized stiffness of cells predicted by PH-Net, with a per-cell error estimate.

    Args:
        vox: ``[n, n, n]`` or ``[B, n, n, n]`` (numpy or torch) in [0, 1], 1 = hard phase
            (cube coordinates, docs/conventions.md). If n differs from the checkpoint's training n, the
            cell is resampled to it for the network (named in the out-of-distribution notice).
        E, nu, soft_ratio: base material, scalars or per-sample ``[B]`` (the network's input is
            scale-free; C^H scales with E).
        shape: parallelepiped ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)``, ``[6]`` or
            ``[B, 6]`` (this library's convention), a lattice matrix ``[3, 3]`` / ``[B, 3, 3]``
            (columns = lattice vectors, global frame), or None for the unit cube.
        checkpoint: path of a PH-Net checkpoint; None = the pretrained model shipped with the
            package (``DEFAULT_CHECKPOINT``: TG cells, n = 16).
        refine_tol: if given, the prediction warm-starts ``homogenize`` (multigrid PCG, float64)
            which then converges to this relative residual: an exact C^H, faster than a cold solve.
        refine_iters: if given, at most this many multigrid-PCG iterations from the prediction
            (a fixed cost; with ``refine_tol`` too, whichever is reached first). Because C^H in
            energy form is second order in the field error, one or two iterations already cut
            the network's C^H error by one to two orders of magnitude
            (``benchmarks/accuracy.py`` measures it, warm vs cold). Without ``refine_tol`` no
            tolerance is asked for, so stopping at the cap does not warn.
        max_error: if given, the cells whose error estimate exceeds it (and only those) are
            refined by ``homogenize`` warm-started from the prediction, until their estimate
            meets it. The solver's tolerance (a relative residual) is max_error /
            ``REFINE_TOL_FACTOR`` (3): C^H in energy form is second order in the field error, and
            warm-started from the shipped model's field, a relative residual tol left a relative
            C^H error of at most 0.85 tol at tol = 0.1, 0.33 tol at 1e-2, 0.08 tol at 1e-3 (20
            library cells of every family on a cube and a stretched, sheared cell), so at
            max_error / 3 at most 0.28 max_error. A cell whose estimate is still above max_error is solved
            again to a 10x smaller tolerance, at most ``REFINE_ROUNDS`` (3) rounds; one left above
            it after those is reported (RuntimeWarning, ``converged`` False). Not with
            ``refine_tol`` / ``refine_iters``, nor with ``estimate=False``.
        estimate: compute ``error_estimate`` (default). False skips it and the notice's
            large-estimate reason (its cost at n = 16 on one CPU thread: 12 ms on a 60 ms
            prediction of one cell, 0.75-0.85 s on 2.7 s for 64 cells).
        device: where to run (default: the input tensor's device, CPU for numpy).
        batch_size: cells per network pass.
        cg_steps: steps of the model's physics output stage (``PHNetConfig.cg_steps``:
            block-Jacobi CG on K u = f from the network's field, on the user's grid, in float32
            like the network; the bounds are then computed from its field in float64);
            None = the checkpoint's own setting, 0 = the network alone.
    Returns:
        ``PredictionResult`` (CH, CH_network, CH_upper, u, error_estimate, refined, gap,
        timings, ...).

    Warns (one UserWarning per call, listing the reasons and their cells; also in
    ``PredictionResult.out_of_distribution``) when cells lie outside what the checkpoint was
    trained on (``surrogate.domain``): resampled to its n; volume fraction, shape (lattice
    angles, length ratio) or material (nu, soft_ratio) outside its training ranges; an error
    estimate above ``domain.LARGE_ESTIMATE`` (5%); a predicted C^H above the Voigt bound.
    """
    t_start = time.perf_counter()
    single = isinstance(vox, (np.ndarray, torch.Tensor)) and np.ndim(vox) == 3
    vox = check_voxels(vox)
    device = check_device(device) or vox.device
    if refine_tol is not None:
        refine_tol = positive_number(refine_tol, "refine_tol")
    refine_iters = positive_int(refine_iters, "refine_iters", allow_none=True)
    if max_error is not None:
        max_error = positive_number(max_error, "max_error")
    if not isinstance(estimate, (bool, np.bool_)):
        raise TypeError(f"estimate must be True or False, got {estimate!r}")
    if max_error is not None and (refine_tol is not None or refine_iters is not None):
        raise ValueError("max_error chooses the solver's tolerance itself and refines only the cells over it; "
                         f"pass it without refine_tol / refine_iters (got refine_tol={refine_tol!r}, "
                         f"refine_iters={refine_iters!r})")
    if max_error is not None and not estimate:
        raise ValueError("max_error needs the error estimate: pass it without estimate=False")
    batch_size = positive_int(batch_size, "batch_size")
    if cg_steps is not None:
        cg_steps = non_negative_int(cg_steps, "cg_steps")
    E, nu, soft_ratio = _material(E, "E"), _material(nu, "nu"), _material(soft_ratio, "soft_ratio")
    cell = None if shape is None else shapes.cell_shape(shape)  # parameters or a lattice matrix
    model, n_train = load_model(checkpoint, device)
    ck_path = os.path.abspath(checkpoint or DEFAULT_CHECKPOINT)
    steps = model.config.cg_steps if cg_steps is None else int(cg_steps)
    B, n = vox.shape[0], vox.shape[-1]
    vox = vox.to(device)
    vox_net, resampled = vox, False
    reasons = []  # the out-of-distribution notice, one line per reason
    m = n_train or n
    if m != n:
        reasons.append(f"resolution: the cells have n = {n} but the checkpoint was trained at n = {m}; resampling "
                       f"the cells to {m}^3 for the network (all cells)")
        vox_net, resampled = resample_voxels(vox.float(), m), True
    elif n % model.config.pooling_factor:
        raise ValueError(f"vox has n = {n}, which the network cannot take (must be divisible by "
                         f"{model.config.pooling_factor})")

    def per_sample(x):
        t = torch.as_tensor(x, dtype=torch.float64)
        return t if t.dim() and t.shape[0] == B and B > 1 else None

    def pick(x, rows):
        """x for the cells ``rows`` (a slice or an index tensor): per-sample values (tensors, lists
        having become tensors) are indexed."""
        if per_sample(x) is None:
            return x
        return x[rows] if isinstance(rows, slice) else x[rows.to(x.device)]

    def pick_shape(rows):
        if shape is None or shapes.shape_batch(cell) is None:
            return cell
        return cell[rows] if isinstance(rows, slice) else cell[rows.to(cell.device)]

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    us = []
    with torch.no_grad():
        for a in range(0, B, batch_size):
            sl = slice(a, a + batch_size)
            us.append(network_field(model, vox_net[sl], pick(E, sl), pick(nu, sl), pick(soft_ratio, sl),
                                    pick_shape(sl)))
    u_net = torch.cat(us)
    sync()
    t_net = time.perf_counter() - t0
    # C^H from the prediction on the ORIGINAL grid (the upper bounds must refer to the user's cell)
    u = interpolate_periodic(u_net.double(), n)
    u = zero_mean(u)
    # cached: the element matrices depend on material and shape only
    prob = cached_problem(n, E, nu, soft_ratio, cell, device, torch.float64)
    t_stage = 0.0
    if steps:
        # The physics output stage on the user's cell (after any resampling, so that it works on
        # the true stiffness). float32 like the network: the bounds below are computed in float64
        # from whatever field it returns, so they stay certified; the stage only makes them tighter.
        t0 = time.perf_counter()
        prob32 = cached_problem(n, E, nu, soft_ratio, cell, device, torch.float32)
        with torch.no_grad():
            u = physics_stage(u.float(), vox.float(), prob32, steps).double()
        sync()
        t_stage = time.perf_counter() - t0
    CH_net = prob.homogenized_tensor(u, vox.double())
    CH_net = 0.5 * (CH_net + CH_net.transpose(1, 2))
    CH_upper = torch.diagonal(CH_net, dim1=1, dim2=2).clone()
    voigt_line = _above_voigt(CH_net, prob.voigt_bound(vox.double()))
    t_est = 0.0

    def estimate_of(CH_rows, u_rows, rows):
        """Error estimates ``[k]`` of C^H ``[k, 6, 6]`` from fields ``u_rows`` of the cells ``rows``."""
        nonlocal t_est
        t0 = time.perf_counter()
        D = error_matrix(u_rows, vox[rows], E=pick(E, rows), nu=pick(nu, rows), soft_ratio=pick(soft_ratio, rows),
                         shape=pick_shape(rows), device=device)
        est = relative_error(CH_rows, D)
        sync()
        t_est += time.perf_counter() - t0
        return est

    everything = slice(None)
    solve_all = refine_tol is not None or refine_iters is not None
    # the network's estimate (not needed when every cell is refined: then that of the result)
    est_out = estimate_of(CH_net, u, everything) if estimate and not solve_all else None
    CH, gap, iters, conv, t_ref = CH_net, None, 0, None, 0.0
    refined = torch.zeros(B, dtype=torch.bool, device=device)
    if solve_all:
        with warnings.catch_warnings():
            if refine_tol is None:  # a fixed iteration budget: hitting it is what was asked for
                warnings.filterwarnings("ignore", message="homogenize: not converged", category=RuntimeWarning)
            res = homogenize(vox.double(), E=E, nu=nu, soft_ratio=soft_ratio, shape=shape,
                             tol=refine_tol if refine_tol is not None else np.finfo(float).tiny,
                             max_iter=refine_iters, device=device, x0=u)
        CH = res.CH  # [B, 6, 6]: vox is a batch here
        u, iters, conv, t_ref = res.u, res.iterations, res.converged, res.seconds
        d = torch.diagonal(CH, dim1=1, dim2=2)
        gap = (CH_upper - d) / d
        refined[:] = True
        if estimate:  # the estimate describes the returned C^H: that of the refined field
            est_out = estimate_of(CH, u, everything)
    elif max_error is not None:
        CH, u = CH_net.clone(), u.clone()
        gap = torch.full_like(CH_upper, float("nan"))
        rows = (est_out > max_error).nonzero().flatten()
        tol = max_error / REFINE_TOL_FACTOR
        for _ in range(REFINE_ROUNDS):
            if not len(rows):
                break
            res = homogenize(vox[rows].double(), E=pick(E, rows), nu=pick(nu, rows), soft_ratio=pick(soft_ratio, rows),
                             shape=pick_shape(rows), tol=tol, device=device, x0=u[rows])
            CH[rows], u[rows] = res.CH, res.u
            iters, t_ref = iters + res.iterations, t_ref + res.seconds
            refined[rows] = True
            d = torch.diagonal(res.CH, dim1=1, dim2=2)
            gap[rows] = (CH_upper[rows] - d) / d
            est_out[rows] = estimate_of(res.CH, res.u, rows)
            rows = rows[est_out[rows] > max_error]
            tol /= 10.0
        if bool(refined.any()):
            conv = not len(rows)
        if len(rows):
            warnings.warn(f"predict: cell(s) {rows.tolist()[:10]} still have an error estimate above max_error = "
                          f"{max_error:g} after {REFINE_ROUNDS} rounds of refinement (last tolerance "
                          f"{tol * 10:.1e}); pass refine_tol for an exact answer", RuntimeWarning, stacklevel=2)
    # the out-of-distribution notice: one warning for all its reasons
    domain = training_domain(ck_path)
    reasons += outside_reasons(domain, vox, nu=nu, soft_ratio=soft_ratio, shape=cell)
    if est_out is not None:
        big = (est_out > LARGE_ESTIMATE).nonzero().flatten().tolist()
        if big:
            reasons.append(f"error estimate of the returned C^H above {LARGE_ESTIMATE:.0%}: cell(s) {big[:10]}"
                           f"{' ...' if len(big) > 10 else ''} (up to {float(est_out.max()):.1%})")
    if voigt_line:
        reasons.append(voigt_line)
    if reasons:
        if max_error is not None:
            advice = (f"the cells whose estimate exceeded max_error = {max_error:g} were refined by the solver "
                      "(PredictionResult.refined)")
        elif refine_tol is not None or refine_iters is not None:
            advice = "the returned C^H is the solver's refinement of the prediction"
        else:
            advice = ("pass max_error (e.g. 0.01) to have the cells over it refined by the solver, or refine_tol "
                      "for an exact answer")
        warnings.warn("predict: cells outside what the checkpoint was trained on or predicted poorly, where the "
                      "network's C^H is unreliable:\n" + "\n".join(f"  - {r}" for r in reasons) + f"\n  {advice}",
                      UserWarning, stacklevel=2)
    total = time.perf_counter() - t_start
    sq = (lambda x: x[0]) if single else (lambda x: x)
    return PredictionResult(CH=sq(CH), CH_network=sq(CH_net), CH_upper=sq(CH_upper), u=u,
                            gap=None if gap is None else sq(gap),
                            timings={"network": t_net, "stage": t_stage, "estimate": t_est, "refine": t_ref,
                                     "total": total},
                            cg_steps=steps,
                            iterations=iters, converged=conv, resampled=resampled,
                            checkpoint=ck_path,
                            error_estimate=None if est_out is None else sq(est_out), refined=sq(refined),
                            out_of_distribution=reasons)
