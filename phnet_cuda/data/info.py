"""Summaries of dataset files: what ``phnet dataset info`` prints.

``dataset_info`` reads a file's attributes and small tables (also of an unfinished build) into one
dict: counts, split sizes, labels per split, rejected cells and vf adjustments. It is separate
from the format because it is a read-only report over it, used by the CLI and by people, never by
the builder, labeller or loader.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .h5 import open_file, verify_file


def dataset_info(path, *, verify: bool = False) -> dict:
    """Summary of a dataset file (also of an incomplete build): name, n, counts, split sizes,
    labels per split, rejected cells, vf adjustments, versions; ``verify=True`` also checks the
    checksums (``verify_file``) and reports ``"verified"``."""
    with open_file(path) as f:
        a = f.attrs
        completed = np.asarray(f["build/completed"][...])
        st = np.asarray(f["geometry/status"][...])
        conv = np.asarray(f["labels/converged"][...])
        info = {"path": str(path), "name": str(a["name"]), "status": str(a["status"]), "n": int(a["n"]),
                "seed": int(a["seed"]), "generator": str(a["generator"]),
                "voxel_dtype": str(f["geometry/voxels"].dtype),
                "cell_types": [s.decode() for s in f["geometry/type_names"][...]],
                "geometries": int(len(st)), "geometries_built": int((st == 1).sum()),
                "geometries_skipped": int((st == 3).sum()),
                "rejected": json.loads(a["rejected"]), "vf_adjustments": json.loads(a["vf_adjustments"]),
                "samples": int(len(f["samples/geometry"])), "chunks_done": int(completed.sum()),
                "chunks": int(len(completed)), "labels_state": str(a.get("labels_state", "clean")),
                "versions": json.loads(a["versions"]), "spec": json.loads(a["spec"]),
                "file_bytes": os.path.getsize(path)}
        if info["status"] == "complete":
            info["split"] = {}
            for s in ("train", "test"):
                idx = np.asarray(f[f"split/{s}"][...])
                info["split"][s] = {"samples": int(len(idx)), "labelled": int((conv[idx] >= 0).sum()),
                                    "converged": int((conv[idx] == 1).sum())}
            info["split_rule"] = dict(f["split"].attrs)
            info["split_rule"] = {k: (v.item() if hasattr(v, "item") else v) for k, v in info["split_rule"].items()}
    if verify:
        info["verified"] = verify_file(path)
    return info


__all__ = [
    "dataset_info",
]
