"""phnet_cuda: fast periodic voxel homogenization with custom CPU/CUDA torch ops.

Numbers and layouts (grid, Voigt order, element, energy, C^H, parallelepiped cells) are those of
docs/conventions.md; the fixed ones are defined once in ``conventions``. The package is layered,
each module one concept, imports pointing down (docs/design.md):

* ``conventions``, ``_checks``, ``_lib`` (the compiled library; ``build_info()`` says what it was
  built with: CUDA, architectures, torch, compiler, source hash) - the base;
* ``fem``, ``shapes``, ``grid``, ``geometry``, ``voxel_io`` - element matrices, parallelepiped cells, node
  fields on the periodic grid, the microstructure library (``cell_types``, ``make_cell``, ...), the
  user's voxel files (``read_voxels``: .npy/.npz, .mat, TIFF, .vti, raw, STL);
* ``materials`` (Voigt materials, ``cube_materials``, ``material_voxel_tensor``), ``ops`` (the
  custom ops, each wrapper named after its ``phnet::`` schema);
* ``reference`` (the float64 test oracle), ``testing`` (random problems), ``linalg`` (PCG,
  block Jacobi, multigrid, deflation);
* ``problem`` - ``CellProblem``, ``energy_loss`` (the label-free loss), ``homogenized_tensor``;
* ``solver`` - ``homogenize`` / ``HomogenizationResult``;
* ``post`` (tensor constants, local fields, ``plots``, ``export``), ``data`` (HDF5 datasets,
  generated Tubular-Gyroid cells, the torch Dataset);
* ``surrogate`` - PH-Net: ``PHNet`` / ``PHNetConfig``, the physics output stage, ``predict`` /
  ``PredictionResult``, ``train`` (``TrainConfig``, ``phnet train``, torchrun);
* ``design`` - inverse design of cells: ``design.optimize`` / ``DesignResult`` (``phnet design``);
* ``cli`` - the ``phnet`` command.

The paths of earlier versions (``phnet_cuda.model``, ``.predict``, ``.train``, ``.plots``,
``.export``) are kept as thin re-exports.
"""

# The compatibility modules of the old layout (export, model, plots, predict) are imported here,
# so that a later ``import phnet_cuda.predict`` by a user finds the module loaded and cannot rebind
# the package attribute ``predict`` (the function, bound below) to the module.
from . import (
    conventions,
    data,
    design,
    export,
    fem,
    geometry,
    linalg,
    materials,
    model,
    ops,
    plots,
    post,
    reference,
    shapes,
    surrogate,
    voxel_io,
)
from ._lib import build_info, has_cuda_kernels, load_library
from ._version import __version__ as __version__
from .data import CellDataset, build_dataset, label_dataset
from .materials import (
    anisotropic_phases,
    isotropic_stiffness,
    material_voxel_tensor,
    symmetric_basis,
    two_phase_stiffness,
)
from .ops import element_fields, load_vectors, phase_gradient, residual, stiffness_apply
from .post import (
    anisotropy_indices,
    change_base_material,
    directional_young,
    engineering_constants,
    local_fields,
    stress_concentration,
    von_mises,
    worst_case_von_mises,
    yield_stress,
)
from .predict import predict
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
from .surrogate import PHNet, PHNetConfig, PredictionResult
from .voxel_io import VoxelRead, read_voxels


def __getattr__(name):
    # ``train`` is imported on first use, not here: ``python -m phnet_cuda.train`` (torchrun)
    # would otherwise find the module already imported by the package and warn.
    if name in ("train", "TrainConfig"):
        import importlib

        mod = importlib.import_module(".train", __name__)
        return mod if name == "train" else mod.TrainConfig
    raise AttributeError(f"module 'phnet_cuda' has no attribute {name!r}")


__all__ = [
    "build_info",
    "PHNet",
    "PHNetConfig",
    "PredictionResult",
    "TrainConfig",
    "model",
    "predict",
    "train",
    "CellDataset",
    "conventions",
    "linalg",
    "surrogate",
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
    "design",
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
    "VoxelRead",
    "read_voxels",
    "voxel_io",
]
