"""The project's fixed numbers and orderings, defined once (docs/conventions.md explains them).

Everything that fixes a layout shared by the C++ kernels, the Python layers, the data files and
the checkpoints lives here, so that no module restates it: the element's local node numbering,
the Voigt order, the unit-cube shape and the default soft-phase ratio. Plain Python values
(tuples of ints and floats), so they trace under ``torch.compile`` and cost nothing to import.
"""

from __future__ import annotations

# Local node nd = 4 a + 2 b + c of the trilinear hexahedron sits at offset (a, b, c) in {0, 1}^3
# from the voxel's corner node (i, j, k); its dofs are 3 nd + {0, 1, 2} (x, y, z). The same
# numbering is hard-coded in csrc/element_math.h (kernels cannot import Python).
NODE_OFFSETS: tuple[tuple[int, int, int], ...] = tuple((nd >> 2, (nd >> 1) & 1, nd & 1) for nd in range(8))
NODES_PER_ELEMENT = 8
ELEMENT_DOFS = 24  # 8 nodes x 3 displacement components

# Voigt order of strains and stresses, engineering shears (gamma = 2 eps).
VOIGT_ORDER: tuple[str, ...] = ("xx", "yy", "zz", "yz", "xz", "xy")
# Tensor index pairs (i, j) of each Voigt component, in VOIGT_ORDER.
VOIGT_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
LOAD_CASES = 6  # the six unit macroscopic strains, one per Voigt component

# Parallelepiped shape parameters (alpha_xy, alpha_yz, alpha_xz in degrees, l_x, l_y, l_z).
SHAPE_NAMES: tuple[str, ...] = ("alpha_xy", "alpha_yz", "alpha_xz", "l_x", "l_y", "l_z")
UNIT_CUBE: tuple[float, ...] = (90.0, 90.0, 90.0, 1.0, 1.0, 1.0)

# E_soft / E_hard of the two-phase cells (same nu): small enough to act as void, large enough to
# keep K positive definite up to the rigid translations.
DEFAULT_SOFT_RATIO = 1e-6

__all__ = ["DEFAULT_SOFT_RATIO", "ELEMENT_DOFS", "LOAD_CASES", "NODES_PER_ELEMENT", "NODE_OFFSETS",
           "SHAPE_NAMES", "UNIT_CUBE", "VOIGT_ORDER", "VOIGT_PAIRS"]
