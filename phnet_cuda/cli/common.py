"""What the commands share: user errors and the exit statuses, output paths (checked and their
folders created before any work is done; written atomically), the cell a command works on (a
voxel file of any supported format or a library cell: ``add_cell_source_arguments`` /
``read_cell_source``), parsing --shape and --device, the cell arguments of homogenize and predict,
and printing and reporting C^H (matrices, engineering constants, the JSON report dict)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import device as check_device
from ..conventions import DEFAULT_SOFT_RATIO, VOIGT_ORDER
from ..voxel_io.read import FORMATS as FILE_FORMATS
from ..voxel_io.read import VoxelRead

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


# -- cell sources: a voxel file or a library cell --------------------------------------------

#: the options that describe a voxel file (read_voxels' keywords), refused with --cell
_FILE_OPTIONS = ("key", "threshold", "scale_255", "dims", "dtype", "box", "file_format")


@dataclass(frozen=True)
class CellSource:
    """The cell(s) a command works on: ``voxels`` float64 ``[n, n, n]`` or ``[B, n, n, n]`` in [0, 1],
    ``description`` (one line for the terminal), and the ``read`` of a voxel file (None for a library
    cell) or the ``library`` entry (cell type, n, target and achieved volume fraction; None for a file)."""

    voxels: np.ndarray
    description: str
    read: VoxelRead | None = None
    library: dict | None = None

    def report(self, cell: int | None = None) -> dict:
        """Where the cells came from, as JSON: the file (format, key, threshold and how it was found,
        periodicity measure, notes) or the library cell; ``cell`` keeps one cell's periodicity."""
        if self.read is not None:
            return {"source": "file", **self.read.to_dict(cell)}
        return {"source": "library", **self.library}


def add_cell_source_arguments(p: argparse.ArgumentParser, *, size_options: bool = True) -> None:
    """The cell a command works on: a voxel file (positional, optional) or ``--cell NAME --vf VF --n N``
    (a library cell), and the options that say how to read the file. ``read_cell_source`` turns them
    into voxels; exactly one of the file and ``--cell`` must be given.

    ``size_options=False`` leaves ``--vf`` and ``--n`` to the command, which defines them itself
    with the same names (e.g. with defaults, as the design's volume fraction and grid): --cell then
    builds its cell at the command's values, and a file is not checked against them (``--n`` still
    sets an STL's resolution)."""
    p.set_defaults(cell_size_options=size_options)
    g = p.add_argument_group("cell", "a voxel file or a library cell (--cell); exactly one of them")
    g.add_argument("voxels", nargs="?", default=None, metavar="FILE",
                   help="voxel file: .npy/.npz, .mat, .tif/.tiff stack, .vti, .raw/.bin (with --dims), .stl (with "
                        "--n); values in [0, 1] (1 = solid) unless --threshold or --scale-255")
    g.add_argument("--cell", default=None, metavar="NAME",
                   help="a library cell type instead of a file (phnet gallery shows them), with --vf and --n")
    if size_options:
        g.add_argument("--vf", type=float, default=None, help="--cell: target solid volume fraction")
        g.add_argument("--n", type=int, default=None, help="--cell and .stl: voxels per cell edge")
    g.add_argument("--key", default=None, help=".npz/.mat/.vti: the array to read when the file holds several")
    g.add_argument("--threshold", default=None, metavar="T|otsu",
                   help="grey values: solid where value > T, or T by Otsu's method; the threshold used is reported")
    g.add_argument("--scale-255", action="store_true",
                   help="the file is an integer image with values in [0, 255] (e.g. uint8 0/255): divide by 255; "
                        "without it (or --threshold) values outside [0, 1] are an error")
    g.add_argument("--dims", default=None, metavar="NX,NY,NZ",
                   help="raw files: nx,ny,nz or B,nx,ny,nz (x varies fastest in the file)")
    g.add_argument("--dtype", default=None, help="raw files: numpy dtype of the values, e.g. uint8, <u2, >f4 "
                                                 "(default uint8)")
    g.add_argument("--box", default=None, metavar="X0,Y0,Z0,X1,Y1,Z1",
                   help=".stl: the cell box (default: the mesh's bounds); parts outside come back in periodically")
    g.add_argument("--file-format", default=None, metavar="|".join(FILE_FORMATS),
                   help="the file's format when its extension does not say it")


