"""Shared helpers of the dataset tests (importable as ``data.helpers``: python_tests is on the
pythonpath): the tiny specs, the reference generator, file comparison and an independent cell
volume. The fixtures built from them (``tiny_file``, ``d1_file``) are in conftest.py."""

from __future__ import annotations

import h5py
import numpy as np

from phnet_cuda import geometry

N = 8  # voxels per edge of the tiny custom specs: tiny cells, the logic is the same
N1 = 16  # Dataset 1 tests: the Tubular Gyroid percolates down to ~4 % at n = 16 (~12 % at n = 8)


def reference_cell(name, n, vf):
    """The generator the builder must have used."""
    return geometry.make_cell(name, n, vf)


def reachable(name, n):
    return geometry.reachable_range(name, n)


def tiny_spec(**over) -> dict:
    """6 Tubular-Gyroid cells x 2 random parallelepipeds, sampled materials, 3 build chunks."""
    spec = {"name": "tiny", "n": N, "seed": 7, "chunk": 2,
            "groups": [{"types": ["tubular_gyroid"], "vf": {"range": [0.2, 0.4], "count": 6},
                        "shapes": {"per_cell": 2, "angles": [70, 90], "lengths": [1, 1.5]}}],
            "materials": {"E": {"range": [1.0, 3.0]}, "nu": {"choices": [0.25, 0.3]},
                          "soft_ratio": {"log_range": [1e-6, 1e-4]}},
            "split": {"test_fraction": 0.25, "by": "sample"}}
    spec.update(over)
    return spec


def contents(path) -> dict:
    """Every dataset and attribute of a file (the creation time left out)."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
        out.update({f"@{k}": v for k, v in f.attrs.items() if k != "created_utc"})
    return out


def assert_same_contents(a, b):
    ca, cb = contents(a), contents(b)
    assert sorted(ca) == sorted(cb)
    for k in ca:
        if isinstance(ca[k], np.ndarray):
            assert ca[k].dtype == cb[k].dtype and ca[k].shape == cb[k].shape, k
            assert np.array_equal(ca[k], cb[k], equal_nan=ca[k].dtype.kind == "f"), k
        else:
            assert ca[k] == cb[k], k


def lattice_volume(p: np.ndarray) -> np.ndarray:
    """Cell volume from the lattice vectors of docs/conventions.md, written out independently of
    shapes.py."""
    a = np.deg2rad(p[:, :3])
    cxy, cyz, cxz = np.cos(a[:, 0]), np.cos(a[:, 1]), np.cos(a[:, 2])
    sxy = np.sin(a[:, 0])
    cy = (cyz - cxz * cxy) / sxy
    cz = np.sqrt(1 - cxz ** 2 - cy ** 2)
    return p[:, 3] * p[:, 4] * p[:, 5] * sxy * cz


def dataset1_levels():
    """Grid positions of Dataset 1's 40 levels the Tubular Gyroid reaches at n = N1."""
    lo, hi = reachable("tubular_gyroid", N1)
    return [k for k, v in enumerate(np.linspace(0.02, 0.33, 40)) if lo <= v <= hi]
