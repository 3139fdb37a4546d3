"""Numerical homogenization: K u_i = f_i for the six unit macroscopic strains, solved matrix-free
by preconditioned conjugate gradients on the custom ops, all load cases and a whole batch at
once; C^H from the energy form (CONVENTIONS).

The rigid translation is removed by the zero-mean constraint: the right-hand sides, iterates
and preconditioned residuals are projected onto zero-mean fields per component, where K is
positive definite, so CG converges to the unique zero-mean solution.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from . import ops
from .materials import DEFAULT_SOFT_RATIO, check_voxels
from .problem import CellProblem

PRECONDITIONERS = ("jacobi", "none")


@dataclass
class HomogenizationResult:
    """Result of ``homogenize``.

    Attributes:
        CH: homogenized stiffness, ``[6, 6]`` for one cell ``[n, n, n]`` input, else ``[B, 6, 6]``.
        u: displacement fluctuations ``[B, 6, 3, n, n, n]`` (zero mean per component).
        iterations: CG iterations done.
        residual: final relative residuals ||K u - f|| / ||f||, ``[B, 6]``.
        converged: True when every residual is <= tol.
        seconds: wall time of the solve.
    """

    CH: torch.Tensor
    u: torch.Tensor
    iterations: int
    residual: torch.Tensor
    converged: bool
    seconds: float = 0.0
    history: list = field(default_factory=list)


def _zero_mean(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=(3, 4, 5), keepdim=True)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per (sample, load case) inner products ``[B, L]``."""
    return (a * b).sum(dim=(2, 3, 4, 5))


def jacobi_blocks(phase: torch.Tensor, Ke: torch.Tensor) -> torch.Tensor:
    """Inverse 3 x 3 nodal diagonal blocks of K, ``[B, n, n, n, 3, 3]``.

    Block of node p = sum over its 8 voxels e of (sum_m phase_m Ke_m)[3 nd + :3, 3 nd + :3],
    nd being p's local index in e."""
    B, n = phase.shape[0], phase.shape[-1]
    Kb = Ke.expand(B, *Ke.shape[1:])
    diag = torch.zeros(B, n, n, n, 3, 3, dtype=phase.dtype, device=phase.device)
    for nd in range(8):
        a, b, c = nd >> 2, (nd >> 1) & 1, nd & 1
        blk = Kb[:, :, 3 * nd:3 * nd + 3, 3 * nd:3 * nd + 3]  # [B, M, 3, 3]
        per_voxel = torch.einsum("bmxyz,bmij->bxyzij", phase, blk)
        diag += torch.roll(per_voxel, shifts=(a, b, c), dims=(1, 2, 3))
    return torch.linalg.inv(diag)


def _apply_blocks(inv: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """z = D^-1 r for r ``[B, L, 3, n, n, n]``."""
    return torch.einsum("bxyzij,bljxyz->blixyz", inv, r)


def pcg(apply_K, f: torch.Tensor, precondition, *, x0=None, tol=1e-8, max_iter=1000):
    """Batched preconditioned CG on zero-mean fields; every (sample, load) system has its own
    step sizes. Returns (x, iterations, relative residual [B, L], history of max residual)."""
    f = _zero_mean(f)
    f_norm = torch.sqrt(_dot(f, f)).clamp_min(torch.finfo(f.dtype).tiny)
    x = torch.zeros_like(f) if x0 is None else _zero_mean(x0.to(f).clone())
    r = f - apply_K(x) if x0 is not None else f.clone()
    r = _zero_mean(r)
    z = _zero_mean(precondition(r))
    p = z.clone()
    rz = _dot(r, z)
    rel = torch.sqrt(_dot(r, r)) / f_norm
    history = [float(rel.max())]
    it = 0
    while it < max_iter and float(rel.max()) > tol:
        Ap = apply_K(p)
        pAp = _dot(p, Ap)
        active = rel > tol
        alpha = torch.where(active & (pAp > 0), rz / torch.where(pAp > 0, pAp, torch.ones_like(pAp)), torch.zeros_like(rz))
        x = x + alpha[..., None, None, None, None] * p
        r = r - alpha[..., None, None, None, None] * Ap
        z = _zero_mean(precondition(r))
        rz_new = _dot(r, z)
        beta = torch.where(rz != 0, rz_new / torch.where(rz != 0, rz, torch.ones_like(rz)), torch.zeros_like(rz))
        p = z + beta[..., None, None, None, None] * p
        rz = rz_new
        rel = torch.sqrt(_dot(r, r)) / f_norm
        it += 1
        history.append(float(rel.max()))
    return _zero_mean(x), it, rel, history


def homogenize(vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None, tol: float = 1e-8,
               max_iter: int | None = None, device=None, dtype=torch.float64, x0=None,
               preconditioner: str = "jacobi") -> HomogenizationResult:
    """Homogenized stiffness of periodic two-phase voxel cells by matrix-free PCG.

    Args:
        vox: ``[n, n, n]`` or ``[B, n, n, n]`` (numpy or torch) in [0, 1], 1 = hard phase.
        E, nu, soft_ratio: base material, scalars or per-sample ``[B]``.
        shape: parallelepiped parameters (not supported yet: None = unit cube).
        tol: relative residual ||K u - f|| / ||f|| to reach for every load case.
        max_iter: iteration cap (default 20 n + 500).
        device, dtype: where and in which precision to solve (float64 recommended).
        x0: warm start ``[B, 6, 3, n, n, n]`` (e.g. a PH-Net prediction).
        preconditioner: ``"jacobi"`` (3 x 3 nodal blocks) or ``"none"``.
    Returns:
        ``HomogenizationResult``; ``converged`` is False (with a warning) when tol was not met.
    """
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    single = False
    if isinstance(vox, np.ndarray):
        vox = torch.from_numpy(np.ascontiguousarray(vox))
    vox = check_voxels(vox)
    if isinstance(vox, torch.Tensor) and vox.dim() == 4 and vox.shape[0] == 1:
        single = True
    n = vox.shape[-1]
    device = torch.device(device) if device is not None else vox.device
    prob = CellProblem(n, E=E, nu=nu, soft_ratio=soft_ratio, shape=shape, device=device, dtype=dtype)
    phase = prob.phases(vox)
    max_iter = 20 * n + 500 if max_iter is None else int(max_iter)
    t0 = time.perf_counter()
    f = ops.load_vectors(phase, prob.Fe)
    if preconditioner == "jacobi":
        inv = jacobi_blocks(phase, prob.Ke)
        precondition = lambda r: _apply_blocks(inv, r)  # noqa: E731
    else:
        precondition = lambda r: r  # noqa: E731
    if x0 is not None:
        x0 = prob.displacements(torch.as_tensor(x0).to(device=device, dtype=dtype), phase.shape[0])
    u, it, rel, hist = pcg(lambda x: ops.stiffness_apply(x, phase, prob.Ke), f, precondition,
                           x0=x0, tol=tol, max_iter=max_iter)
    CH = ops.homogenized_sum(u.contiguous(), phase, prob.Ke, prob.Fe, prob.Ce)
    CH = 0.5 * (CH + CH.transpose(1, 2))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    converged = bool((rel <= tol).all())
    if not converged:
        warnings.warn(f"homogenize: not converged after {it} iterations (max relative residual "
                      f"{float(rel.max()):.3e} > tol {tol:.1e})", RuntimeWarning, stacklevel=2)
    return HomogenizationResult(CH=CH[0] if single else CH, u=u, iterations=it, residual=rel,
                                converged=converged, seconds=seconds, history=hist)
