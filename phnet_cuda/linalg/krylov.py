"""Batched preconditioned conjugate gradients on zero-mean node fields, and the fixed-step
block-Jacobi CG of PH-Net's physics output stage.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import ops
from ..grid import field_dot, zero_mean
from .blocks import apply_blocks, jacobi_blocks


def pcg(apply_K, f: torch.Tensor, precondition, *, x0=None, tol=1e-8, max_iter=1000):
    """Batched preconditioned CG on zero-mean fields; every (sample, load) system has its own
    step sizes. The flexible (Polak-Ribiere) update of the search direction keeps it robust when
    the preconditioner is applied in lower precision. Returns (x, iterations, relative residual
    [B, L], history of the max relative residual)."""
    f = zero_mean(f)
    f_norm = torch.sqrt(field_dot(f, f)).clamp_min(torch.finfo(f.dtype).tiny)
    x = torch.zeros_like(f) if x0 is None else zero_mean(x0.to(f).clone())
    r = f - apply_K(x) if x0 is not None else f.clone()
    r = zero_mean(r)
    z = zero_mean(precondition(r))
    p = z.clone()
    rz = field_dot(r, z)
    rel = torch.sqrt(field_dot(r, r)) / f_norm
    history = [float(rel.detach().max())]
    it = 0
    ones = torch.ones_like(rz)
    while it < max_iter and float(rel.detach().max()) > tol:
        Ap = apply_K(p)
        pAp = field_dot(p, Ap)
        active = rel > tol
        alpha = torch.where(active & (pAp > 0), rz / torch.where(pAp > 0, pAp, ones), torch.zeros_like(rz))
        x = x + alpha[..., None, None, None, None] * p
        r_old = r
        r = r - alpha[..., None, None, None, None] * Ap
        z = zero_mean(precondition(r))
        rz_new = field_dot(r, z)
        beta = torch.where(rz != 0, (rz_new - field_dot(z, r_old)) / torch.where(rz != 0, rz, ones),
                           torch.zeros_like(rz))
        p = z + beta[..., None, None, None, None] * p
        rz = rz_new
        rel = torch.sqrt(field_dot(r, r)) / f_norm
        it += 1
        history.append(float(rel.detach().max()))
    return zero_mean(x), it, rel, history


def block_jacobi_cg(u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor, f: torch.Tensor,
                    steps: int) -> torch.Tensor:
    """``steps`` iterations of block-Jacobi-preconditioned CG on K u = f started from ``u``.

    PH-Net's physics output stage (``PHNetConfig.cg_steps``): u ``[B, L, 3, n, n, n]`` (any
    field, e.g. the network's), phase ``[B, M, n, n, n]``, Ke ``[B|1, M, 24, 24]``, f like u.
    A fixed number of steps, no tolerance: every step costs one stiffness product and 3 x 3
    block solves, with no set-up beyond inverting the nodal blocks (the multigrid of
    ``homogenize`` needs a Galerkin hierarchy first). Returns the zero-mean iterate; the energy
    never increases, so the energy form of C^H keeps its upper bounds. Differentiable with
    respect to ``u`` (the training back-propagates through the steps). ``steps = 0`` returns
    ``u`` projected to zero mean.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if u.shape != f.shape:
        raise ValueError(f"u {tuple(u.shape)} and f {tuple(f.shape)} must have the same shape [B, L, 3, n, n, n]")
    if steps == 0:
        return zero_mean(u)
    inv = jacobi_blocks(phase, Ke)  # [B, 3, 3, n, n, n]; depends on the material only
    x, *_ = pcg(lambda v: ops.stiffness_apply(v.contiguous(), phase, Ke), f, lambda r: apply_blocks(inv, r),
                x0=u, tol=0.0, max_iter=int(steps))
    return x
