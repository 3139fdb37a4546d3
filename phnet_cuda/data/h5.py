"""The HDF5 file format of a cell dataset: its layout, opening and reading, checksums and integrity.

Everything that knows how a dataset sits on disk lives here: the format name and version, the
errors for unusable or corrupt files, creating an empty file from a ``Plan``, reading rows fast,
the sha256 checksums and their verification, and the split indices. It is separate from the
builder, the labeller and the torch loader so that all of them read and write one format through
one set of functions; h5py is imported only when a file is touched.

File layout (one HDF5 file, chunked and gzip-compressed)::

    /geometry/voxels [G, n, n, n] uint8 (float16/32 fractional)  each geometry stored once
    /geometry/type [G] int16 -> /geometry/type_names [T] bytes;  family_of_type [T] bytes
    /geometry/vf_target, vf (measured) [G] float64; group, vf_index [G] int16 (grid position)
    /geometry/percolates [G, 3] uint8 (1/0 per axis x, y, z; 255 = cell not built)
    /geometry/status [G] uint8: 1 built, 2 rejected, 3 dropped by out_of_range (0 = not yet built)
    /samples/geometry [S] int64; shape [S, 6] float64; E, nu, soft_ratio [S] float64
    /labels/CH [S, 6, 6] float64 (NaN = not labelled); converged [S] int8 (-1 = not labelled);
            residual, tol [S] float64; iterations [S] int32
    /split/train, /split/test  sorted sample indices int64
    /build/completed [chunks] uint8   chunks of geometries written (resume)

Attributes of the root: format, format_version, status ("building" / "complete"), spec (JSON
text), spec_sha256, plan_sha256, seed, n, generator, versions (JSON), checksums (sha256 of
every dataset's shape, dtype and bytes, written at completion), label_checksums and
labels_state (the /labels group, rewritten at the end of each labelling run).

Everything ``_create`` writes (the attributes above but ``checksums``, and every dataset but
/split) is the *header*: a file is created under a temporary name and appears under its own
name only once its header is complete (``build``), so a file that lacks part of it was not
written by a build of this version; ``open_file`` reports it as a DatasetError instead of
failing later with a KeyError. Writers (build, label) hold ``write_lock`` (an exclusive
``flock`` on ``<file>.lock``) for as long as they write, on top of HDF5's own file lock.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import time
import warnings

import numpy as np
import torch

from .plan import Plan
from .spec import SPLITS

FORMAT = "phnet_cuda.cell_dataset"
FORMAT_VERSION = 1

#: datasets whose checksums are written once, at the end of the build
IMMUTABLE_GROUPS = ("geometry", "samples", "split")
LABEL_DATASETS = ("labels/CH", "labels/converged", "labels/residual", "labels/tol", "labels/iterations")


class DatasetError(ValueError):
    """A dataset file or spec that cannot be used (the message names the file or the key)."""


class DatasetCorruptError(DatasetError):
    """A dataset file whose contents do not match their stored checksums, or cannot be read."""


class DatasetInUseError(DatasetError):
    """A dataset file that another process holds: a writer's ``<file>.lock`` or HDF5's own file lock."""


#: attributes and datasets that ``_create`` writes: a file without one of them is not a usable dataset
HEADER_ATTRS = ("format", "format_version", "status", "spec", "spec_sha256", "plan_sha256", "name", "seed", "n",
                "generator", "versions", "vf_adjustments", "rejected", "labels_state", "label_checksums")
GEOMETRY_DATASETS = tuple(f"geometry/{k}" for k in ("voxels", "type", "group", "vf_index", "vf_target", "vf",
                                                     "percolates", "status"))
SAMPLE_DATASETS = tuple(f"samples/{k}" for k in ("geometry", "shape", "E", "nu", "soft_ratio"))
TYPE_DATASETS = ("geometry/type_names", "geometry/family_of_type")


def _h5():
    import h5py
    return h5py


def read_rows(ds, rows) -> np.ndarray:
    """``ds[rows]`` for sorted unique first-axis indices, read as contiguous slices (h5py's
    fancy indexing is some 20-40x slower than slicing for voxel datasets)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows),) + tuple(ds.shape[1:]), dtype=ds.dtype)
    if len(rows) == 0:
        return out
    breaks = np.nonzero(np.diff(rows) != 1)[0] + 1
    start = 0
    for run in np.split(np.arange(len(rows)), breaks):
        a, b = int(rows[run[0]]), int(rows[run[-1]]) + 1
        ds.read_direct(out, np.s_[a:b], np.s_[start:start + (b - a)])
        start += b - a
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_lock_error(exc: OSError) -> bool:
    """Whether h5py's OSError is HDF5's file lock held by another process (not a damaged file)."""
    return exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock file" in str(exc).lower()


