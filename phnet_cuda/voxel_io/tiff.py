"""Multi-page TIFF image stacks (micro-CT): page k is the slice z = k, its rows are y and its
columns x, so the stack [pages, rows, columns] becomes the cell [x, y, z]. A 4-D stack
[cells, pages, rows, columns] is a batch. Colour (RGB) pages are refused: segment a greyscale
stack."""

from __future__ import annotations

import numpy as np

from .errors import VoxelInputError
from .loaded import Loaded


def read_tiff(path: str) -> Loaded:
    """The stack of a TIFF file as a cell (module docstring), through ``tifffile``."""
    import tifffile  # lazy: an optional reader

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            stack = series.asarray()
    except Exception as exc:  # tifffile raises several types for bad files
        first = (str(exc).splitlines() or [""])[0]
        raise VoxelInputError(f"cannot read {path} as a TIFF stack ({type(exc).__name__}: {first})") from None
    if "S" in axes:  # samples per pixel: colour
        raise VoxelInputError(f"{path}: holds colour pages (axes {axes}, shape {stack.shape}); expected a greyscale "
                              "stack of n pages of n x n pixels")
    if stack.ndim == 2:
        raise VoxelInputError(f"{path}: holds a single {stack.shape[0]} x {stack.shape[1]} image; expected a stack "
                              "of n pages of n x n pixels (a multi-page TIFF)")
    if stack.ndim == 3:
        layout = f"{stack.shape[0]} pages of {stack.shape[1]} x {stack.shape[2]} pixels"
        return Loaded(np.ascontiguousarray(stack.transpose(2, 1, 0)), layout=layout)
    if stack.ndim == 4:
        layout = f"{stack.shape[0]} stacks of {stack.shape[1]} pages of {stack.shape[2]} x {stack.shape[3]} pixels"
        return Loaded(np.ascontiguousarray(stack.transpose(0, 3, 2, 1)), layout=layout)
    return Loaded(stack, layout=f"axes {axes}, shape {stack.shape}")
