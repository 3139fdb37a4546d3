"""Saving and resuming a design run: one ``.npz`` file of arrays plus a JSON header.

The file holds the design variables, the optimizer's state, the last displacement field (the
solver's warm start) and the history, so that a resumed run does exactly what the uninterrupted
one would have done. It is written atomically (a temporary file in the same folder, then
``os.replace``): an interruption leaves the previous state or the new one, never half a file.
It is read with ``np.load(allow_pickle=False)``: the header is a JSON string, never a pickle.

The header's ``settings`` are compared with the run's on resume: a state written by a run with
other settings is refused with a message naming the first difference.
"""

from __future__ import annotations

import json
import os

import numpy as np

#: format version of the state file; bump when its arrays change meaning
STATE_VERSION = 1


def save_state(path, arrays: dict[str, np.ndarray], header: dict) -> str:
    """Write ``arrays`` (name -> numpy array) and ``header`` (JSON-able dict) to ``path`` (.npz) atomically."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"state path must end in .npz, got {path!r}")
    if "header" in arrays:
        raise ValueError("arrays must not use the name 'header' (it holds the JSON header)")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}.npz")
    text = json.dumps({"version": STATE_VERSION, **header})
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, header=np.array(text), **{k: np.asarray(v) for k, v in arrays.items()})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_state(path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the header of a state file written by ``save_state``.

    Raises ValueError naming the file when it cannot be read as one (not an .npz, no header,
    another format version)."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"cannot read the design state {path} ({type(exc).__name__}: {exc}); delete it to start "
                         "afresh") from None
    if "header" not in arrays:
        raise ValueError(f"{path} is not a design state (no header); delete it to start afresh")
    try:
        header = json.loads(str(arrays.pop("header")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: unreadable header ({exc}); delete it to start afresh") from None
    if header.get("version") != STATE_VERSION:
        raise ValueError(f"{path} has state format version {header.get('version')!r}, this version reads "
                         f"{STATE_VERSION}; delete it to start afresh")
    return arrays, header


def first_difference(saved: dict, current: dict) -> str | None:
    """The first setting whose value differs between two settings dicts, as ``name: saved -> current``;
    None when they agree."""
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            return f"{key}: {saved.get(key)!r} -> {current.get(key)!r}"
    return None


__all__ = ["STATE_VERSION", "first_difference", "load_state", "save_state"]
