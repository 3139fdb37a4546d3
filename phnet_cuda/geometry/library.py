"""The microstructure library: named cell types and volume-fraction targeting.

Families
    ``tpms_sheet``    solid where |f| <= t (a shell around the nodal surface f = 0), 22 surfaces.
    ``tpms_network``  solid where f >= t (``<surface>_network``) and, for the 10 surfaces whose
                      two labyrinths differ, also where f <= t (``<surface>_network_neg``); plus
                      the reference method's ``tubular_gyroid`` (TG >= t, bit-identical to
                      ``tubular_gyroid``).
    ``truss``         struts of radius r around the axes of a periodic net (voxel solid where the
                      centre lies within r of an axis): 15 base nets (``truss.BASE_NETS``), 97
                      pairwise unions 'a+b' and 4 'Z' variants, 116 types.

Every type is evaluated at the voxel centres xi = ((i, j, k) + 1/2) / n of one period (so arrays
are periodic), axis order x, y, z, 1 = solid (docs/conventions.md). Each type is one scalar *key* per
voxel (|f|, -f or f, or the strut distance) and a cell is ``key <= threshold``; the threshold is
the one free parameter (level-set offset, or strut radius) and is found for a target volume
fraction from the sorted key (binary cells) or by bisection on the threshold (fractional cells).
Nothing is random.

Symmetry: a binary cell consists of whole *tie classes*, the groups of voxels whose keys are equal
up to rounding (``tpms.tie_classes``: within 1e-9 of the key's scale; floating-point evaluation
order makes mirror images differ by ~1e-15), so every symmetry of the key on the voxel grid
(cube rotations and reflections about the cell centre, translations) is a symmetry of the cell,
voxel for voxel, and cubic cells have a cubic C^H. Strut distances tie in whole columns along a
strut, so there the classes are those of (strut distance, distance to the nearest node) in
lexicographic order: a strut thickens from its nodes outwards. The price is the volume fraction:
it steps by whole classes (a symmetry orbit: up to 384 voxels for the types with the largest
groups, more where distinct orbits tie exactly, e.g. the 1152 voxels at n = 48 on which the
Fischer-Koch +-Y level set vanishes), and ``make_cell`` returns the step nearest to the target
(the smaller one on a tie); ``achievable_volume_fractions(name, n)`` lists the steps and the
array's mean is the achieved fraction. Measured over every type and the targets {0.02, 0.05, 0.1,
0.15, 0.2, 0.25, 0.33, lo, mid, hi} in range: |vf - target| <= 0.0053 at n = 48 (<= 0.002 for all
but 13 types), <= 0.023 at n = 24, several percent at n = 16 (where ``complementary_d`` has no
percolating whole-class cell at all). ``tubular_gyroid`` follows the same rule and equals
``tubular_gyroid(n, vf)`` (``threshold_to_volume_fraction``) bit for bit.

Fractional cells (``fractional=True``): value clamp((t - key) / (|grad key| h) + 1/2, 0, 1) with
h = 1 / n, a first-order anti-aliasing of the boundary from the signed distance (key / |grad
key| for the level sets, the exact distance for struts); t is found by bisection to
|vf - target| <= 1e-6.

Reachable range: the volume fractions between the smallest binary cell whose solid percolates in
x, y and z (``percolation``, ``criterion="image"``) - for trusses also with a strut radius of at
least one voxel edge, so every strut is drawn - and the largest one whose void still percolates in
x, y and z (open porosity; for trusses also r <= ``DISTANCE_CAP``, where the exact distance field
ends). Both ends are monotone in the threshold (the cells are nested), so they are found by
bisection over the class boundaries (both ends are whole-class cells). The range depends on n
(thin sheets and struts need voxels).
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
from dataclasses import dataclass

import torch

from .connectivity import percolation
from .tpms import SURFACES, class_order, nearest_bound, surface_field, tie_classes
from .truss import (
    DISTANCE_CAP,
    TRUSS_TYPES,
    lattice_nodes,
    lattice_segments,
    periodic_node_distance,
    periodic_segment_distance,
    voxel_centres,
)

FAMILIES = ("tpms_sheet", "tpms_network", "truss")

# Surfaces whose two sides (f > 0 and f < 0) are not congruent, so their f <= t network is a
# type of its own. (For the others -f is f moved by a lattice symmetry - balance surfaces - found
# by comparing the sorted values of f and -f on a grid that every such symmetry maps onto itself.)
_ASYMMETRIC_SURFACES = ("iwp", "frd", "lidinoid", "split_p", "g_prime", "d_prime", "karcher_k", "octo",
                        "frd_wohlgemuth", "rod_packing_i2y")



@dataclass(frozen=True)
class CellType:
    """One library entry: ``family``, ``source`` (surface or truss name), ``side`` ('sheet' =
    |f| <= t, 'pos' = f >= t, 'neg' = f <= t, or 'strut') and a one-line ``description``."""

    name: str
    family: str
    source: str
    side: str
    description: str


def _build_registry() -> dict:
    reg = {}
    for s, (label, formula, _) in SURFACES.items():
        reg[s] = CellType(s, "tpms_sheet", s, "sheet", f"{label} sheet |f| <= t, f = {formula}")
        reg[f"{s}_network"] = CellType(f"{s}_network", "tpms_network", s, "pos", f"{label} network f >= t")
        if s in _ASYMMETRIC_SURFACES:
            reg[f"{s}_network_neg"] = CellType(f"{s}_network_neg", "tpms_network", s, "neg",
                                               f"{label} network of the other side, f <= t")
    reg["tubular_gyroid"] = CellType("tubular_gyroid", "tpms_network", "tubular_gyroid", "pos",
                                     "Tubular Gyroid of the reference method, TG >= t")
    for name, (desc, _, _) in TRUSS_TYPES.items():
        reg[name] = CellType(name, "truss", name, "strut", desc)
    return reg


REGISTRY = _build_registry()


def _lookup(name) -> CellType:
    if not isinstance(name, str) or name not in REGISTRY:
        close = difflib.get_close_matches(str(name), list(REGISTRY), n=5, cutoff=0.5)
        hint = f"; close matches: {close}" if close else ""
        raise ValueError(f"name: unknown cell type {name!r}{hint} (all: phnet_cuda.geometry.cell_types())")
    return REGISTRY[name]


def cell_types(family: str | None = None) -> list[str]:
    """Sorted names of the registered cell types; ``family`` in ``("tpms_sheet", "tpms_network",
    "truss")`` keeps one family (None = all)."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family: expected one of {FAMILIES} or None, got {family!r}")
    return sorted(n for n, t in REGISTRY.items() if family is None or t.family == family)


