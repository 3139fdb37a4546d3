"""Microstructure generators (voxel arrays ``[n, n, n]`` over one period of the unit cube,
axis order x, y, z, values in [0, 1], 1 = solid).

The library (``library.py``): ``cell_types(family)``, ``cell_family(name)``,
``make_cell(name, n, volume_fraction, fractional=False)``, ``reachable_range(name, n)``,
``achievable_volume_fractions(name, n)`` (binary cells keep their type's symmetry, so their
fraction steps by whole symmetry orbits; the achieved fraction is the array's mean) over
TPMS sheets, TPMS networks (with the Tubular Gyroid) and strut lattices; ``percolation(vox)`` and
``bounded_clusters(vox)`` (``connectivity.py``); ``render_gallery`` (``gallery.py``, ``phnet gallery``)."""

from .connectivity import bounded_clusters, percolation
from .library import (
           FAMILIES,
           achievable_volume_fractions,
           cell_family,
           cell_info,
           cell_key,
           cell_types,
           make_cell,
           reachable_range,
)
from .tpms import (
           SURFACES,
           surface_field,
           surface_value,
           threshold_to_volume_fraction,
           tubular_gyroid,
           tubular_gyroid_field,
)
from .truss import (
           BASE_NETS,
           DISTANCE_CAP,
           grid_lattice,
           lattice_distance,
           lattice_segments,
           periodic_segment_distance,
           strut_lattice,
           voxel_centres,
)

__all__ = ["BASE_NETS", "DISTANCE_CAP", "FAMILIES", "SURFACES", "achievable_volume_fractions", "bounded_clusters",
           "cell_family", "cell_info", "cell_key", "cell_types", "grid_lattice", "lattice_distance",
           "lattice_segments", "make_cell", "percolation", "periodic_segment_distance", "reachable_range",
           "strut_lattice", "surface_field", "surface_value", "threshold_to_volume_fraction", "tubular_gyroid",
           "tubular_gyroid_field", "voxel_centres"]
