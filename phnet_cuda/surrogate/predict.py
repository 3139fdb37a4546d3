"""PH-Net prediction: C^H of cells in one network pass (plus the physics output stage), with
certified upper bounds and an optional exact (hybrid) mode that warm-starts the numerical
solver from the prediction."""

from __future__ import annotations

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
from ..problem import CellProblem
from ..solver import homogenize
from .checkpoint import DEFAULT_CHECKPOINT, load_model
from .stage import network_field, physics_stage


@dataclass
class PredictionResult:
    """Result of ``predict``.

    Attributes:
        CH: homogenized stiffness in the global Voigt basis (recovered on the parallelepiped),
            ``[6, 6]`` for one cell ``[n, n, n]``, else ``[B, 6, 6]`` (float64). With
            ``refine_tol`` it is the solver's exact answer, with only ``refine_iters`` the field
            after those iterations (energy form: its diagonal is still an upper bound),
            otherwise the network's.
        CH_network: C^H from the model's displacements (energy form: the network's field after
            the physics output stage of ``cg_steps`` steps, if any), same shape as CH.
        CH_upper: ``[6]`` / ``[B, 6]`` certified upper bounds of the diagonal of the true C^H
            (the energy of the predicted field, docs/conventions.md; C^H(u) - C^H is positive
            semi-definite for any periodic u, so every diagonal entry bounds from above).
        u: displacements ``[B, 6, 3, n, n, n]`` on the cube at the input's n (the model's,
            or the refined ones).
        gap: relative bound gap ``(CH_upper - diag CH) / diag CH`` ``[6]`` / ``[B, 6]``, exact
            when refined to ``refine_tol``, an underestimate after ``refine_iters`` alone; None
            without refinement.
        timings: seconds ``{"network", "stage", "refine", "total"}`` (stage: the physics
            output stage).
        cg_steps: steps of the physics output stage that were applied (0 = the network alone).
        iterations, converged: solver statistics of the refinement (0 / None without it).
        resampled: True when the cell was resampled to the checkpoint's n.
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


def _warn_above_voigt(CH: torch.Tensor, voigt: torch.Tensor, rtol: float = 1e-6) -> None:
    """Warn (once per call, naming the cells) when a predicted C^H ``[B, 6, 6]`` exceeds the Voigt
    bound ``[B, 6, 6]`` in some direction: impossible for the true C^H, so the prediction is far
    off - typically a cell outside the checkpoint's training range."""
    excess = torch.linalg.eigvalsh(CH - voigt)[:, -1]  # largest eigenvalue of CH - Voigt
    scale = torch.linalg.eigvalsh(voigt)[:, -1]
    bad = (excess > rtol * scale).nonzero().flatten().tolist()
    if bad:
        worst = float((excess / scale).max())
        warnings.warn(f"predict: the predicted C^H of cell(s) {bad[:10]}{' ...' if len(bad) > 10 else ''} exceeds the "
                      f"Voigt bound (by up to {worst:.3g} of its largest eigenvalue), which the true C^H never does: "
                      f"the prediction is unreliable there (cell outside the training range?); use refine_tol "
                      f"for an exact answer", UserWarning, stacklevel=3)


