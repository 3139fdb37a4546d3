"""``read_voxels``: any supported file to a checked voxel cell, with the threshold used and notes.

The format follows the extension (``file_format`` overrides it); every format ends in the same
checks (``arrays``), the same mapping to [0, 1] (``threshold``) and the same periodicity check
(``periodicity``). Options that do not apply to the file's format are refused, not ignored."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from .arrays import check_voxel_array
from .errors import VoxelInputError, VoxelWarning, option
from .mat import read_mat
from .npy import read_numpy
from .periodicity import Periodicity, check_periodicity
from .raw import read_raw
from .stl import read_stl
from .threshold import Threshold, parse_threshold, to_unit_range
from .tiff import read_tiff
from .vti import read_vti

#: extension -> format
EXTENSIONS = {".npy": "npy", ".npz": "npz", ".mat": "mat", ".tif": "tiff", ".tiff": "tiff", ".vti": "vti",
              ".raw": "raw", ".bin": "raw", ".stl": "stl"}
FORMATS = ("npy", "npz", "mat", "tiff", "vti", "raw", "stl")
#: format -> reader (each imports its optional package - scipy, h5py, tifffile, trimesh - when it runs)
_READERS = {"npy": read_numpy, "npz": read_numpy, "mat": read_mat, "tiff": read_tiff, "vti": read_vti,
            "raw": read_raw, "stl": read_stl}
#: the options that only some formats take
_ONLY = {"key": ("npy", "npz", "mat", "vti"), "dims": ("raw",), "dtype": ("raw",), "n": ("stl",), "box": ("stl",)}


@dataclass(frozen=True)
class VoxelRead:
    """What ``read_voxels`` read.

    Attributes:
        voxels: float64 ``[n, n, n]`` or ``[B, n, n, n]``, solid fractions in [0, 1] (1 = solid), axes
            x, y, z (docs/conventions.md).
        path, format: the file and its format (``"npy"``, ``"npz"``, ``"mat"``, ``"tiff"``, ``"vti"``,
            ``"raw"``, ``"stl"``).
        key: the array read from a multi-array file (.npz, .mat, .vti), else None.
        threshold: how the values became solid fractions (``value``, ``method``, ``scale_255``).
        periodicity: the face-difference measure of every cell (``periodicity.Periodicity``).
        notes: the warnings issued while reading (each also issued as a ``VoxelWarning``).
    """

    voxels: np.ndarray
    path: str
    format: str
    key: str | None
    threshold: Threshold
    periodicity: Periodicity
    notes: tuple[str, ...]

    @property
    def cells(self) -> int:
        """The number of cells (B, 1 for an ``[n, n, n]`` array)."""
        return 1 if self.voxels.ndim == 3 else self.voxels.shape[0]

    def describe(self) -> str:
        """One line: ``cell.tif (tiff, 1 cell, n = 64, threshold 117.5 (Otsu; solid where value > T))``."""
        key = f"[{self.key!r}]" if self.key is not None else ""
        count = f"{self.cells} cell{'s' if self.cells > 1 else ''}"
        values = "voxelized at the voxel centres" if self.format == "stl" else self.threshold.describe()
        return f"{self.path}{key} ({self.format}, {count}, n = {self.voxels.shape[-1]}, {values})"

    def to_dict(self, cell: int | None = None) -> dict:
        """The read as JSON; ``cell`` keeps the periodicity measure of that cell only (all cells by default)."""
        cells = range(self.cells) if cell is None else [cell]
        return {"path": self.path, "format": self.format, "key": self.key, "n": int(self.voxels.shape[-1]),
                "cells": self.cells, "threshold": self.threshold.value, "threshold_method": self.threshold.method,
                "scale_255": self.threshold.scale_255,
                "periodicity": [self.periodicity.cell_dict(b) for b in cells], "notes": list(self.notes)}


def detect_format(path: str, file_format: str | None = None) -> str:
    """The format of ``path``: ``file_format`` when given (one of ``FORMATS``), else by its extension."""
    if file_format is not None:
        if file_format not in FORMATS:
            raise VoxelInputError(f"{option('file_format')}: expected one of {', '.join(FORMATS)}, got {file_format!r}")
        return file_format
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise VoxelInputError(f"{path}: unknown voxel file extension {ext or '(none)'!r}; expected one of "
                              f"{', '.join(EXTENSIONS)} (or name the format with {option('file_format')})")
    return EXTENSIONS[ext]


def read_voxels(path, *, key: str | None = None, threshold=None, scale_255: bool = False, dims=None, dtype=None,
                n: int | None = None, box=None, file_format: str | None = None) -> VoxelRead:
    """Read a voxel cell (or a batch of cells) from a file, check it and map its values to [0, 1].

    Args:
        path: a ``.npy`` / ``.npz`` (NumPy), ``.mat`` (MATLAB, v7.3 too), ``.tif`` / ``.tiff``
            (multi-page stack: page = z, row = y, column = x), ``.vti`` (VTK image data), ``.raw`` /
            ``.bin`` (raw binary, x fastest) or ``.stl`` (watertight mesh) file.
        key: the array of a file that holds several (.npz, .mat, .vti); default: the only one that
            can be a voxel cell.
        threshold: a number T (solid where value > T, in the file's values) or ``"otsu"``; default:
            none, and the values must lie in [0, 1] already.
        scale_255: divide an integer 0..255 image by 255 (instead of a threshold).
        dims, dtype: raw files only: ``(nx, ny, nz)`` or ``(B, nx, ny, nz)``, and a numpy dtype
            (default uint8).
        n, box: STL only: voxels per cell edge (required), and the cell box ``(xmin, ymin, zmin,
            xmax, ymax, zmax)`` (default: the mesh's bounds).
        file_format: one of ``FORMATS``, overriding the extension.

    Returns:
        ``VoxelRead``: ``voxels`` float64 in [0, 1], the ``threshold`` used, the ``periodicity``
        measure and ``notes``. A cell whose opposite faces differ (``periodicity``), non-cubic
        voxels and a threshold that leaves no void are noted and warned about (``VoxelWarning``).

    Raises:
        VoxelInputError (a ValueError): one line naming the file, what it holds and what was
            expected - a missing or unreadable file, a wrong rank, a non-cubic or empty array, NaN,
            a missing or ambiguous key, dims that do not match the file size, a mesh that is not
            closed, an option that does not apply to the format.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VoxelInputError(f"voxel file not found: {path}")
    if os.path.isdir(path):
        raise VoxelInputError(f"voxel file {path} is a folder; expected a file ({', '.join(EXTENSIONS)})")
    fmt = detect_format(path, file_format)
    given = {"key": key, "dims": dims, "dtype": dtype, "n": n, "box": box}
    for name, value in given.items():
        if value is not None and fmt not in _ONLY[name]:
            formats = ", ".join(_ONLY[name])
            raise VoxelInputError(f"{option(name)}: applies to {formats} files only; {path} is a {fmt} file")
    if fmt == "raw" and dims is None:
        raise VoxelInputError(f"{path}: a raw file needs {option('dims')} (nx,ny,nz or B,nx,ny,nz) and "
                              f"{option('dtype')} (default uint8): it has no header to say its size")
    parse_threshold(threshold)  # a bad threshold is refused before the file is read
    if fmt == "stl" and (threshold is not None or scale_255):
        name = "threshold" if threshold is not None else "scale_255"
        raise VoxelInputError(f"{option(name)}: does not apply to an STL mesh ({path}), which is voxelized to 0/1")
    reader = _READERS[fmt]
    kwargs = {name: value for name, value in given.items() if fmt in _ONLY[name]}
    loaded = reader(path, **kwargs)
    source = loaded.source(path)
    vox = check_voxel_array(loaded.array, source, layout=loaded.layout)
    vox, used = to_unit_range(vox, source, threshold=threshold, scale_255=scale_255)
    notes = list(loaded.notes)
    if used.value is not None and bool(np.all(vox == 1)):
        notes.append(f"{source}: {option('threshold')} {used.value:g} leaves no void voxel: the cell is solid")
    periodicity = check_periodicity(vox)
    message = periodicity.message(source)
    if message is not None:
        notes.append(message)
    warned = [VoxelWarning(note) for note in notes]
    for w in warned:
        warnings.warn(w, stacklevel=2)
    return VoxelRead(vox, path, fmt, loaded.key, used, periodicity, tuple(str(w) for w in warned))
