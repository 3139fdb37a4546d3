"""Symmetry of designs (phnet_cuda.design.symmetry / density): exact, bit for bit, under every
element of the group, through filter and projection; orbit counts from combinatorics."""

from __future__ import annotations

import math

import pytest
import torch

from phnet_cuda.design.density import DensityMap
from phnet_cuda.design.symmetry import Symmetry, group_transforms


@pytest.mark.parametrize("kind, n, orbits", [
    ("none", 5, 125),
    ("orthotropic", 6, 27), ("orthotropic", 5, 27),  # ceil(n / 2)^3 folded positions
    # cubic: multisets of 3 folded indices from ceil(n / 2) values = C(k + 2, 3)
    ("cubic", 6, math.comb(3 + 2, 3)), ("cubic", 7, math.comb(4 + 2, 3)),
])
def test_orbit_counts(kind, n, orbits):
    sym = Symmetry(kind, n)
    assert sym.size == orbits and int(sym.orbit_size.sum()) == n ** 3


@pytest.mark.parametrize("kind", ["orthotropic", "cubic"])
@pytest.mark.parametrize("n", [6, 7])
def test_physical_density_is_exactly_symmetric(kind, n):
    dmap = DensityMap(n, symmetry=kind, filter_radius=2.3)
    x = torch.rand(dmap.size, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    rho = dmap.physical(x, beta=4.0)
    transforms = group_transforms(kind)
    assert len(transforms) == (8 if kind == "orthotropic" else 48)
    for t in transforms:
        assert torch.equal(t(rho), rho)  # bitwise
    # ... and without the final re-imposition the FFT filter is symmetric only up to rounding
    raw = dmap.filter(dmap.symmetry.expand(x))
    assert max(float((t(raw) - raw).abs().max()) for t in transforms) < 1e-14


def test_expand_reduce_round_trip_and_symmetric_part():
    sym = Symmetry("cubic", 6)
    x = torch.rand(sym.size, dtype=torch.float64)
    assert float(((sym.reduce(sym.expand(x)) - x) / x).abs().max()) < 1e-14
    field = torch.rand(6, 6, 6, dtype=torch.float64)
    part = sym.expand(sym.reduce(field))  # the group average of field
    average = torch.stack([t(field) for t in group_transforms("cubic")]).mean(0)
    assert float((part - average).abs().max()) < 1e-15


def test_symmetry_bad_input():
    with pytest.raises(ValueError, match="symmetry must be one of"):
        Symmetry("tetragonal", 4)
    with pytest.raises(ValueError, match="reduced variables of cubic symmetry"):
        Symmetry("cubic", 4).expand(torch.zeros(64))
