"""The dataset spec schema: what a cell dataset is to contain, validated and normalised.

A spec is plain data (dicts, numbers, names), so this module needs no cell generator, no HDF5
and no torch (only the family names of ``geometry``): it checks every key and names the offending
one, fills in the defaults and applies the command-line overrides and ``scale``. Planning
(``plan``), the file format (``h5``) and the builder (``build``) take the normalised spec from
here. The file layout is described in ``phnet_cuda.data.h5``.

Conventions (docs/conventions.md): voxel arrays ``[n, n, n]`` over the unit cube, axes (x, y, z),
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
reference`` draws the reference method's (a_xy, a_yz, a_xz, l_x, l_y, l_z), always valid, and takes the
cell its published code homogenizes (``shapes.from_reference_code_convention``: its dataset's
cells); ``convention: reference_paper`` takes the cell its paper describes instead
(``shapes.from_reference_convention``)); then the lengths are divided by the cube root of the cell
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
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import numpy as np

from ..conventions import DEFAULT_SOFT_RATIO
from ..geometry import FAMILIES

SPLIT_BY = ("sample", "geometry", "volume_fraction", "type")
SPLITS = ("train", "test", "all")
VOXEL_DTYPES = ("uint8", "float16", "float32")

_CUBE_SHAPES = {"per_cell": 1, "angles": [90.0, 90.0], "lengths": [1.0, 1.0], "convention": "library"}
_DEFAULT_MATERIALS = {"E": 1.0, "nu": 0.3, "soft_ratio": DEFAULT_SOFT_RATIO}
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
        _require(s["convention"] in ("library", "reference", "reference_paper"),
                 f"spec {key}.convention: expected 'library', 'reference' or 'reference_paper', "
                 f"got {s['convention']!r}")
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
        _require(0 < grp["type_fraction"] <= 1,
                 f"spec {key}.type_fraction: expected (0, 1], got {grp['type_fraction']}")
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


__all__ = [
    "BUILTIN_SPECS",
    "DATASET1",
    "DATASET2",
    "SPLITS",
    "SPLIT_BY",
    "VOXEL_DTYPES",
    "apply_scale",
    "load_spec",
    "normalize_spec",
]
