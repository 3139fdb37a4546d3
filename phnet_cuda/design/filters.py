"""The periodic density filter of the design: a linear hat (cone) kernel of radius r voxels.

rho_f(x) = sum_k w(k) rho(x - k) / sum_k w(k), w(k) = max(0, r - |k|), over integer voxel
offsets k with wrap-around (the cell is periodic, so there is no boundary and every voxel has
the same neighbourhood). The weights sum to 1, so the filter keeps the mean (the volume) of
the field; the kernel is even, w(k) = w(-k), so the filter matrix is symmetric and its
transpose - the chain rule back through it - is the filter itself.

On a parallelepiped cell the offset is measured in the cell: |k| is the length of J k, with J
the lattice matrix scaled to unit volume (``shapes.unit_volume``), in units of the voxel size
of the unit-volume cell, h = 1/n; for the cube that is the plain voxel distance.

The convolution is a product of spectra (``torch.fft``), exact up to rounding and
differentiable.
"""

from __future__ import annotations

import math

import torch

from .. import shapes
from .._checks import positive_int, real_number


def hat_kernel(n: int, radius: float, shape=None) -> torch.Tensor:
    """The periodic hat kernel ``[n, n, n]`` (float64, sums to 1): weight max(0, r - |J k|) at offset k,
    stored at index k mod n. ``radius`` <= 1 leaves only the centre (no filtering).

    Raises ValueError when the kernel would wrap onto itself (an offset and its periodic image
    both inside the radius): radius must be below n / 2 in every lattice direction."""
    n = positive_int(n, "n")
    r = real_number(radius, "radius")
    if r < 0:
        raise ValueError(f"radius must be >= 0 voxels, got {radius!r}")
    J = torch.eye(3, dtype=torch.float64) if shape is None else shapes.unit_volume(shapes.lattice_matrix(shape))
    if J.dim() != 2:
        raise ValueError(f"shape must describe one cell, got a batch of {J.shape[0]}")
    # |J k| >= s_min |k|, so every offset inside the radius has |k_i| <= r / s_min
    s_min = float(torch.linalg.svdvals(J).min())
    reach = int(math.floor(r / s_min))
    if 2 * reach + 1 > n:
        raise ValueError(f"radius = {r:g} voxels reaches {reach} voxels from the centre, which wraps around a cell of "
                         f"n = {n} (it must reach fewer than n / 2 voxels); use a smaller radius or a larger n")
    off = torch.arange(-reach, reach + 1)
    k = torch.stack(torch.meshgrid(off, off, off, indexing="ij"), dim=-1).reshape(-1, 3)
    dist = (k.to(torch.float64) @ J.T).norm(dim=1)
    weight = (r - dist).clamp_min(0)
    if weight.sum() == 0:  # radius 0: the identity
        weight[(k == 0).all(dim=1)] = 1.0
    kernel = torch.zeros(n, n, n, dtype=torch.float64)
    idx = k % n
    kernel.index_put_((idx[:, 0], idx[:, 1], idx[:, 2]), weight, accumulate=True)
    return kernel / kernel.sum()


class DensityFilter:
    """The filter as a callable on fields ``[..., n, n, n]`` (float32/float64, any device).

    Args:
        n: voxels per edge.
        radius: hat radius in voxels (0 or 1: no filtering).
        shape: the cell (parameters ``[6]`` or a lattice matrix ``[3, 3]``) for the distances;
            None = cube.

    Attributes:
        kernel: ``[n, n, n]`` float64, the weights (sum 1) at offsets mod n.
        identity: True when the kernel is the centre alone (the filter returns its input).
    """

    def __init__(self, n: int, radius: float, shape=None):
        self.n = positive_int(n, "n")
        self.radius = real_number(radius, "radius")
        self.kernel = hat_kernel(self.n, self.radius, shape)
        self.identity = bool(self.kernel[0, 0, 0] == 1)
        # the kernel is even, so its spectrum is real: keep the real part only
        self._spectrum = torch.fft.rfftn(self.kernel).real
        self._cache: dict = {}

    def _spectrum_on(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = self._spectrum.to(device=like.device, dtype=like.dtype)
        return self._cache[key]

    def __call__(self, field: torch.Tensor) -> torch.Tensor:
        """The filtered field, same shape and dtype as ``field`` ``[..., n, n, n]``."""
        n = self.n
        if field.dim() < 3 or tuple(field.shape[-3:]) != (n, n, n):
            raise ValueError(f"field must be [..., {n}, {n}, {n}], got shape {tuple(field.shape)}")
        if self.identity:
            return field
        spectrum = torch.fft.rfftn(field, dim=(-3, -2, -1)) * self._spectrum_on(field)
        return torch.fft.irfftn(spectrum, s=(n, n, n), dim=(-3, -2, -1))


__all__ = ["DensityFilter", "hat_kernel"]
