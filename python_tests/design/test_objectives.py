"""Objectives and bounds of C^H (phnet_cuda.design.objectives / constraints) against closed forms
of isotropic and cubic tensors."""

from __future__ import annotations

import math

import pytest
import torch

from phnet_cuda.design.constraints import EQUALITY_BAND, StiffnessBound, VolumeConstraint, parse_bound
from phnet_cuda.design.objectives import (
    bulk_modulus,
    make_objective,
    poisson_ratio,
    shear_modulus,
    target_distance,
    young_modulus,
)
from phnet_cuda.materials import isotropic_stiffness


def cubic(c11, c12, c44):
    C = torch.zeros(6, 6, dtype=torch.float64)
    C[:3, :3] = c12
    C[range(3), range(3)] = c11
    C[range(3, 6), range(3, 6)] = c44
    return C


def test_isotropic_closed_forms():
    E, nu = 2.5, 0.27
    C = isotropic_stiffness(E, nu)
    assert abs(float(bulk_modulus(C)) - E / (3 * (1 - 2 * nu))) < 1e-14
    assert abs(float(shear_modulus(C)) - E / (2 * (1 + nu))) < 1e-14
    assert abs(float(poisson_ratio(C)) - nu) < 1e-14
    for d in [(1, 0, 0), (1, 1, 1), (0.3, -2, 0.7)]:
        assert abs(float(young_modulus(C, d)) - E) < 1e-13


def test_cubic_closed_forms():
    c11, c12, c44 = 1.3, 0.4, 0.2
    C = cubic(c11, c12, c44)
    s11 = (c11 + c12) / ((c11 - c12) * (c11 + 2 * c12))
    s12 = -c12 / ((c11 - c12) * (c11 + 2 * c12))
    s44 = 1 / c44
    assert abs(float(bulk_modulus(C)) - (c11 + 2 * c12) / 3) < 1e-15
    assert abs(float(shear_modulus(C)) - c44) < 1e-15
    assert abs(float(poisson_ratio(C)) - (-s12 / s11)) < 1e-14
    assert abs(float(young_modulus(C, (0, 0, 1))) - 1 / s11) < 1e-14
    # <111>: 1 / E = s11 - 2 (s11 - s12 - s44 / 2) / 3 (Nye)
    assert abs(float(young_modulus(C, (1, 1, 1))) - 1 / (s11 - 2 * (s11 - s12 - s44 / 2) / 3)) < 1e-14
    # an orthotropic tensor: nu_xy from its compliance, one pair at a time
    D = C.clone()
    D[0, 0] = 2.0
    S = torch.linalg.inv(D)
    assert abs(float(poisson_ratio(D, ["xy"])) - float(-S[1, 0] / S[0, 0])) < 1e-15
    assert abs(float(poisson_ratio(D, [(1, 0)])) - float(-S[0, 1] / S[1, 1])) < 1e-15


def test_target_distance_and_make_objective():
    T = cubic(1.0, 0.3, 0.25)
    assert float(target_distance(T, T)) == 0
    assert abs(float(target_distance(1.1 * T, T)) - 0.01) < 1e-15  # relative: (0.1)^2
    W = torch.zeros(6, 6, dtype=torch.float64)
    W[0, 0] = 1
    assert abs(float(target_distance(T + 0.5 * torch.eye(6, dtype=torch.float64), T, W)) - 0.25) < 1e-15
    bulk = make_objective("bulk")
    assert bulk.maximize and float(bulk.loss(T)) == -float(bulk_modulus(T))
    custom = make_objective(lambda CH: CH[0, 1], maximize=False, name="c12")
    assert custom.name == "c12" and not custom.maximize
    with pytest.raises(ValueError, match="objective 'target' needs target"):
        make_objective("target")
    with pytest.raises(ValueError, match="objective must be one of"):
        make_objective("stiffest")
    with pytest.raises(ValueError, match="must be symmetric"):
        make_objective("target", target=T + torch.triu(torch.ones(6, 6), 1))
    with pytest.raises(ValueError, match="direction is for objective 'young'"):
        make_objective("bulk", direction=(1, 0, 0))
    with pytest.raises(ValueError, match="direction must be three finite numbers"):
        make_objective("young", direction=(0, 0, 0))


def test_constraints_forms():
    v = VolumeConstraint(0.3, "eq")
    assert v.values(0.33) == pytest.approx([0.1 - EQUALITY_BAND, -0.1 - EQUALITY_BAND])
    assert v.scales() == pytest.approx([1 / 0.3, -1 / 0.3])
    assert VolumeConstraint(0.3, "le").values(0.27) == pytest.approx([-0.1])
    C = cubic(1.0, 0.3, 0.25)
    b = parse_bound("C12<=0.2")
    assert b.name == "C12" and b.upper == 0.2 and float(b.constraints(C, 1.0)[0]) == pytest.approx(0.5)
    lower = parse_bound("E_x >= 0.5")
    s11 = float(torch.linalg.inv(C)[0, 0])
    assert float(lower.constraints(C, 1.0)[0]) == pytest.approx((0.5 - 1 / s11) / 0.5)
    at_zero = parse_bound("nu<=0")  # a bound at 0 is scaled by the base material's stiffness
    assert float(at_zero.constraints(C, 2.0)[0]) == pytest.approx(float(poisson_ratio(C)) / 2.0)
    for text, match in [("C17<=1", "unknown quantity"), ("K=1", "must look like"), ("E_w>=1", "unknown quantity")]:
        with pytest.raises(ValueError, match=match):
            parse_bound(text)
    with pytest.raises(ValueError, match="lower 2 > upper 1"):
        StiffnessBound("K", bulk_modulus, lower=2, upper=1)
    with pytest.raises(ValueError, match="volume_fraction must lie in"):
        VolumeConstraint(1.2)
    with pytest.raises(ValueError, match="volume_constraint must be one of"):
        VolumeConstraint(0.3, "ge")
    assert math.isfinite(float(young_modulus(C)))