def cell_family(name: str) -> str:
    """The family (``"tpms_sheet"``, ``"tpms_network"`` or ``"truss"``) of a cell type."""
    return _lookup(name).family


def cell_info(name: str) -> CellType:
    """Registry entry of a cell type (family, source surface/net, side, description)."""
    return _lookup(name)


def _check_n(n) -> int:
    # numbers.Integral: numpy integers (np.int64(16)) are ints too; bools are not
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"n: expected an int >= 2 (voxels per cell edge), got {n!r}")
    return int(n)


def _smallest_drawable_n(name: str, n: int, limit: int = 128) -> int | None:
    """The smallest grid size above ``n`` (up to ``limit``) at which type ``name`` can be drawn."""
    for m in range(n + 1, limit + 1):
        try:
            _rank_range(name, m)
            return m
        except ValueError:
            continue
    return None


def _larger_n_hint(name: str, n: int) -> str:
    m = _smallest_drawable_n(name, n)
    return f"the smallest n that works is {m}" if m is not None else "use a larger n (none up to 128 works)"


@dataclass
class _Field:
    """Per (type, n): the voxels in cell order and the class boundaries a cell may stop at."""

    order: torch.Tensor        # [N] int64, flat voxel indices, tie class by tie class (index order inside)
    bounds: torch.Tensor       # [C] int64, ascending ranks where a tie class ends (the last is N)
    value: torch.Tensor        # [n, n, n] float64, the key, snapped so that tied voxels are equal
    gradient: torch.Tensor     # [n, n, n] float64, |grad_xi value| (1 for struts), snapped likewise
    k_min: int = 1             # rank limits imposed by the geometry (strut radius window), both
    k_max: int = 0             # class boundaries (k_max = 0: no class fits)


