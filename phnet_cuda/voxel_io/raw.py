"""Raw binary voxels (``.raw``, ``.bin``): no header, so ``dims`` and ``dtype`` say what the bytes are.

``dims`` is ``(nx, ny, nz)`` for one cell or ``(B, nx, ny, nz)`` for B cells one after the other;
within a cell x varies fastest, then y, then z, as in image stacks, VTK and most micro-CT software
(numpy writes such a file with ``vox.T.tofile(path)`` for a cell ``vox[x, y, z]``). ``dtype`` is a
numpy dtype name, with a byte order where it matters (``uint8``, ``<u2``, ``>f4``); the default is
uint8. The file size must match exactly."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .errors import VoxelInputError, option
from .loaded import Loaded

DEFAULT_DTYPE = "uint8"


def parse_dims(dims) -> tuple[int, ...]:
    """``dims`` (a sequence of 3 or 4 positive ints, or the command line's ``"48,48,48"``) as a tuple."""
    if isinstance(dims, str):
        try:
            dims = [int(v) for v in dims.split(",")]
        except ValueError:
            raise VoxelInputError(f"{option('dims')}: expected 3 or 4 positive integers nx,ny,nz or B,nx,ny,nz, got "
                                  f"{dims!r}") from None
    try:
        values = tuple(dims)
    except TypeError:
        values = ()
    if len(values) not in (3, 4) or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                                        for v in values):
        raise VoxelInputError(f"{option('dims')}: expected 3 or 4 positive integers (nx, ny, nz) or (B, nx, ny, nz), "
                              f"got {dims!r}")
    return tuple(int(v) for v in values)


def parse_dtype(dtype) -> np.dtype:
    """``dtype`` (None -> uint8) as a numpy dtype of real numbers or bools."""
    try:
        dt = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
    except TypeError:
        dt = None
    if dt is None or not (dt.kind == "b" or np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise VoxelInputError(f"{option('dtype')}: expected a numpy dtype of integers, floats or bools such as uint8, "
                              f"<u2 or >f4, got {dtype!r}")
    return dt


def read_raw(path: str, *, dims, dtype=None) -> Loaded:
    """The voxels of a raw binary file (module docstring) as ``[nx, ny, nz]`` or ``[B, nx, ny, nz]``."""
    dims, dt = parse_dims(dims), parse_dtype(dtype)
    count = math.prod(dims)
    expected, size = count * dt.itemsize, os.path.getsize(path)
    if size != expected:
        fits = []
        values = size // dt.itemsize  # how many values of dtype the file holds
        m = round(values ** (1 / 3)) if size % dt.itemsize == 0 else 0
        if m and m ** 3 == values:
            fits.append(f"a {m} x {m} x {m} cell of {dt}")
        if size % count == 0 and size // count in (1, 2, 4, 8):
            fits.append(f"these dims of a {size // count}-byte dtype")
        hint = f"; it would fit {' or '.join(fits)}" if fits else ""
        raise VoxelInputError(f"{path}: holds {size} bytes, but {option('dims')} {','.join(map(str, dims))} of "
                              f"{option('dtype')} {dt} needs {expected}{hint}")
    try:
        flat = np.fromfile(path, dtype=dt, count=count)
    except OSError as exc:
        raise VoxelInputError(f"cannot read {path} ({exc.strerror or exc})") from None
    if len(dims) == 3:
        array = flat.reshape(dims[::-1]).transpose(2, 1, 0)
    else:
        array = flat.reshape((dims[0],) + dims[:0:-1]).transpose(0, 3, 2, 1)
    return Loaded(np.ascontiguousarray(array), layout=f"{option('dims')} {','.join(map(str, dims))}")
