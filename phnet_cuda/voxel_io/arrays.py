"""What every voxel array must be, whichever file it came from: rank 3 or 4, cubic, not empty, real
finite numbers (bool and integers accepted). One check per rule, each a one-line error that
names the source (the file, and the array inside it), what it holds and what was expected."""

from __future__ import annotations

import numpy as np

from .errors import VoxelInputError

EXPECTED_LAYOUT = "a voxel array [n, n, n] or [B, n, n, n]"


def check_voxel_array(array, source: str, *, layout: str | None = None) -> np.ndarray:
    """``array`` as float64 ``[n, n, n]`` or ``[B, n, n, n]`` (B, n >= 1) of finite real numbers; values
    are not range-checked here (see ``threshold.to_unit_range``). ``source`` names it in messages
    (``cell.npz['vox']``); ``layout`` describes its shape in the file's own terms when that differs
    from the array's (``10 pages of 64 x 64 pixels``)."""
    vox = np.asarray(array)
    shape = layout or f"shape {vox.shape}"
    if vox.ndim not in (3, 4) or len(set(vox.shape[-3:])) != 1:
        raise VoxelInputError(f"{source}: expected {EXPECTED_LAYOUT}, got {shape}")
    if vox.size == 0:
        raise VoxelInputError(f"{source}: holds an empty array of {shape} (dtype {vox.dtype}); expected at least "
                              "one cell with n >= 1 voxels per edge")
    if np.iscomplexobj(vox):
        raise VoxelInputError(f"{source}: holds complex values (dtype {vox.dtype}, {shape}); expected real numbers")
    if vox.dtype == bool:
        vox = vox.astype(np.uint8)
    if not np.issubdtype(vox.dtype, np.number):
        raise VoxelInputError(f"{source}: holds dtype {vox.dtype}; expected real numbers (float, int or bool)")
    # min and max see every NaN and inf (both propagate NaN), without a full isfinite pass on good data
    lo, hi = float(vox.min()), float(vox.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(vox.size - np.count_nonzero(np.isfinite(vox)))
        raise VoxelInputError(f"{source}: holds {bad} NaN/inf value(s) (dtype {vox.dtype}, {shape}); expected "
                              "finite numbers")
    return vox