def _require_exists(path) -> str:
    """``str(path)``, or a DatasetError when there is no such file (or it is a directory)."""
    path = str(path)
    if not os.path.exists(path):
        raise DatasetError(f"dataset file not found: {path}")
    if os.path.isdir(path):
        raise DatasetError(f"{path} is a directory, not a dataset file")
    return path


def _open_h5(path, mode: str = "r", *, advice: str = ""):
    """``h5py.File(path, mode)`` of an existing file, every failure a one-line DatasetError:
    not found, in use (HDF5's lock, held by another process), or unreadable (``advice`` is
    appended to that message)."""
    path = _require_exists(path)
    try:
        return _h5().File(path, mode)
    except OSError as exc:
        if _is_lock_error(exc):
            raise DatasetInUseError(f"{path} is in use by another process (HDF5 file lock); wait for it to finish "
                                    "(or close the program that has it open) and try again") from None
        if isinstance(exc, PermissionError):
            raise DatasetError(f"{path}: permission denied opening it for {'reading' if mode == 'r' else 'writing'} "
                               f"({_first_line(exc)})") from None
        raise DatasetCorruptError(f"{path}: cannot open as an HDF5 dataset file (truncated or corrupt? "
                                  f"h5py: {_first_line(exc)}){advice}") from None


def _text_attr(f, key: str):
    v = f.attrs.get(key)
    return v.decode(errors="replace") if isinstance(v, bytes) else v


def _header_problem(f) -> str | None:
    """What is missing or inconsistent in a file's header (see the module docstring), or None.
    Reads only attributes and shapes, never data."""
    h5py = _h5()
    a = f.attrs
    for k in HEADER_ATTRS:
        if k not in a:
            return f"attribute '{k}' is missing"
    for k in ("n", "seed", "format_version"):
        if not isinstance(a[k], (int, np.integer)):
            return f"attribute '{k}' is {a[k]!r}, not an integer"
    shapes = {}
    for name in GEOMETRY_DATASETS + TYPE_DATASETS + SAMPLE_DATASETS + LABEL_DATASETS + ("build/completed",):
        try:
            obj = f.get(name)
        except (KeyError, TypeError, ValueError, OSError, RuntimeError):
            obj = None
        if not isinstance(obj, h5py.Dataset):
            return f"dataset '{name}' is missing"
        shapes[name] = tuple(obj.shape)
    n = int(a["n"])
    G = shapes["geometry/status"][0] if shapes["geometry/status"] else -1  # -1: a scalar, reported below
    S = shapes["samples/geometry"][0] if shapes["samples/geometry"] else -1
    expect = {"geometry/voxels": (G, n, n, n), "geometry/percolates": (G, 3), "samples/shape": (S, 6),
              "labels/CH": (S, 6, 6)}
    expect.update({k: (G,) for k in GEOMETRY_DATASETS if k not in expect})
    expect.update({k: (S,) for k in SAMPLE_DATASETS + LABEL_DATASETS if k not in expect})
    for name, shape in expect.items():
        if shapes[name] != shape:
            return f"dataset '{name}' has shape {shapes[name]}, expected {shape}"
    if len(shapes["build/completed"]) != 1:
        return f"dataset 'build/completed' has shape {shapes['build/completed']}, expected one axis"
    return None


def _check_format(f, path) -> None:
    """Raise a DatasetError unless ``f`` is a dataset of this format with a complete header."""
    fmt = _text_attr(f, "format")
    if fmt != FORMAT:
        raise DatasetError(f"{path}: not a phnet_cuda cell dataset (attribute format = {fmt!r} is not {FORMAT!r})")
    version = f.attrs.get("format_version", None)
    if not isinstance(version, (int, np.integer)) or int(version) != FORMAT_VERSION:
        raise DatasetError(f"{path}: format_version {version!r}, this phnet_cuda reads {FORMAT_VERSION}")
    problem = _header_problem(f)
    if problem is not None:
        raise DatasetCorruptError(f"{path}: incomplete or damaged dataset header ({problem}); it was not written "
                                  "by a finished `phnet dataset build` of this version: rebuild it")


