"""NumPy files: a ``.npy`` array, or one array of a ``.npz`` archive (``key``). Whatever the extension,
``np.load`` tells the two apart by their content; pickled objects are never loaded."""

from __future__ import annotations

import numpy as np

from .errors import VoxelInputError, option
from .keys import choose_key
from .loaded import Loaded


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def _member_header(archive, name: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of the member ``name`` of an open .npz archive, from its .npy header only (a
    CT scan's archive may hold several large arrays: only the chosen one is read)."""
    with archive.zip.open(f"{name}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(fh)
    return shape, dtype


def read_numpy(path: str, *, key: str | None = None) -> Loaded:
    """The array of a .npy file, or the array ``key`` of a .npz archive (the only voxel-like one when
    ``key`` is None; ``keys.choose_key``)."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    # np.load takes any other content for a pickle and says so: a confusing message for a wrong file
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise VoxelInputError(f"cannot read {path} as a .npy/.npz array (it starts with {magic!r}, not with the "
                              "NumPy or zip signature)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad files
        raise VoxelInputError(f"cannot read {path} as a .npy/.npz array ({_first_line(exc)})") from None
    if isinstance(loaded, np.ndarray):
        if key is not None:
            raise VoxelInputError(f"{option('key')} {key!r}: {path} holds one .npy array, not a .npz archive of "
                                  "named arrays; drop the key")
        return Loaded(loaded)
    with loaded:  # an NpzFile: a lazy archive of named arrays
        try:
            arrays = {name: _member_header(loaded, name) for name in loaded.files}
            name = choose_key(path, arrays, key)
            return Loaded(loaded[name], key=name)
        except VoxelInputError:
            raise
        except Exception as exc:
            raise VoxelInputError(f"cannot read {path} as a .npz archive ({_first_line(exc)})") from None
