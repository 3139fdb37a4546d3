"""Building a dataset file: generating the planned cells chunk by chunk, resumably.

``build_dataset`` turns a spec into a complete file: it plans (``plan``), creates the file
(``h5``), generates and stores the cells of one chunk of geometry slots at a time (each chunk
flushed before it counts as done, so an interrupted build resumes where it stopped), and at the
end writes the split and the checksums. It is separate from the format because it is the only
writer of cells and the only user of the geometry library's expensive calls at build time.

Interruptions and concurrency: the whole build holds ``h5.write_lock`` on the output (a second
build or a labeller of the same file is refused with one line, before anything is opened); a
new file is written under ``<out>.partial`` and renamed to ``<out>`` only once its header is
complete and on disk, so a kill at any moment leaves either nothing usable under ``<out>`` plus
a stale ``.partial`` (removed by the next run, which starts over), or a file that resumes.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings

import numpy as np

from .h5 import (
    FORMAT,
    IMMUTABLE_GROUPS,
    DatasetCorruptError,
    DatasetError,
    _check_format,
    _checksums,
    _create,
    _datasets_under,
    _first_line,
    _h5,
    _header_problem,
    _json_attr,
    _open_h5,
    _require_complete,
    _store_cell,
    _text_attr,
    write_lock,
)
from .plan import Plan, _make_cell, _percolation, _reachable, _vf_grid, fit_vf_grid, make_split, plan_dataset
from .spec import _canonical, load_spec


def build_dataset(spec, out, *, n: int | None = None, scale: float | None = None, seed: int | None = None,
                  split_by: str | None = None, max_chunks: int | None = None, progress: bool = True) -> dict:
    """Build (or resume building) a dataset file.

    Args:
        spec: built-in name (``"dataset1"``, ``"dataset2"``), YAML/JSON path, or dict
            (``phnet_cuda.data.spec`` docstring); ``n``, ``seed``, ``split_by`` override its
            keys, ``scale`` shrinks it (``apply_scale``).
        out: the ``.h5`` file. If it exists and was started from the same effective spec and
            plan, the build continues with the chunks not yet written; a different spec raises
            DatasetError (nothing is mixed); a complete file is left as it is. A new file is
            written as ``<out>.partial`` and renamed once its header is on disk; a ``.partial``
            left by a killed build (or an ``out`` that is empty, or ours with an incomplete
            header and no chunk) is started over with a RuntimeWarning. ``<out>.lock`` is held
            for the whole call: another build or labeller of ``out`` gets a DatasetInUseError.
        max_chunks: stop after writing this many chunks in this call (the file stays
            resumable); None = finish.
        progress: tqdm bar over the geometries.
    Returns:
        ``{"path", "status" ("complete" / "building"), "geometries" (slots), "samples", "built",
        "rejected", "skipped" (cell counts so far), "chunks_done", "chunks", "seconds"}``.
    """
    eff = load_spec(spec, n=n, scale=scale, seed=seed, split_by=split_by)
    plan = plan_dataset(eff)
    spec_text = _canonical(eff)
    out = str(out)
    t0 = time.perf_counter()
    if os.path.isdir(out):
        raise DatasetError(f"--out {out} is a directory; expected the path of an .h5 file")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        return _build_locked(eff, plan, spec_text, out, max_chunks, progress, t0)
    except OSError as exc:  # a full disk, a folder that cannot be made, ...: one line naming the file
        raise DatasetError(f"{out}: {type(exc).__name__}: {_first_line(exc)}") from exc


def _build_locked(eff: dict, plan: Plan, spec_text: str, out: str, max_chunks, progress: bool, t0: float) -> dict:
    """``build_dataset`` under the output's write lock: start over, resume or leave alone."""
    with write_lock(out, hint="wait for it or choose another --out"):
        # under the lock: the existence checks and the file operations below are ours alone
        partial = out + ".partial"
        if os.path.isdir(partial):
            raise DatasetError(f"{partial} is a directory; it is in the way of building {out}: remove it")
        if os.path.lexists(partial):
            warnings.warn(f"{partial}: left by a build interrupted before its header was complete; removed it, "
                          f"starting {out} over", RuntimeWarning, stacklevel=3)
            os.remove(partial)
        exists = os.path.exists(out)
        restart = _restart_reason(out) if exists else None
        if exists and restart is None:
            # read-only first: a complete file is left alone, even while others read it
            f = _open_h5(out, "r", advice="; delete it to start over, or choose another --out")
            try:
                _check_resumable(f, out, spec_text, plan)
                if _text_attr(f, "status") == "complete":
                    _require_complete(f, out)  # a finished file is left alone, but not reported finished if damaged
                    return _summary(f, out, plan, t0)
            finally:
                f.close()
        else:
            if restart is not None:
                warnings.warn(f"{out}: {restart}, left by an interrupted build; starting it over", RuntimeWarning,
                              stacklevel=3)
            _create_file(out, partial, eff, plan, spec_text)
        f = _open_h5(out, "r+")
        try:
            _check_resumable(f, out, spec_text, plan)  # a writer without our lock (older version) may have replaced it
            _build_chunks(f, eff, plan, max_chunks, progress)
            return _summary(f, out, plan, t0)
        finally:
            f.close()


