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
fraction from the sorted key (binary cells: exact bisection on the rank) or by bisection on the
threshold (fractional cells). Nothing is random.

Binary cells hit the target to half a voxel (|vf - target| <= 1 / (2 n^3)) unless that needs part
of a group of voxels with an identical key (a symmetry orbit); then the whole orbit is taken or
left, whichever is closer, as long as that keeps |vf - target| <= 0.001, so cells keep their
symmetry; only when an orbit is larger than that is it split, in voxel-index order. Strut
distances tie in whole columns along a strut, so ties are first broken by the distance to the
nearest node (a struts thickens from its nodes outwards, a fillet of at most 1e-9 cell units).
So |vf - target| <= 0.001 at every n >= 8, well inside the 0.0025 the library promises at n >= 48.
The exception is ``tubular_gyroid``, which keeps the rule of ``tubular_gyroid(n, vf)`` (all voxels
with TG >= the k-th largest value, k = round(vf n^3)) and so equals it bit for bit; its largest
tie orbits give |vf - target| <= 0.0007 at n = 48, 0.0013 at n = 32, 0.0033 at n = 24.

Fractional cells (``fractional=True``): value clamp((t - key) / (|grad key| h) + 1/2, 0, 1) with
h = 1 / n, a first-order anti-aliasing of the boundary from the signed distance (key / |grad
key| for the level sets, the exact distance for struts); t is found by bisection to
|vf - target| <= 1e-6.

Reachable range: the volume fractions between the smallest binary cell whose solid percolates in
x, y and z (``percolation``, ``criterion="image"``) - for trusses also with a strut radius of at
least one voxel edge, so every strut is drawn - and the largest one whose void still percolates in
x, y and z (open porosity; for trusses also r <= ``DISTANCE_CAP``, where the exact distance field
ends). Both ends are monotone in the threshold (the cells are nested), so they are found by
bisection on the rank. The range depends on n (thin sheets and struts need voxels).
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass

import torch

from .connectivity import percolation
from .tpms import SURFACES, surface_field
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

# Strut ties are broken by the distance to the nearest node, weighted so little that it never
# reorders different distances (those differ by > 1e-7 cell units on grids up to n = 256).
_NODE_TIE_WEIGHT = 1e-9
# A symmetric orbit of tied voxels is kept whole when that misses the target by at most this.
_SYMMETRIC_TOLERANCE = 1e-3


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
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: expected an int >= 2 (voxels per cell edge), got {n!r}")
    return n


@dataclass
class _Field:
    """Per (type, n): the key sorted with a stable order, and what fractional cells need."""

    sorted_key: torch.Tensor   # [N] float64, ascending
    order: torch.Tensor        # [N] int64, flat voxel indices in that order (stable)
    value: torch.Tensor        # [n, n, n] float64, the key without tie-breaker
    gradient: torch.Tensor     # [n, n, n] float64, |grad_xi value| (1 for struts)
    k_min: int = 1             # rank limits imposed by the geometry (strut radius window)
    k_max: int = 0


