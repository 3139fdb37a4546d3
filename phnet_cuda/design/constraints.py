"""Design constraints: the volume fraction, and optional bounds on quantities of C^H.

Each constraint is posed for the optimizer as g(x) <= 0 with g scaled to order one:

* volume, ``"le"``: v / vf - 1 <= 0; ``"eq"``: the band |v / vf - 1| <= ``EQUALITY_BAND`` as two
  inequalities (two exactly opposite constraints would both be active at once, which makes the
  Newton system of MMA's dual subproblem singular);
* a bound lower <= q(C^H) <= upper: (lower - q) / s <= 0 and (q - upper) / s <= 0, where s is
  |bound|, or the stiffness scale of the base material (E) for a bound at 0.

``parse_bound`` reads the command line's form: ``C12<=0``, ``E_x>=0.02``, ``K>=0.1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._checks import real_number
from .objectives import bulk_modulus, poisson_ratio, shear_modulus, young_modulus

VOLUME_CONSTRAINTS = ("eq", "le")
#: half-width of the band that stands for an equality volume constraint, relative to the fraction
EQUALITY_BAND = 1e-3


@dataclass(frozen=True)
class VolumeConstraint:
    """The volume fraction of the physical density: equal to (``"eq"``) or at most (``"le"``) ``fraction``."""

    fraction: float
    kind: str = "eq"

    def __post_init__(self):
        f = real_number(self.fraction, "volume_fraction")
        if not 0 < f < 1:
            raise ValueError(f"volume_fraction must lie in (0, 1), got {self.fraction!r}")
        if self.kind not in VOLUME_CONSTRAINTS:
            raise ValueError(f"volume_constraint must be one of {VOLUME_CONSTRAINTS}, got {self.kind!r}")

    def values(self, volume: float) -> list[float]:
        """g <= 0 form, one value (``"le"``) or two (``"eq"``)."""
        g = volume / self.fraction - 1
        return [g] if self.kind == "le" else [g - EQUALITY_BAND, -g - EQUALITY_BAND]

    def scales(self) -> list[float]:
        """d g / d volume of each value of ``values``."""
        return [1 / self.fraction] if self.kind == "le" else [1 / self.fraction, -1 / self.fraction]


@dataclass(frozen=True)
class StiffnessBound:
    """lower <= quantity(C^H) <= upper (either may be None).

    Attributes:
        name: what is bounded (``"C12"``, ``"E_x"``, ... or the user's name).
        quantity: C^H ``[6, 6]`` -> scalar tensor, differentiable.
        lower, upper: the bounds.
    """

    name: str
    quantity: Callable[[torch.Tensor], torch.Tensor]
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self):
        if not callable(self.quantity):
            raise TypeError(f"quantity must be a callable of C^H, got {type(self.quantity).__name__}")
        lo = None if self.lower is None else real_number(self.lower, f"lower bound of {self.name}")
        hi = None if self.upper is None else real_number(self.upper, f"upper bound of {self.name}")
        if lo is None and hi is None:
            raise ValueError(f"bound on {self.name} needs a lower or an upper value, got neither")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"bound on {self.name}: lower {lo:g} > upper {hi:g}")

    def constraints(self, CH: torch.Tensor, stiffness_scale: float) -> list[torch.Tensor]:
        """The g <= 0 forms (scalar tensors, differentiable): one per given side."""
        q = self.quantity(CH)
        out = []
        if self.lower is not None:
            out.append((self.lower - q) / (abs(self.lower) or stiffness_scale))
        if self.upper is not None:
            out.append((q - self.upper) / (abs(self.upper) or stiffness_scale))
        return out


def _entry(p: int, q: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda CH: CH[p, q]


def _young(axis: int) -> Callable[[torch.Tensor], torch.Tensor]:
    d = [0.0, 0.0, 0.0]
    d[axis] = 1.0
    return lambda CH: young_modulus(CH, d)


def _poisson(i: int, j: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda CH: poisson_ratio(CH, [(i, j)])


def named_quantity(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The quantity of C^H called ``name``: ``Cij`` (i, j in 1..6, Voigt), ``K`` (bulk modulus), ``G``
    (shear modulus), ``nu`` (mean Poisson ratio), ``nu_xy`` ..., ``E_x`` / ``E_y`` / ``E_z``."""
    m = re.fullmatch(r"C([1-6])([1-6])", name)
    if m:
        return _entry(int(m.group(1)) - 1, int(m.group(2)) - 1)
    if name == "K":
        return bulk_modulus
    if name == "G":
        return shear_modulus
    if name == "nu":
        return poisson_ratio
    m = re.fullmatch(r"nu_([xyz])([xyz])", name)
    if m and m.group(1) != m.group(2):
        return _poisson("xyz".index(m.group(1)), "xyz".index(m.group(2)))
    m = re.fullmatch(r"E_([xyz])", name)
    if m:
        return _young("xyz".index(m.group(1)))
    raise ValueError(f"unknown quantity {name!r}: expected Cij (i, j in 1..6), K, G, nu, nu_xy, ..., E_x, E_y or E_z")


def parse_bound(text: str) -> StiffnessBound:
    """A bound from text ``NAME<=VALUE`` or ``NAME>=VALUE`` (``named_quantity`` names), e.g. ``C12<=0``."""
    m = re.fullmatch(r"\s*([A-Za-z_0-9]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*", str(text))
    if not m:
        raise ValueError(f"bound must look like NAME<=VALUE or NAME>=VALUE (e.g. C12<=0, E_x>=0.02), got {text!r}")
    name, op, value = m.groups()
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"bound {text!r}: {value!r} is not a number") from None
    quantity = named_quantity(name)
    return StiffnessBound(name, quantity, lower=v if op == ">=" else None, upper=v if op == "<=" else None)


__all__ = ["EQUALITY_BAND", "VOLUME_CONSTRAINTS", "StiffnessBound", "VolumeConstraint", "named_quantity", "parse_bound"]
