"""Labelling: numerical C^H for the samples of a built dataset, written into its file resumably.

``label_dataset`` is the one place that runs the solver (``phnet_cuda.homogenize``) over a
dataset. It is separate from the builder because labels are optional, expensive and added later
(often on another machine, for one split only), and it only fills the ``/labels`` group that the
format (``h5``) reserves for them.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import torch

from .._checks import positive_int
from .h5 import (
    LABEL_DATASETS,
    DatasetError,
    _checksums,
    _compare,
    _first_line,
    _json_attr,
    _require_complete,
    _require_exists,
    _split_indices,
    open_file,
    read_rows,
    write_lock,
)
from .spec import SPLITS


def label_dataset(path, split: str = "test", *, batch: int = 8, device=None, tol: float = 1e-6,
                  dtype=torch.float64, limit: int | None = None, progress: bool = True) -> dict:
    """Label the samples of a split with numerical C^H (``phnet_cuda.homogenize``), resumably.

    Samples whose ``labels/CH`` is still NaN are solved in batches of ``batch`` (sorted by
    geometry, so a batch mostly shares one cell), with their own E, nu, soft_ratio and shape;
    each batch is written and flushed before the next, so an interrupted run continues where it
    stopped. Per sample: C^H ``[6, 6]`` (global basis, unit of E), ``converged`` (max relative
    residual <= tol), the residual, tol and the CG iterations of its batch. The run holds the
    file's write lock (``h5.write_lock``): a second labeller, or a build of the same file, is
    refused with a one-line DatasetInUseError naming the holder's pid.

    Args:
        path: a complete dataset file (opened read-write).
        split: ``"train"``, ``"test"`` or ``"all"``.
        batch: samples per solve; device / dtype / tol: passed to ``homogenize``.
        limit: label at most this many samples in this call (None = all pending).
    Returns:
        ``{"labelled": done in this call, "pending": still NaN in the split, "not_converged",
        "seconds"}``.
    """
    batch = positive_int(batch, "batch")
    if split not in SPLITS:  # before the (long) checksum verification
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be positive, got {tol!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    if device is not None:
        device = torch.device(device)
    t0 = time.perf_counter()
    path = _require_exists(path)  # no lock file next to a path that is not there
    try:
        return _label_locked(path, split, batch, device, tol, dtype, limit, progress, t0)
    except OSError as exc:  # a full disk, an unreadable chunk, ...: one line naming the file
        raise DatasetError(f"{path}: {type(exc).__name__}: {_first_line(exc)}") from exc


def _label_locked(path: str, split: str, batch: int, device, tol: float, dtype, limit, progress: bool,
                  t0: float) -> dict:
    """``label_dataset`` under the file's write lock."""
    from tqdm.auto import tqdm

    from ..solver import homogenize

    with write_lock(path, hint="wait for it to finish"), open_file(path, "r+") as f:
        _require_complete(f, path)
        stored = _json_attr(f, "checksums", path)  # never label from corrupt cells or tables
        _compare(path, stored, _checksums(f, stored), "geometry, samples, split")
        idx = _split_indices(f, split, path)
        CH_ds = f["labels/CH"]
        have = np.isfinite(np.asarray(CH_ds[...]).reshape(-1, 36)).all(axis=1) if len(CH_ds) else np.zeros(0, bool)
        pending = idx[~have[idx]]
        sample_geom = np.asarray(f["samples/geometry"][...])
        pending = pending[np.lexsort((pending, sample_geom[pending]))]  # by geometry, then index
        todo = pending if limit is None else pending[:limit]
        tables = {k: np.asarray(f[f"samples/{k}"][...]) for k in ("shape", "E", "nu", "soft_ratio")}
        vox_ds = f["geometry/voxels"]
        f.attrs["labels_state"] = "writing"
        f.flush()
        not_conv = 0
        try:
            with tqdm(total=len(todo), desc=f"label {split}", unit="sample", disable=not progress) as bar:
                for a in range(0, len(todo), batch):
                    rows = np.sort(todo[a:a + batch])
                    geoms = sample_geom[rows]
                    uniq, inv = np.unique(geoms, return_inverse=True)
                    cells = read_rows(vox_ds, uniq)
                    vox = torch.from_numpy(cells[inv].astype(np.float64))
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # reported per sample below
                        res = homogenize(vox, E=torch.from_numpy(tables["E"][rows]),
                                         nu=torch.from_numpy(tables["nu"][rows]),
                                         soft_ratio=torch.from_numpy(tables["soft_ratio"][rows]),
                                         shape=torch.from_numpy(tables["shape"][rows]), tol=tol,
                                         device=device, dtype=dtype)
                    CH = res.CH.reshape(-1, 6, 6).detach().to("cpu", torch.float64).numpy()
                    resid = res.residual.reshape(len(rows), -1).amax(dim=1).detach().cpu().double().numpy()
                    conv = resid <= tol
                    not_conv += int((~conv).sum())
                    CH_ds[rows.tolist()] = CH
                    f["labels/converged"][rows.tolist()] = conv.astype(np.int8)
                    f["labels/residual"][rows.tolist()] = resid
                    f["labels/tol"][rows.tolist()] = np.full(len(rows), float(tol))
                    f["labels/iterations"][rows.tolist()] = np.full(len(rows), int(res.iterations), dtype=np.int32)
                    f.flush()
                    bar.update(len(rows))
        finally:
            # also after Ctrl-C: what was written is consistent, so the checksum is renewed
            f.attrs["label_checksums"] = json.dumps(_checksums(f, LABEL_DATASETS))
            f.attrs["labels_state"] = "clean"
            f.flush()
    return {"labelled": int(len(todo)), "pending": int(len(pending) - len(todo)), "not_converged": not_conv,
            "seconds": time.perf_counter() - t0}


__all__ = [
    "label_dataset",
]
