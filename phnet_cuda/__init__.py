"""phnet_cuda: fast periodic voxel homogenization with custom CPU/CUDA torch ops.

Conventions (grid, Voigt order, element, energy, C^H) are those of CONVENTIONS.md, restated in
each function's docstring. Main entry points:

* ``energy_loss(u, vox, *, E, nu, soft_ratio, shape, reduction)`` - label-free PH-Net loss.
* ``homogenized_tensor(u, vox, ...)`` - C^H ``[B, 6, 6]`` from displacements.
* ``CellProblem`` - the same with element matrices precomputed (training loops).
* ``ops`` - the element-matrix-level custom ops (stiffness_apply, load_vectors, energy,
  residual, homogenized_sum, phase_gradient, element_fields).
* ``materials``, ``fem``, ``reference`` - Voigt materials, element matrices, pure-PyTorch oracle.
* ``homogenize(vox, ...)`` - numerical homogenization (multigrid-preconditioned CG on the ops,
  with the rigid motions of hinged/floating solid pieces deflated when they slow it down),
  returning a ``HomogenizationResult`` (CH, u, iterations, residual, converged, deflated).
* ``geometry`` - the microstructure library (``cell_types``, ``make_cell``, ``reachable_range``,
  ``percolation``, ``bounded_clusters``: TPMS sheets/networks incl. the Tubular Gyroid, strut
  lattices); ``post`` -
  engineering constants, von Mises.
* ``post`` (more) - directional Young's modulus, anisotropy indices, local fields under a macro
  strain or stress, worst-case stress, first-yield estimate, base-material change;
  ``plots`` - E-surface and slice PNGs; ``export`` - JSON/CSV reports, VTK fields, STL surfaces.
* ``data`` - HDF5 cell datasets: ``build_dataset`` (Dataset 1/2, YAML specs), ``label_dataset``
  (C^H labels), ``CellDataset`` (torch Dataset; material tensor built on the device).
* ``PHNet`` / ``PHNetConfig`` (``model``) - the U-Net, with an optional parameter-free physics
  output stage (``cg_steps`` block-Jacobi CG steps from the network's field,
  ``solver.block_jacobi_cg`` / ``CellProblem.block_jacobi_cg``); ``train`` (``TrainConfig``,
  ``phnet train``, torchrun) - label-free energy training (through the stage) with atomic
  checkpoints and exact resume; ``predict(vox, ...)`` - C^H by the model (shipped TG model by
  default) with certified upper bounds, an exact hybrid mode (``refine_tol``) and a fixed-cost
  refinement (``refine_iters``), returning a ``PredictionResult``.
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
from . import export, plots
from .post import (
    anisotropy_indices,
    change_base_material,
    directional_young,
    local_fields,
    stress_concentration,
    worst_case_von_mises,
    yield_stress,
)
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
from . import data
from .data import CellDataset, build_dataset, label_dataset
from . import model
from .model import PHNet, PHNetConfig
from .predict import PredictionResult, predict


def __getattr__(name):
    # ``train`` is imported on first use, not here: ``python -m phnet_cuda.train`` (torchrun)
    # would otherwise find the module already imported by the package and warn.
    if name in ("train", "TrainConfig"):
        import importlib

        mod = importlib.import_module(".train", __name__)
        return mod if name == "train" else mod.TrainConfig
    raise AttributeError(f"module 'phnet_cuda' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "PHNet",
    "PHNetConfig",
    "PredictionResult",
    "TrainConfig",
    "model",
    "predict",
    "train",
    "CellDataset",
    "CellProblem",
    "HomogenizationResult",
    "anisotropic_phases",
    "anisotropy_indices",
    "change_base_material",
    "directional_young",
    "export",
    "local_fields",
    "plots",
    "stress_concentration",
    "worst_case_von_mises",
    "yield_stress",
    "build_dataset",
    "data",
    "element_fields",
    "energy_loss",
    "engineering_constants",
    "fem",
    "from_reference_convention",
    "geometry",
    "homogenize",
    "has_cuda_kernels",
    "homogenized_tensor",
    "label_dataset",
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