def _restart_reason(out: str) -> str | None:
    """Why an existing ``out`` is to be started over (an interrupted build that wrote nothing of
    value: an empty file, an HDF5 file with nothing in it, or one of this format whose header is
    incomplete and no chunk written), or None to open it as it is (a foreign, damaged or resumable
    file: ``_check_resumable`` decides). Never removes a file it cannot recognise as ours."""
    if os.path.getsize(out) == 0:
        return "an empty file"
    try:
        f = _open_h5(out, "r")
    except DatasetCorruptError:
        return None  # not openable: reported by the caller's open, the file is left to the user
    try:
        if len(f) == 0 and len(f.attrs) == 0:
            return "an HDF5 file with nothing in it"
        if _text_attr(f, "format") != FORMAT or _text_attr(f, "status") == "complete":
            return None
        problem = _header_problem(f)
        if problem is None:
            return None
        done = f.get("build/completed")
        if isinstance(done, _h5().Dataset) and np.asarray(done[...]).any():
            return None  # chunks were written: not ours to delete (reported as damaged)
        return f"a file whose header is incomplete ({problem})"
    except (OSError, KeyError, TypeError, ValueError, RuntimeError):
        return None
    finally:
        f.close()


def _check_resumable(f, out: str, spec_text: str, plan: Plan) -> None:
    """Raise a DatasetError unless ``f`` is a dataset of this format, with a complete header,
    started from this spec and plan."""
    try:
        _check_format(f, out)
        same = _text_attr(f, "spec") == spec_text and _text_attr(f, "plan_sha256") == plan.digest()
    except DatasetError:
        raise
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DatasetCorruptError(f"{out}: cannot read the dataset header ({_first_line(exc)}); the file is corrupt "
                                  "or not a phnet_cuda cell dataset: use another --out") from None
    if not same:
        raise DatasetError(f"{out} was started from a different spec (or geometry generator); refusing to mix "
                           "datasets: use another --out, or delete the file to start over")


def _create_file(out: str, partial: str, spec: dict, plan: Plan, spec_text: str) -> None:
    """Write the header of a new dataset under ``partial``, put it on disk and rename it to
    ``out``: ``out`` never exists without its complete header. Removes ``partial`` when
    interrupted (a kill leaves it for the next run to remove)."""
    h5py = _h5()
    try:
        # "x": fail rather than truncate if the name exists; libver v108+: dense attribute storage,
        # so long JSON attributes (rejected cells) fit
        f = h5py.File(partial, "x", libver=("v108", "latest"))
    except OSError as exc:
        raise DatasetError(f"{partial}: cannot create the dataset file ({_first_line(exc)})") from None
    try:
        try:
            _create(f, spec, plan, spec_text)
        finally:
            f.close()
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)  # the header is on disk before the name says it is complete
        finally:
            os.close(fd)
        os.replace(partial, out)
    except BaseException:
        if os.path.lexists(partial):
            os.remove(partial)
        raise
    try:
        dfd = os.open(os.path.dirname(os.path.abspath(out)), os.O_RDONLY)
    except OSError:
        return  # no directory handles here (or not allowed): the rename is still atomic
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename itself is atomic
    finally:
        os.close(dfd)


def _build_chunks(f, spec: dict, plan: Plan, max_chunks: int | None, progress: bool) -> None:
    """Write the chunks not yet done (at most ``max_chunks``), each flushed before it counts as
    done, and finalise the file when all are."""
    from tqdm.auto import tqdm

    completed = f["build/completed"]
    chunk = spec["chunk"]
    G = plan.num_geometries
    done = np.asarray(completed[...]).astype(bool)
    fits: dict = {}
    written = 0
    if _text_attr(f, "status") == "complete":
        return
    bar = tqdm(total=G, initial=int(sum(min(chunk, G - c * chunk) for c in np.nonzero(done)[0])),
               desc=f"build {spec['name']}", unit="cell", disable=not progress)
    with bar:
        for c in np.nonzero(~done)[0]:
            if max_chunks is not None and written >= max_chunks:
                break
            _build_chunk(f, spec, plan, int(c), fits, bar)
            completed[c] = 1
            f.flush()  # a chunk counts as done only once its data is on disk
            written += 1
    if bool(np.asarray(completed[...]).all()):
        _finalize(f, spec)


