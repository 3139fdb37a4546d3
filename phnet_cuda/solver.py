"""Numerical homogenization: K u_i = f_i for the six unit macroscopic strains, solved matrix-free
by preconditioned conjugate gradients on the custom ops, all load cases and a whole batch at
once; C^H from the energy form (docs/conventions.md).

This module is the driver (``homogenize``, ``HomogenizationResult``): it poses the cell problem
(``problem.CellProblem``) and chooses the preconditioner and the deflation policy. The numerical
pieces live in ``phnet_cuda.linalg`` (``krylov``, ``blocks``, ``multigrid``, ``deflation``,
``dense``); their public names are re-exported here, where earlier versions defined them.

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
from ._checks import device as check_device
from ._checks import positive_int, positive_number, real_number
from .conventions import DEFAULT_SOFT_RATIO
from .linalg.blocks import apply_blocks, jacobi_blocks
from .linalg.deflation import MAX_DEFLATED_PIECES, RigidClusterDeflation, bounded_pieces
from .linalg.dense import spd_inverse
from .linalg.krylov import block_jacobi_cg, pcg
from .linalg.multigrid import (
    COARSE_TARGET,
    FULL,
    MultigridPreconditioner,
    axis_strength,
    coarsening_plan,
    prolongate,
    restrict,
)
from .materials import check_voxels, youngs_modulus
from .problem import CellProblem

PRECONDITIONERS = ("multigrid", "jacobi", "none")


@dataclass
class HomogenizationResult:
    """Result of ``homogenize``.

    Attributes:
        CH: homogenized stiffness, ``[6, 6]`` for one cell ``[n, n, n]`` input, else ``[B, 6, 6]``.
        u: displacement fluctuations on the reference cube ``[B, 6, 3, n, n, n]`` (zero mean per
            component; for a parallelepiped, the load cases are the cube's unit strains).
        iterations: CG iterations done.
        residual: final relative residuals ||K u - f|| / ||f||, ``[B, 6]``.
        converged: True when every residual is <= tol.
        seconds: wall time of the solve.
        history: max relative residual after every iteration.
        deflated: bounded solid pieces whose rigid motions were deflated (summed over the batch).
    """

    CH: torch.Tensor
    u: torch.Tensor
    iterations: int
    residual: torch.Tensor
    converged: bool
    seconds: float = 0.0
    history: list = field(default_factory=list)
    deflated: int = 0


DEFLATE_AFTER = 40  # iterations of the plain solve before deflate='auto' steps in


def homogenize(vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None, tol: float = 1e-8,
               max_iter: int | None = None, device=None, dtype=torch.float64, x0=None,
               preconditioner: str = "multigrid", deflate: bool | str = "auto",
               semi_coarsening: float | None = None) -> HomogenizationResult:
    """Homogenized stiffness of periodic two-phase voxel cells by matrix-free PCG.

    Args:
        vox: ``[n, n, n]`` or ``[B, n, n, n]`` (numpy or torch) in [0, 1], 1 = hard phase.
        E, nu, soft_ratio: base material, scalars or per-sample ``[B]``.
        shape: parallelepiped parameters (alpha_xy, alpha_yz, alpha_xz in degrees, l_x, l_y, l_z;
            docs/conventions.md), ``[6]`` or per-sample ``[B, 6]``; or a lattice matrix ``[3, 3]`` /
            ``[B, 3, 3]`` whose columns are the lattice vectors in the global frame (any cell, any
            orientation); None = unit cube. The cell is solved on the cube with the
            shape-transformed material and C^H is reported for the parallelepiped in the global
            (x, y, z) Voigt basis (``phnet_cuda.shapes``).
        tol: relative residual ||K u - f|| / ||f|| to reach for every load case.
        max_iter: iteration cap (default 20 n + 500).
        device, dtype: where and in which precision to solve (float64 recommended).
        x0: warm start ``[B, 6, 3, n, n, n]`` (e.g. a PH-Net prediction).
        preconditioner: ``"multigrid"`` (Galerkin geometric multigrid V-cycle, default),
            ``"jacobi"`` (3 x 3 nodal blocks) or ``"none"``.
        deflate: deflate the rigid motions of the solid's bounded pieces (hinged at voxel
            edges/corners or floating; ``RigidClusterDeflation``), which turns hundreds of
            iterations into tens on thin, under-resolved cells. ``"auto"`` (default): only if
            the plain solve has not converged after ``DEFLATE_AFTER`` iterations (restarting
            from its iterate), so cells that converge fast pay nothing; True: from the start;
            False: never. Ignored with ``preconditioner="none"``.
        semi_coarsening: multigrid only: e.g. 2.0 = axes whose coupling is weaker than the
            strongest by more than 2x are not halved until the others catch up (stretched or
            sheared cells; ``MultigridPreconditioner``); None (default) = always halve all axes.
            Cubes are unaffected. Worth trying on strongly stretched TPMS-like cells
            (``benchmarks/anisotropy.py``).
    Returns:
        ``HomogenizationResult``; ``converged`` is False (with a warning) when tol was not met.
    """
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}")
    tol = positive_number(tol, "tol")
    if semi_coarsening is not None and not real_number(semi_coarsening, "semi_coarsening") >= 1:
        raise ValueError(f"semi_coarsening must be None or a ratio >= 1, got {semi_coarsening!r}")
    if not (isinstance(deflate, bool) or deflate == "auto"):
        raise ValueError(f"deflate must be True, False or 'auto', got {deflate!r}")
    single = np.ndim(vox) == 3  # one cell [n, n, n] -> CH [6, 6]; a batch (even of one) -> [B, 6, 6]
    vox = check_voxels(vox)
    n = vox.shape[-1]
    device = check_device(device) or vox.device
    # K and f are linear in E, so u does not depend on it: solve in units of each cell's E and
    # scale C^H back, so that E = 1e-300 or 1e300 neither underflows nor overflows the CG inner
    # products (||f||^2 ~ E^2).
    E_unit = youngs_modulus(E)  # [] or [B], float64
    prob = CellProblem(n, E=torch.ones_like(E_unit), nu=nu, soft_ratio=soft_ratio, shape=shape, device=device,
                       dtype=dtype)
    phase = prob.phases(vox)
    max_iter = 20 * n + 500 if max_iter is None else positive_int(max_iter, "max_iter")
    t0 = time.perf_counter()
    f = ops.load_vectors(phase, prob.Fe)
    if preconditioner == "multigrid":
        # The V-cycle runs in float32 (twice the SIMD width, half the memory traffic); the
        # flexible CG around it keeps the float64 accuracy.
        precondition = MultigridPreconditioner(phase, prob.Ke, 6, dtype=torch.float32,
                                               semi_coarsening=semi_coarsening)
    elif preconditioner == "jacobi":
        inv = jacobi_blocks(phase, prob.Ke)

        def precondition(r):
            return apply_blocks(inv, r)
    else:
        def precondition(r):
            return r

    def apply_K(x):
        return ops.stiffness_apply(x.contiguous(), phase, prob.Ke)

    if x0 is not None:
        x0 = prob.displacements(torch.as_tensor(x0).to(device=device, dtype=dtype), phase.shape[0], name="x0")
    pieces, deflation = None, None  # pieces: set when some cell has bounded pieces within the cap
    if preconditioner != "none" and deflate is not False:
        labelled = bounded_pieces(vox)  # a labelling per cell: milliseconds
        if any(0 < len(p) <= MAX_DEFLATED_PIECES for p in labelled):
            pieces = labelled
    if pieces is not None and deflate is True:
        deflation = RigidClusterDeflation(vox, phase, prob.Ke, pieces=pieces)
        precondition = deflation.combine(precondition, apply_K)
    auto = pieces is not None and deflation is None
    u, it, rel, hist = pcg(apply_K, f, precondition, x0=x0, tol=tol,
                           max_iter=min(max_iter, DEFLATE_AFTER) if auto else max_iter)
    if auto and it < max_iter and float(rel.max()) > tol:
        # "auto": slow so far and the solid has bounded pieces - restart from here, deflated.
        deflation = RigidClusterDeflation(vox, phase, prob.Ke, pieces=pieces)
        u, it2, rel, hist2 = pcg(apply_K, f, deflation.combine(precondition, apply_K), x0=u, tol=tol,
                                 max_iter=max_iter - it)
        it, hist = it + it2, hist + hist2[1:]
    deflated = sum(deflation.clusters) if deflation is not None else 0
    CH = ops.homogenized_tensor(u.contiguous(), phase, prob.Ke, prob.Fe, prob.Ce)
    CH = prob.recover(0.5 * (CH + CH.transpose(1, 2)))  # cube -> parallelepiped (identity for cubes)
    CH = CH * E_unit.to(device=CH.device, dtype=CH.dtype).reshape(-1, 1, 1)  # back from units of E
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    converged = bool((rel <= tol).all())
    if not converged:
        warnings.warn(f"homogenize: not converged after {it} iterations (max relative residual "
                      f"{float(rel.max()):.3e} > tol {tol:.1e})", RuntimeWarning, stacklevel=2)
    return HomogenizationResult(CH=CH[0] if single else CH, u=u, iterations=it, residual=rel,
                                converged=converged, seconds=seconds, history=hist, deflated=deflated)


__all__ = [
    "COARSE_TARGET",
    "DEFLATE_AFTER",
    "FULL",
    "MAX_DEFLATED_PIECES",
    "PRECONDITIONERS",
    "HomogenizationResult",
    "MultigridPreconditioner",
    "RigidClusterDeflation",
    "apply_blocks",
    "axis_strength",
    "block_jacobi_cg",
    "bounded_pieces",
    "coarsening_plan",
    "homogenize",
    "jacobi_blocks",
    "pcg",
    "prolongate",
    "restrict",
    "spd_inverse",
]
