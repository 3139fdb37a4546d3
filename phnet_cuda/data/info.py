"""Summaries of dataset files: what ``phnet dataset info`` prints.

``dataset_info`` reads a file's attributes and small tables (also of an unfinished build) into one
dict: counts, split sizes, labels per split, rejected cells and vf adjustments. It is separate
from the format because it is a read-only report over it, used by the CLI and by people, never by
the builder, labeller or loader.
"""

from __future__ import annotations

import os

import numpy as np

from .h5 import (
    DatasetCorruptError,
    _first_line,
    _json_attr,
    _require_complete,
    _split_indices,
    _text_attr,
    open_file,
    verify_file,
)


def dataset_info(path, *, verify: bool = False) -> dict:
    """Summary of a dataset file (also of an incomplete build): name, n, counts, split sizes,
    labels per split, rejected cells, vf adjustments, versions; ``verify=True`` also checks the
    checksums (``verify_file``) and reports ``"verified"``."""
    try:
        with open_file(path) as f:
            a = f.attrs
            completed = np.asarray(f["build/completed"][...])
            st = np.asarray(f["geometry/status"][...])
            conv = np.asarray(f["labels/converged"][...])
            info = {"path": str(path), "name": str(_text_attr(f, "name")), "status": str(_text_attr(f, "status")),
                    "n": int(a["n"]),
                    "seed": int(a["seed"]), "generator": str(_text_attr(f, "generator")),
                    "voxel_dtype": str(f["geometry/voxels"].dtype),
                    "cell_types": [s.decode() for s in f["geometry/type_names"][...]],
                    "geometries": int(len(st)), "geometries_built": int((st == 1).sum()),
                    "geometries_skipped": int((st == 3).sum()),
                    "rejected": _json_attr(f, "rejected", path, list),
                    "vf_adjustments": _json_attr(f, "vf_adjustments", path, list),
                    "samples": int(len(f["samples/geometry"])), "chunks_done": int(completed.sum()),
                    "chunks": int(len(completed)), "labels_state": str(_text_attr(f, "labels_state")),
                    "versions": _json_attr(f, "versions", path), "spec": _json_attr(f, "spec", path),
                    "file_bytes": os.path.getsize(path)}
            if info["status"] == "complete":
                _require_complete(f, path)  # its split and checksums are there
                info["split"] = {}
                for s in ("train", "test"):
                    idx = _split_indices(f, s, path)
                    info["split"][s] = {"samples": int(len(idx)), "labelled": int((conv[idx] >= 0).sum()),
                                        "converged": int((conv[idx] == 1).sum())}
                info["split_rule"] = dict(f["split"].attrs)
                info["split_rule"] = {k: (v.item() if hasattr(v, "item") else v) for k, v in info["split_rule"].items()}
    except OSError as exc:  # a damaged table or attribute: one line naming the file
        raise DatasetCorruptError(f"{path}: cannot read it ({_first_line(exc)}); the file is corrupt or truncated: "
                                  "rebuild it") from exc
    if verify:
        info["verified"] = verify_file(path)
    return info


__all__ = [
    "dataset_info",
]
