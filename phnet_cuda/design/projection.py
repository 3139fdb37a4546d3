"""Heaviside projection of the filtered density, with continuation, so that designs end 0/1.

The smoothed Heaviside step of Wang, Lazarov and Sigmund (2011):

    rho_bar = (tanh(beta eta) + tanh(beta (rho - eta))) / (tanh(beta eta) + tanh(beta (1 - eta))),

maps [0, 1] onto [0, 1] (0 -> 0, 1 -> 1), tends to the step at eta as beta grows, and is smooth
for every finite beta. Starting with a small beta and doubling it along the way (continuation)
lets the optimizer settle the layout while the design is still grey, then push it to 0/1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import positive_int, real_number


def heaviside(rho: torch.Tensor, beta: float, eta: float = 0.5) -> torch.Tensor:
    """The projected density ``rho.shape`` of ``rho`` (any shape, values in [0, 1]); beta = 0 is the
    identity. Differentiable."""
    beta = real_number(beta, "beta")
    eta = real_number(eta, "eta")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    if not 0 < eta < 1:
        raise ValueError(f"eta must lie in (0, 1), got {eta!r}")
    if beta == 0:
        return rho
    a, b = math.tanh(beta * eta), math.tanh(beta * (1 - eta))
    return (a + torch.tanh(beta * (rho - eta))) / (a + b)


#: fewest iterations at one beta before a settled design moves on to the next
MIN_STAGE = 5


@dataclass
class Continuation:
    """The beta schedule: beta starts at ``beta_start`` and doubles every ``every`` iterations, or
    earlier once the design has settled at the current beta (after at least ``MIN_STAGE``
    iterations there, its largest change per iteration below ``settle``), until it reaches
    ``beta_max``. ``beta_start`` = 0 disables the projection.

    Attributes:
        beta: the current beta.
        since: iterations done at the current beta.
    """

    beta_start: float = 1.0
    beta_max: float = 16.0
    every: int = 20
    settle: float = 0.001
    beta: float = 0.0
    since: int = 0

    def __post_init__(self):
        self.beta_start = real_number(self.beta_start, "beta_start")
        self.beta_max = real_number(self.beta_max, "beta_max")
        self.every = positive_int(self.every, "every")
        self.settle = real_number(self.settle, "settle")
        if self.beta_start < 0:
            raise ValueError(f"beta_start must be >= 0 (0 = no projection), got {self.beta_start!r}")
        if self.beta_start > 0 and self.beta_max < self.beta_start:
            raise ValueError(f"beta_max must be >= beta_start = {self.beta_start:g}, got {self.beta_max!r}")
        if self.settle < 0:
            raise ValueError(f"settle must be >= 0, got {self.settle!r}")
        if self.beta == 0:
            self.beta = self.beta_start

    @property
    def enabled(self) -> bool:
        """Whether the design is projected at all."""
        return self.beta_start > 0

    @property
    def finished(self) -> bool:
        """True when beta has reached its last value (or there is no projection)."""
        return not self.enabled or self.beta >= self.beta_max

    def step(self, change: float) -> bool:
        """Count one iteration whose largest design change was ``change``; doubles beta when due.
        Returns True when beta changed."""
        self.since += 1
        if self.finished:
            return False
        if self.since >= self.every or (self.since >= MIN_STAGE and change < self.settle):
            self.beta = min(2 * self.beta, self.beta_max)
            self.since = 0
            return True
        return False


__all__ = ["MIN_STAGE", "Continuation", "heaviside"]
