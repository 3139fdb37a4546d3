"""MATLAB .mat files: one variable (``key``, or the only rank-3/4 numeric one), index order (i, j, k)
= (x, y, z) as MATLAB writes it (homo3D's ``[nelx, nely, nelz] = size(voxel)``).

Formats v4 to v7 through ``scipy.io.loadmat``; v7.3 files are HDF5, read through h5py (their
datasets hold MATLAB's column-major arrays, so they are transposed back to MATLAB's index order;
logical arrays are stored as uint8 and stay 0/1)."""

from __future__ import annotations

import numpy as np

from .errors import VoxelInputError
from .keys import choose_key
from .loaded import Loaded


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def _read_v73(path: str, key: str | None) -> Loaded:
    import h5py  # lazy: only v7.3 files need it

    try:
        with h5py.File(path, "r") as f:
            # MATLAB keeps cell-array and object storage under '#refs#' / '#subsystem#': not variables
            datasets = {name: obj for name, obj in f.items() if isinstance(obj, h5py.Dataset)
                        and not name.startswith("#")}
            arrays = {name: (ds.shape[::-1], ds.dtype) for name, ds in datasets.items()}
            name = choose_key(path, arrays, key, what="variable")
            return Loaded(np.asarray(datasets[name][()]).T, key=name)
    except VoxelInputError:
        raise
    except Exception as exc:
        raise VoxelInputError(f"cannot read {path} as a MATLAB v7.3 (HDF5) file ({_first_line(exc)})") from None


def read_mat(path: str, *, key: str | None = None) -> Loaded:
    """The variable ``key`` of a .mat file (module docstring)."""
    import scipy.io  # lazy: scipy is heavy to import

    try:
        variables = scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to a v7.3 (HDF5) file
        return _read_v73(path, key)
    except Exception as exc:  # scipy raises several types for bad files
        raise VoxelInputError(f"cannot read {path} as a MATLAB .mat file ({_first_line(exc)})") from None
    arrays = {name: (np.shape(v), np.asarray(v).dtype) for name, v in variables.items() if not name.startswith("__")}
    name = choose_key(path, arrays, key, what="variable")
    return Loaded(np.asarray(variables[name]), key=name)
