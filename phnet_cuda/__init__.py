"""phnet_cuda: fast periodic voxel homogenization with custom CPU/CUDA torch ops.

Conventions (grid, Voigt order, element, energy, C^H) are those of CONVENTIONS.md, restated in
each function's docstring. Main entry points:

* ``energy_loss(u, vox, *, E, nu, soft_ratio, shape, reduction)`` - label-free PH-Net loss.
* ``homogenized_tensor(u, vox, ...)`` - C^H ``[B, 6, 6]`` from displacements.
* ``CellProblem`` - the same with element matrices precomputed (training loops).
* ``ops`` - the element-matrix-level custom ops (stiffness_apply, load_vectors, energy,
  residual, homogenized_sum, phase_gradient, element_fields).
* ``materials``, ``fem``, ``reference`` - Voigt materials, element matrices, pure-PyTorch oracle.
* ``homogenize(vox, ...)`` - numerical homogenization (multigrid-preconditioned CG on the ops),
  returning a ``HomogenizationResult`` (CH, u, iterations, residual, converged).
* ``geometry`` - cell generators (Tubular Gyroid); ``post`` - engineering constants, von Mises.
* ``shapes`` - parallelepiped cells: ``lattice_matrix``, ``strain_map`` and the shape-material
  transformation (``transform_stiffness`` / ``recover_stiffness``), converters from/to the
  reference method's shape convention.
"""

from . import fem, geometry, materials, ops, post, reference, shapes
from ._lib import has_cuda_kernels, load_library
from .materials import (
    anisotropic_phases,
    isotropic_stiffness,
    material_voxel_tensor,
    symmetric_basis,
    two_phase_stiffness,
)
from .ops import element_fields, load_vectors, phase_gradient, residual, stiffness_apply
from .post import engineering_constants, von_mises
from .problem import CellProblem, energy_loss, homogenized_tensor
from .shapes import (
    from_reference_convention,
    lattice_matrix,
    recover_stiffness,
    strain_map,
    to_reference_convention,
    transform_stiffness,
)
from .solver import HomogenizationResult, homogenize

__version__ = "0.1.0"

__all__ = [
    "CellProblem",
    "HomogenizationResult",
    "anisotropic_phases",
    "element_fields",
    "energy_loss",
    "engineering_constants",
    "fem",
    "from_reference_convention",
    "geometry",
    "homogenize",
    "has_cuda_kernels",
    "homogenized_tensor",
    "isotropic_stiffness",
    "lattice_matrix",
    "load_library",
    "load_vectors",
    "material_voxel_tensor",
    "materials",
    "ops",
    "phase_gradient",
    "post",
    "recover_stiffness",
    "reference",
    "residual",
    "shapes",
    "stiffness_apply",
    "strain_map",
    "symmetric_basis",
    "to_reference_convention",
    "transform_stiffness",
    "two_phase_stiffness",
    "von_mises",
]
