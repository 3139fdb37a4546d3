"""The design loop: ``optimize`` and its ``DesignResult``.

Every iteration evaluates the design once (``evaluation.DesignProblem``: one warm-started solve,
the objective, the constraints and their sensitivities), takes one optimizer step (MMA or OC,
``optimizers``) and advances the projection's continuation (``projection.Continuation``). The
loop stops when beta has reached its last value and the largest change of a design variable
is below ``tol`` with every constraint met to ``CONSTRAINT_TOL`` (converged), or at
``iterations``. The final grey density is thresholded to a 0/1 cell (``threshold``), which the
solver then checks: the result's C^H and objective are those of the printable cell.

With ``state_path`` the run saves its state every ``checkpoint_every`` iterations and when it
stops (``state``), and a later call with the same settings continues from it - to the same
result as an uninterrupted run, since the state holds everything the next iteration uses (the
variables, the optimizer's memory, beta, the warm-start field). ``iterations`` is the budget,
not a setting: raise it to continue a run that stopped at its limit.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._checks import non_negative_int, positive_int, positive_number
from ..conventions import DEFAULT_SOFT_RATIO
from ..solver import homogenize
from .bounds import hashin_shtrikman
from .constraints import StiffnessBound, VolumeConstraint, parse_bound
from .density import DensityMap
from .evaluation import DesignProblem
from .objectives import make_objective
from .optimizers import MMA, OPTIMIZERS, oc_update
from .projection import Continuation
from .state import first_difference, load_state, save_state
from .threshold import threshold_design

INITS = ("sphere", "uniform", "random")
#: radius of the initial void of ``init="sphere"``, in cell edges
SPHERE_RADIUS = 0.45
#: largest constraint value g (a relative violation: g <= 0 is met) at which a run counts as converged
CONSTRAINT_TOL = 0.01
#: the MMA objective is scaled to this magnitude at the first iteration (MMA likes order 1-100)
MMA_OBJECTIVE_SCALE = 10.0


@dataclass
class DesignResult:
    """Result of ``optimize``.

    Attributes:
        design: the 0/1 cell ``[n, n, n]`` (float64, 1 = solid).
        CH: ``[6, 6]`` C^H of ``design`` by the solver (the cell's, global frame).
        objective: the objective's quantity for ``CH`` (e.g. the bulk modulus of the 0/1 cell).
        objective_name: ``"bulk"``, ..., or the callable's name; ``maximize``: its direction.
        volume_fraction: of ``design``; ``threshold``: the density level that made it.
        density: the final physical (grey) density ``[n, n, n]``; ``CH_density``: ``[6, 6]``, the C^H of
            the last evaluated (grey, SIMP) design - PH-Net's in PH-Net mode; None after 0 iterations.
        history: one dict per iteration: ``iteration``, ``objective``, ``volume``, ``beta``,
            ``change``, ``max_constraint``, ``solver_iterations``, ``seconds`` (and ``estimate``,
            ``refined`` in PH-Net mode).
        iterations: iterations done (over every resumed part).
        converged: whether the convergence test was met; ``stop_reason`` says why it stopped.
        seconds: wall time of the design iterations (over every resumed part) plus the check.
        hashin_shtrikman: the HS bounds at the design's volume fraction (``bounds``).
        settings: the run's settings (the resume fingerprint).
        notes: PH-Net mode: the out-of-distribution notices seen (first line, distinct).
    """

    design: torch.Tensor
    CH: torch.Tensor
    objective: float
    objective_name: str
    maximize: bool
    volume_fraction: float
    threshold: float
    density: torch.Tensor
    CH_density: torch.Tensor | None
    history: list
    iterations: int
    converged: bool
    stop_reason: str
    seconds: float
    hashin_shtrikman: dict
    settings: dict
    notes: list = field(default_factory=list)


def initial_density(init, n: int, volume_fraction: float, seed: int = 0) -> torch.Tensor:
    """The starting density ``[n, n, n]`` (float64, mean = volume_fraction where possible).

    ``"uniform"``: vf everywhere (a stationary point for symmetric objectives: every voxel sees
    the same sensitivity, so the design must be perturbed to move); ``"sphere"`` (default): a
    spherical void of radius ``SPHERE_RADIUS`` (0.45 of the cell edge) at the cell centre in an
    otherwise uniform density - the voids of neighbouring cells leave thin walls between them,
    the layout of closed-cell designs (from a void of radius 0.25 the bulk design grew a hollow
    sphere on struts instead, an open cell of far lower bulk modulus); ``"random"``: vf
    plus uniform noise of +-0.1 (seeded); an array ``[n, n, n]`` in [0, 1]: that density (e.g. a
    library cell or a previous design)."""
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS} or a density array [n, n, n], got {init!r}")
        if init == "uniform":
            return torch.full((n, n, n), float(volume_fraction), dtype=torch.float64)
        if init == "random":
            rng = np.random.default_rng(seed)
            noise = rng.uniform(-0.1, 0.1, size=(n, n, n))
            return torch.as_tensor(np.clip(volume_fraction + noise, 0.0, 1.0))
        c = (torch.arange(n, dtype=torch.float64) + 0.5) / n - 0.5
        r2 = c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2
        inside = r2 < SPHERE_RADIUS ** 2
        rho = torch.zeros(n, n, n, dtype=torch.float64)
        rho[~inside] = min(1.0, volume_fraction * n ** 3 / float((~inside).sum()))
        return rho
    a = torch.as_tensor(np.asarray(init.detach().cpu() if isinstance(init, torch.Tensor) else init,
                                   dtype=np.float64))
    if a.shape != (n, n, n):
        raise ValueError(f"init must be a density [{n}, {n}, {n}] (n of the design), got shape {tuple(a.shape)}")
    if not torch.isfinite(a).all() or float(a.min()) < 0 or float(a.max()) > 1:
        raise ValueError(f"init values must lie in [0, 1], got range [{float(a.min()):g}, {float(a.max()):g}]")
    return a


def _jsonable(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().tolist()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def optimize(objective="bulk", *, n: int = 32, volume_fraction: float = 0.3, volume_constraint: str = "eq",
             E: float = 1.0, nu: float = 0.3, rho_min: float = DEFAULT_SOFT_RATIO, shape=None,
             symmetry: str = "none", filter_radius: float = 2.0, penal: float = 3.0,
             beta_start: float = 1.0, beta_max: float = 16.0, beta_every: int = 20,
             optimizer: str = "mma", move: float = 0.2, iterations: int = 200, tol: float = 0.01,
             solver_tol: float = 1e-6, verify_tol: float = 1e-8, init="sphere", seed: int = 0,
             direction=None, target=None, weights=None, pairs=None, maximize: bool | None = None,
             bounds=(), surrogate: str | None = None, max_error: float = 0.05, checkpoint: str | None = None,
             device=None, state_path=None, checkpoint_every: int = 10, progress: bool = False,
             callback=None) -> DesignResult:
    """Design a periodic cell: optimise a density per voxel for an objective of its C^H.

    Args:
        objective: ``"bulk"``, ``"shear"``, ``"young"`` (maximised), ``"poisson"``, ``"target"``
            (minimised), or a callable C^H ``[6, 6]`` -> scalar tensor of torch operations
            (minimised; ``maximize=True`` to maximise) - ``objectives.make_objective``.
        n: voxels per edge.
        volume_fraction, volume_constraint: the solid fraction, ``"eq"`` (equal) or ``"le"`` (at most).
        E, nu: base material; rho_min: SIMP floor = the solver's soft_ratio (void stiffness ratio).
        shape: parallelepiped parameters ``[6]`` or a lattice matrix ``[3, 3]`` (None = cube); the
            design lives on the reference cube's grid and C^H is the cell's (``homogenize``).
        symmetry: ``"none"``, ``"orthotropic"`` or ``"cubic"`` (``symmetry``), enforced exactly.
        filter_radius: periodic hat filter radius in voxels (<= 1: none).
        penal: SIMP exponent.
        beta_start, beta_max, beta_every: Heaviside projection continuation (beta_start = 0: no
            projection); beta doubles every beta_every iterations or once the design settles.
        optimizer: ``"mma"`` (needs ``mmapy``) or ``"oc"`` (bulk/shear/young with a volume
            constraint only); move: its move limit.
        iterations: the most iterations (over every resumed part of the run).
        tol: convergence: largest change of a design variable in one iteration (at the last beta).
        solver_tol: relative residual of each iteration's solve; verify_tol: of the final check.
        init: ``"sphere"``, ``"uniform"``, ``"random"`` or a density ``[n, n, n]`` (``initial_density``);
            seed: for ``"random"``.
        direction: ``"young"``: the direction ``[3]``; target, weights: ``"target"``: ``[6, 6]`` each;
            pairs: ``"poisson"``: axis pairs.
        bounds: constraints on C^H: ``StiffnessBound`` s or strings like ``"C12<=0"``, ``"E_x>=0.02"``.
        surrogate: None (the solver) or ``"phnet"`` (``predict`` with ``max_error`` and
            ``checkpoint``; approximate sensitivities, the final check by the solver).
        device: where to solve.
        state_path: ``.npz`` file to save the state to and resume from (None: no state). A saved
            state continues only a run with the same settings; a callable objective or bound is
            known there by its name only.
        checkpoint_every: iterations between saved states.
        progress: show a tqdm progress bar.
        callback: called as ``callback(iteration, evaluation)`` after every evaluation.
    Returns:
        ``DesignResult``.
    """
    n = positive_int(n, "n")
    vol = VolumeConstraint(volume_fraction, volume_constraint)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    obj = make_objective(objective, direction=direction, target=target, weights=weights, pairs=pairs,
                         maximize=maximize)
    bound_list = [parse_bound(b) if isinstance(b, str) else b for b in bounds]
    for b in bound_list:
        if not isinstance(b, StiffnessBound):
            raise TypeError(f"bounds must hold StiffnessBound objects or strings like 'C12<=0', got {b!r}")
    if optimizer == "oc" and (not obj.maximize or obj.name not in ("bulk", "shear", "young") or bound_list):
        raise ValueError(f"optimizer 'oc' handles the objectives bulk, shear and young with the volume constraint "
                         f"alone, got objective {obj.name!r}" + (f" and {len(bound_list)} bound(s)" if bound_list
                                                                 else "") + "; use optimizer 'mma'")
    iterations = non_negative_int(iterations, "iterations")
    checkpoint_every = positive_int(checkpoint_every, "checkpoint_every")
    tol = positive_number(tol, "tol")
    rho_min = positive_number(rho_min, "rho_min")
    if rho_min >= 1:
        raise ValueError(f"rho_min must lie in (0, 1), got {rho_min!r}")
    move = positive_number(move, "move")
    if max_error is not None:
        max_error = positive_number(max_error, "max_error")
    density = DensityMap(n, symmetry=symmetry, filter_radius=filter_radius, penal=penal, shape=shape)
    continuation = Continuation(beta_start, beta_max, beta_every)
    problem = DesignProblem(density, obj, vol, bound_list, E=E, nu=nu, rho_min=rho_min, shape=shape,
                            solver_tol=positive_number(solver_tol, "solver_tol"), surrogate=surrogate,
                            max_error=max_error, checkpoint=checkpoint, device=device)
    x = density.symmetry.reduce(initial_density(init, n, vol.fraction, seed)).numpy().clip(0.0, 1.0)
    # the fingerprint of the run: a saved state continues only a run with exactly these settings
    settings = json.loads(json.dumps({
        "objective": obj.name, "n": n, "volume_fraction": vol.fraction, "volume_constraint": vol.kind,
        "E": float(E), "nu": float(nu), "rho_min": rho_min, "shape": _jsonable(shape), "symmetry": symmetry,
        "filter_radius": float(filter_radius), "penal": float(penal), "beta_start": float(beta_start),
        "beta_max": float(beta_max), "beta_every": int(beta_every), "optimizer": optimizer, "move": move,
        "tol": tol, "solver_tol": float(solver_tol), "init": init if isinstance(init, str) else "array",
        "init_sum": None if isinstance(init, str) else float(np.asarray(x).sum()), "seed": int(seed),
        "direction": _jsonable(direction), "target": _jsonable(target), "weights": _jsonable(weights),
        "pairs": _jsonable(pairs), "maximize": obj.maximize,
        "bounds": [f"{b.name}:{b.lower}:{b.upper}" for b in bound_list], "surrogate": surrogate,
        "max_error": max_error if surrogate else None}))
    mma = MMA(density.size, problem.n_constraints, move=move) if optimizer == "mma" else None
    iteration, history, u, elapsed, stop_reason, mma_scale, CH_density = 0, [], None, 0.0, "", None, None
    notes: list[str] = []
    if state_path is not None and os.path.exists(state_path):
        arrays, header = load_state(state_path)
        diff = first_difference(header.get("settings", {}), settings)
        if diff is not None:
            raise ValueError(f"{state_path} holds a design run with other settings ({diff}); delete it to start "
                             "afresh (phnet design: --restart), or repeat that run's settings to continue it")
        x = arrays["x"]
        if x.shape != (density.size,):
            raise ValueError(f"{state_path}: saved x has shape {x.shape}, expected ({density.size},)")
        iteration, history, elapsed = int(header["iteration"]), header["history"], float(header["seconds"])
        continuation.beta, continuation.since = float(header["beta"]), int(header["since"])
        stop_reason, mma_scale, notes = header.get("stop_reason", ""), header.get("mma_scale"), header.get("notes", [])
        saved_CH = header.get("CH_density")
        CH_density = None if saved_CH is None else torch.tensor(saved_CH, dtype=torch.float64)
        u = torch.as_tensor(arrays["u"]) if "u" in arrays else None
        if mma is not None:
            mma.load_state(arrays)

    def save():
        if state_path is None:
            return
        arrays = {"x": x}
        if u is not None:
            arrays["u"] = u.cpu().numpy()
        if mma is not None:
            arrays.update(mma.state())
        save_state(state_path, arrays, {"settings": settings, "iteration": iteration, "history": history,
                                        "seconds": elapsed, "beta": continuation.beta, "since": continuation.since,
                                        "stop_reason": stop_reason, "mma_scale": mma_scale,
                                        "CH_density": _jsonable(CH_density), "notes": notes})

    bar = None
    if progress and stop_reason != "converged" and iteration < iterations:
        from tqdm import tqdm
        bar = tqdm(total=iterations, initial=iteration, desc=f"design {obj.name}", unit="it", dynamic_ncols=True)
    if u is not None:
        u = u.to(problem.device)
    try:
        while stop_reason != "converged" and iteration < iterations:
            t0 = time.perf_counter()
            ev = problem.evaluate(x, continuation.beta, u0=u)
            for note in ev.notes:
                if note not in notes:
                    notes.append(note)
            if callback is not None:
                callback(iteration, ev)
            if mma is not None:
                if mma_scale is None:
                    mma_scale = MMA_OBJECTIVE_SCALE / max(abs(ev.loss), 1e-12)
                x_new = mma.step(x, ev.loss * mma_scale, ev.loss_grad * mma_scale, ev.constraints,
                                 ev.constraints_grad)
            else:
                beta = continuation.beta

                def volume_of(xv, beta=beta):
                    with torch.no_grad():
                        return float(density.volume(torch.as_tensor(xv), beta))

                x_new = oc_update(x, ev.loss_grad, ev.volume_grad, volume_of, vol.fraction, move=move)
            change = float(np.abs(x_new - x).max())
            x, u, CH_density = x_new, ev.u, ev.CH
            iteration += 1
            elapsed += time.perf_counter() - t0
            violation = max(0.0, float(ev.constraints.max())) if ev.constraints.size else 0.0
            entry = {"iteration": iteration, "objective": ev.objective, "volume": ev.volume,
                     "beta": continuation.beta, "change": change, "max_constraint": float(ev.constraints.max()),
                     "solver_iterations": ev.solver_iterations, "seconds": ev.seconds}
            if surrogate is not None:
                entry.update(estimate=ev.estimate, refined=ev.refined)
            history.append(entry)
            settled = continuation.finished and change < tol and violation <= CONSTRAINT_TOL
            continuation.step(change)
            if settled:
                stop_reason = "converged"
            elif iteration >= iterations:
                stop_reason = "iteration limit"
            if bar is not None:
                bar.set_postfix(obj=f"{ev.objective:.4g}", vol=f"{ev.volume:.3f}", beta=f"{entry['beta']:g}",
                                change=f"{change:.3f}")
                bar.update(1)
            if iteration % checkpoint_every == 0 or stop_reason:
                save()
    finally:
        if bar is not None:
            bar.close()
    if not stop_reason:
        stop_reason = "iteration limit"
    t0 = time.perf_counter()
    with torch.no_grad():
        rho = density.physical(torch.as_tensor(x), continuation.beta)
    design, level = threshold_design(rho, vol)
    check = homogenize(design, E=E, nu=nu, soft_ratio=rho_min, shape=shape, tol=verify_tol, device=device)
    CH = check.CH.detach().cpu()
    final_vf = float(design.mean())
    return DesignResult(design=design, CH=CH, objective=float(obj(CH)), objective_name=obj.name,
                        maximize=obj.maximize, volume_fraction=final_vf, threshold=level, density=rho,
                        CH_density=CH_density, history=history, iterations=iteration,
                        converged=stop_reason == "converged", stop_reason=stop_reason,
                        seconds=elapsed + time.perf_counter() - t0,
                        hashin_shtrikman=hashin_shtrikman(final_vf, E=float(E), nu=float(nu), soft_ratio=rho_min),
                        settings=settings, notes=notes)


__all__ = ["INITS", "DesignResult", "initial_density", "optimize"]
