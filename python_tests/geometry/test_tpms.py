"""The microstructure library (phnet_cuda.geometry): periodicity of every generator, exact strut
distances against a brute-force sum over periodic images, volume-fraction targeting, reachable
ranges, distinctness of the types, percolation against a brute-force tiled labelling, the
Tubular Gyroid staying bit-identical, and the gallery command."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from phnet_cuda import geometry as G


def _random_points(count=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, generator=g, dtype=torch.float64) * 3.0 - 1.0  # over several periods


@pytest.mark.parametrize("surface", sorted(G.SURFACES) + ["tubular_gyroid"])
def test_tpms_level_sets_are_periodic(surface):
    xi = _random_points()
    f = G.surface_value(surface, xi)
    scale = float(f.abs().max())
    for k in range(3):
        shift = torch.zeros(3, dtype=torch.float64)
        shift[k] = 1.0
        assert float((G.surface_value(surface, xi + shift) - f).abs().max()) <= 1e-12 * scale
    # on the voxel grid: two periods sampled with 2n points per axis repeat the one-period field
    n = 6
    c2 = (torch.arange(2 * n, dtype=torch.float64) + 0.5) / n
    two = G.surface_value(surface, torch.stack(torch.meshgrid(c2, c2, c2, indexing="ij"), -1))
    one, _ = G.surface_field(surface, n)
    for a, b, c in itertools.product((0, n), repeat=3):
        assert float((two[a:a + n, b:b + n, c:c + n] - one).abs().max()) <= 1e-12 * scale


def test_tpms_gradient_matches_finite_differences():
    n, eps = 8, 1e-6
    for surface in ("gyroid", "iwp", "complementary_d", "tubular_gyroid"):
        _, grad = G.surface_field(surface, n)
        xi = G.voxel_centres(n)
        fd = torch.stack([(G.surface_value(surface, xi + eps * e) - G.surface_value(surface, xi - eps * e)) / (2 * eps)
                          for e in torch.eye(3, dtype=torch.float64)], -1)
        assert torch.allclose(grad, torch.linalg.vector_norm(fd, dim=-1), rtol=1e-6, atol=1e-6)


def _frozen_tubular_gyroid(n, vf):
    """The original implementation, kept verbatim here so any change to tubular_gyroid shows."""
    c = 2 * math.pi * ((torch.arange(n, dtype=torch.float64) + 0.5) / n) + 0.75 * math.pi
    x, y, z = torch.meshgrid(c, c, c, indexing="ij")
    first = torch.cos(x) * torch.sin(y) + torch.cos(y) * torch.sin(z) + torch.cos(z) * torch.sin(x)
    second = (torch.cos(2 * x) * torch.cos(2 * y) + torch.cos(2 * y) * torch.cos(2 * z)
              + torch.cos(2 * z) * torch.cos(2 * x))
    field = 10 * first - 0.5 * second
    flat = field.reshape(-1)
    t = torch.topk(flat, int(round(vf * flat.numel()))).values[-1]
    return field, (field >= t).to(torch.float32)


@pytest.mark.parametrize("n, vf", [(16, 0.1), (24, 0.05), (32, 0.3), (48, 0.1), (48, 0.2)])
def test_tubular_gyroid_is_bit_identical(n, vf):
    field, ref = _frozen_tubular_gyroid(n, vf)
    assert torch.equal(G.tubular_gyroid_field(n), field)
    assert torch.equal(G.tubular_gyroid(n, vf), ref)
    assert torch.equal(G.make_cell("tubular_gyroid", n, vf), ref)
    # independent numpy evaluation of the published formula
    c = 2 * np.pi * (np.arange(n) + 0.5) / n + 0.75 * np.pi
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    tg = 10 * (np.cos(X) * np.sin(Y) + np.cos(Y) * np.sin(Z) + np.cos(Z) * np.sin(X)) - 0.5 * (
        np.cos(2 * X) * np.cos(2 * Y) + np.cos(2 * Y) * np.cos(2 * Z) + np.cos(2 * Z) * np.cos(2 * X))
    assert np.abs(field.numpy() - tg).max() <= 1e-12
