"""What the commands share: user errors and the exit statuses, output paths (checked and their
folders created before any work is done; written atomically), reading voxel files, parsing
--shape and --device, the cell arguments of homogenize and predict, and printing and reporting
C^H (matrices, engineering constants, the JSON report dict)."""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import torch

from .._checks import device as check_device
from ..conventions import DEFAULT_SOFT_RATIO, VOIGT_ORDER

#: exit status of a failure that is not the user's input (a bug, memory, the disk, ...)
EXIT_FAILURE = 1
#: exit status of an error in the user's input (argparse's too)
EXIT_USAGE = 2
#: 128 + SIGINT, the shell's status for a command stopped by Ctrl-C
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem with the user's input, reported as one line."""


def _format_matrix(C: torch.Tensor) -> str:
    return "\n".join("  " + " ".join(f"{float(v):11.4e}" for v in row) for row in C)


def _format_constants(consts: dict) -> str:
    keys = list(consts)
    return "\n".join("  " + "  ".join(f"{k} = {consts[k]:.5g}" for k in keys[i:i + 3]) for i in range(0, len(keys), 3))


# -- output paths -------------------------------------------------------------------------------

def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc).splitlines()[0] or type(exc).__name__


def _file_in_the_way(folder: str) -> str | None:
    """The first existing ancestor of ``folder`` (itself included) that is not a directory, if any."""
    p = os.path.abspath(folder)
    while True:
        if os.path.lexists(p):
            return None if os.path.isdir(p) else p
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


def prepare_output(path, arg: str, *, directory: bool = False) -> str | None:
    """Check an output path before any work is done and create its missing folders.

    ``path`` is the value of the option ``arg`` (e.g. ``"--out"``): a file to write (``directory=False``)
    or a folder to write files into (``directory=True``). Missing parent folders (or the folder itself)
    are created; a path that cannot be written - a file where a folder is needed or the reverse, a
    read-only location, a missing permission - raises a one-line UserError such as
    ``--out: cannot write /x/y.json (Permission denied)``. Writability is tested by creating (and
    removing) a file in the target folder, because ``os.access`` is wrong for root, ACLs and
    read-only mounts. Returns ``path`` (None passes through: the option was not given)."""
    if path is None:
        return None
    path = os.fspath(path)
    if not path.strip():
        raise UserError(f"{arg}: expected a {'folder' if directory else 'file'} path, got {path!r}")
    if directory:
        if os.path.exists(path) and not os.path.isdir(path):
            raise UserError(f"{arg}: cannot write into {path} (it is a file; expected a folder)")
        folder = path
    else:
        if os.path.isdir(path):
            raise UserError(f"{arg}: cannot write {path} (it is a folder; expected a file name)")
        folder = os.path.dirname(os.path.abspath(path))
    blocker = _file_in_the_way(folder)
    if blocker is not None:
        raise UserError(f"{arg}: cannot write {path} ({blocker} is a file, not a folder)")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".phnet-write-test-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise UserError(f"{arg}: cannot write {path} ({_reason(exc)})") from None
    # an existing file is replaced atomically (a new inode), but a read-only one was made so on purpose
    if not directory and os.path.exists(path) and not os.access(path, os.W_OK):
        raise UserError(f"{arg}: cannot write {path} (Permission denied: the file is read-only)")
    return path


