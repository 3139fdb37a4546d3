"""Design objectives: differentiable functions of the homogenized stiffness C^H ``[6, 6]``.

Every quantity here is built from torch operations on C^H, so autograd carries its derivative
back to the voxels (``evaluation``). Voigt order [xx, yy, zz, yz, xz, xy] with engineering
shears (docs/conventions.md); S = C^-1 is the compliance (``post.tensor.compliance`` is the
detached version used for reports).

* ``bulk_modulus`` - K = (1/9) sum_{i,j <= 3} C_ij, the stiffness under a hydrostatic strain
  (the Voigt average K_V; equal to the bulk modulus (C11 + 2 C12) / 3 of a cubic C^H, and bounded
  by the Hashin-Shtrikman bound for any symmetry, ``bounds``);
* ``shear_modulus`` - G = (C44 + C55 + C66) / 3 (C44 of a cubic C^H);
* ``poisson_ratio`` - the mean of nu_ij = -S_ji / S_ii over the given axis pairs (default all six;
  one number for a cubic C^H);
* ``young_modulus`` - E(d) = 1 / (v^T S v), v = the Voigt vector of d (x) d
  (``post.tensor.uniaxial_voigt``; ``post.directional_young`` evaluates the same detached);
* ``target_distance`` - sum_ij W_ij (C_ij - T_ij)^2 / sum_ij W_ij T_ij^2, a weighted squared
  Frobenius distance to a target T, relative to T.

``make_objective`` turns a name (or any differentiable callable of C^H) into an ``Objective``:
the quantity and whether it is maximised; the optimizer minimises ``Objective.loss``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..post.tensor import uniaxial_voigt

OBJECTIVES = ("bulk", "shear", "poisson", "young", "target")
_AXES = "xyz"
ALL_PAIRS = tuple((i, j) for i in range(3) for j in range(3) if i != j)


def _check_ch(CH) -> torch.Tensor:
    if not isinstance(CH, torch.Tensor) or CH.shape != (6, 6):
        raise ValueError(f"CH must be a torch tensor [6, 6], got "
                         f"{tuple(CH.shape) if isinstance(CH, torch.Tensor) else type(CH).__name__}")
    return CH


def bulk_modulus(CH: torch.Tensor) -> torch.Tensor:
    """K = (1/9) sum_{i,j in xx,yy,zz} C_ij (scalar tensor) of ``CH`` ``[6, 6]``."""
    return _check_ch(CH)[:3, :3].sum() / 9.0


def shear_modulus(CH: torch.Tensor) -> torch.Tensor:
    """G = (C44 + C55 + C66) / 3 (scalar tensor) of ``CH`` ``[6, 6]``."""
    return torch.diagonal(_check_ch(CH))[3:].mean()


def _pairs(pairs) -> tuple[tuple[int, int], ...]:
    """Axis pairs as (i, j) index tuples from tuples or names like ``"xy"``."""
    out = []
    for p in pairs:
        if isinstance(p, str) and len(p) == 2 and p[0] in _AXES and p[1] in _AXES:
            p = (_AXES.index(p[0]), _AXES.index(p[1]))
        if (not isinstance(p, (tuple, list)) or len(p) != 2 or any(not isinstance(k, (int, np.integer)) for k in p)
                or not all(0 <= k < 3 for k in p) or p[0] == p[1]):
            raise ValueError(f"pairs must be axis pairs like (0, 1) or 'xy' with two different axes, got {p!r}")
        out.append((int(p[0]), int(p[1])))
    if not out:
        raise ValueError("pairs must name at least one axis pair, got none")
    return tuple(out)


def poisson_ratio(CH: torch.Tensor, pairs=ALL_PAIRS) -> torch.Tensor:
    """Mean of nu_ij = -S_ji / S_ii (lateral contraction along j under a uniaxial stress along i)
    over ``pairs`` (index tuples or names ``"xy"``; default all six), scalar tensor."""
    S = torch.linalg.inv(_check_ch(CH))
    return torch.stack([-S[j, i] / S[i, i] for i, j in _pairs(pairs)]).mean()


def unit_direction(direction) -> torch.Tensor:
    """``direction`` (three numbers, non-zero) as a unit float64 tensor ``[3]``."""
    d = torch.as_tensor(np.asarray(direction, dtype=np.float64)) if not isinstance(direction, torch.Tensor) \
        else direction.detach().to(torch.float64)
    if d.shape != (3,) or not torch.isfinite(d).all() or float(d.norm()) == 0:
        raise ValueError(f"direction must be three finite numbers, not all zero, got {direction!r}")
    return d / d.norm()


def young_modulus(CH: torch.Tensor, direction=(1.0, 0.0, 0.0)) -> torch.Tensor:
    """E(d) = 1 / (v^T S v) along ``direction`` d ``[3]`` (normalized), scalar tensor."""
    CH = _check_ch(CH)
    v = uniaxial_voigt(unit_direction(direction)).to(CH.dtype).to(CH.device)
    return 1.0 / (v @ torch.linalg.solve(CH, v))


def check_target(target, name: str = "target") -> torch.Tensor:
    """A target or weight matrix as float64 ``[6, 6]``: finite and symmetric."""
    try:
        T = torch.as_tensor(np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target,
                                       dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 6 x 6 matrix of numbers, got {target!r:.80} ({exc})") from None
    if T.shape != (6, 6):
        raise ValueError(f"{name} must be a 6 x 6 matrix (Voigt), got shape {tuple(T.shape)}")
    if not torch.isfinite(T).all():
        raise ValueError(f"{name} must have finite entries")
    if not torch.allclose(T, T.T, rtol=1e-10, atol=1e-12 * float(T.abs().max())):
        raise ValueError(f"{name} must be symmetric (C_ij = C_ji), max asymmetry {float((T - T.T).abs().max()):.3g}")
    return T


def target_distance(CH: torch.Tensor, target, weights=None) -> torch.Tensor:
    """sum W (CH - T)^2 / sum W T^2 (scalar tensor) for a target T ``[6, 6]`` and weights W ``[6, 6]``
    (>= 0, default all 1)."""
    CH = _check_ch(CH)
    T = check_target(target).to(CH.device, CH.dtype)
    W = torch.ones_like(T) if weights is None else check_target(weights, "weights").to(CH.device, CH.dtype)
    if (W < 0).any():
        raise ValueError("weights must be >= 0")
    norm = (W * T * T).sum()
    if float(norm) == 0:
        raise ValueError("target has zero weighted norm (sum W T^2 = 0): nothing to be close to")
    return (W * (CH - T) ** 2).sum() / norm


@dataclass(frozen=True)
class Objective:
    """A design objective.

    Attributes:
        name: what it is (``"bulk"``, ..., or the user's name).
        quantity: C^H ``[6, 6]`` -> scalar tensor, differentiable.
        maximize: True when the quantity is to be made as large as possible.
    """

    name: str
    quantity: Callable[[torch.Tensor], torch.Tensor]
    maximize: bool

    def __call__(self, CH: torch.Tensor) -> torch.Tensor:
        """The quantity (scalar tensor) of ``CH`` ``[6, 6]``."""
        return self.quantity(CH)

    def loss(self, CH: torch.Tensor) -> torch.Tensor:
        """What the optimizer minimises: the quantity, negated when maximised."""
        q = self.quantity(CH)
        return -q if self.maximize else q


def make_objective(objective, *, direction=None, target=None, weights=None, pairs=None,
                   maximize: bool | None = None, name: str | None = None) -> Objective:
    """An ``Objective`` from a name in ``OBJECTIVES`` or a callable.

    Args:
        objective: ``"bulk"`` / ``"shear"`` / ``"young"`` (maximised), ``"poisson"`` / ``"target"``
            (minimised), an ``Objective`` (returned as is), or a callable C^H ``[6, 6]`` ->
            scalar tensor built from torch operations (minimised unless ``maximize``).
        direction: ``"young"``: the direction d ``[3]`` (default x).
        target, weights: ``"target"``: T ``[6, 6]`` (required) and W ``[6, 6]`` (default 1).
        pairs: ``"poisson"``: axis pairs (default all six).
        maximize: for a callable: maximise instead of minimise.
        name: for a callable: its name in reports (default the function's name).
    """
    if isinstance(objective, Objective):
        return objective
    if callable(objective):
        if not isinstance(maximize, (bool, type(None))):
            raise TypeError(f"maximize must be True or False, got {maximize!r}")
        return Objective(name or getattr(objective, "__name__", "custom"), objective, bool(maximize))
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES} or a callable of C^H, got {objective!r}")
    if objective != "young" and direction is not None:
        raise ValueError(f"direction is for objective 'young', got objective {objective!r}")
    if objective != "target" and (target is not None or weights is not None):
        raise ValueError(f"target / weights are for objective 'target', got objective {objective!r}")
    if objective == "bulk":
        return Objective("bulk", bulk_modulus, True)
    if objective == "shear":
        return Objective("shear", shear_modulus, True)
    if objective == "poisson":
        chosen = ALL_PAIRS if pairs is None else _pairs(pairs)
        return Objective("poisson", lambda CH: poisson_ratio(CH, chosen), False)
    if objective == "young":
        d = unit_direction((1.0, 0.0, 0.0) if direction is None else direction)
        return Objective("young", lambda CH: young_modulus(CH, d), True)
    if target is None:
        raise ValueError("objective 'target' needs target, a 6 x 6 C^H to come close to")
    T = check_target(target)
    W = None if weights is None else check_target(weights, "weights")
    return Objective("target", lambda CH: target_distance(CH, T, W), False)


__all__ = ["ALL_PAIRS", "OBJECTIVES", "Objective", "bulk_modulus", "check_target", "make_objective",
           "poisson_ratio", "shear_modulus", "target_distance", "unit_direction", "young_modulus"]