@functools.lru_cache(maxsize=32)
def _surface(source: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """surface_field once per (surface, n): its sheet and its two network sides share it.
    Read-only: _field derives new tensors from it (or keeps it as a key it never writes)."""
    return surface_field(source, n)


@functools.lru_cache(maxsize=64)
def _field(name: str, n: int) -> _Field:
    t = _lookup(name)
    if t.family == "truss":
        pts = voxel_centres(n)
        dist = periodic_segment_distance(pts, lattice_segments(name))
        node = periodic_node_distance(pts, lattice_nodes(name))
        key = dist + _NODE_TIE_WEIGHT * node
        grad = torch.ones_like(dist)
        value = dist
    else:
        f, grad = _surface(t.source, n)
        value = {"sheet": f.abs(), "pos": -f, "neg": f}[t.side]
        key = value
    sorted_key, order = torch.sort(key.reshape(-1), stable=True)
    fld = _Field(sorted_key, order, value, grad)
    N = n ** 3
    fld.k_max = N
    if t.family == "truss":
        flat = dist.reshape(-1)
        # at least one voxel edge of radius (every strut drawn); at most the exact-distance cap
        fld.k_min = max(1, int((flat < 1.0 / n).sum()))
        fld.k_max = int((flat <= DISTANCE_CAP).sum())
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
    fld = _field(name, n)

    def solid_ok(k):  # (grows with k)
        return all(percolation(_binary(fld, n, k)))

    def void_closed(k):
        return not all(percolation(~_binary(fld, n, k)))

    k_lo = _first_true(fld.k_min, fld.k_max, solid_ok)
    if k_lo is None:
        raise ValueError(f"cell type {name!r} cannot be drawn at n = {n}: its solid does not percolate in x, y "
                         f"and z at any threshold{' with struts at least one voxel thick' if fld.k_min > 1 else ''}"
                         f"; use a larger n")
    first_closed = _first_true(k_lo, fld.k_max, void_closed)
    k_hi = fld.k_max if first_closed is None else first_closed - 1
    if k_hi < k_lo:
        raise ValueError(f"cell type {name!r} cannot be drawn at n = {n}: its pores close before the solid "
                         f"percolates; use a larger n")
    return k_lo, k_hi


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


def _choose_rank(fld: _Field, target: float, N: int, k_lo: int, k_hi: int, whole_orbit: bool = False) -> int:
    k = min(max(int(round(target * N)), k_lo), k_hi)
    key = fld.sorted_key
    # the orbit of voxels tied with the k-th one: ranks [start, stop)
    v = key[k - 1]
    start = int(torch.searchsorted(key, v, side="left"))
    stop = int(torch.searchsorted(key, v, side="right"))
    if whole_orbit and stop <= k_hi:
        return stop  # key <= key of the k-th voxel: the rule of threshold_to_volume_fraction
    best = min((start, stop), key=lambda c: abs(c - target * N))
    if k_lo <= best <= k_hi and abs(best - target * N) <= _SYMMETRIC_TOLERANCE * N:
        return best
    return k


def _fractional(fld: _Field, n: int, target: float) -> torch.Tensor:
    scale = fld.gradient.clamp_min(1e-12) / n  # |grad| h: key units per voxel

    def cell(t):
        return ((t - fld.value) / scale + 0.5).clamp(0.0, 1.0)

    lo = float(fld.sorted_key[0]) - 1.0 * float(scale.max())
    hi = float(fld.sorted_key[-1]) + 1.0 * float(scale.max())
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
        ``[n, n, n]`` tensor in [0, 1] (1 = solid) on the CPU. Binary: |mean - target| <= 0.001
        for n >= 8 (half a voxel, 1 / (2 n^3), unless a symmetric orbit of tied voxels is kept
        whole); ``tubular_gyroid`` equals ``tubular_gyroid(n, vf)`` bit for bit (<= 0.0007 at
        n = 48, 0.0013 at 32, 0.0033 at 24); fractional: |mean - target| <= 1e-6. Measured at
        n = 48 over every type and vf in {0.02, 0.05, ..., 0.33} in range: <= 0.000999.

    Raises:
        ValueError: unknown name (with close matches), bad n / volume fraction, or a target
            outside the reachable range (the message names the range).
    """
    t = _lookup(name)
    n = _check_n(n)
    if isinstance(volume_fraction, bool) or not isinstance(volume_fraction, (int, float)) \
            or not math.isfinite(volume_fraction) or not 0.0 < volume_fraction < 1.0:
        raise ValueError(f"volume_fraction: expected a number in (0, 1), got {volume_fraction!r}")
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
    # The Tubular Gyroid keeps the rule of tubular_gyroid() (every voxel with TG >= the k-th
    # largest value), so the library's TG cells are the published ones bit for bit.
    k = _choose_rank(fld, float(volume_fraction), N, k_lo, k_hi, whole_orbit=name == "tubular_gyroid")
    return _binary(fld, n, k).to(dtype)


def cell_key(name: str, n: int) -> torch.Tensor:
    """The per-voxel key ``[n, n, n]`` (float64) whose sub-level sets ``key <= t`` are the cells of
    a type: |f| (sheets), -f or f (networks), the strut-axis distance in cell units (trusses)."""
    _lookup(name)
    return _field(name, _check_n(n)).value.clone()
