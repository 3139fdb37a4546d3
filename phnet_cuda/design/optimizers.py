"""Update rules of the design variables: MMA (from the ``mmapy`` package) and optimality criteria.

* ``MMA`` - Svanberg's method of moving asymptotes, one ``mmapy.mmasub`` call per iteration
  (one function and gradient evaluation per iteration, no inner loop), for any objective and
  any number of constraints g_i <= 0. Its own state - the two previous iterates and the
  asymptotes - is kept here as arrays so that a run can be saved and resumed exactly
  (``state``). ``mmapy`` (GPL-3.0, pure Python) is an optional dependency, imported on first use:
  ``pip install mmapy`` or ``pip install phnet_cuda[design]``.
* ``oc_update`` - the optimality-criteria update with a bisection on the volume multiplier: for
  an objective that only improves with more material (bulk, shear or Young's modulus; the loss
  gradient is <= 0) and a volume constraint alone. It needs nothing beyond numpy.

Both work on float64 numpy vectors ``[m]`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._checks import positive_int, real_number

OPTIMIZERS = ("mma", "oc")


def _mmasub():
    try:
        from mmapy import mmasub
    except ImportError:
        raise ImportError("optimizer 'mma' needs the mmapy package: pip install mmapy (or pip install "
                          "'phnet_cuda[design]'); optimizer 'oc' needs nothing more") from None
    return mmasub


class MMA:
    """MMA for m_vars variables in [0, 1] and m_cons constraints g_i(x) <= 0.

    Args:
        n_vars: number of design variables.
        n_constraints: number of constraints (>= 1).
        move: move limit per iteration (fraction of the [0, 1] range).

    Attributes:
        iteration: MMA iterations done (1 for the first call, like ``mmasub``'s ``iter``).
        xold1, xold2, low, upp: ``[n_vars]`` float64, mmasub's state.
    """

    def __init__(self, n_vars: int, n_constraints: int, *, move: float = 0.2):
        self.n = positive_int(n_vars, "n_vars")
        self.m = positive_int(n_constraints, "n_constraints")
        self.move = real_number(move, "move")
        if not 0 < self.move <= 1:
            raise ValueError(f"move must lie in (0, 1], got {move!r}")
        self.iteration = 0
        self.xold1 = np.zeros(self.n)
        self.xold2 = np.zeros(self.n)
        self.low = np.zeros(self.n)
        self.upp = np.ones(self.n)

    def step(self, x: np.ndarray, f: float, df: np.ndarray, g: np.ndarray, dg: np.ndarray) -> np.ndarray:
        """The next iterate ``[n_vars]`` from x ``[n_vars]``, the objective f and its gradient df ``[n_vars]``,
        the constraint values g ``[m]`` and gradients dg ``[m, n_vars]``."""
        mmasub = _mmasub()
        n, m = self.n, self.m
        x = np.asarray(x, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64).reshape(m)
        dg = np.asarray(dg, dtype=np.float64).reshape(m, n)
        df = np.asarray(df, dtype=np.float64).reshape(n)
        if x.shape != (n,):
            raise ValueError(f"x must be [{n}], got shape {x.shape}")
        if self.iteration == 0:
            self.xold1, self.xold2 = x.copy(), x.copy()
        self.iteration += 1
        def col(a):  # mmasub works on column vectors [k, 1]
            return a.reshape(-1, 1)

        xmma, *_, low, upp = mmasub(
            m, n, self.iteration, col(x), np.zeros((n, 1)), np.ones((n, 1)), col(self.xold1), col(self.xold2),
            float(f), col(df), col(g), dg, col(self.low), col(self.upp),
            1.0, np.zeros((m, 1)), np.full((m, 1), 1000.0), np.ones((m, 1)), move=self.move)
        self.xold2, self.xold1 = self.xold1, x.copy()
        self.low, self.upp = low.ravel(), upp.ravel()
        return np.clip(xmma.ravel(), 0.0, 1.0)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that restore this optimizer exactly (``load_state``)."""
        return {"mma_iteration": np.array(self.iteration), "mma_xold1": self.xold1, "mma_xold2": self.xold2,
                "mma_low": self.low, "mma_upp": self.upp}

    def load_state(self, state: dict) -> None:
        """Restore from ``state()``'s arrays."""
        self.iteration = int(state["mma_iteration"])
        for key in ("xold1", "xold2", "low", "upp"):
            a = np.asarray(state[f"mma_{key}"], dtype=np.float64)
            if a.shape != (self.n,):
                raise ValueError(f"saved MMA state mma_{key} has shape {a.shape}, expected ({self.n},)")
            setattr(self, key, a.copy())


def oc_update(x: np.ndarray, dloss: np.ndarray, dvolume: np.ndarray, volume_of: Callable[[np.ndarray], float],
              target: float, *, move: float = 0.2, damping: float = 0.5, rtol: float = 1e-6) -> np.ndarray:
    """One optimality-criteria step: x_e <- clip(x_e (B_e / lambda)^damping, x_e -/+ move, 0, 1) with
    B_e = max(0, -dloss_e) / dvolume_e, and lambda found by bisection so that the volume of the new
    design, ``volume_of(x_new)`` (the exact, nonlinear volume through filter and projection), equals
    ``target``.

    Args:
        x: ``[m]`` current variables in [0, 1].
        dloss: ``[m]`` gradient of the minimised loss (<= 0 where more material helps; a positive
            entry, which filtering can produce, counts as 0).
        dvolume: ``[m]`` gradient of the volume fraction (> 0).
        volume_of: x ``[m]`` -> volume fraction.
        target: volume fraction to meet.
    Returns:
        the new variables ``[m]``.
    """
    x = np.asarray(x, dtype=np.float64)
    benefit = np.maximum(-np.asarray(dloss, dtype=np.float64), 0.0) / np.maximum(np.asarray(dvolume), 1e-300)
    if not benefit.any():
        raise ValueError("optimizer 'oc' needs an objective that improves with material (bulk, shear, young); "
                         "the loss gradient has no negative entry - use optimizer 'mma'")
    lo_x, hi_x = np.maximum(x - move, 0.0), np.minimum(x + move, 1.0)

    def update(lam):
        return np.clip(x * (benefit / lam) ** damping, lo_x, hi_x)

    # bracket lambda: a larger multiplier removes material
    lam_lo, lam_hi = 1e-30, float(benefit.max()) * 1e6 + 1e-300
    for _ in range(200):
        lam = np.sqrt(lam_lo * lam_hi)  # bisection in log space: lambda spans many decades
        if volume_of(update(lam)) > target:
            lam_lo = lam
        else:
            lam_hi = lam
        if lam_hi / lam_lo < 1 + rtol:
            break
    return update(lam_hi)


__all__ = ["MMA", "OPTIMIZERS", "oc_update"]
