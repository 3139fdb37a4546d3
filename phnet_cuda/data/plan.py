"""Planning: every decision about a dataset that comes before any cell is generated.

From a normalised spec (``spec``) this module lays out the geometry slots (type x position in the
group's vf grid), draws the sample tables (shapes and materials from seeded streams), fits a
type's vf grid to its reachable range and assigns the train/test split. It also holds the only
access to the geometry library (``geometry.make_cell``, ``reachable_range``, ``percolation``,
``cell_types``), so one place decides how cells are drawn. It is separate from the file format
(``h5``) and the builder (``build``) because all of it is cheap, deterministic for a spec and
writes nothing: a ``Plan`` can be inspected, hashed and tested without HDF5.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import geometry
from ..geometry import FAMILIES
from .spec import _MATERIAL_KEYS, _canonical

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
        """Number of geometry slots G."""
        return len(self.geometry_type)

    @property
    def num_samples(self) -> int:
        """Number of samples S."""
        return len(self.sample_geometry)

    def digest(self) -> str:
        """SHA-256 hex digest of the plan (type names and families, generator, every slot and sample
        table); stored in the file so that a resumed build can check that its plan is the same."""
        h = hashlib.sha256()
        h.update(_canonical({"types": self.type_names, "families": self.type_family,
                             "generator": self.generator}).encode())
        for a in (self.geometry_type, self.geometry_group, self.geometry_vf_index, self.sample_geometry,
                  self.sample_shape, self.sample_E, self.sample_nu, self.sample_soft_ratio):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def _cz2(p: np.ndarray) -> np.ndarray:
    """c_z^2 of the lattice vectors (docs/conventions.md); a parallelepiped exists iff it is > 0."""
    cxy, cyz, cxz = (np.cos(np.deg2rad(p[:, k])) for k in range(3))
    sxy = np.sin(np.deg2rad(p[:, 0]))
    cy = (cyz - cxz * cxy) / sxy
    return 1.0 - cxz ** 2 - cy ** 2


#: How sampled shape parameters are read (``sample_shapes``): this library's angles, the cells of
#: the reference method's published code, or the cells its paper describes.
SHAPE_CONVENTIONS = ("library", "reference", "reference_paper")


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
            parallelepiped (c_z^2 <= 1e-6) are redrawn. ``"reference"``: they are the reference
            method's (a_xy, a_yz, a_xz, l_x, l_y, l_z) (always a valid cell), and the cell is the
            one its PUBLISHED CODE homogenizes (lattice vectors = the rows of S T,
            ``shapes.from_reference_code_convention``): its dataset's cells. This library's
            parameters put a1 along x, so C^H labels are that code's rotated into this frame;
            for the code's own frame solve with ``shape=shapes.reference_code_lattice(params)``.
            ``"reference_paper"``: the cell its paper describes (columns of S T,
            ``shapes.from_reference_convention``).
    """
    from .. import shapes
    a_lo, a_hi = angles
    l_lo, l_hi = lengths
    if convention not in SHAPE_CONVENTIONS:
        raise ValueError(f"convention must be one of {SHAPE_CONVENTIONS}, got {convention!r}")
    p = np.empty((count, 6))
    todo = np.arange(count)
    for _ in range(1000):
        p[todo, :3] = rng.uniform(a_lo, a_hi, size=(len(todo), 3))
        p[todo, 3:] = rng.uniform(l_lo, l_hi, size=(len(todo), 3))
        if convention != "library":  # the reference's parameters always give a cell
            break
        # margin on c_z^2 (not just > 0) keeps the cells away from degenerate, flat ones
        todo = todo[~(_cz2(p[todo]) > 1e-6)]
        if len(todo) == 0:
            break
    else:
        raise ValueError(f"shapes.angles {list(angles)}: almost no angle triple gives a parallelepiped")
    t = torch.from_numpy(p)
    if convention == "reference":
        t = shapes.from_reference_code_convention(t)
    elif convention == "reference_paper":
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
    of those built, spread evenly over the grid's interior, see the ``phnet_cuda.data.spec``
    docstring). The test side gets ``round(test_fraction * units)`` units, at least one and at
    most all but one when there are two or more and test_fraction > 0."""
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


__all__ = [
    "GENERATOR",
    "Plan",
    "fit_vf_grid",
    "make_split",
    "plan_dataset",
    "sample_shapes",
]
