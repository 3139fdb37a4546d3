"""Microstructure generators (voxel arrays ``[n, n, n]`` over one period of the unit cube,
axis order x, y, z, values in [0, 1], 1 = solid)."""

from .tpms import tubular_gyroid, tubular_gyroid_field, threshold_to_volume_fraction

__all__ = ["tubular_gyroid", "tubular_gyroid_field", "threshold_to_volume_fraction"]