def _summary(f, out: str, plan: Plan, t0: float) -> dict:
    completed = np.asarray(f["build/completed"][...])
    st = np.asarray(f["geometry/status"][...])
    return {"path": out, "status": str(_text_attr(f, "status")), "geometries": plan.num_geometries,
            "samples": plan.num_samples, "built": int((st == 1).sum()), "rejected": int((st == 2).sum()),
            "skipped": int((st == 3).sum()), "chunks_done": int(completed.sum()), "chunks": len(completed),
            "seconds": time.perf_counter() - t0}


def _fit_type(spec: dict, group: int, name: str, fits: dict) -> tuple[np.ndarray, dict | None, str | None]:
    """(per-position vf or NaN, adjustment note, reason the whole type is unusable) of a type
    in a group, cached per build call (``reachable_range`` is the expensive part)."""
    key = (group, name)
    if key not in fits:
        grp = spec["groups"][group]
        try:
            lo, hi = _reachable(name, spec["n"])
        except ValueError as exc:  # the type cannot be drawn at this n at all
            grid = _vf_grid(grp["vf"])
            fits[key] = (np.full(len(grid), np.nan), None, f"unreachable at n = {spec['n']}: {exc}")
        else:
            values, note = fit_vf_grid(grp["vf"], lo, hi, spec["out_of_range"])
            if note is not None:
                note = {"group": group, "type": name, "reachable": [lo, hi], **note}
            fits[key] = (values, note, None)
    return fits[key]


def _build_chunk(f, spec: dict, plan: Plan, c: int, fits: dict, bar) -> None:
    chunk, n = spec["chunk"], spec["n"]
    lo, hi = c * chunk, min((c + 1) * chunk, plan.num_geometries)
    # a re-run of a chunk interrupted half-way must not list its rejects twice
    path = f.filename
    rejected = [r for r in _json_attr(f, "rejected", path, list) if not lo <= r["geometry"] < hi]
    adjustments = _json_attr(f, "vf_adjustments", path, list)
    noted = {(a["group"], a["type"]) for a in adjustments}
    geo = f["geometry"]
    vox_ds, vf_ds, target_ds, perc_ds, st_ds = (geo[k] for k in ("voxels", "vf", "vf_target", "percolates", "status"))
    for g in range(lo, hi):
        name = plan.type_names[plan.geometry_type[g]]
        group, pos = int(plan.geometry_group[g]), int(plan.geometry_vf_index[g])
        values, note, unusable = _fit_type(spec, group, name, fits)
        if note is not None and (group, name) not in noted:
            adjustments.append(note)
            noted.add((group, name))
        requested = float(_vf_grid(spec["groups"][group]["vf"])[pos])
        vf = float(values[pos])
        target_ds[g] = requested if math.isnan(vf) else vf
        if unusable is not None:
            rejected.append({"geometry": g, "type": name, "vf": requested, "reason": unusable})
            st_ds[g] = 2
        elif math.isnan(vf):  # dropped by out_of_range (recorded in vf_adjustments)
            st_ds[g] = 3
        else:
            try:
                cell = _store_cell(_make_cell(name, n, vf, spec["fractional"]), spec["voxel_dtype"])
            except ValueError as exc:
                rejected.append({"geometry": g, "type": name, "vf": vf, "reason": str(exc)})
                st_ds[g] = 2
            else:
                perc = _percolation(cell)
                ok = not (spec["require_percolation"] and not all(perc))
                if not ok:
                    rejected.append({"geometry": g, "type": name, "vf": vf,
                                     "reason": f"does not percolate (x, y, z) = {perc}"})
                st_ds[g] = 1 if ok else 2
                vox_ds[g] = cell
                vf_ds[g] = float(cell.astype(np.float64).mean())
                perc_ds[g] = np.array(perc, dtype=np.uint8)
        bar.update(1)
    f.attrs["rejected"] = json.dumps(rejected)
    f.attrs["vf_adjustments"] = json.dumps(adjustments)


def _finalize(f, spec: dict) -> None:
    geo = f["geometry"]
    ok = np.asarray(geo["status"][...]) == 1
    train, test = make_split(spec["split"], np.asarray(f["samples/geometry"][...]), np.asarray(geo["type"][...]),
                             np.asarray(geo["vf_index"][...]), ok)
    if "split" in f:
        del f["split"]
    sp = f.create_group("split")
    for name, idx in (("train", train), ("test", test)):
        sp.create_dataset(name, data=idx, dtype="i8", compression="gzip", compression_opts=4, shuffle=True)
    sp.attrs.update({k: v for k, v in spec["split"].items()})
    f.attrs["checksums"] = json.dumps(_checksums(f, _datasets_under(f, IMMUTABLE_GROUPS)))
    f.attrs["status"] = "complete"
    f.flush()


__all__ = [
    "build_dataset",
]