def open_file(path, mode: str = "r"):
    """``h5py.File(path, mode)`` of a dataset file, every failure a one-line DatasetError: missing,
    in use by another process (DatasetInUseError), truncated or corrupt (DatasetCorruptError),
    foreign, of another format version, or with an incomplete header."""
    path = str(path)
    f = _open_h5(path, mode)
    try:
        _check_format(f, path)
    except DatasetError:
        f.close()
        raise
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:  # unreadable attributes or objects
        f.close()
        raise DatasetCorruptError(f"{path}: cannot read the dataset header ({_first_line(exc)}); the file is "
                                  "corrupt or not a phnet_cuda cell dataset") from None
    return f


def _json_attr(f, key: str, path, kind: type = dict):
    """The JSON attribute ``key`` of a dataset file, parsed and of type ``kind``; a
    DatasetCorruptError naming the file and the attribute otherwise."""
    raw = _text_attr(f, key)
    if raw is None:
        raise DatasetCorruptError(f"{path}: attribute '{key}' is missing; the file is corrupt: rebuild it")
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise DatasetCorruptError(f"{path}: attribute '{key}' is not valid JSON ({_first_line(exc)}); the file is "
                                  "corrupt: rebuild it") from None
    if not isinstance(value, kind):
        raise DatasetCorruptError(f"{path}: attribute '{key}' is a JSON {type(value).__name__}, expected a "
                                  f"{kind.__name__}; the file is corrupt: rebuild it")
    return value


def _read_pid(fd: int) -> str:
    """The pid a lock holder wrote into its lock file ("unknown" while it has not yet)."""
    for _ in range(5):
        try:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        except OSError:
            return "unknown"
        if text.isdigit():
            return text
        time.sleep(0.02)  # the holder writes its pid right after taking the lock
    return "unknown"


