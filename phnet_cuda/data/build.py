"""Building a dataset file: generating the planned cells chunk by chunk, resumably.

``build_dataset`` turns a spec into a complete file: it plans (``plan``), creates the file
(``h5``), generates and stores the cells of one chunk of geometry slots at a time (each chunk
flushed before it counts as done, so an interrupted build resumes where it stopped), and at the
end writes the split and the checksums. It is separate from the format because it is the only
writer of cells and the only user of the geometry library's expensive calls at build time.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from .h5 import IMMUTABLE_GROUPS, DatasetError, _checksums, _create, _datasets_under, _h5, _store_cell, open_file
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
            DatasetError (nothing is mixed); a complete file is left as it is.
        max_chunks: stop after writing this many chunks in this call (the file stays
            resumable); None = finish.
        progress: tqdm bar over the geometries.
    Returns:
        ``{"path", "status" ("complete" / "building"), "geometries" (slots), "samples", "built",
        "rejected", "skipped" (cell counts so far), "chunks_done", "chunks", "seconds"}``.
    """
    from tqdm.auto import tqdm

    eff = load_spec(spec, n=n, scale=scale, seed=seed, split_by=split_by)
    plan = plan_dataset(eff)
    spec_text = _canonical(eff)
    out = str(out)
    t0 = time.perf_counter()
    if os.path.exists(out):
        f = open_file(out, "r+")
        if f.attrs["spec"] != spec_text or f.attrs["plan_sha256"] != plan.digest():
            f.close()
            raise DatasetError(f"{out} was started from a different spec (or geometry generator); refusing to mix "
                               "datasets: use another --out, or delete the file to start over")
    else:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        # libver v108+: dense attribute storage, so long JSON attributes (rejected cells) fit
        f = _h5().File(out, "w", libver=("v108", "latest"))
        try:
            _create(f, eff, plan, spec_text)
        except BaseException:
            f.close()
            os.remove(out)
            raise
    try:
        completed = f["build/completed"]
        chunk = eff["chunk"]
        G = plan.num_geometries
        done = np.asarray(completed[...]).astype(bool)
        fits: dict = {}
        written = 0
        if f.attrs["status"] != "complete":
            bar = tqdm(total=G, initial=int(sum(min(chunk, G - c * chunk) for c in np.nonzero(done)[0])),
                       desc=f"build {eff['name']}", unit="cell", disable=not progress)
            with bar:
                for c in np.nonzero(~done)[0]:
                    if max_chunks is not None and written >= max_chunks:
                        break
                    _build_chunk(f, eff, plan, int(c), fits, bar)
                    completed[c] = 1
                    f.flush()  # a chunk counts as done only once its data is on disk
                    written += 1
            if bool(np.asarray(completed[...]).all()):
                _finalize(f, eff)
        status = str(f.attrs["status"])
        chunks_done = int(np.asarray(completed[...]).sum())
        st = np.asarray(f["geometry/status"][...])
        return {"path": out, "status": status, "geometries": G, "samples": plan.num_samples,
                "built": int((st == 1).sum()), "rejected": int((st == 2).sum()), "skipped": int((st == 3).sum()),
                "chunks_done": chunks_done, "chunks": len(completed), "seconds": time.perf_counter() - t0}
    finally:
        f.close()


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
    rejected = [r for r in json.loads(f.attrs["rejected"]) if not lo <= r["geometry"] < hi]
    adjustments = json.loads(f.attrs["vf_adjustments"])
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