def predict(vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None, checkpoint: str | None = None,
            refine_tol: float | None = None, refine_iters: int | None = None, device=None,
            batch_size: int = 16, cg_steps: int | None = None) -> PredictionResult:
    """Homogenized stiffness of cells predicted by PH-Net.

    Args:
        vox: ``[n, n, n]`` or ``[B, n, n, n]`` (numpy or torch) in [0, 1], 1 = hard phase
            (cube coordinates, docs/conventions.md). If n differs from the checkpoint's training n, the
            cell is resampled to it for the network (with a warning).
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
        device: where to run (default: the input tensor's device, CPU for numpy).
        batch_size: cells per network pass.
        cg_steps: steps of the model's physics output stage (``PHNetConfig.cg_steps``:
            block-Jacobi CG on K u = f from the network's field, on the user's grid, in float32
            like the network; the bounds are then computed from its field in float64);
            None = the checkpoint's own setting, 0 = the network alone.
    Returns:
        ``PredictionResult`` (CH, CH_network, CH_upper, u, gap, timings, ...).
    """
    t_start = time.perf_counter()
    single = isinstance(vox, (np.ndarray, torch.Tensor)) and np.ndim(vox) == 3
    vox = check_voxels(vox)
    device = check_device(device) or vox.device
    if refine_tol is not None:
        refine_tol = positive_number(refine_tol, "refine_tol")
    refine_iters = positive_int(refine_iters, "refine_iters", allow_none=True)
    batch_size = positive_int(batch_size, "batch_size")
    if cg_steps is not None:
        cg_steps = non_negative_int(cg_steps, "cg_steps")
    cell = None if shape is None else shapes.cell_shape(shape)  # parameters or a lattice matrix
    model, n_train = load_model(checkpoint, device)
    steps = model.config.cg_steps if cg_steps is None else int(cg_steps)
    B, n = vox.shape[0], vox.shape[-1]
    vox = vox.to(device)
    vox_net, resampled = vox, False
    m = n_train or n
    if m != n:
        warnings.warn(f"predict: the cell has n = {n} but the checkpoint was trained at n = {m}; "
                      f"resampling the cell to {m}^3 for the network", UserWarning, stacklevel=2)
        vox_net, resampled = resample_voxels(vox.float(), m), True
    elif n % model.config.pooling_factor:
        raise ValueError(f"vox has n = {n}, which the network cannot take (must be divisible by "
                         f"{model.config.pooling_factor})")

    def per_sample(x):
        t = torch.as_tensor(x, dtype=torch.float64)
        return t if t.dim() and t.shape[0] == B and B > 1 else None

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    us = []
    with torch.no_grad():
        for a in range(0, B, batch_size):
            sl = slice(a, a + batch_size)

            def pick(x, sl=sl):
                return x[sl] if per_sample(x) is not None else x

            sh = None if shape is None else (cell[sl] if shapes.shape_batch(cell) is not None else cell)
            us.append(network_field(model, vox_net[sl], pick(E), pick(nu), pick(soft_ratio), sh))
    u_net = torch.cat(us)
    sync()
    t_net = time.perf_counter() - t0
    # C^H from the prediction on the ORIGINAL grid (the upper bounds must refer to the user's cell)
    u = interpolate_periodic(u_net.double(), n)
    u = zero_mean(u)
    prob = CellProblem(n, E=E, nu=nu, soft_ratio=soft_ratio, shape=shape, device=device, dtype=torch.float64)
    t_stage = 0.0
    if steps:
        # The physics output stage on the user's cell (after any resampling, so that it works on
        # the true stiffness). float32 like the network: the bounds below are computed in float64
        # from whatever field it returns, so they stay certified; the stage only makes them tighter.
        t0 = time.perf_counter()
        prob32 = CellProblem(n, E=E, nu=nu, soft_ratio=soft_ratio, shape=shape, device=device, dtype=torch.float32)
        with torch.no_grad():
            u = physics_stage(u.float(), vox.float(), prob32, steps).double()
        sync()
        t_stage = time.perf_counter() - t0
    CH_net = prob.homogenized_tensor(u, vox.double())
    CH_net = 0.5 * (CH_net + CH_net.transpose(1, 2))
    CH_upper = torch.diagonal(CH_net, dim1=1, dim2=2).clone()
    _warn_above_voigt(CH_net, prob.voigt_bound(vox.double()))
    CH, gap, iters, conv, t_ref = CH_net, None, 0, None, 0.0
    if refine_tol is not None or refine_iters is not None:
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
    total = time.perf_counter() - t_start
    sq = (lambda x: x[0]) if single else (lambda x: x)
    return PredictionResult(CH=sq(CH), CH_network=sq(CH_net), CH_upper=sq(CH_upper), u=u,
                            gap=None if gap is None else sq(gap),
                            timings={"network": t_net, "stage": t_stage, "refine": t_ref, "total": total},
                            cg_steps=steps,
                            iterations=iters, converged=conv, resampled=resampled,
                            checkpoint=os.path.abspath(checkpoint or DEFAULT_CHECKPOINT))