def _warn(prog: str, message: str) -> None:
    print(f"{prog}: warning: {message}", file=sys.stderr)


def _library_cell(args, prog: str) -> CellSource:
    """``--cell NAME --vf VF --n N``: the library cell, checked like a file's."""
    import difflib

    from ..geometry import cell_family, cell_types, make_cell

    given = [f"--{name.replace('_', '-')}" for name in _FILE_OPTIONS if getattr(args, name, None) not in (None, False)]
    if given:
        raise UserError(f"{', '.join(given)}: appl{'ies' if len(given) == 1 else 'y'} to voxel files, not to --cell "
                        f"{args.cell}")
    names = cell_types()
    if args.cell not in names:
        close = difflib.get_close_matches(args.cell, names, n=5, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise UserError(f"--cell: unknown cell type {args.cell!r}{hint} ('phnet gallery' shows all {len(names)})")
    missing = [opt for opt, value in (("--vf", args.vf), ("--n", args.n)) if value is None]
    if missing:
        raise UserError(f"--cell {args.cell}: needs {' and '.join(missing)} (target solid volume fraction, voxels "
                        "per cell edge), e.g. --vf 0.2 --n 32")
    try:
        vox = make_cell(args.cell, args.n, args.vf, dtype=torch.float64).numpy()
    except ValueError as exc:
        raise UserError(f"--cell {args.cell} --vf {args.vf:g} --n {args.n}: {exc}") from None
    from ..voxel_io import check_periodicity

    message = check_periodicity(vox).message(f"--cell {args.cell}")
    if message is not None:  # library cells are periodic by construction: this would be a bug
        _warn(prog, message)
    achieved = float(vox.mean())
    library = {"cell": args.cell, "family": cell_family(args.cell), "n": args.n, "volume_fraction_target": args.vf,
               "volume_fraction": achieved}
    description = (f"library cell {args.cell} ({library['family']}), n = {args.n}, volume fraction {achieved:.4f} "
                   f"(target {args.vf:g})")
    return CellSource(vox, description, library=library)


def read_cell_source(args, *, required: bool = True) -> CellSource | None:
    """The cell(s) of the arguments of ``add_cell_source_arguments``: the voxel file through
    ``phnet_cuda.read_voxels`` (its notes - a cell that is not periodic, non-cubic voxels - are printed
    as ``phnet <cmd>: warning: ...`` lines on stderr) or the library cell of ``--cell``. Every
    problem is a one-line UserError naming the option or file. Without a file and ``--cell``: an
    error, or None when not ``required``."""
    import warnings

    from ..voxel_io import VoxelInputError, VoxelWarning, read_voxels

    prog = f"phnet {getattr(args, 'command', '')}".strip()
    own_sizes = getattr(args, "cell_size_options", True)  # --vf / --n are ours, so they must fit the source
    if args.voxels is not None and args.cell is not None:
        raise UserError(f"give a voxel file or --cell, not both (got {args.voxels} and --cell {args.cell})")
    if args.cell is not None:
        return _library_cell(args, prog)
    if args.voxels is None:
        if own_sizes and args.vf is not None:
            raise UserError("--vf: applies to library cells; give --cell NAME too (or a voxel file without --vf)")
        if not required:
            return None
        raise UserError("expected a voxel file (.npy, .npz, .mat, .tif, .vti, .raw, .stl) or --cell NAME --vf VF "
                        "--n N (a library cell; 'phnet gallery' shows them)")
    if own_sizes and args.vf is not None:
        raise UserError(f"--vf: applies to --cell only; the volume fraction of {args.voxels} is its own")
    options = {name: getattr(args, name, None) for name in _FILE_OPTIONS}
    options["scale_255"] = bool(options["scale_255"])
    stl = (args.file_format or os.path.splitext(str(args.voxels))[1].lower().lstrip(".")) == "stl"
    n = args.n if own_sizes or stl else None  # the command's own --n (its grid) is no option of other files
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            read = read_voxels(args.voxels, n=n, **options)
        except VoxelInputError as exc:
            raise UserError(exc.for_command_line()) from None
    for w in caught:
        message = w.message
        _warn(prog, message.for_command_line() if isinstance(message, VoxelWarning) else str(message))
    return CellSource(read.voxels, read.describe(), read=read)


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
    """The cell (a voxel file or --cell), material, shape, device and JSON output shared by homogenize and
    predict."""
    add_cell_source_arguments(p)
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

