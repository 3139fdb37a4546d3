"""MMA (mmapy) and optimality criteria (phnet_cuda.design.optimizers) on problems with known
solutions, and the exact restore of MMA's state."""

from __future__ import annotations

import numpy as np
import pytest

from phnet_cuda.design.optimizers import MMA, oc_update

pytest.importorskip("mmapy")


def projection_solution(a: np.ndarray, c: float) -> np.ndarray:
    """argmin |x - a|^2 over 0 <= x <= 1, mean(x) <= c: x = clip(a - lam, 0, 1), lam >= 0 by bisection."""
    if np.clip(a, 0, 1).mean() <= c:
        return np.clip(a, 0, 1)
    lo, hi = 0.0, 2.0
    for _ in range(200):
        lam = 0.5 * (lo + hi)
        lo, hi = (lam, hi) if np.clip(a - lam, 0, 1).mean() > c else (lo, lam)
    return np.clip(a - hi, 0, 1)


def run_mma(mma, x, a, c, iterations):
    for _ in range(iterations):
        f, df = float(((x - a) ** 2).sum()), 2 * (x - a)
        g, dg = np.array([x.mean() / c - 1]), np.full((1, x.size), 1 / (c * x.size))
        x = mma.step(x, f, df, g, dg)
    return x


def test_mma_solves_a_constrained_quadratic():
    rng = np.random.default_rng(0)
    a = rng.uniform(-0.2, 1.2, 40)
    x = run_mma(MMA(40, 1, move=0.2), np.full(40, 0.3), a, 0.35, 60)
    np.testing.assert_allclose(x, projection_solution(a, 0.35), atol=1e-5)


def test_mma_state_restores_the_run_exactly():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 30)
    straight = MMA(30, 1)
    x_all = run_mma(straight, np.full(30, 0.5), a, 0.4, 12)
    first = MMA(30, 1)
    x_half = run_mma(first, np.full(30, 0.5), a, 0.4, 5)
    resumed = MMA(30, 1)
    resumed.load_state({k: v.copy() for k, v in first.state().items()})
    assert np.array_equal(run_mma(resumed, x_half, a, 0.4, 7), x_all)
    with pytest.raises(ValueError, match=r"mma_xold1 has shape \(30,\), expected \(31,\)"):
        MMA(31, 1).load_state(first.state())


def test_oc_converges_to_the_separable_optimum():
    # min sum c_i / x_i with mean(x) = v: the optimum is x_i proportional to sqrt(c_i) (inside the box)
    rng = np.random.default_rng(2)
    c = rng.uniform(1, 4, 25)
    v = 0.4
    x = np.full(25, v)
    for _ in range(100):
        x = oc_update(x, -c / x ** 2, np.full(25, 1 / 25), lambda z: float(z.mean()), v)
    expected = np.sqrt(c) * v / np.sqrt(c).mean()
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert abs(x.mean() - v) < 1e-6


def test_oc_refuses_an_objective_that_material_does_not_improve():
    with pytest.raises(ValueError, match="use optimizer 'mma'"):
        oc_update(np.full(4, 0.5), np.ones(4), np.ones(4), lambda z: float(z.mean()), 0.5)
