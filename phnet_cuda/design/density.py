"""From the design variables to the solver's voxels: symmetry -> filter -> projection -> SIMP.

    x [m] (one variable per symmetry orbit, in [0, 1])
      -> expand to the grid [n, n, n]                       (``symmetry.Symmetry.expand``)
      -> periodic hat filter of radius r                    (``filters.DensityFilter``)
      -> Heaviside projection with the current beta         (``projection.heaviside``)
      -> symmetry re-imposed bit for bit, clamped to [0, 1] = the physical density rho
      -> vox = rho^p                                        (SIMP)

SIMP and the package's two-phase model are the same thing: the solver gives voxel e the
stiffness (vox_e + r (1 - vox_e)) C, the soft phase being C(r E, nu) with the same nu
(``materials.two_phase_stiffness``), so vox = rho^p with soft_ratio r = rho_min is exactly the
SIMP stiffness (rho_min + rho^p (1 - rho_min)) C. The volume is the mean of rho.

Every step is a torch operation, so autograd carries the sensitivities from vox back to x.
"""

from __future__ import annotations

import torch

from .._checks import positive_number
from .filters import DensityFilter
from .projection import heaviside
from .symmetry import Symmetry


class DensityMap:
    """The map x -> rho -> vox of one design problem.

    Args:
        n: voxels per edge.
        symmetry: ``"none"``, ``"orthotropic"`` or ``"cubic"`` (``symmetry.SYMMETRIES``).
        filter_radius: hat radius in voxels (<= 1: no filter).
        penal: SIMP exponent p >= 1.
        shape: the cell (filter distances in the cell); None = cube.
        eta: projection threshold.

    Attributes:
        symmetry: the ``Symmetry``; ``size`` the number of design variables m.
        filter: the ``DensityFilter``.
    """

    def __init__(self, n: int, *, symmetry: str = "none", filter_radius: float = 2.0, penal: float = 3.0,
                 shape=None, eta: float = 0.5):
        self.symmetry = Symmetry(symmetry, n)
        self.filter = DensityFilter(n, filter_radius, shape)
        self.penal = positive_number(penal, "penal")
        if self.penal < 1:
            raise ValueError(f"penal must be >= 1 (SIMP exponent), got {penal!r}")
        self.eta = eta
        self.n, self.size = self.symmetry.n, self.symmetry.size

    def physical(self, x: torch.Tensor, beta: float) -> torch.Tensor:
        """The physical density rho ``[n, n, n]`` of the design variables ``x`` ``[m]`` at projection
        sharpness ``beta`` (0 = no projection); exactly invariant under the symmetry group."""
        rho = self.filter(self.symmetry.expand(x))
        rho = heaviside(rho, beta, self.eta)
        # the FFT keeps the symmetry only up to rounding, and may step a hair outside [0, 1]
        return self.symmetry.enforce(rho).clamp(0.0, 1.0)

    def stiffness_fraction(self, rho: torch.Tensor) -> torch.Tensor:
        """SIMP: vox = rho^p ``rho.shape``, the solver's hard-phase fraction (with soft_ratio = rho_min)."""
        return rho.pow(self.penal)

    def volume(self, x: torch.Tensor, beta: float) -> torch.Tensor:
        """Volume fraction (scalar tensor): the mean physical density."""
        return self.physical(x, beta).mean()


__all__ = ["DensityMap"]
