"""Design sensitivities (phnet_cuda.design.evaluation) against central finite differences of the
whole map x -> symmetry -> filter -> projection -> SIMP -> solve -> C^H -> objective, in float64
with the solver converged to 1e-12: every objective, the C^H bounds and the volume, on cubes and
on a parallelepiped. They agree to 1e-10 of the largest; the tests ask 1e-8, which a field solved
to only 1e-3 already misses (2e-6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phnet_cuda import homogenize
from phnet_cuda.design import DensityMap, DesignProblem, VolumeConstraint, make_objective, parse_bound

N = 5
TARGET = [[0.2, 0.05, 0.05, 0, 0, 0], [0.05, 0.2, 0.05, 0, 0, 0], [0.05, 0.05, 0.2, 0, 0, 0],
          [0, 0, 0, 0.04, 0, 0], [0, 0, 0, 0, 0.04, 0], [0, 0, 0, 0, 0, 0.04]]
SHEARED = (80.0, 75.0, 85.0, 1.0, 1.2, 0.9)


def problem(objective, symmetry="none", shape=None, bounds=(), **kw):
    density = DensityMap(N, symmetry=symmetry, filter_radius=1.8, penal=3.0, shape=shape)
    return DesignProblem(density, make_objective(objective, **kw), VolumeConstraint(0.4, "eq"),
                         [parse_bound(b) for b in bounds], rho_min=1e-3, shape=shape, solver_tol=1e-12)


def directional_check(prob, beta, seed, h=1e-5):
    """(analytic, finite-difference) directional derivatives of the loss, the volume and every
    constraint along a random direction."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.8, prob.density.size)
    v = rng.normal(size=x.size)
    v /= np.linalg.norm(v)
    ev = prob.evaluate(x, beta)
    plus, minus = prob.evaluate(x + h * v, beta), prob.evaluate(x - h * v, beta)
    analytic = np.concatenate([[ev.loss_grad @ v, ev.volume_grad @ v], ev.constraints_grad @ v])
    numeric = np.concatenate([[plus.loss - minus.loss, plus.volume - minus.volume],
                              plus.constraints - minus.constraints]) / (2 * h)
    return analytic, numeric, ev


def assert_matches(analytic, numeric, rtol):
    scale = np.abs(numeric).max()
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("objective, symmetry, kw", [
    ("bulk", "none", {}),
    ("shear", "orthotropic", {}),
    ("poisson", "cubic", {}),
    ("young", "none", {"direction": (1.0, 2.0, -0.5)}),
    ("target", "orthotropic", {"target": TARGET}),
])
def test_objective_sensitivities(objective, symmetry, kw):
    analytic, numeric, _ = directional_check(problem(objective, symmetry, **kw), beta=4.0, seed=len(objective))
    assert_matches(analytic, numeric, 1e-8)


def test_custom_objective_and_bounds_on_a_parallelepiped():
    def stiffness_ratio(CH):  # any differentiable function of C^H
        return CH[0, 1] / CH[2, 2] + CH[3, 4] ** 2

    prob = problem(stiffness_ratio, shape=SHEARED, bounds=("C12<=0.01", "E_y>=0.02", "nu_xz<=0.2"))
    analytic, numeric, ev = directional_check(prob, beta=2.0, seed=7)
    assert len(analytic) == 2 + 2 + 3  # loss, volume, the two volume inequalities, three bounds
    assert_matches(analytic, numeric, 1e-8)
    # the C^H of the evaluation is the solver's C^H of the cell (both recovered on the parallelepiped)
    rng = np.random.default_rng(7)
    x = rng.uniform(0.2, 0.8, prob.density.size)
    vox = prob.density.stiffness_fraction(prob.density.physical(torch.as_tensor(x), 2.0))
    CH = homogenize(vox, soft_ratio=1e-3, shape=SHEARED, tol=1e-12).CH
    assert float((ev.CH - CH).abs().max()) < 1e-12 * float(CH.abs().max())


def test_sensitivities_without_filter_and_projection():
    prob = DesignProblem(DensityMap(4, symmetry="none", filter_radius=0, penal=3.0), make_objective("bulk"),
                         VolumeConstraint(0.5, "le"), rho_min=1e-3, solver_tol=1e-12)
    analytic, numeric, _ = directional_check(prob, beta=0.0, seed=3)
    assert_matches(analytic, numeric, 1e-8)
