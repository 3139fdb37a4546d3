"""Label-free cell datasets in HDF5: builders (Dataset 1, Dataset 2, custom YAML specs), optional
C^H labelling, integrity checks, and a torch ``Dataset`` / loader for PH-Net training.

Conventions (CONVENTIONS.md): voxel arrays ``[n, n, n]`` over the unit cube, axes (x, y, z),
1 = hard phase; shape parameters in THIS library's convention ``(alpha_xy, alpha_yz, alpha_xz
[deg], l_x, l_y, l_z)`` with the lengths scaled so that the cell volume is 1 (C^H does not depend
on the scale; the solver normalises to unit volume anyway); C^H ``[6, 6]`` in the global Voigt
basis [xx, yy, zz, yz, xz, xy], engineering shears, in the unit of E.

Specs
-----
A spec is a dict (or a YAML/JSON file, or a built-in name ``"dataset1"`` / ``"dataset2"``)::

    name: my_cells
    n: 48                      # voxels per edge
    seed: 0                    # every random choice (shapes, materials, split) derives from it
    fractional: false          # true: grey cells from geometry.make_cell(fractional=True)
    voxel_dtype: uint8         # uint8 for binary cells; float16 / float32 for fractional ones
    chunk: 16                  # geometries per build chunk = the resume granularity
    out_of_range: skip         # vf outside a type's reachable range: skip | clip (see below)
    require_percolation: false # reject cells that do not percolate in x, y and z
    groups:
      - types: [tubular_gyroid]         # or: family: truss (+ count: 100 names spread over the list)
        vf: {range: [0.02, 0.33], count: 40}     # or an explicit list [0.1, 0.2]
        shapes: {per_cell: 1500, angles: [75, 90], lengths: [1, 2], convention: library}
        materials: {...}                # optional, overrides the top-level materials
    materials: {E: 1.0, nu: 0.3, soft_ratio: 1.0e-6}   # each a number, {range: [lo, hi]},
                                                      # {log_range: [lo, hi]} or {choices: [...]}
    split: {test_fraction: 0.2, by: sample}           # by: sample | geometry | volume_fraction | type
    # scale: 1.0   (written by apply_scale into stored specs: a record of a scale already applied)

Every (type, vf grid position) of a group is one geometry slot, stored once; each gets
``per_cell`` samples with their own random shape and material. ``family`` + ``count`` takes
``count`` names spread evenly over the family's sorted list. ``shapes`` omitted = one unit cube per geometry. Shape
sampling: the three angles uniform in ``angles`` and the three lengths uniform in ``lengths``
(``convention: library`` = this library's lattice angles; rows whose angles give no
parallelepiped are redrawn, which never happens for angles within [60, 90]; ``convention:
reference`` draws the reference code's J = S T parameters, always valid, and converts them with
``shapes.from_reference_convention``); then the lengths are divided by the cube root of the cell
volume. ``out_of_range`` (resolved per type while building, since ``geometry.reachable_range``
is expensive): ``skip`` drops the grid values outside the reachable range (status 3); ``clip``
re-spreads a ``range`` grid over its reachable part, keeping ``count`` values (an explicit list
is clamped, duplicates dropped). Both are recorded per type (attribute ``vf_adjustments``). A
type that cannot be drawn at this n at all, a cell that ``make_cell`` refuses and, with
``require_percolation``, a cell that does not percolate are recorded in ``rejected`` (status 2).
Samples of dropped or rejected cells are in neither split.

Splits (80/20 by default, fixed seed, recorded in ``/split``): ``sample`` (the reference's: random
samples), ``geometry`` (whole geometries), ``type`` (whole cell types) or ``volume_fraction``
(held-out vf levels: every sample at the chosen grid positions is in the test split; the levels
are spread evenly over the interior of the built grid positions, e.g. positions 2, 7, ..., 37 of
40, so the test measures interpolation between training volume fractions).

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

import copy
import hashlib
import json
import math
import os
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import geometry
from .geometry import FAMILIES

FORMAT = "phnet_cuda.cell_dataset"
FORMAT_VERSION = 1
SPLIT_BY = ("sample", "geometry", "volume_fraction", "type")
SPLITS = ("train", "test", "all")
VOXEL_DTYPES = ("uint8", "float16", "float32")
#: datasets whose checksums are written once, at the end of the build
IMMUTABLE_GROUPS = ("geometry", "samples", "split")
LABEL_DATASETS = ("labels/CH", "labels/converged", "labels/residual", "labels/tol", "labels/iterations")

_CUBE_SHAPES = {"per_cell": 1, "angles": [90.0, 90.0], "lengths": [1.0, 1.0], "convention": "library"}
_DEFAULT_MATERIALS = {"E": 1.0, "nu": 0.3, "soft_ratio": 1e-6}
_TOP_KEYS = {"name", "n", "seed", "fractional", "voxel_dtype", "chunk", "out_of_range",
             "require_percolation", "groups", "materials", "split", "scale"}
_GROUP_KEYS = {"types", "family", "count", "vf", "shapes", "materials", "type_fraction"}
_SHAPE_KEYS = {"per_cell", "angles", "lengths", "convention"}
_SPLIT_KEYS = {"test_fraction", "by", "seed"}
_MATERIAL_KEYS = ("E", "nu", "soft_ratio")

#: Dataset 1 of the reference method: Tubular Gyroid at 40 volume fractions in [2 %, 33 %],
#: 1500 random parallelepipeds per volume fraction (angles [75, 90] deg, lengths [1, 2]).
DATASET1 = {
    "name": "dataset1", "n": 48, "seed": 20240601, "chunk": 8,
    "groups": [{"types": ["tubular_gyroid"], "vf": {"range": [0.02, 0.33], "count": 40},
                "shapes": {"per_cell": 1500, "angles": [75.0, 90.0], "lengths": [1.0, 2.0],
                           "convention": "library"}}],
    "materials": dict(_DEFAULT_MATERIALS),
    "split": {"test_fraction": 0.2, "by": "sample"},
}
#: Dataset 2: 100 truss and 16 TPMS-sheet types at 40 volume fractions each, unit cubes; the
#: vf grid is clipped to each type's reachable range (so every type keeps 40 levels).
DATASET2 = {
    "name": "dataset2", "n": 48, "seed": 20240602, "chunk": 16, "out_of_range": "clip",
    "groups": [{"family": "truss", "count": 100, "vf": {"range": [0.02, 0.33], "count": 40}},
               {"family": "tpms_sheet", "count": 16, "vf": {"range": [0.02, 0.33], "count": 40}}],
    "materials": dict(_DEFAULT_MATERIALS),
    "split": {"test_fraction": 0.2, "by": "sample"},
}
BUILTIN_SPECS = {"dataset1": DATASET1, "dataset2": DATASET2}


class DatasetError(ValueError):
    """A dataset file or spec that cannot be used (the message names the file or the key)."""


class DatasetCorruptError(DatasetError):
    """A dataset file whose contents do not match their stored checksums, or cannot be read."""


# =============================================================================== specs
def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _number(x, key: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise ValueError(f"spec {key}: expected a finite number, got {x!r}")
    return float(x)


def _integer(x, key: str, lo: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or int(x) < lo:
        raise ValueError(f"spec {key}: expected an integer >= {lo}, got {x!r}")
    return int(x)


def _pair(x, key: str, lo: float, hi: float, *, open_lo=True, open_hi=True) -> list[float]:
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        raise ValueError(f"spec {key}: expected [lo, hi], got {x!r}")
    a, b = _number(x[0], key), _number(x[1], key)
    ok_lo = (a > lo if open_lo else a >= lo)
    ok_hi = (b < hi if open_hi else b <= hi)
    _require(ok_lo and ok_hi and a <= b,
             f"spec {key}: expected lo <= hi within {'(' if open_lo else '['}{lo:g}, {hi:g}"
             f"{')' if open_hi else ']'}, got {x!r}")
    return [a, b]


def _check_keys(d, allowed: set, key: str) -> None:
    if not isinstance(d, dict):
        raise ValueError(f"spec {key}: expected a mapping, got {d!r}")
    extra = sorted(set(d) - allowed)
    if extra:
        raise ValueError(f"spec {key}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


_MATERIAL_BOUNDS = {"E": (0.0, math.inf, True, True), "nu": (-1.0, 0.5, True, True),
                    "soft_ratio": (0.0, 1.0, True, False)}


def _material_entry(x, key: str, name: str):
    lo, hi, open_lo, open_hi = _MATERIAL_BOUNDS[name]

    def inside(v: float) -> bool:
        return (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)

    where = f"{'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"
    if isinstance(x, dict):
        _require(len(x) == 1 and next(iter(x)) in ("range", "log_range", "choices"),
                 f"spec {key}: expected a number or one of {{range: [lo, hi]}}, {{log_range: [lo, hi]}}, "
                 f"{{choices: [...]}}, got {x!r}")
        kind, val = next(iter(x.items()))
        if kind == "choices":
            _require(isinstance(val, (list, tuple)) and len(val) > 0, f"spec {key}.choices: expected a "
                     f"non-empty list, got {val!r}")
            vals = [_number(v, f"{key}.choices") for v in val]
            _require(all(inside(v) for v in vals), f"spec {key}.choices: values must lie in {where}, got {val!r}")
            return {"choices": vals}
        pair = _pair(val, f"{key}.{kind}", lo, hi, open_lo=open_lo, open_hi=open_hi)
        _require(kind != "log_range" or pair[0] > 0, f"spec {key}.log_range: needs positive bounds, got {val!r}")
        return {kind: pair}
    v = _number(x, key)
    _require(inside(v), f"spec {key}: must lie in {where}, got {x!r}")
    return v


def _materials(m, key: str, base: dict | None = None) -> dict:
    _check_keys(m, set(_MATERIAL_KEYS), key)
    out = dict(base if base is not None else _DEFAULT_MATERIALS)
    for name in _MATERIAL_KEYS:
        if name in m:
            out[name] = _material_entry(m[name], f"{key}.{name}", name)
    return out


def _vf(v, key: str):
    if isinstance(v, dict):
        _check_keys(v, {"range", "count"}, key)
        _require("range" in v and "count" in v, f"spec {key}: needs both 'range' and 'count', got {v!r}")
        return {"range": _pair(v["range"], f"{key}.range", 0.0, 1.0), "count": _integer(v["count"], f"{key}.count", 1)}
    _require(isinstance(v, (list, tuple)) and len(v) > 0,
             f"spec {key}: expected a list of volume fractions or {{range: [lo, hi], count: k}}, got {v!r}")
    vals = [_number(x, key) for x in v]
    _require(all(0 < x < 1 for x in vals), f"spec {key}: volume fractions must lie in (0, 1), got {v!r}")
    return {"values": vals}


def _shapes(s, key: str) -> dict:
    if s is None:
        return dict(_CUBE_SHAPES)
    _check_keys(s, _SHAPE_KEYS, key)
    out = dict(_CUBE_SHAPES)
    if "per_cell" in s:
        out["per_cell"] = _integer(s["per_cell"], f"{key}.per_cell", 1)
    if "angles" in s:
        out["angles"] = _pair(s["angles"], f"{key}.angles", 0.0, 180.0)
    if "lengths" in s:
        out["lengths"] = _pair(s["lengths"], f"{key}.lengths", 0.0, math.inf)
    if "convention" in s:
        _require(s["convention"] in ("library", "reference"),
                 f"spec {key}.convention: expected 'library' or 'reference', got {s['convention']!r}")
        out["convention"] = s["convention"]
    return out


def normalize_spec(spec: dict) -> dict:
    """Validate a spec dict (see the module docstring) and fill in the defaults.

    Returns a new dict in canonical form (vf grids as ``{"range", "count"}`` or ``{"values"}``,
    ``shapes`` and ``materials`` complete in every group). Raises ValueError naming the key, its
    value and what was expected."""
    _check_keys(spec, _TOP_KEYS, "(top level)")
    out = {"name": str(spec.get("name", "custom")),
           "n": _integer(spec.get("n", 48), "n", 2),
           "seed": _integer(spec.get("seed", 0), "seed", 0),
           "fractional": spec.get("fractional", False),
           "chunk": _integer(spec.get("chunk", 16), "chunk", 1),
           "out_of_range": spec.get("out_of_range", "skip"),
           "require_percolation": spec.get("require_percolation", False),
           "scale": _number(spec.get("scale", 1.0), "scale")}
    _require(isinstance(out["fractional"], bool), f"spec fractional: expected true/false, got {out['fractional']!r}")
    _require(isinstance(out["require_percolation"], bool),
             f"spec require_percolation: expected true/false, got {out['require_percolation']!r}")
    _require(out["out_of_range"] in ("skip", "clip"),
             f"spec out_of_range: expected 'skip' or 'clip', got {out['out_of_range']!r}")
    vd = spec.get("voxel_dtype", "float16" if out["fractional"] else "uint8")
    _require(vd in VOXEL_DTYPES, f"spec voxel_dtype: expected one of {VOXEL_DTYPES}, got {vd!r}")
    _require(out["fractional"] or vd == "uint8",
             f"spec voxel_dtype: binary cells (fractional: false) are stored as uint8, got {vd!r}")
    _require(not out["fractional"] or vd != "uint8",
             f"spec voxel_dtype: fractional cells need float16 or float32, got {vd!r}")
    out["voxel_dtype"] = vd
    out["materials"] = _materials(spec.get("materials", {}), "materials")
    groups = spec.get("groups")
    _require(isinstance(groups, (list, tuple)) and len(groups) > 0,
             f"spec groups: expected a non-empty list of cell groups, got {groups!r}")
    out["groups"] = []
    for i, g in enumerate(groups):
        key = f"groups[{i}]"
        _check_keys(g, _GROUP_KEYS, key)
        grp = {}
        _require(("types" in g) != ("family" in g), f"spec {key}: give exactly one of 'types' or 'family', got {g!r}")
        if "types" in g:
            t = g["types"]
            _require(isinstance(t, (list, tuple)) and len(t) > 0 and all(isinstance(x, str) for x in t),
                     f"spec {key}.types: expected a non-empty list of cell type names, got {t!r}")
            _require("count" not in g, f"spec {key}.count: only allowed with 'family'")
            grp["types"] = list(t)
        else:
            _require(g["family"] in FAMILIES, f"spec {key}.family: expected one of {FAMILIES}, got {g['family']!r}")
            grp["family"] = g["family"]
            if "count" in g:
                grp["count"] = _integer(g["count"], f"{key}.count", 1)
        _require("vf" in g, f"spec {key}: missing 'vf' (a list or {{range: [lo, hi], count: k}})")
        grp["vf"] = _vf(g["vf"], f"{key}.vf")
        grp["shapes"] = _shapes(g.get("shapes"), f"{key}.shapes")
        grp["materials"] = _materials(g.get("materials", {}), f"{key}.materials", out["materials"])
        grp["type_fraction"] = _number(g.get("type_fraction", 1.0), f"{key}.type_fraction")
        _require(0 < grp["type_fraction"] <= 1, f"spec {key}.type_fraction: expected (0, 1], got {grp['type_fraction']}")
        out["groups"].append(grp)
    split = spec.get("split", {})
    _check_keys(split, _SPLIT_KEYS, "split")
    tf = _number(split.get("test_fraction", 0.2), "split.test_fraction")
    _require(0 <= tf < 1, f"spec split.test_fraction: expected [0, 1), got {tf}")
    by = split.get("by", "sample")
    _require(by in SPLIT_BY, f"spec split.by: expected one of {SPLIT_BY}, got {by!r}")
    out["split"] = {"test_fraction": tf, "by": by,
                    "seed": _integer(split.get("seed", out["seed"]), "split.seed", 0)}
    return out


def apply_scale(spec: dict, scale: float) -> dict:
    """A smaller version of a (normalized) spec with the same structure.

    ``scale`` in (0, 1] acts on two axes and leaves the others alone:

    * samples per geometry (``shapes.per_cell``) -> ``max(1, round(per_cell * scale))``
      (Dataset 1: 1500 -> 15 at scale 0.01);
    * cell types per group -> ``max(1, round(T * scale))`` of the T names, picked evenly spaced
      along the list (Dataset 2 at 0.01: 1 truss + 1 sheet type);
    * the volume-fraction grid, n, materials, the split rule and the seed are kept, so a small
      version still covers the whole vf range (and ``--n`` changes the resolution separately).
    """
    s = _number(scale, "scale")
    if not 0 < s <= 1:
        raise ValueError(f"scale must lie in (0, 1], got {scale!r}")
    out = copy.deepcopy(spec)
    out["scale"] = spec.get("scale", 1.0) * s
    for g in out["groups"]:
        g["shapes"]["per_cell"] = max(1, round(g["shapes"]["per_cell"] * s))
        g["type_fraction"] = g.get("type_fraction", 1.0) * s
    return out


def load_spec(spec, *, n: int | None = None, scale: float | None = None, seed: int | None = None,
              split_by: str | None = None) -> dict:
    """The effective spec of a build: a built-in name (``"dataset1"``, ``"dataset2"``), a
    ``.yaml`` / ``.json`` file or a dict, with the command-line overrides applied (``n``,
    ``seed``, ``split_by``), then normalized and scaled (``apply_scale``)."""
    if isinstance(spec, (str, os.PathLike)):
        key = str(spec)
        if key in BUILTIN_SPECS:
            raw = copy.deepcopy(BUILTIN_SPECS[key])
        else:
            path = Path(key)
            if not path.is_file():
                raise ValueError(f"spec: {key!r} is neither a built-in spec {sorted(BUILTIN_SPECS)} nor an "
                                 "existing .yaml/.json file")
            import yaml
            try:
                raw = yaml.safe_load(path.read_text())
            except yaml.YAMLError as exc:
                raise ValueError(f"spec {key}: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
            if not isinstance(raw, dict):
                raise ValueError(f"spec {key}: expected a mapping at the top level, got {type(raw).__name__}")
            raw.setdefault("name", path.stem)
    elif isinstance(spec, dict):
        raw = copy.deepcopy(spec)
    else:
        raise ValueError(f"spec: expected a built-in name, a file path or a dict, got {type(spec).__name__}")
    if n is not None:
        raw["n"] = n
    if seed is not None:
        raw["seed"] = seed
    if split_by is not None:
        raw.setdefault("split", {})
        raw["split"] = dict(raw["split"], by=split_by)
    out = normalize_spec(raw)
    return apply_scale(out, scale) if scale is not None and scale != 1 else out


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


# =============================================================================== geometry access
GENERATOR = "phnet_cuda.geometry.make_cell"  # recorded in every dataset file


def _family_types(family: str) -> list[str]:
    return list(geometry.cell_types(family))


def _family_of(name: str) -> str:
    for fam in FAMILIES:
        if name in geometry.cell_types(fam):
            return fam
    raise ValueError(f"spec types: unknown cell type {name!r} (see phnet_cuda.geometry.cell_types(); "
                     f"{sum(len(geometry.cell_types(f)) for f in FAMILIES)} types)")


def _reachable(name: str, n: int) -> tuple[float, float]:
    lo, hi = geometry.reachable_range(name, n)
    return float(lo), float(hi)


def _make_cell(name: str, n: int, vf: float, fractional: bool) -> torch.Tensor:
    return geometry.make_cell(name, n, vf, fractional=fractional, dtype=torch.float32)


def _percolation(vox: np.ndarray) -> tuple[bool, bool, bool]:
    return tuple(bool(b) for b in geometry.percolation(torch.from_numpy(vox.astype(np.float32))))


# =============================================================================== planning
@dataclass
class Plan:
    """Everything about a dataset that is decided before any cell is generated (cheap, and
    deterministic for a spec): the geometry slots (type x position in the group's vf grid) and
    the sample tables. The volume fraction of a slot is resolved when its cell is generated
    (``reachable_range`` is expensive), so an interrupted build loses at most one chunk."""

    type_names: list
    type_family: list
    geometry_type: np.ndarray       # [G] int16
    geometry_group: np.ndarray      # [G] int16, spec group
    geometry_vf_index: np.ndarray   # [G] int16, position in the group's requested vf grid
    sample_geometry: np.ndarray     # [S] int64
    sample_shape: np.ndarray        # [S, 6] float64 (library convention, unit volume)
    sample_E: np.ndarray
    sample_nu: np.ndarray
    sample_soft_ratio: np.ndarray
    generator: str = ""

    @property
    def num_geometries(self) -> int:
        return len(self.geometry_type)

    @property
    def num_samples(self) -> int:
        return len(self.sample_geometry)

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(_canonical({"types": self.type_names, "families": self.type_family,
                             "generator": self.generator}).encode())
        for a in (self.geometry_type, self.geometry_group, self.geometry_vf_index, self.sample_geometry,
                  self.sample_shape, self.sample_E, self.sample_nu, self.sample_soft_ratio):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def _cz2(p: np.ndarray) -> np.ndarray:
    """c_z^2 of the lattice vectors (CONVENTIONS); a parallelepiped exists iff it is > 0."""
    cxy, cyz, cxz = (np.cos(np.deg2rad(p[:, k])) for k in range(3))
    sxy = np.sin(np.deg2rad(p[:, 0]))
    cy = (cyz - cxz * cxy) / sxy
    return 1.0 - cxz ** 2 - cy ** 2


def sample_shapes(rng: np.random.Generator, count: int, angles=(75.0, 90.0), lengths=(1.0, 2.0),
                  convention: str = "library") -> np.ndarray:
    """Random parallelepiped cells ``[count, 6]`` float64 in this library's convention,
    (alpha_xy, alpha_yz, alpha_xz [deg], l_x, l_y, l_z), scaled to unit cell volume.

    Args:
        rng: numpy generator (the only source of randomness).
        count: number of cells.
        angles: [lo, hi] degrees; each of the three angles is uniform in it.
        lengths: [lo, hi]; each edge length is uniform in it before the volume scaling (so the
            length ratios are those drawn).
        convention: ``"library"``: the angles are this library's lattice angles, rows giving no
            parallelepiped (c_z^2 <= 1e-6) are redrawn; ``"reference"``: they are the reference
            code's J = S T parameters (always a valid cell), converted with
            ``shapes.from_reference_convention``.
    """
    from . import shapes
    a_lo, a_hi = angles
    l_lo, l_hi = lengths
    if convention not in ("library", "reference"):
        raise ValueError(f"convention must be 'library' or 'reference', got {convention!r}")
    p = np.empty((count, 6))
    todo = np.arange(count)
    for _ in range(1000):
        p[todo, :3] = rng.uniform(a_lo, a_hi, size=(len(todo), 3))
        p[todo, 3:] = rng.uniform(l_lo, l_hi, size=(len(todo), 3))
        if convention == "reference":
            break
        # margin on c_z^2 (not just > 0) keeps the cells away from degenerate, flat ones
        todo = todo[~(_cz2(p[todo]) > 1e-6)]
        if len(todo) == 0:
            break
    else:
        raise ValueError(f"shapes.angles {list(angles)}: almost no angle triple gives a parallelepiped")
    t = torch.from_numpy(p)
    if convention == "reference":
        t = shapes.from_reference_convention(t)
    vol = shapes.cell_volume(t)
    t = torch.cat([t[:, :3], t[:, 3:] / vol.pow(1.0 / 3.0)[:, None]], dim=1)
    shapes.shape_parameters(t)  # every row must be a valid cell; raises otherwise
    return t.numpy().copy()


def _draw_material(rng: np.random.Generator, entry, count: int) -> np.ndarray:
    if not isinstance(entry, dict):
        return np.full(count, float(entry))
    kind, val = next(iter(entry.items()))
    if kind == "range":
        return rng.uniform(val[0], val[1], size=count)
    if kind == "log_range":
        return np.exp(rng.uniform(math.log(val[0]), math.log(val[1]), size=count))
    return np.asarray(val, dtype=np.float64)[rng.integers(0, len(val), size=count)]


def _even_pick(length: int, k: int) -> list[int]:
    """k indices spread evenly over range(length), both ends included when k >= 2."""
    if k >= length:
        return list(range(length))
    return sorted({int(round(x)) for x in np.linspace(0, length - 1, k)})


def _vf_grid(vf: dict) -> np.ndarray:
    if "values" in vf:
        return np.asarray(vf["values"], dtype=np.float64)
    lo, hi = vf["range"]
    return np.linspace(lo, hi, vf["count"]) if vf["count"] > 1 else np.array([lo])


def fit_vf_grid(vf: dict, lo: float, hi: float, policy: str) -> tuple[np.ndarray, dict | None]:
    """Volume fractions of one type's grid positions given its reachable range [lo, hi].

    Returns ``(values, note)``: ``values[k]`` for grid position k, NaN where the position is
    dropped; ``note`` None when nothing changed, else what was done. ``skip``: positions outside
    [lo, hi] are dropped. ``clip``: a ``range`` grid is re-spread over its reachable part (same
    count; all dropped if none is reachable); an explicit list is clamped and duplicates dropped."""
    grid = _vf_grid(vf)
    inside = (grid >= lo) & (grid <= hi)
    if inside.all():
        return grid, None
    if policy == "skip":
        return np.where(inside, grid, np.nan), {"action": "skip", "skipped": grid[~inside].tolist()}
    if "range" in vf:
        a, b = max(vf["range"][0], lo), min(vf["range"][1], hi)
        if a > b:
            return np.full(len(grid), np.nan), {"action": "clip", "skipped": grid.tolist(), "used_range": None}
        new = np.linspace(a, b, len(grid)) if len(grid) > 1 else np.array([a])
        return new, {"action": "clip", "used_range": [a, b]}
    clamped = np.clip(grid, lo, hi)
    out = np.full(len(grid), np.nan)
    _, first = np.unique(clamped, return_index=True)
    out[first] = clamped[first]
    return out, {"action": "clip", "clamped": clamped.tolist(), "dropped_duplicates": int(len(grid) - len(first))}


def plan_dataset(spec: dict) -> Plan:
    """Geometry slots and sample tables of a normalized spec (``load_spec``); no cell is made.

    Order: groups, then types, then vf grid positions (geometry index), then ``per_cell``
    samples per geometry. ``family`` + ``count`` takes ``count`` names spread evenly over the
    family's sorted list (not the first ones: neighbours there are variants of one another).
    Shapes and materials come from two independent streams of
    ``numpy.random.SeedSequence(spec["seed"])``, so the tables do not depend on the chunking."""
    shape_rng, material_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(spec["seed"]).spawn(2))
    type_index: dict[str, int] = {}
    families: list[str] = []
    g_type, g_group, g_idx = [], [], []
    s_geom, s_shape, s_mat = [], [], {k: [] for k in _MATERIAL_KEYS}
    for gi, grp in enumerate(spec["groups"]):
        names = grp["types"] if "types" in grp else _family_types(grp["family"])
        if "count" in grp:
            if grp["count"] > len(names):
                raise ValueError(f"spec groups[{gi}].count = {grp['count']}: family {grp['family']!r} has only "
                                 f"{len(names)} cell types")
            names = [names[i] for i in _even_pick(len(names), grp["count"])]
        names = [names[i] for i in _even_pick(len(names), max(1, round(len(names) * grp["type_fraction"])))]
        positions = len(_vf_grid(grp["vf"]))
        sh, k = grp["shapes"], grp["shapes"]["per_cell"]
        for name in names:
            if name not in type_index:
                family = _family_of(name)
                if "family" in grp and family != grp["family"]:
                    raise ValueError(f"spec groups[{gi}]: type {name!r} is {family}, not {grp['family']}")
                type_index[name] = len(type_index)
                families.append(family)
            first = len(g_type)
            g_type.extend([type_index[name]] * positions)
            g_group.extend([gi] * positions)
            g_idx.extend(range(positions))
            s_geom.append(np.repeat(np.arange(first, first + positions), k))
            # one draw per type (not per cell): the same numbers, far fewer calls for big specs
            s_shape.append(sample_shapes(shape_rng, k * positions, sh["angles"], sh["lengths"], sh["convention"]))
            for key in _MATERIAL_KEYS:
                s_mat[key].append(_draw_material(material_rng, grp["materials"][key], k * positions))
    return Plan(type_names=list(type_index), type_family=families,
                geometry_type=np.asarray(g_type, dtype=np.int16),
                geometry_group=np.asarray(g_group, dtype=np.int16),
                geometry_vf_index=np.asarray(g_idx, dtype=np.int16),
                sample_geometry=np.concatenate(s_geom).astype(np.int64),
                sample_shape=np.concatenate(s_shape).astype(np.float64),
                sample_E=np.concatenate(s_mat["E"]), sample_nu=np.concatenate(s_mat["nu"]),
                sample_soft_ratio=np.concatenate(s_mat["soft_ratio"]), generator=GENERATOR)


def make_split(split: dict, sample_geometry: np.ndarray, geometry_type: np.ndarray, geometry_vf_index: np.ndarray,
               geometry_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sorted sample indices; samples of rejected geometries are in neither.

    ``split["by"]`` picks the unit that goes to one side as a whole: ``sample``, ``geometry``,
    ``type`` (random units, seeded by ``split["seed"]``) or ``volume_fraction`` (grid positions,
    of those built, spread evenly over the grid's interior, see the module docstring). The test side gets
    ``round(test_fraction * units)`` units, at least one and at most all but one when there are
    two or more and test_fraction > 0."""
    valid = np.nonzero(geometry_ok[sample_geometry])[0]
    by, frac = split["by"], split["test_fraction"]
    unit_of = {"sample": valid,
               "geometry": sample_geometry[valid],
               "type": geometry_type[sample_geometry[valid]].astype(np.int64),
               "volume_fraction": geometry_vf_index[sample_geometry[valid]].astype(np.int64)}[by]
    units = np.unique(unit_of)  # volume_fraction: the grid positions built for any type
    m = int(round(frac * len(units)))
    if frac > 0 and len(units) >= 2:
        m = min(max(m, 1), len(units) - 1)
    if by == "volume_fraction":  # evenly spread interior levels: the test interpolates in vf
        test_units = units[np.floor((np.arange(m) + 0.5) * len(units) / m).astype(np.int64)] if m else units[:0]
    else:
        rng = np.random.default_rng(np.random.SeedSequence([split["seed"], 1]))
        test_units = np.sort(rng.permutation(units)[:m])
    is_test = np.isin(unit_of, test_units)
    return np.sort(valid[~is_test]).astype(np.int64), np.sort(valid[is_test]).astype(np.int64)


# =============================================================================== HDF5 helpers
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
    import phnet_cuda
    h5py = _h5()
    import platform
    return {"phnet_cuda": phnet_cuda.__version__, "torch": torch.__version__, "numpy": np.__version__,
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
            f[g].visititems(lambda name, obj, g=g: names.append(f"{g}/{name}") if isinstance(obj, h5py.Dataset) else None)
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


# =============================================================================== build
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
    smp["shape"].attrs["columns"] = "alpha_xy, alpha_yz, alpha_xz [deg], l_x, l_y, l_z (library convention, unit volume)"
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


def build_dataset(spec, out, *, n: int | None = None, scale: float | None = None, seed: int | None = None,
                  split_by: str | None = None, max_chunks: int | None = None, progress: bool = True) -> dict:
    """Build (or resume building) a dataset file.

    Args:
        spec: built-in name (``"dataset1"``, ``"dataset2"``), YAML/JSON path, or dict (module
            docstring); ``n``, ``seed``, ``split_by`` override its keys, ``scale`` shrinks it
            (``apply_scale``).
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


# =============================================================================== labelling
def _split_indices(f, split: str, path) -> np.ndarray:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "all":
        return np.sort(np.concatenate([f["split/train"][...], f["split/test"][...]])).astype(np.int64)
    return np.asarray(f[f"split/{split}"][...], dtype=np.int64)


def label_dataset(path, split: str = "test", *, batch: int = 8, device=None, tol: float = 1e-6,
                  dtype=torch.float64, limit: int | None = None, progress: bool = True) -> dict:
    """Label the samples of a split with numerical C^H (``phnet_cuda.homogenize``), resumably.

    Samples whose ``labels/CH`` is still NaN are solved in batches of ``batch`` (sorted by
    geometry, so a batch mostly shares one cell), with their own E, nu, soft_ratio and shape;
    each batch is written and flushed before the next, so an interrupted run continues where it
    stopped. Per sample: C^H ``[6, 6]`` (global basis, unit of E), ``converged`` (max relative
    residual <= tol), the residual, tol and the CG iterations of its batch.

    Args:
        path: a complete dataset file (opened read-write).
        split: ``"train"``, ``"test"`` or ``"all"``.
        batch: samples per solve; device / dtype / tol: passed to ``homogenize``.
        limit: label at most this many samples in this call (None = all pending).
    Returns:
        ``{"labelled": done in this call, "pending": still NaN in the split, "not_converged",
        "seconds"}``.
    """
    from tqdm.auto import tqdm

    from .solver import homogenize

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be positive, got {tol!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    if device is not None:
        device = torch.device(device)
    t0 = time.perf_counter()
    with open_file(path, "r+") as f:
        _require_complete(f, path)
        stored = json.loads(f.attrs["checksums"])  # never label from corrupt cells or tables
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


# =============================================================================== info
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


# =============================================================================== torch side
class CellDataset(torch.utils.data.Dataset):
    """A split of a dataset file as a torch ``Dataset``.

    ``ds[i]`` (int) is one sample, ``ds[[i, j, ...]]`` an already batched dict (one vectorised
    gather; ``make_loader`` uses it with a ``BatchSampler``). Keys (B = batch dims, none for an
    int index):

    * ``vox`` ``[B, n, n, n]`` uint8 (float16/32 for fractional files): the cell on the cube;
    * ``E``, ``nu``, ``soft_ratio`` ``[B]`` float64; ``shape`` ``[B, 6]`` float64 (library
      convention, unit volume); ``volume_fraction`` ``[B]`` float64 (measured);
    * ``CH`` ``[B, 6, 6]`` float64 (NaN where not labelled), ``labelled`` ``[B]`` bool (a
      converged label exists);
    * ``index`` (sample id in the file) and ``geometry`` ``[B]`` int64.

    The 36-channel input is NOT stored: ``to_device`` builds it on the target device.

    Args:
        path: a complete dataset file.
        split: ``"train"``, ``"test"`` or ``"all"``.
        device: None = CPU tensors (use with DataLoader workers); a device (e.g. ``"cuda"``) keeps
            the cached cells and tables there and returns tensors on it (``num_workers=0``): for
            small files the fastest way to feed a GPU.
        cache: ``"auto"`` (cache the split's cells in memory when they take <= ``cache_bytes``),
            True or False. Uncached reads go through a small per-process LRU of cells.
        verify: check the checksums on opening (``verify_file``); corrupt files raise
            DatasetCorruptError.
    The HDF5 file is opened lazily in each process that reads (h5py handles do not survive a
    fork), and never kept open by the constructor.
    """

    def __init__(self, path, split: str = "train", *, device=None, cache="auto", cache_bytes: int = 1 << 30,
                 verify: bool = True, lru: int = 64):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if cache not in ("auto", True, False):
            raise ValueError(f"cache must be 'auto', True or False, got {cache!r}")
        self.path = str(path)
        self.split = split
        self.device = torch.device(device) if device is not None else None
        if verify:
            state = verify_file(self.path)["labels"]
            if state == "in progress":
                warnings.warn(f"{self.path}: labels were being written when the file was last closed (interrupted "
                              "labelling); they are not verified. Re-run `phnet dataset label` to finish.",
                              RuntimeWarning, stacklevel=2)
        with open_file(self.path) as f:
            _require_complete(f, self.path)
            self.indices = _split_indices(f, split, self.path)
            self.n = int(f.attrs["n"])
            self.name = str(f.attrs["name"])
            vox = f["geometry/voxels"]
            self.voxel_dtype = vox.dtype
            sg = np.asarray(f["samples/geometry"][...])[self.indices]
            tables = {"geometry": sg,
                      "E": np.asarray(f["samples/E"][...])[self.indices],
                      "nu": np.asarray(f["samples/nu"][...])[self.indices],
                      "soft_ratio": np.asarray(f["samples/soft_ratio"][...])[self.indices],
                      "shape": np.asarray(f["samples/shape"][...])[self.indices],
                      "volume_fraction": np.asarray(f["geometry/vf"][...])[sg],
                      "CH": np.asarray(f["labels/CH"][...])[self.indices],
                      "labelled": np.asarray(f["labels/converged"][...])[self.indices] == 1,
                      "index": self.indices}
            self.geometries = np.unique(sg)
            cell_bytes = self.n ** 3 * vox.dtype.itemsize
            self.cached = bool(cache is True or (cache == "auto" and len(self.geometries) * cell_bytes <= cache_bytes))
            self._cells = None
            if self.cached:
                self._cells = torch.from_numpy(read_rows(vox, self.geometries))
        # row of each sample's cell in the cache (cached) / geometry index in the file (uncached)
        row = np.searchsorted(self.geometries, tables["geometry"]) if self.cached else tables["geometry"]
        self._row = torch.from_numpy(row.astype(np.int64))
        self._tables = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tables.items()}
        if self.device is not None:
            self._tables = {k: v.to(self.device) for k, v in self._tables.items()}
            self._row = self._row.to(self.device)
            if self._cells is not None:
                self._cells = self._cells.to(self.device)
        self._file = None
        self._pid = None
        self._lru: OrderedDict = OrderedDict()
        self._lru_size = int(lru)

    def __len__(self) -> int:
        return len(self.indices)

    # -- file access (lazy, per process)
    def _h5file(self):
        if self._file is None or self._pid != os.getpid():
            self._file = open_file(self.path)  # a forked copy of a parent's handle is not used
            self._pid = os.getpid()
            self._lru.clear()
        return self._file

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"], state["_pid"], state["_lru"] = None, None, OrderedDict()
        return state

    def close(self) -> None:
        """Close this process's HDF5 handle (reopened on the next uncached read)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def _read_cells(self, geoms: np.ndarray) -> torch.Tensor:
        missing = sorted({int(g) for g in geoms} - set(self._lru))
        if missing:
            try:
                data = read_rows(self._h5file()["geometry/voxels"], missing)
            except OSError as exc:
                raise DatasetCorruptError(f"{self.path}: cannot read cells {missing[:4]}... "
                                          f"({str(exc).splitlines()[0]})") from None
            for g, cell in zip(missing, data):
                self._lru[g] = torch.from_numpy(cell)
        for g in geoms:
            self._lru.move_to_end(int(g))
        out = torch.stack([self._lru[int(g)] for g in geoms])
        while len(self._lru) > max(self._lru_size, len(set(geoms.tolist()))):
            self._lru.popitem(last=False)
        return out.to(self.device) if self.device is not None else out

    # -- items
    def __getitem__(self, item):
        single = isinstance(item, (int, np.integer)) or (isinstance(item, torch.Tensor) and item.dim() == 0)
        if single:
            pos = torch.tensor([int(item)])
        else:
            pos = torch.as_tensor(item, dtype=torch.int64).reshape(-1)
        if self.device is not None and self.device.type == "cuda" and torch.utils.data.get_worker_info() is not None:
            raise ValueError(f"CellDataset(device={self.device}) cannot be read in DataLoader workers; use "
                             "num_workers=0 or device=None")
        if len(pos) and (int(pos.min()) < -len(self) or int(pos.max()) >= len(self)):
            raise IndexError(f"index {item} out of range for a split of {len(self)} samples")
        pos = torch.where(pos < 0, pos + len(self), pos)
        if self.device is not None:
            pos = pos.to(self.device)
        batch = {k: torch.index_select(v, 0, pos) for k, v in self._tables.items()}
        if self.cached:  # index_select: ~25x faster than advanced indexing for uint8 cells
            batch["vox"] = torch.index_select(self._cells, 0, self._row[pos])
        else:
            batch["vox"] = self._read_cells(self._row[pos].cpu().numpy())
        return {k: v[0] for k, v in batch.items()} if single else batch


def collate(samples):
    """Collate function for ``CellDataset`` items: a list of per-sample dicts is stacked
    (``torch.utils.data.default_collate``); an already batched dict (``ds[list]``) passes."""
    if isinstance(samples, dict):
        return samples
    return torch.utils.data.default_collate(samples)


def material_tensor(batch: dict, device=None, dtype=torch.float32) -> torch.Tensor:
    """The 36-channel material-voxel tensor ``[B, 36, n, n, n]`` of a batch, built on ``device``
    (default: where ``batch["vox"]`` is) with the shape-material transformation of each
    sample's parallelepiped applied: ``materials.material_voxel_tensor(vox, E, nu, soft_ratio,
    shape=shape)`` (CONVENTIONS: channel 6p + q = C_e[p, q], unit of E)."""
    from .materials import material_voxel_tensor

    vox = batch["vox"]
    if device is not None:
        vox = vox.to(device, non_blocking=True)
    vox = vox.to(torch.float64 if dtype == torch.float64 else torch.float32)  # exact for uint8 and float16 cells
    return material_voxel_tensor(vox, batch["E"], batch["nu"], batch["soft_ratio"], shape=batch["shape"], dtype=dtype)


def to_device(batch: dict, device, *, dtype=torch.float32, material: bool = True, non_blocking: bool = True) -> dict:
    """Move a batch to ``device`` and build what the network needs there.

    Only the compact tensors travel (uint8 cells, small tables); on the device ``vox`` becomes
    ``dtype`` in [0, 1] (``[B, n, n, n]``) and, with ``material=True``, ``material``
    ``[B, 36, n, n, n]`` (``material_tensor``) is added. Returns a new dict."""
    out = {k: (v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    out["vox"] = out["vox"].to(dtype)
    if material:
        out["material"] = material_tensor(out, dtype=dtype)
    return out


def make_loader(dataset: CellDataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                drop_last: bool = False, num_workers: int = 0, rank: int | None = None,
                world_size: int | None = None, pin_memory: bool = False, persistent_workers: bool | None = None):
    """A ``DataLoader`` yielding batched dicts (see ``CellDataset``) on the CPU.

    Each batch is one vectorised ``dataset[indices]`` call (a ``BatchSampler`` over a random,
    sequential or - with ``world_size`` > 1 - ``DistributedSampler`` index order). With
    ``rank``/``world_size`` each rank reads its own shard (``DistributedSampler`` with ``seed``;
    call ``set_epoch(loader, epoch)`` each epoch). ``num_workers`` > 0 reads in worker
    processes, each opening the file itself."""
    from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, SequentialSampler

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if (rank is None) != (world_size is None):
        raise ValueError(f"give both rank and world_size or neither, got rank={rank}, world_size={world_size}")
    if world_size is not None:
        if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        base = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                  drop_last=drop_last)
    elif shuffle:
        base = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    else:
        base = SequentialSampler(dataset)
    sampler = BatchSampler(base, batch_size=batch_size, drop_last=drop_last)
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    return DataLoader(dataset, batch_size=None, sampler=sampler, collate_fn=collate, num_workers=num_workers,
                      pin_memory=pin_memory, persistent_workers=persistent_workers)


def set_epoch(loader, epoch: int) -> None:
    """Tell a ``make_loader`` loader's ``DistributedSampler`` the epoch (new shuffle per epoch)."""
    base = getattr(loader.sampler, "sampler", None)
    if hasattr(base, "set_epoch"):
        base.set_epoch(epoch)


__all__ = [
    "BUILTIN_SPECS",
    "CellDataset",
    "DATASET1",
    "DATASET2",
    "DatasetCorruptError",
    "DatasetError",
    "Plan",
    "apply_scale",
    "build_dataset",
    "collate",
    "dataset_checksum",
    "dataset_info",
    "label_dataset",
    "load_spec",
    "make_loader",
    "make_split",
    "material_tensor",
    "normalize_spec",
    "open_file",
    "plan_dataset",
    "sample_shapes",
    "set_epoch",
    "to_device",
    "verify_file",
]
