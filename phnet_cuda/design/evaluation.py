"""One evaluation of a design: the cell problem solved once, the objective, the constraints and all
their sensitivities with respect to the design variables.

The energy form of C^H is self-adjoint. With u_i the fluctuation of load case i,

    C^H_ij = (1/|Y|) sum_e (eps0_i - B u_i)^T C_e (eps0_j - B u_j),

and at the solution of K u_i = f_i the derivative of this form with respect to every u_k is zero
(it is the residual f - K u), so the total derivative d C^H_ij / d vox_e is the partial one with u
held fixed: it needs u_i and u_j only, no adjoint solve. Here that is
``problem.homogenized_tensor(u.detach(), vox)`` - differentiable in vox through the
``phase_gradient`` op - and autograd carries the derivative of any function of C^H back through
SIMP, projection, filter and symmetry to the design variables. The solve is warm-started from
the previous iteration's field.

PH-Net mode (``surrogate="phnet"``): the field comes from ``phnet_cuda.predict`` (network + its
physics stage, refined by the solver where its error estimate exceeds ``max_error``). Such a
field is not the exact solution, so the same formula is then an approximation of the sensitivity
(first order in the field's error), and C^H is the energy-form value of that field.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ..conventions import DEFAULT_SOFT_RATIO
from ..problem import homogenized_tensor
from ..solver import homogenize
from .constraints import StiffnessBound, VolumeConstraint
from .density import DensityMap
from .objectives import Objective

SURROGATES = (None, "phnet")


@dataclass
class Evaluation:
    """What one evaluation returns (numbers as Python floats, vectors as float64 numpy ``[m]``).

    Attributes:
        objective: the objective's quantity (e.g. the bulk modulus).
        loss, loss_grad: what the optimizer minimises and its gradient ``[m]``.
        volume, volume_grad: volume fraction of the physical density and its gradient ``[m]``.
        constraints, constraints_grad: every g <= 0 value (volume first, then the C^H bounds), ``[k]``
            and ``[k, m]``.
        CH: ``[6, 6]`` float64 of the (grey) design.
        u: the field ``[1, 6, 3, n, n, n]`` (the next warm start).
        solver_iterations: CG iterations of this solve (PH-Net mode: of its refinement).
        seconds: wall time of the whole evaluation.
        estimate: PH-Net mode: the prediction's error estimate; None with the solver.
        refined: PH-Net mode: whether the solver refined the prediction.
        notes: PH-Net mode: the reasons of predict's out-of-distribution notice, one line each.
    """

    objective: float
    loss: float
    loss_grad: np.ndarray
    volume: float
    volume_grad: np.ndarray
    constraints: np.ndarray
    constraints_grad: np.ndarray
    CH: torch.Tensor
    u: torch.Tensor
    solver_iterations: int = 0
    seconds: float = 0.0
    estimate: float | None = None
    refined: bool = False
    notes: list = field(default_factory=list)


class DesignProblem:
    """The function evaluated at every iteration.

    Args:
        density: the ``DensityMap`` (x -> rho -> vox).
        objective: the ``Objective``.
        volume: the ``VolumeConstraint``.
        bounds: ``StiffnessBound`` s on C^H (may be empty).
        E, nu: base material; rho_min: the SIMP floor (the solver's soft_ratio).
        shape: the cell (None = cube); C^H is that of the cell in the global frame.
        solver_tol: relative residual of every solve.
        surrogate: None (the solver) or ``"phnet"``; max_error, checkpoint: PH-Net mode's
            ``predict`` arguments.
        device: where to solve (None: CPU).
    """

    def __init__(self, density: DensityMap, objective: Objective, volume: VolumeConstraint,
                 bounds: list[StiffnessBound] = (), *, E: float = 1.0, nu: float = 0.3,
                 rho_min: float = DEFAULT_SOFT_RATIO, shape=None, solver_tol: float = 1e-6,
                 surrogate: str | None = None, max_error: float = 0.05, checkpoint: str | None = None,
                 device=None):
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
        self.density, self.objective, self.volume, self.bounds = density, objective, volume, list(bounds)
        self.E, self.nu, self.rho_min, self.shape = E, nu, rho_min, shape
        self.solver_tol, self.surrogate, self.max_error, self.checkpoint = solver_tol, surrogate, max_error, checkpoint
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.n_constraints = len(volume.values(volume.fraction)) + sum(
            (b.lower is not None) + (b.upper is not None) for b in self.bounds)

    def solve(self, vox: torch.Tensor, u0: torch.Tensor | None):
        """The field ``[1, 6, 3, n, n, n]`` of the cell ``vox`` ``[n, n, n]`` (detached), with
        (iterations, estimate, refined, notes)."""
        common = dict(E=self.E, nu=self.nu, soft_ratio=self.rho_min, shape=self.shape, device=self.device)
        if self.surrogate is None:
            with warnings.catch_warnings():
                # the next iteration is warm-started from this field anyway; a solve that stops at the
                # iteration cap is recorded (solver_iterations) rather than printed every time
                warnings.filterwarnings("ignore", message="homogenize: not converged", category=RuntimeWarning)
                res = homogenize(vox, tol=self.solver_tol, x0=u0, dtype=torch.float64, **common)
            return res.u, res.iterations, None, False, []
        from ..surrogate.predict import predict  # PH-Net mode only: loads the model on first use
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = predict(vox, max_error=self.max_error, checkpoint=self.checkpoint, **common)
        notes = []
        for w in caught:  # predict's notice: a header line, then one "  - reason" line per reason
            lines = str(w.message).splitlines()
            # the numbers in "(up to 17.4%)" change every iteration; the reason does not
            reasons = [re.sub(r" \(up to [^)]*\)", "", line.strip()[2:]) for line in lines
                       if line.strip().startswith("- ")]
            notes += reasons or lines[:1]
        return (res.u.to(torch.float64), res.iterations, float(res.error_estimate), bool(res.refined), notes)

    def evaluate(self, x: np.ndarray | torch.Tensor, beta: float, u0: torch.Tensor | None = None) -> Evaluation:
        """Evaluate at design variables ``x`` ``[m]`` with projection ``beta``, warm-starting from ``u0``."""
        t0 = time.perf_counter()
        x = torch.as_tensor(np.asarray(x, dtype=np.float64) if not isinstance(x, torch.Tensor) else x,
                            dtype=torch.float64).detach().requires_grad_(True)
        rho = self.density.physical(x, beta)  # [n, n, n]
        vox = self.density.stiffness_fraction(rho)
        u, iters, estimate, refined, notes = self.solve(vox.detach().to(self.device), u0)
        CH = homogenized_tensor(u.detach(), vox.to(self.device).unsqueeze(0), E=self.E, nu=self.nu,
                                soft_ratio=self.rho_min, shape=self.shape)[0]
        CH = 0.5 * (CH + CH.T)  # symmetric at the solution; the solver reports it symmetrised too
        quantity = self.objective(CH)
        loss = -quantity if self.objective.maximize else quantity
        volume = rho.mean()
        stiffness_scale = self.E
        bound_terms = [g for b in self.bounds for g in b.constraints(CH, stiffness_scale)]
        outputs = [loss, volume] + bound_terms
        grads = []
        for k, out in enumerate(outputs):
            (g,) = torch.autograd.grad(out, x, retain_graph=k < len(outputs) - 1, allow_unused=True)
            grads.append(np.zeros(x.numel()) if g is None else g.detach().cpu().numpy())
        vol = float(volume.detach())
        g_vol = self.volume.values(vol)
        dg_vol = [s * grads[1] for s in self.volume.scales()]
        constraints = np.array(g_vol + [float(t.detach()) for t in bound_terms])
        constraints_grad = np.stack(dg_vol + grads[2:]) if constraints.size else np.zeros((0, x.numel()))
        return Evaluation(objective=float(quantity.detach()), loss=float(loss.detach()), loss_grad=grads[0], volume=vol,
                          volume_grad=grads[1], constraints=constraints, constraints_grad=constraints_grad,
                          CH=CH.detach().cpu(), u=u.detach(), solver_iterations=int(iters),
                          seconds=time.perf_counter() - t0, estimate=estimate, refined=refined, notes=notes)


__all__ = ["SURROGATES", "DesignProblem", "Evaluation"]