def _take_lock(target: str, hint: str):
    """(fd, lock path) with an exclusive flock on ``<target>.lock`` and our pid written in it; None
    where no lock can be taken (no flock on this platform or file system, or the folder is not
    writable: a warning says so, HDF5's own lock still applies)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: HDF5's own file lock is the only guard
        return None
    lock = target + ".lock"
    for _ in range(50):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                warnings.warn(f"{lock}: cannot create the lock file ({exc.strerror}); writing {target} without it",
                              RuntimeWarning, stacklevel=2)
                return None
            raise DatasetError(f"{lock}: cannot create the lock file ({_first_line(exc)})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise DatasetInUseError(f"{target} is being written by another process (pid {pid}); {hint}") from None
            warnings.warn(f"{lock}: this file system does not support flock ({exc.strerror}); writing {target} "
                          "without the lock", RuntimeWarning, stacklevel=2)
            return None
        # the previous holder removes the file before it unlocks: if ours is gone or replaced, lock the new one
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd, lock
        os.close(fd)
    raise DatasetInUseError(f"{target}: could not take the lock {lock} (it keeps being replaced); {hint}")


@contextlib.contextmanager
def write_lock(path, *, hint: str):
    """Hold an exclusive lock for writing ``path``: an ``flock`` on ``<path>.lock`` (created,
    and removed on release), taken before the file is touched, so two writers (builds,
    labellers) never open it together. A second writer gets a one-line DatasetInUseError
    "<path> is being written by another process (pid N); <hint>". A killed holder's lock is
    released by the kernel (the stale file is reused)."""
    held = _take_lock(str(path), hint)
    try:
        yield
    finally:
        if held is not None:
            fd, lock = held
            with contextlib.suppress(OSError):
                if os.path.samestat(os.fstat(fd), os.stat(lock)):
                    os.remove(lock)  # while still locked: a waiter then finds it gone and retries
            os.close(fd)


def _versions() -> dict:
    from .._version import __version__
    h5py = _h5()
    import platform
    return {"phnet_cuda": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version, "python": platform.python_version()}


def dataset_checksum(ds, rows_per_read: int = 64) -> str:
    """sha256 (hex) of an h5py dataset's name, dtype, shape and C-order bytes, read in blocks of
    ``rows_per_read`` along the first axis (so big voxel datasets are never loaded at once)."""
    h = hashlib.sha256()
    h.update(f"{ds.name}|{ds.dtype.str}|{tuple(ds.shape)}".encode())
    if ds.ndim == 0:
        h.update(np.asarray(ds[()]).tobytes())
        return h.hexdigest()
    for a in range(0, ds.shape[0], rows_per_read):
        h.update(np.ascontiguousarray(ds[a:a + rows_per_read]).tobytes())
    return h.hexdigest()


def _datasets_under(f, groups) -> list[str]:
    h5py = _h5()
    names = []
    for g in groups:
        if g in f:
            f[g].visititems(
                lambda name, obj, g=g: names.append(f"{g}/{name}") if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def _checksums(f, names) -> dict:
    path = f.filename
    out = {}
    for name in names:
        try:
            out[name] = dataset_checksum(f[name])
        except (OSError, KeyError, RuntimeError) as exc:
            raise DatasetCorruptError(f"{path}: cannot read dataset '{name}' ({str(exc).splitlines()[0]}): the file "
                                      "is corrupt or truncated; rebuild it") from None
    return out


def _compare(path, stored: dict, computed: dict, what: str) -> None:
    for name, digest in stored.items():
        if name not in computed:
            raise DatasetCorruptError(f"{path}: dataset '{name}' is missing ({what}); the file is corrupt")
        if computed[name] != digest:
            raise DatasetCorruptError(f"{path}: dataset '{name}' does not match its stored sha256 ({what}: stored "
                                      f"{digest[:12]}..., computed {computed[name][:12]}...); the file is corrupt: "
                                      "rebuild it")


def verify_file(path, *, labels: bool = True) -> dict:
    """Check a complete dataset file against its stored checksums.

    Returns ``{"datasets": k, "labels": "verified" | "in progress" | "skipped"}``; raises
    DatasetCorruptError naming the file and the dataset on any mismatch or unreadable chunk, and
    DatasetError for an incomplete build."""
    with open_file(path) as f:
        _require_complete(f, path)
        stored = _json_attr(f, "checksums", path)
        _compare(path, stored, _checksums(f, stored), "geometry, samples, split")
        state = "skipped"
        if labels:
            state = str(_text_attr(f, "labels_state"))
            if state == "clean":
                lab = _json_attr(f, "label_checksums", path)
                _compare(path, lab, _checksums(f, lab), "labels")
                state = "verified"
            else:
                state = "in progress"
    return {"datasets": len(stored), "labels": state}


def _require_complete(f, path) -> None:
    """Raise a DatasetError for an unfinished build, a DatasetCorruptError for a "complete" file
    without its checksums or split (``f`` is an ``open_file`` handle: its header is complete)."""
    if _text_attr(f, "status") != "complete":
        done = int(np.asarray(f["build/completed"][...]).sum())
        raise DatasetError(f"{path}: the build is incomplete ({done} of {len(f['build/completed'])} chunks "
                           "written); re-run `phnet dataset build` with the same spec and --out to finish it")
    h5py = _h5()
    for name in ("split/train", "split/test"):
        if not isinstance(f.get(name), h5py.Dataset):
            raise DatasetCorruptError(f"{path}: marked complete but dataset '{name}' is missing; the file is corrupt: "
                                      "rebuild it")
    _split_indices(f, "all", path)  # small: sample indices in range
    _json_attr(f, "checksums", path)



def _create(f, spec: dict, plan: Plan, spec_text: str) -> None:
    n = spec["n"]
    G, S = plan.num_geometries, plan.num_samples
    chunks = math.ceil(G / spec["chunk"])
    a = f.attrs
    a["format"] = FORMAT
    a["format_version"] = FORMAT_VERSION
    a["status"] = "building"
    a["spec"] = spec_text
    a["spec_sha256"] = hashlib.sha256(spec_text.encode()).hexdigest()
    a["plan_sha256"] = plan.digest()
    a["name"] = spec["name"]
    a["seed"] = spec["seed"]
    a["n"] = n
    a["generator"] = plan.generator
    a["versions"] = json.dumps(_versions())
    a["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    a["vf_adjustments"] = "[]"
    a["rejected"] = "[]"
    a["labels_state"] = "clean"
    gz = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    geo = f.create_group("geometry")
    geo.create_dataset("voxels", shape=(G, n, n, n), dtype=spec["voxel_dtype"], chunks=(1, n, n, n), **gz)
    geo.create_dataset("type", data=plan.geometry_type, **gz)
    geo.create_dataset("type_names", data=np.array([s.encode() for s in plan.type_names], dtype="S"))
    geo.create_dataset("family_of_type", data=np.array([s.encode() for s in plan.type_family], dtype="S"))
    geo.create_dataset("group", data=plan.geometry_group, **gz)
    geo.create_dataset("vf_index", data=plan.geometry_vf_index, **gz)
    geo.create_dataset("vf_target", shape=(G,), dtype="f8", fillvalue=np.nan, **gz)
    geo.create_dataset("vf", shape=(G,), dtype="f8", fillvalue=np.nan, **gz)
    geo.create_dataset("percolates", shape=(G, 3), dtype="u1", fillvalue=255, **gz)
    geo.create_dataset("status", shape=(G,), dtype="u1", fillvalue=0, **gz)
    smp = f.create_group("samples")
    smp.create_dataset("geometry", data=plan.sample_geometry, **gz)
    smp.create_dataset("shape", data=plan.sample_shape, **gz)
    smp["shape"].attrs["columns"] = ("alpha_xy, alpha_yz, alpha_xz [deg], l_x, l_y, l_z "
                                     "(library convention, unit volume)")
    smp.create_dataset("E", data=plan.sample_E, **gz)
    smp.create_dataset("nu", data=plan.sample_nu, **gz)
    smp.create_dataset("soft_ratio", data=plan.sample_soft_ratio, **gz)
    lab = f.create_group("labels")
    lab.create_dataset("CH", shape=(S, 6, 6), dtype="f8", fillvalue=np.nan, chunks=(min(S, 1024), 6, 6), **gz)
    lab.create_dataset("converged", shape=(S,), dtype="i1", fillvalue=-1, **gz)
    lab.create_dataset("residual", shape=(S,), dtype="f8", fillvalue=np.nan, **gz)
    lab.create_dataset("tol", shape=(S,), dtype="f8", fillvalue=np.nan, **gz)
    lab.create_dataset("iterations", shape=(S,), dtype="i4", fillvalue=-1, **gz)
    f.attrs["label_checksums"] = json.dumps(_checksums(f, LABEL_DATASETS))
    f.create_group("build").create_dataset("completed", shape=(chunks,), dtype="u1", fillvalue=0)
    f.flush()


def _store_cell(vox: torch.Tensor, voxel_dtype: str) -> np.ndarray:
    v = vox.detach().cpu().numpy()
    if voxel_dtype == "uint8":
        if not np.isin(v, (0.0, 1.0)).all():
            raise ValueError("the generator returned non-binary voxels for a binary spec (set fractional: true)")
        return v.astype(np.uint8)
    return np.clip(v, 0.0, 1.0).astype(voxel_dtype)


def _split_indices(f, split: str, path) -> np.ndarray:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    parts = ("train", "test") if split == "all" else (split,)
    S = len(f["samples/geometry"])
    out = []
    for p in parts:
        idx = np.asarray(f[f"split/{p}"][...])
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or (len(idx) and (idx.min() < 0 or idx.max() >= S)):
            raise DatasetCorruptError(f"{path}: dataset 'split/{p}' is not a list of sample indices in [0, {S}); "
                                      "the file is corrupt: rebuild it")
        out.append(idx.astype(np.int64))
    return np.sort(np.concatenate(out)) if split == "all" else out[0]


__all__ = [
    "DatasetCorruptError",
    "DatasetError",
    "DatasetInUseError",
    "FORMAT",
    "FORMAT_VERSION",
    "IMMUTABLE_GROUPS",
    "LABEL_DATASETS",
    "dataset_checksum",
    "open_file",
    "read_rows",
    "verify_file",
    "write_lock",
]
