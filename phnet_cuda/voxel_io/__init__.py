"""The user's own voxel data: files of every common format read into checked voxel cells.

``read_voxels(path, ...)`` -> ``VoxelRead`` (``read``): the format by extension, one reader per
format, then the checks every cell shares and the mapping of its values to [0, 1]:

======================  ========================================================================
``npy``                 ``.npy`` / ``.npz`` (``key`` picks an array of an archive)
``mat``                 MATLAB ``.mat``, v4-v7 (scipy) and v7.3 (HDF5, h5py); index order x, y, z
``tiff``                multi-page TIFF stacks (tifffile): page = z, row = y, column = x
``vti``                 VTK XML image data: ascii, base64 and appended raw/base64, zlib
``raw``                 headerless binary with ``dims`` and ``dtype``, x fastest
``stl``, ``voxelize``   a watertight mesh voxelized into an n^3 periodic cell (trimesh reads it)
======================  ========================================================================

Shared: ``loaded`` (what a reader hands back), ``arrays`` (rank, cubic, empty, real, finite),
``keys`` (choosing one array of several), ``threshold`` (as given, a number or Otsu, or / 255),
``periodicity`` (opposite faces against neighbouring layers inside: a warning for blocks that
are not one period), ``errors``
(``VoxelInputError``, ``VoxelWarning``: one line naming the file, with arguments spelled for
Python or for the ``phnet`` command line).

Only numpy is imported here; scipy, h5py, tifffile, trimesh and scikit-image are imported by the
reader that needs them, when it runs.
"""

from .errors import VoxelInputError, VoxelWarning
from .periodicity import Periodicity, check_periodicity
from .read import EXTENSIONS, FORMATS, VoxelRead, detect_format, read_voxels
from .threshold import Threshold
from .voxelize import winding_numbers

__all__ = ["EXTENSIONS", "FORMATS", "Periodicity", "Threshold", "VoxelInputError", "VoxelRead", "VoxelWarning",
           "check_periodicity", "detect_format", "read_voxels", "winding_numbers"]
