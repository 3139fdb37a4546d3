"""Symmetry of a design, enforced exactly by parameterisation.

A design with symmetry has one variable per orbit of voxels under the symmetry group: the
variables live on the orbits' canonical voxels and ``expand`` copies each to its whole orbit (a
gather, so the expanded field is invariant bit for bit). ``enforce`` re-imposes the symmetry on a
field computed from a symmetric one by operations that keep it only up to rounding (the FFT
filter): every voxel takes the value of its orbit's canonical voxel. Both are gathers, so
autograd turns them into the matching scatter-adds, and the gradient with respect to the reduced
variables is the exact gradient of the symmetric map.

Groups on the voxel grid ``[n, n, n]`` of the reference cube (voxel (i, j, k), centre
((i, j, k) + 1/2) / n):

* ``none`` - every voxel its own orbit;
* ``orthotropic`` - the mirror planes x, y, z = 1/2 through the cell centre: i -> n - 1 - i on any
  subset of the axes (8 elements);
* ``cubic`` - those mirrors and the six permutations of the axes (48 elements, the group of the
  cube).

These are symmetries of the cell's grid. They are physical symmetries of the cell only when its
shape has them too: orthotropic for a rectangular box (all angles 90 degrees), cubic for a cube.
"""

from __future__ import annotations

import torch

from .._checks import positive_int

SYMMETRIES = ("none", "orthotropic", "cubic")


def canonical_voxels(n: int, kind: str) -> torch.Tensor:
    """Flat index ``[n^3]`` (int64) of the canonical voxel of every voxel's orbit.

    The canonical voxel of (i, j, k) folds each index into the first half, f(i) = min(i, n-1-i)
    (a mirror), and for ``cubic`` sorts the three folded indices (a permutation); the result is
    a member of the orbit, and the same one for every member."""
    n = positive_int(n, "n")
    if kind not in SYMMETRIES:
        raise ValueError(f"symmetry must be one of {SYMMETRIES}, got {kind!r}")
    idx = torch.arange(n)
    grid = torch.stack(torch.meshgrid(idx, idx, idx, indexing="ij"), dim=-1).reshape(-1, 3)  # [n^3, 3]
    if kind != "none":
        grid = torch.minimum(grid, n - 1 - grid)
    if kind == "cubic":
        grid = grid.sort(dim=1).values
    return (grid[:, 0] * n + grid[:, 1]) * n + grid[:, 2]


class Symmetry:
    """The reduced design variables of a symmetry group on an ``[n, n, n]`` grid.

    Attributes:
        kind: one of ``SYMMETRIES``.
        n: voxels per edge.
        size: number of reduced variables m (orbits).
        orbit: ``[n^3]`` int64, the reduced variable of every voxel (flat index).
        canonical: ``[n^3]`` int64, the flat index of every voxel's canonical voxel.
        orbit_size: ``[m]`` int64, voxels per orbit.
    """

    def __init__(self, kind: str, n: int):
        self.kind, self.n = kind, positive_int(n, "n")
        self.canonical = canonical_voxels(self.n, kind)
        representatives, self.orbit = torch.unique(self.canonical, return_inverse=True)
        self.size = int(representatives.numel())
        self.orbit_size = torch.bincount(self.orbit, minlength=self.size)

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """The full field ``[n, n, n]`` of reduced variables ``x`` ``[m]`` (a gather)."""
        if x.shape != (self.size,):
            raise ValueError(f"x must be the {self.size} reduced variables of {self.kind} symmetry at n = {self.n}, "
                             f"got shape {tuple(x.shape)}")
        n = self.n
        return x[self.orbit.to(x.device)].reshape(n, n, n)

    def reduce(self, field: torch.Tensor) -> torch.Tensor:
        """The reduced variables ``[m]`` of a full field ``[n, n, n]``: each orbit's mean (the
        symmetric part of the field: ``expand(reduce(f))`` equals a symmetric f up to rounding)."""
        n = self.n
        if field.shape != (n, n, n):
            raise ValueError(f"field must be [{n}, {n}, {n}], got shape {tuple(field.shape)}")
        orbit = self.orbit.to(field.device)
        sums = torch.zeros(self.size, dtype=field.dtype, device=field.device).index_add_(0, orbit, field.reshape(-1))
        return sums / self.orbit_size.to(field.device, field.dtype)

    def enforce(self, field: torch.Tensor) -> torch.Tensor:
        """``field`` ``[n, n, n]`` with every voxel set to its canonical voxel's value (a gather): exactly
        invariant under the group; unchanged up to rounding for a field that was symmetric up to
        rounding."""
        n = self.n
        if field.shape != (n, n, n):
            raise ValueError(f"field must be [{n}, {n}, {n}], got shape {tuple(field.shape)}")
        if self.kind == "none":
            return field
        return field.reshape(-1)[self.canonical.to(field.device)].reshape(n, n, n)


def group_transforms(kind: str):
    """The group's elements as functions of a field ``[n, n, n]`` (for tests and checks): every
    combination of axis flips, and for ``cubic`` every axis permutation as well."""
    if kind not in SYMMETRIES:
        raise ValueError(f"symmetry must be one of {SYMMETRIES}, got {kind!r}")
    if kind == "none":
        return [lambda f: f]
    flips = [[a for a in range(3) if mask >> a & 1] for mask in range(8)]
    perms = [(0, 1, 2)] if kind == "orthotropic" else [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1),
                                                       (2, 1, 0)]

    def element(axes, perm):
        return lambda f: (f.flip(axes) if axes else f).permute(*perm)

    return [element(axes, perm) for axes in flips for perm in perms]


__all__ = ["SYMMETRIES", "Symmetry", "canonical_voxels", "group_transforms"]
