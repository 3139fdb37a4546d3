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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time

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


def open_file(path, mode: str = "r"):
    """``h5py.File(path, mode)`` with a clear error for missing, truncated or foreign files."""
    h5py = _h5()
    path = str(path)
    if not os.path.exists(path):
        raise DatasetError(f"dataset file not found: {path}")
    try:
        f = h5py.File(path, mode)
    except OSError as exc:
        raise DatasetCorruptError(f"{path}: cannot open as an HDF5 dataset file (truncated or corrupt? "
                                  f"h5py: {str(exc).splitlines()[0]})") from None
    fmt = f.attrs.get("format")
    if fmt != FORMAT:
        f.close()
        raise DatasetError(f"{path}: not a phnet_cuda cell dataset (attribute format = {fmt!r} is not {FORMAT!r})")
    version = int(f.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        f.close()
        raise DatasetError(f"{path}: format_version {version}, this phnet_cuda reads {FORMAT_VERSION}")
    return f


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
        stored = json.loads(f.attrs["checksums"])
        _compare(path, stored, _checksums(f, stored), "geometry, samples, split")
        state = "skipped"
        if labels:
            state = str(f.attrs.get("labels_state", "clean"))
            if state == "clean":
                lab = json.loads(f.attrs["label_checksums"])
                _compare(path, lab, _checksums(f, lab), "labels")
                state = "verified"
            else:
                state = "in progress"
    return {"datasets": len(stored), "labels": state}


def _require_complete(f, path) -> None:
    if f.attrs.get("status") != "complete":
        done = int(np.asarray(f["build/completed"][...]).sum()) if "build/completed" in f else 0
        total = len(f["build/completed"]) if "build/completed" in f else "?"
        raise DatasetError(f"{path}: the build is incomplete ({done} of {total} chunks written); re-run "
                           "`phnet dataset build` with the same spec and --out to finish it")



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
    if split == "all":
        return np.sort(np.concatenate([f["split/train"][...], f["split/test"][...]])).astype(np.int64)
    return np.asarray(f[f"split/{split}"][...], dtype=np.int64)


__all__ = [
    "DatasetCorruptError",
    "DatasetError",
    "FORMAT",
    "FORMAT_VERSION",
    "IMMUTABLE_GROUPS",
    "LABEL_DATASETS",
    "dataset_checksum",
    "open_file",
    "read_rows",
    "verify_file",
]
