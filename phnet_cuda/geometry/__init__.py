"""Microstructure generators (voxel arrays ``[n, n, n]`` over one period of the unit cube,
axis order x, y, z, values in [0, 1], 1 = solid)."""

from .tpms import threshold_to_volume_fraction, tubular_gyroid, tubular_gyroid_field
from .truss import grid_lattice, strut_lattice, voxel_centres

__all__ = ["grid_lattice", "strut_lattice", "threshold_to_volume_fraction", "tubular_gyroid",
           "tubular_gyroid_field", "voxel_centres"]
