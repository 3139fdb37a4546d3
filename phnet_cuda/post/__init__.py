"""Post-processing of homogenized tensors and local fields: what users look at.

Submodules (each one concept; ``phnet_cuda.post.<name>`` re-exports the public functions of
``tensor`` and ``fields``):

* ``tensor`` - properties of one C^H alone: ``relative_error``, ``compliance``,
  ``engineering_constants``, ``voigt_reuss_moduli``, anisotropy indices (``universal_anisotropy``,
  ``zener_anisotropy``, ``is_cubic``, ``anisotropy_indices``), the directional Young's modulus
  (``directional_young``, ``uniaxial_voigt``, ``sphere_directions``).
* ``fields`` - local fields of a solved cell: ``local_fields``, ``stress_concentration``,
  ``worst_case_von_mises``, ``yield_stress``, ``displacement_field``, ``von_mises`` /
  ``von_mises_form``, and ``change_base_material`` (its refinement uses the stress fields).
* ``plots`` - matplotlib PNGs: Young's-modulus surfaces, field slices, convergence.
* ``export`` - JSON / CSV reports of C^H, VTK meshes with fields, STL surfaces.

Conventions (docs/conventions.md): Voigt order [xx, yy, zz, yz, xz, xy], engineering shear
strains, stresses without factors; tensors and stresses in the unit of the base Young's modulus.
Importing this package needs only torch and numpy: matplotlib, scikit-image and meshio are
imported inside the functions that use them.
"""

from . import export, fields, plots, tensor
from .fields import (
    change_base_material,
    displacement_field,
    local_fields,
    stress_concentration,
    von_mises,
    von_mises_form,
    worst_case_von_mises,
    yield_stress,
)
from .tensor import (
    anisotropy_indices,
    compliance,
    directional_young,
    engineering_constants,
    is_cubic,
    relative_error,
    sphere_directions,
    uniaxial_voigt,
    universal_anisotropy,
    voigt_reuss_moduli,
    zener_anisotropy,
)

__all__ = [
    "anisotropy_indices",
    "change_base_material",
    "compliance",
    "directional_young",
    "displacement_field",
    "engineering_constants",
    "export",
    "fields",
    "is_cubic",
    "local_fields",
    "plots",
    "relative_error",
    "sphere_directions",
    "stress_concentration",
    "tensor",
    "uniaxial_voigt",
    "universal_anisotropy",
    "voigt_reuss_moduli",
    "von_mises",
    "von_mises_form",
    "worst_case_von_mises",
    "yield_stress",
    "zener_anisotropy",
]
