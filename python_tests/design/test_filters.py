"""The periodic hat filter (phnet_cuda.design.filters): its weights against a brute-force periodic
convolution, volume preservation, periodicity (shift equivariance) and self-adjointness."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from phnet_cuda import shapes
from phnet_cuda.design.filters import DensityFilter, hat_kernel


def brute_force(field: np.ndarray, radius: float, J: np.ndarray) -> np.ndarray:
    """rho_f(a) = sum_b w(a, b) rho(b) / sum_b w(a, b), w = sum over the periodic images m of
    max(0, r - |J (b - a + n m)|): every pair of voxels, every image - no FFT, no kernel array."""
    n = field.shape[0]
    cells = np.array(list(itertools.product(range(n), repeat=3)))  # [N, 3]
    images = n * np.array(list(itertools.product((-1, 0, 1), repeat=3)))  # [27, 3]
    d = cells[None, :, None, :] - cells[:, None, None, :] + images[None, None]  # [N (a), N (b), 27, 3]
    w = np.clip(radius - np.linalg.norm(d @ J.T, axis=-1), 0, None).sum(-1)  # [N, N]
    return ((w @ field.reshape(-1)) / w.sum(1)).reshape(field.shape)


@pytest.mark.parametrize("radius, shape", [(1.8, None), (2.5, None), (2.2, (80, 75, 85, 1.0, 1.2, 0.9))])
def test_filter_equals_a_brute_force_periodic_convolution(radius, shape):
    n = 6
    rng = np.random.default_rng(1)
    field = rng.uniform(size=(n, n, n))
    J = np.eye(3) if shape is None else shapes.unit_volume(shapes.lattice_matrix(shape)).numpy()
    got = DensityFilter(n, radius, shape)(torch.as_tensor(field)).numpy()
    np.testing.assert_allclose(got, brute_force(field, radius, J), rtol=0, atol=1e-13)


def test_filter_preserves_volume_is_periodic_and_self_adjoint():
    n = 8
    f = DensityFilter(n, 2.5)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, n, generator=g, dtype=torch.float64)
    b = torch.rand(n, n, n, generator=g, dtype=torch.float64)
    assert abs(float(f(a).sum() - a.sum())) < 1e-12 * float(a.sum())
    shifted = torch.roll(a, shifts=(3, -2, 5), dims=(0, 1, 2))  # a shift wraps around: no boundary
    assert float((f(shifted) - torch.roll(f(a), shifts=(3, -2, 5), dims=(0, 1, 2))).abs().max()) < 1e-14
    # <F a, b> = <a, F b>: the filter's transpose is itself, so the chain rule through it is the filter
    assert abs(float((f(a) * b).sum() - (a * f(b)).sum())) < 1e-12
    assert f(torch.ones(n, n, n, dtype=torch.float64)).sub(1).abs().max() < 1e-14


def test_kernel_weights_and_identity():
    k = hat_kernel(8, 2.0)
    assert abs(float(k.sum()) - 1) < 1e-15
    # r = 2: the centre (2), the 6 face neighbours (1), the 12 edge ones (2 - sqrt 2); nothing at distance >= 2
    total = 2 + 6 * 1 + 12 * (2 - 2 ** 0.5) + 8 * (2 - 3 ** 0.5)
    assert abs(float(k[0, 0, 0]) - 2 / total) < 1e-15 and abs(float(k[1, 0, 0]) - 1 / total) < 1e-15
    assert float(k[2, 0, 0]) == 0 and abs(float(k[-1, -1, -1]) - (2 - 3 ** 0.5) / total) < 1e-15
    assert DensityFilter(8, 1.0).identity and DensityFilter(8, 0).identity


def test_filter_bad_input():
    with pytest.raises(ValueError, match="wraps around"):
        hat_kernel(6, 3.5)
    with pytest.raises(ValueError, match="radius must be >= 0"):
        hat_kernel(6, -1)
    with pytest.raises(ValueError, match=r"field must be \[\.\.\., 6, 6, 6\]"):
        DensityFilter(6, 2)(torch.zeros(5, 5, 5))
