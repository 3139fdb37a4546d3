"""Choosing one array of a file that holds several (.npz, .mat, .vti): by ``key``, or the only one
that can be a voxel cell, with an error that lists the candidates when the choice is ambiguous."""

from __future__ import annotations

import numpy as np

from .errors import VoxelInputError, option


def _voxel_like(shape: tuple, dtype) -> bool:
    """Rank 3 or 4 and numbers or bools: what could be a voxel array (the full checks come later)."""
    dtype = np.dtype(dtype)
    return len(shape) in (3, 4) and (dtype.kind == "b" or np.issubdtype(dtype, np.number))


def describe(arrays: dict) -> str:
    """``'vox' (48, 48, 48) uint8, 'E' (1, 1) float64`` for a name -> (shape, dtype) mapping."""
    return ", ".join(f"{name!r} {tuple(shape)} {np.dtype(dtype)}" for name, (shape, dtype) in arrays.items())


def choose_key(path: str, arrays: dict, key: str | None, *, what: str = "array") -> str:
    """The name of the array to read from ``path``, whose arrays ``arrays`` maps name -> (shape, dtype).

    With ``key``: that name (an error lists the names when it is missing). Without: the file's only
    array, or else its only rank-3/4 numeric array; none or several of those is an error that lists
    them and asks for ``key``. ``what`` names the entries in messages (``variable`` for .mat)."""
    if not arrays:
        raise VoxelInputError(f"{path}: holds no {what}s; expected {what} [n, n, n] or [B, n, n, n]")
    if key is not None:
        if key not in arrays:
            raise VoxelInputError(f"{path}: has no {what} {key!r} ({option('key')}); it holds {describe(arrays)}")
        return key
    if len(arrays) == 1:
        return next(iter(arrays))
    candidates = {name: sd for name, sd in arrays.items() if _voxel_like(*sd)}
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise VoxelInputError(f"{path}: holds no {what} that can be a voxel cell [n, n, n] or [B, n, n, n]; it "
                              f"holds {describe(arrays)}")
    raise VoxelInputError(f"{path}: holds {len(candidates)} {what}s that can be voxel cells, "
                          f"{describe(candidates)}; choose one with {option('key')}")