@functools.lru_cache(maxsize=32)
def _surface(source: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """surface_field once per (surface, n): its sheet and its two network sides share it.
    Read-only: _field derives new tensors from it (or keeps it as a key it never writes)."""
    return surface_field(source, n)


def _bound_at_least(bounds: torch.Tensor, k: int) -> int:
    """Smallest class boundary >= k (k <= N)."""
    return int(bounds[int(torch.searchsorted(bounds, k, side="left"))])


def _bound_at_most(bounds: torch.Tensor, k: int) -> int:
    """Largest class boundary <= k, 0 if none."""
    i = int(torch.searchsorted(bounds, k, side="right"))
    return int(bounds[i - 1]) if i > 0 else 0


@functools.lru_cache(maxsize=64)
def _field(name: str, n: int) -> _Field:
    t = _lookup(name)
    if t.family == "truss":
        pts = voxel_centres(n)
        # distances in cell units: the tolerance is relative to the cell edge
        value, dist_cls = tie_classes(periodic_segment_distance(pts, lattice_segments(name)), scale=1.0)
        _, node_cls = tie_classes(periodic_node_distance(pts, lattice_nodes(name)), scale=1.0)
        # lexicographic (strut distance, node distance): struts thicken from their nodes outwards
        cls = dist_cls * (int(node_cls.max()) + 1) + node_cls
        grad = torch.ones_like(value)
    else:
        f, grad = _surface(t.source, n)
        value, cls = tie_classes({"sheet": f.abs(), "pos": -f, "neg": f}[t.side], scale=float(f.abs().max()))
        grad, _ = tie_classes(grad)
    order, bounds = class_order(cls)
    N = n ** 3
    fld = _Field(order, bounds, value, grad, k_min=int(bounds[0]), k_max=N)
    if t.family == "truss":
        flat = value.reshape(-1)
        # At least one voxel edge of radius (every strut drawn); at most the exact-distance cap.
        # Both sets are whole distance classes, hence class boundaries; rounding to one is a guard.
        fld.k_min = _bound_at_least(bounds, max(1, int((flat < 1.0 / n).sum())))
        fld.k_max = _bound_at_most(bounds, int((flat <= DISTANCE_CAP).sum()))
    return fld


def _binary(fld: _Field, n: int, k: int) -> torch.Tensor:
    vox = torch.zeros(n ** 3, dtype=torch.bool)
    vox[fld.order[:k]] = True
    return vox.reshape(n, n, n)


def _first_true(lo: int, hi: int, pred) -> int | None:
    """Smallest k in [lo, hi] with pred(k) for a monotone (False..True) predicate, else None."""
    if lo > hi or not pred(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


@functools.cache
def _rank_range(name: str, n: int) -> tuple[int, int]:
    """(k_lo, k_hi): the smallest and largest class boundary whose cell is in the reachable range."""
    fld = _field(name, n)
    bounds = fld.bounds.tolist()
    # the bisection runs over positions in the list of class boundaries, so every cell it looks
    # at (and both ends it returns) consists of whole tie classes
    i_min = int(torch.searchsorted(fld.bounds, fld.k_min, side="left"))
    i_max = int(torch.searchsorted(fld.bounds, fld.k_max, side="right")) - 1

    def solid_ok(i):  # (grows with i)
        return all(percolation(_binary(fld, n, bounds[i])))

    def void_closed(i):
        return not all(percolation(~_binary(fld, n, bounds[i])))

    i_lo = _first_true(i_min, i_max, solid_ok)
    if i_lo is None:
        raise ValueError(f"cell type {name!r} cannot be drawn at n = {n}: its solid does not percolate in x, y "
                         f"and z at any threshold{' with struts at least one voxel thick' if fld.k_min > 1 else ''}"
                         f"; {_larger_n_hint(name, n)}")
    first_closed = _first_true(i_lo, i_max, void_closed)
    i_hi = i_max if first_closed is None else first_closed - 1
    if i_hi < i_lo:
        raise ValueError(f"cell type {name!r} cannot be drawn at n = {n}: its pores close before the solid "
                         f"percolates; {_larger_n_hint(name, n)}")
    return bounds[i_lo], bounds[i_hi]


def reachable_range(name: str, n: int) -> tuple[float, float]:
    """The volume fractions ``(lo, hi)`` that ``make_cell(name, n, vf)`` accepts: from the
    thinnest cell whose solid percolates in x, y and z (trusses: and struts at least one voxel
    edge thick) to the densest one whose pores still percolate in x, y and z (trusses: radius
    at most 0.3 cell edges). Depends on n; cached per (name, n). Raises ValueError when the type
    cannot be drawn at this n at all."""
    _lookup(name)
    n = _check_n(n)
    k_lo, k_hi = _rank_range(name, n)
    return k_lo / n ** 3, k_hi / n ** 3


def achievable_volume_fractions(name: str, n: int) -> torch.Tensor:
    """Every solid fraction a binary ``make_cell(name, n, vf)`` can have: ``[M]`` float64,
    ascending, from ``reachable_range(name, n)[0]`` to ``[1]``. A binary cell consists of whole
    groups of voxels tied in the type's key (so it keeps the key's symmetry), and ``make_cell``
    returns the one of these nearest to the target; the steps are the tied groups (symmetry
    orbits, up to several hundred voxels: a few percent of the cell at n = 16, ~0.1 % at 48).
    Raises ValueError like ``reachable_range``."""
    _lookup(name)
    n = _check_n(n)
    k_lo, k_hi = _rank_range(name, n)
    bounds = _field(name, n).bounds
    return bounds[(bounds >= k_lo) & (bounds <= k_hi)].to(torch.float64) / n ** 3


def _fractional(fld: _Field, n: int, target: float) -> torch.Tensor:
    scale = fld.gradient.clamp_min(1e-12) / n  # |grad| h: key units per voxel

    def cell(t):
        return ((t - fld.value) / scale + 0.5).clamp(0.0, 1.0)

    lo = float(fld.value.min()) - 1.0 * float(scale.max())
    hi = float(fld.value.max()) + 1.0 * float(scale.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        vf = float(cell(mid).mean())
        if abs(vf - target) <= 1e-7 or hi - lo <= 1e-15 * max(1.0, abs(mid)):
            break
        if vf < target:
            lo = mid
        else:
            hi = mid
    return cell(mid)


def make_cell(name: str, n: int, volume_fraction: float, *, fractional: bool = False,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A library cell at a target solid volume fraction.

    Args:
        name: a cell type of ``cell_types()``.
        n: voxels per cell edge (>= 2); the cell is the unit cube, voxel (i, j, k) centred at
            ((i, j, k) + 1/2) / n, axes x, y, z (docs/conventions.md).
        volume_fraction: target mean of the array, inside ``reachable_range(name, n)``.
        fractional: False: 0/1 voxels; True: boundary voxels take their solid fraction
            clamp((t - key) / (|grad key| h) + 1/2, 0, 1) (module docstring).
        dtype: floating dtype of the result.

    Returns:
        ``[n, n, n]`` tensor in [0, 1] (1 = solid) on the CPU, invariant under every symmetry of
        the type's key on the grid. Binary: made of whole tie classes (symmetry orbits), so the
        achieved fraction, the array's mean, is the entry of ``achievable_volume_fractions(name,
        n)`` nearest to the target (|mean - target| <= 0.0053 at n = 48, <= 0.023 at n = 24 over
        the whole table; module docstring); ``tubular_gyroid`` equals ``tubular_gyroid(n, vf)``
        bit for bit; fractional: |mean - target| <= 1e-6.

    Raises:
        ValueError: unknown name (with close matches), bad n / volume fraction, or a target
            outside the reachable range (the message names the range).
    """
    t = _lookup(name)
    n = _check_n(n)
    if isinstance(volume_fraction, bool) or not isinstance(volume_fraction, numbers.Real) \
            or not math.isfinite(volume_fraction) or not 0.0 < volume_fraction < 1.0:
        raise ValueError(f"volume_fraction: expected a number in (0, 1), got {volume_fraction!r}")
    volume_fraction = float(volume_fraction)  # numpy scalars (np.float32(0.2)) are numbers too
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype: expected a floating torch dtype, got {dtype!r}")
    k_lo, k_hi = _rank_range(name, n)
    N = n ** 3
    lo, hi = k_lo / N, k_hi / N
    if not lo <= volume_fraction <= hi:
        thin = " or struts get thinner than a voxel" if t.family == "truss" else ""
        raise ValueError(f"volume_fraction = {volume_fraction:g} is outside the reachable range "
                         f"[{lo:.4f}, {hi:.4f}] of {t.family} type {name!r} at n = {n} (below {lo:.4f} the "
                         f"solid no longer percolates in x, y and z{thin}; "
                         f"above {hi:.4f} the pores close)")
    fld = _field(name, n)
    if fractional:
        return _fractional(fld, n, float(volume_fraction)).to(dtype)
    # Whole tie classes only (so the cell keeps every symmetry of its key), the nearest count to
    # the target; k_lo and k_hi are class ends, so the nearest end inside [k_lo, k_hi] is the
    # nearest overall (and for tubular_gyroid the cell of threshold_to_volume_fraction).
    window = fld.bounds[(fld.bounds >= k_lo) & (fld.bounds <= k_hi)]
    k = nearest_bound(window, float(volume_fraction) * N)
    return _binary(fld, n, k).to(dtype)


def cell_key(name: str, n: int) -> torch.Tensor:
    """The per-voxel key ``[n, n, n]`` (float64) whose sub-level sets ``key <= t`` are the cells of
    a type: |f| (sheets), -f or f (networks), the strut-axis distance in cell units (trusses; ties
    within a distance are split by the node distance). Values equal up to rounding are snapped to
    one value (``tpms.tie_classes``), so the key is exactly symmetric."""
    _lookup(name)
    return _field(name, _check_n(n)).value.clone()