def write_text(path: str, text: str, arg: str = "--out") -> str:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, fsync, rename): an
    interruption or a full disk leaves the old file or the new one, never a truncated one. A failure
    raises a one-line UserError naming ``arg``. Returns ``path``."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        try:
            with open(tmp, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except OSError as exc:
        raise UserError(f"{arg}: cannot write {path} ({_reason(exc)})") from None
    return path


# -- devices ------------------------------------------------------------------------------------

def parse_device(name, arg: str = "--device") -> torch.device:
    """The torch.device of a device option: None or ``"auto"`` -> ``cuda`` when available, else
    ``cpu``; anything else by the rules of ``_checks.device`` (cpu, cuda, cuda:N; a ValueError
    naming ``arg``, e.g. ``--device cuda requested but this torch has no CUDA; use --device cpu``)."""
    if name is None or (isinstance(name, str) and name == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_device(name, arg)


def _device(name: str | None) -> torch.device:
    """``parse_device`` of a command's --device option, its ValueError as a UserError."""
    try:
        return parse_device(name)
    except ValueError as exc:
        raise UserError(str(exc)) from None


# -- voxel files --------------------------------------------------------------------------------

def _load_voxels(path: str, *, scale_255: bool = False) -> np.ndarray:
    """The voxel array of a .npy file as float64 in [0, 1]: ``[n, n, n]`` or ``[B, n, n, n]`` with B, n >= 1,
    real finite numbers (bool accepted). With ``scale_255`` an integer image with values in [0, 255]
    (an 8-bit 0/255 picture) is divided by 255. Every problem is a one-line UserError naming the file,
    what it holds (shape, dtype, range) and what is expected."""
    if not os.path.exists(path):
        raise UserError(f"voxel file not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"voxel file {path} is a folder; expected a .npy file")
    try:
        vox = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad files
        first = (str(exc).splitlines() or [""])[0]
        raise UserError(f"cannot read {path} as a .npy array ({type(exc).__name__}: {first})") from None
    if not isinstance(vox, np.ndarray):  # a .npz archive loads as a lazy dict of arrays
        names = list(getattr(vox, "files", []))
        if hasattr(vox, "close"):
            vox.close()
        raise UserError(f"{path}: holds a .npz archive of {len(names)} array(s) {names[:5]}; expected a .npy "
                        "voxel array [n, n, n] or [B, n, n, n]")
    if vox.ndim not in (3, 4) or len(set(vox.shape[-3:])) != 1:
        raise UserError(f"{path}: expected a voxel array [n, n, n] or [B, n, n, n], got shape {vox.shape}")
    if vox.size == 0:
        raise UserError(f"{path}: holds an empty array of shape {vox.shape} (dtype {vox.dtype}); expected at "
                        "least one cell with n >= 1 voxels per edge")
    if np.iscomplexobj(vox):
        raise UserError(f"{path}: holds complex values (dtype {vox.dtype}, shape {vox.shape}); expected real "
                        "numbers in [0, 1]")
    if vox.dtype == bool:
        vox = vox.astype(np.float32)
    if not np.issubdtype(vox.dtype, np.number):
        raise UserError(f"{path}: holds dtype {vox.dtype}; expected real numbers in [0, 1] (float, int or bool)")
    dtype, integer = vox.dtype, np.issubdtype(vox.dtype, np.integer)
    if scale_255 and not integer:
        raise UserError(f"--scale-255: {path} holds dtype {dtype}; expected an integer image (e.g. uint8 0/255)")
    vox = vox.astype(np.float64)
    finite = np.isfinite(vox)
    if not finite.all():
        raise UserError(f"{path}: holds {int(vox.size - finite.sum())} NaN/inf value(s) (dtype {dtype}, "
                        f"shape {vox.shape}); expected finite numbers in [0, 1]")
    lo, hi = float(vox.min()), float(vox.max())
    if scale_255:
        if lo < 0 or hi > 255:
            raise UserError(f"--scale-255: {path}: values must lie in [0, 255], got range [{lo:g}, {hi:g}]")
        if hi == 1:  # a 0/1 image divided by 255 would be nearly empty: a silent wrong number
            raise UserError(f"--scale-255: {path} holds values in [0, 1] already (range [{lo:g}, {hi:g}]); "
                            "drop --scale-255")
        return vox / 255.0
    if lo < 0 or hi > 1:
        hint = "; for an 8-bit 0/255 image pass --scale-255" if integer and lo >= 0 and hi <= 255 else ""
        raise UserError(f"{path}: voxel values must lie in [0, 1], got range [{lo:g}, {hi:g}] (dtype {dtype}){hint}")
    return vox


def _parse_shape(text: str | None):
    """--shape: six numbers a_xy,a_yz,a_xz,lx,ly,lz (this library's parameters), or nine numbers,
    the lattice matrix row by row (J11,J12,J13,J21,...,J33; its COLUMNS are the lattice vectors in
    the global frame, in which C^H is then reported)."""
    if text is None:
        return None
    expected = "six numbers a_xy,a_yz,a_xz,lx,ly,lz or nine numbers J11,J12,...,J33 (a lattice matrix row by row)"
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--shape: expected {expected}, got {text!r}") from None
    if len(values) == 9:
        return [values[0:3], values[3:6], values[6:9]]
    if len(values) != 6:
        raise UserError(f"--shape: expected {expected}, got {len(values)} numbers")
    return values


def _report(CH: torch.Tensor, res, extra: dict) -> dict:
    from ..post import engineering_constants
    return {
        "CH": CH.tolist(),
        "voigt_order": list(VOIGT_ORDER),
        "engineering_constants": engineering_constants(CH),
        "iterations": res.iterations,
        "max_relative_residual": float(res.residual.max()),
        "converged": res.converged,
        "seconds": res.seconds,
        **extra,
    }


def _add_cell_arguments(p: argparse.ArgumentParser) -> None:
    """The voxel file, material, shape, device and JSON output shared by homogenize and predict."""
    p.add_argument("voxels", help=".npy voxel array [n, n, n] or [B, n, n, n] in [0, 1] (1 = solid; bool accepted)")
    p.add_argument("--scale-255", action="store_true",
                   help="the file is an integer image with values in [0, 255] (e.g. uint8 0/255): divide by 255; "
                        "without it values outside [0, 1] are an error")
    p.add_argument("--E", type=float, default=1.0)
    p.add_argument("--nu", type=float, default=0.3)
    p.add_argument("--soft-ratio", type=float, default=DEFAULT_SOFT_RATIO)
    p.add_argument("--shape", default=None,
                   help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (degrees, lengths; docs/conventions.md), or nine "
                        "numbers: the lattice matrix row by row (columns = lattice vectors); default cube")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--out", default=None, help="write the result as JSON (missing folders are created)")
    add_verbose(p)


def add_verbose(p: argparse.ArgumentParser) -> None:
    """The --verbose flag every command has: with an error, also print its full detail (the underlying
    exception and the traceback) after the one-line message."""
    p.add_argument("--verbose", action="store_true",
                   help="on an error, also print the full detail (underlying exception, traceback)")

