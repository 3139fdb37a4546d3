"""Triply periodic minimal-surface cells."""

from __future__ import annotations

import math

import torch


def _centres(n: int) -> torch.Tensor:
    """Voxel-centre coordinates xi = (i + 1/2) / n, i = 0..n-1 (one period, so periodic)."""
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n


def tubular_gyroid_field(n: int) -> torch.Tensor:
    """The reference method's Tubular-Gyroid level set at voxel centres ``[n, n, n]``:
    TG = 10 (cos x sin y + cos y sin z + cos z sin x) - 0.5 (cos 2x cos 2y + cos 2y cos 2z +
    cos 2z cos 2x), with (x, y, z) = 2 pi xi + 0.75 pi; the solid is TG >= t."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    c = 2 * math.pi * _centres(n) + 0.75 * math.pi
    return _tg(*torch.meshgrid(c, c, c, indexing="ij"))


def _tg(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The TG expression at angles (x, y, z) (offset already applied)."""
    first = torch.cos(x) * torch.sin(y) + torch.cos(y) * torch.sin(z) + torch.cos(z) * torch.sin(x)
    second = (torch.cos(2 * x) * torch.cos(2 * y) + torch.cos(2 * y) * torch.cos(2 * z)
              + torch.cos(2 * z) * torch.cos(2 * x))
    return 10 * first - 0.5 * second


# Values closer than this (relative to the field's scale) are one value: floating-point evaluation
# order makes mirror images of a voxel differ by a few ulps (cos x + cos y + cos z vs cos y + cos x
# + cos z), ~1e-16 .. 1e-14 of the scale, while distinct values on a grid are almost always much
# further apart; a chance near-tie of distinct values only merges two classes (harmless for symmetry).
TIE_TOLERANCE = 1e-9


def tie_classes(values: torch.Tensor, scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Group values that are equal up to rounding, so symmetric voxels tie exactly.

    Sorted ascending, a new class starts wherever the gap to the previous value exceeds
    ``TIE_TOLERANCE * scale`` (a gap rule, not rounding to a grid, so no class boundary can fall
    between two mirror images that differ by an ulp).

    Args:
        values: ``[...]`` float tensor (no NaN).
        scale: magnitude the tolerance is relative to; None = the largest finite ``|value|``.

    Returns:
        ``(snapped, cls)``, both ``[...]``: ``snapped`` replaces every value by the smallest value
        of its class (same dtype), ``cls`` is the class index (int64, 0 = smallest, increasing
        with the value).
    """
    if not (isinstance(values, torch.Tensor) and values.is_floating_point()):
        raise TypeError(f"values: expected a floating torch tensor, got {type(values).__name__}")
    flat = values.reshape(-1)
    if flat.numel() == 0:
        return values.clone(), torch.zeros(values.shape, dtype=torch.int64, device=values.device)
    if bool(torch.isnan(flat).any()):
        raise ValueError("values: expected no NaN, got a tensor with NaN entries")
    if scale is None:
        finite = flat[torch.isfinite(flat)]
        scale = float(finite.abs().max()) if finite.numel() else 0.0
    s, order = torch.sort(flat, stable=True)
    starts = torch.ones_like(s, dtype=torch.bool)
    starts[1:] = (s[1:] - s[:-1]) > TIE_TOLERANCE * scale
    sorted_cls = torch.cumsum(starts, 0) - 1
    cls = torch.empty_like(sorted_cls)
    cls[order] = sorted_cls
    snapped = s[starts][cls]
    return snapped.reshape(values.shape), cls.reshape(values.shape)


def class_order(cls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxels in the order of a per-voxel class index ``cls [...]`` (int64, e.g. from
    ``tie_classes``): ``(order [N], bounds [C])``, the flat indices class by class (index order
    inside a class) and the ascending ranks where a class ends (the last is N). A cell made of
    whole classes is ``order[:k]`` with k one of ``bounds``."""
    sorted_cls, order = torch.sort(cls.reshape(-1), stable=True)
    ends = torch.nonzero(sorted_cls[1:] != sorted_cls[:-1]).reshape(-1) + 1
    return order, torch.cat([ends, ends.new_tensor([sorted_cls.numel()])])


def nearest_bound(bounds: torch.Tensor, count: float) -> int:
    """The entry of ``bounds [C]`` (ascending int64, non-empty) nearest to ``count``; the smaller one
    when two are equally near."""
    i = int(torch.searchsorted(bounds, bounds.new_tensor(math.ceil(count)), side="left"))  # first >= count
    candidates = [int(bounds[j]) for j in (i - 1, i) if 0 <= j < len(bounds)]
    return min(candidates, key=lambda c: (abs(c - count), c))


def threshold_to_volume_fraction(field: torch.Tensor, vf: float) -> torch.Tensor:
    """Binary voxels ``field >= t`` (float32 0/1) with t chosen so the solid fraction is as close to
    ``vf`` as whole groups of tied voxels allow: voxels whose values are equal up to rounding
    (``tie_classes``: within ``TIE_TOLERANCE`` of the largest |value|) are taken or left together, so a
    field with a symmetry gives a cell with that symmetry (the fraction then misses vf by up to
    half the tied group at the threshold; the achieved fraction is the result's mean)."""
    if not 0.0 < vf < 1.0:
        raise ValueError(f"vf must lie in (0, 1), got {vf}")
    N = field.numel()
    if int(round(vf * N)) == 0:
        raise ValueError(f"vf = {vf} is below one voxel of {N}")
    field = field if field.is_floating_point() else field.double()
    if bool(torch.isnan(field).any()):
        raise ValueError("field: expected no NaN entries, got a tensor with NaN")
    _, cls = tie_classes(field)
    order, bounds = class_order(-cls)  # largest values first
    solid = torch.zeros(N, dtype=torch.float32, device=field.device)
    solid[order[:nearest_bound(bounds, vf * N)]] = 1.0
    return solid.reshape(field.shape)


def tubular_gyroid(n: int, vf: float) -> torch.Tensor:
    """Tubular-Gyroid cell ``[n, n, n]`` (float32 0/1) at solid volume fraction ``vf`` (nearest whole
    tie group, ``threshold_to_volume_fraction``). The level set is the reference method's bit for
    bit; the cells keep its symmetry (3-fold axes, quarter-cell screws) and so differ from the
    original top-k cells, which split the group of mirror-image voxels (TG values equal up to
    ~1e-14) at the threshold, in those voxels only (e.g. 3-18 voxels at n = 48, vf 0.1-0.3)."""
    return threshold_to_volume_fraction(tubular_gyroid_field(n), vf)


# ---------------------------------------------------------------------------------------------
# The TPMS library: nodal (Fourier level-set) approximations of triply periodic minimal surfaces.
#
# Every surface is a function of (x, y, z) = 2 pi xi with period 2 pi in each argument, so the
# level set evaluated at the voxel centres of one period of the unit cube is a periodic voxel
# array. Sources of the nodal forms: Schoen (1970; gyroid, I-WP, F-RD, O,C-TO), Schwarz (P, D),
# Neovius (C(P)), von Schnering & Nesper (1991; Fischer-Koch S, Y, C(Y), +-Y, C(+-Y), C(D)),
# Wohlgemuth et al. (2001; G', O,C-TO, an F-RD variant), the MSRI Scientific Graphics Project
# (Lidinoid, D'), von Schnering, Oehme & Rudolf (1991; C(I2-Y**)), as compiled by Fisher et al.,
# Data in Brief 49 (2023) 109311. Constant terms are part of the published forms (they move
# the zero set onto the approximated minimal surface).


def _trig(x, y, z):
    """cos/sin of 1, 2 and 3 times each argument, computed once per field."""
    out = {}
    for name, v in (("x", x), ("y", y), ("z", z)):
        for k in (1, 2, 3):
            kv = v if k == 1 else k * v
            out[f"c{k}{name}"] = torch.cos(kv)
            out[f"s{k}{name}"] = torch.sin(kv)
    return out


def _gyroid(x, y, z, t):
    return t["s1x"] * t["c1y"] + t["s1y"] * t["c1z"] + t["s1z"] * t["c1x"]


def _schwarz_p(x, y, z, t):
    return t["c1x"] + t["c1y"] + t["c1z"]


def _schwarz_d(x, y, z, t):
    return (t["s1x"] * t["s1y"] * t["s1z"] + t["s1x"] * t["c1y"] * t["c1z"]
            + t["c1x"] * t["s1y"] * t["c1z"] + t["c1x"] * t["c1y"] * t["s1z"])


def _pair_sum(a, b, c):
    """a b + b c + c a (the cubic-invariant pair products that appear in many nodal forms)."""
    return a * b + b * c + c * a


def _iwp(x, y, z, t):
    return 2 * _pair_sum(t["c1x"], t["c1y"], t["c1z"]) - (t["c2x"] + t["c2y"] + t["c2z"])


def _neovius(x, y, z, t):
    return 3 * (t["c1x"] + t["c1y"] + t["c1z"]) + 4 * t["c1x"] * t["c1y"] * t["c1z"]


def _fischer_koch_s(x, y, z, t):
    return (t["c2x"] * t["s1y"] * t["c1z"] + t["c1x"] * t["c2y"] * t["s1z"]
            + t["s1x"] * t["c1y"] * t["c2z"])


def _frd(x, y, z, t):
    return 4 * t["c1x"] * t["c1y"] * t["c1z"] - _pair_sum(t["c2x"], t["c2y"], t["c2z"])


def _lidinoid(x, y, z, t):
    return (0.5 * (t["s2x"] * t["c1y"] * t["s1z"] + t["s2y"] * t["c1z"] * t["s1x"]
                   + t["s2z"] * t["c1x"] * t["s1y"])
            - 0.5 * _pair_sum(t["c2x"], t["c2y"], t["c2z"]) + 0.15)


def _split_p(x, y, z, t):
    return (1.1 * (t["s2x"] * t["s1z"] * t["c1y"] + t["s2y"] * t["s1x"] * t["c1z"]
                   + t["s2z"] * t["s1y"] * t["c1x"])
            - 0.2 * _pair_sum(t["c2x"], t["c2y"], t["c2z"])
            - 0.4 * (t["c2x"] + t["c2y"] + t["c2z"]))


def _y_terms(t):
    """sin 2x sin y + sin 2y sin z + sin x sin 2z: the three-fold helix terms of the Y family."""
    return t["s2x"] * t["s1y"] + t["s2y"] * t["s1z"] + t["s1x"] * t["s2z"]


def _fischer_koch_y(x, y, z, t):
    return (t["c1x"] * t["c1y"] * t["c1z"] + t["s1x"] * t["s1y"] * t["s1z"] + _y_terms(t)
            + t["c1x"] * t["s2y"] + t["c1y"] * t["s2z"] + t["s2x"] * t["c1z"])


def _fischer_koch_cy(x, y, z, t):
    return (-t["s1x"] * t["s1y"] * t["s1z"] - t["c1x"] * t["c1y"] * t["c1z"] + _y_terms(t)
            + t["s2x"] * t["c1z"] + t["c1x"] * t["s2y"] + t["c1y"] * t["s2z"])


def _fischer_koch_pmy(x, y, z, t):
    return 2 * t["c1x"] * t["c1y"] * t["c1z"] + _y_terms(t)


def _fischer_koch_cpmy(x, y, z, t):
    return -2 * t["c1x"] * t["c1y"] * t["c1z"] + _y_terms(t)


def _fischer_koch_cs(x, y, z, t):
    return (t["c2x"] + t["c2y"] + t["c2z"]
            + 2 * (t["s3x"] * t["s2y"] * t["c1z"] + t["c1x"] * t["s3y"] * t["s2z"]
                   + t["s2x"] * t["c1y"] * t["s3z"])
            + 2 * (t["s2x"] * t["c3y"] * t["s1z"] + t["s1x"] * t["s2y"] * t["c3z"]
                   + t["c3x"] * t["s1y"] * t["s2z"]))


def _complementary_d(x, y, z, t):
    return (torch.cos(3 * x + y) * t["c1z"] - torch.sin(3 * x - y) * t["s1z"]
            + torch.cos(x + 3 * y) * t["c1z"] + torch.sin(x - 3 * y) * t["s1z"]
            + torch.cos(x - y) * t["c3z"] - torch.sin(x + y) * t["s3z"])


def _complementary_gyroid(x, y, z, t):
    return (3 * (t["s1x"] * t["c1y"] + t["s1y"] * t["c1z"] + t["c1x"] * t["s1z"])
            + 2 * (t["s3x"] * t["c1y"] + t["s3y"] * t["c1z"] + t["c1x"] * t["s3z"])
            - 2 * (t["s1x"] * t["c3y"] + t["s1y"] * t["c3z"] + t["c3x"] * t["s1z"]))


def _g_prime(x, y, z, t):
    return (t["s2x"] * t["c1y"] * t["s1z"] + t["s1x"] * t["s2y"] * t["c1z"]
            + t["c1x"] * t["s1y"] * t["s2z"] + 0.32)


def _d_prime(x, y, z, t):
    return (0.5 * (t["c1x"] * t["c1y"] * t["c1z"] + t["c1x"] * t["s1y"] * t["s1z"]
                   + t["s1x"] * t["c1y"] * t["s1z"] + t["s1x"] * t["s1y"] * t["c1z"])
            - 0.5 * _pair_sum(t["s2x"], t["s2y"], t["s2z"]) - 0.2)


def _karcher_k(x, y, z, t):
    return (0.3 * (t["c1x"] + t["c1y"] + t["c1z"]) + 0.3 * _pair_sum(t["c1x"], t["c1y"], t["c1z"])
            - 0.4 * (t["c2x"] + t["c2y"] + t["c2z"]) + 0.2)


def _octo(x, y, z, t):
    return 0.6 * _pair_sum(t["c1x"], t["c1y"], t["c1z"]) - 0.4 * (t["c1x"] + t["c1y"] + t["c1z"]) + 0.25


def _frd_wohlgemuth(x, y, z, t):
    return (8 * t["c1x"] * t["c1y"] * t["c1z"] + t["c2x"] * t["c2y"] * t["c2z"]
            - _pair_sum(t["c2x"], t["c2y"], t["c2z"]))


def _rod_packing_i2y(x, y, z, t):
    return (2 * (t["s2x"] * t["c1y"] * t["s1z"] + t["s1x"] * t["s2y"] * t["c1z"]
                 + t["c1x"] * t["s1y"] * t["s2z"])
            + _pair_sum(t["c2x"], t["c2y"], t["c2z"]))


# name -> (display name, nodal form as text, function of (x, y, z, trig table)).
SURFACES = {
    "gyroid": ("Schoen gyroid G", "sin x cos y + sin y cos z + sin z cos x", _gyroid),
    "schwarz_p": ("Schwarz P", "cos x + cos y + cos z", _schwarz_p),
    "schwarz_d": ("Schwarz D (diamond)",
                  "sin x sin y sin z + sin x cos y cos z + cos x sin y cos z + cos x cos y sin z", _schwarz_d),
    "iwp": ("Schoen I-WP", "2 (cos x cos y + cos y cos z + cos z cos x) - (cos 2x + cos 2y + cos 2z)", _iwp),
    "neovius": ("Neovius C(P)", "3 (cos x + cos y + cos z) + 4 cos x cos y cos z", _neovius),
    "fischer_koch_s": ("Fischer-Koch S", "cos 2x sin y cos z + cos x cos 2y sin z + sin x cos y cos 2z",
                       _fischer_koch_s),
    "frd": ("Schoen F-RD", "4 cos x cos y cos z - (cos 2x cos 2y + cos 2y cos 2z + cos 2z cos 2x)", _frd),
    "lidinoid": ("Lidinoid", "(sin 2x cos y sin z + sin 2y cos z sin x + sin 2z cos x sin y) / 2 - "
                 "(cos 2x cos 2y + cos 2y cos 2z + cos 2z cos 2x) / 2 + 0.15", _lidinoid),
    "split_p": ("Split P", "1.1 (sin 2x sin z cos y + sin 2y sin x cos z + sin 2z sin y cos x) - "
                "0.2 (cos 2x cos 2y + cos 2y cos 2z + cos 2z cos 2x) - 0.4 (cos 2x + cos 2y + cos 2z)", _split_p),
    "fischer_koch_y": ("Fischer-Koch Y", "cos x cos y cos z + sin x sin y sin z + sin 2x sin y + sin 2y sin z + "
                       "sin x sin 2z + cos x sin 2y + cos y sin 2z + sin 2x cos z", _fischer_koch_y),
    "fischer_koch_cy": ("Fischer-Koch C(Y)", "-sin x sin y sin z - cos x cos y cos z + sin 2x sin y + "
                        "sin 2y sin z + sin x sin 2z + sin 2x cos z + cos x sin 2y + cos y sin 2z", _fischer_koch_cy),
    "fischer_koch_pmy": ("Fischer-Koch +-Y (PMY)", "2 cos x cos y cos z + sin 2x sin y + sin 2y sin z + sin x sin 2z",
                         _fischer_koch_pmy),
    "fischer_koch_cpmy": ("Fischer-Koch C(+-Y)", "-2 cos x cos y cos z + sin 2x sin y + sin 2y sin z + sin x sin 2z",
                          _fischer_koch_cpmy),
    "fischer_koch_cs": ("Fischer-Koch C(S)", "cos 2x + cos 2y + cos 2z + 2 (sin 3x sin 2y cos z + cos x sin 3y sin 2z"
                        " + sin 2x cos y sin 3z) + 2 (sin 2x cos 3y sin z + sin x sin 2y cos 3z + cos 3x sin y sin 2z)",
                        _fischer_koch_cs),
    "complementary_d": ("complementary D C(D)", "cos(3x + y) cos z - sin(3x - y) sin z + cos(x + 3y) cos z + "
                        "sin(x - 3y) sin z + cos(x - y) cos 3z - sin(x + y) sin 3z", _complementary_d),
    "complementary_gyroid": ("complementary gyroid C(G)", "3 (sin x cos y + sin y cos z + cos x sin z) + "
                             "2 (sin 3x cos y + sin 3y cos z + cos x sin 3z) - "
                             "2 (sin x cos 3y + sin y cos 3z + cos 3x sin z)", _complementary_gyroid),
    "g_prime": ("G' (alternating gyroid)", "sin 2x cos y sin z + sin x sin 2y cos z + cos x sin y sin 2z + 0.32",
                _g_prime),
    "d_prime": ("D'", "(cos x cos y cos z + cos x sin y sin z + sin x cos y sin z + sin x sin y cos z) / 2 - "
                "(sin 2x sin 2y + sin 2y sin 2z + sin 2z sin 2x) / 2 - 0.2", _d_prime),
    "karcher_k": ("Karcher K", "0.3 (cos x + cos y + cos z) + 0.3 (cos x cos y + cos y cos z + cos z cos x) - "
                  "0.4 (cos 2x + cos 2y + cos 2z) + 0.2", _karcher_k),
    "octo": ("Schoen O,C-TO", "0.6 (cos x cos y + cos y cos z + cos z cos x) - 0.4 (cos x + cos y + cos z) + 0.25",
             _octo),
    "frd_wohlgemuth": ("F-RD (Wohlgemuth form)", "8 cos x cos y cos z + cos 2x cos 2y cos 2z - "
                       "(cos 2x cos 2y + cos 2y cos 2z + cos 2z cos 2x)", _frd_wohlgemuth),
    "rod_packing_i2y": ("C(I2-Y**) rod packing", "2 (sin 2x cos y sin z + sin x sin 2y cos z + cos x sin y sin 2z) + "
                        "cos 2x cos 2y + cos 2y cos 2z + cos 2z cos 2x", _rod_packing_i2y),
}


def surface_value(surface: str, xi: torch.Tensor) -> torch.Tensor:
    """Nodal level-set value ``f`` of a library surface at cell coordinates ``xi [..., 3]``
    (unit cube = one period; (x, y, z) = 2 pi xi). Returns ``[...]`` (dimensionless, same dtype).
    ``surface`` is a key of ``SURFACES`` or ``"tubular_gyroid"`` (the reference method's TG with
    its 0.75 pi offset)."""
    xi = torch.as_tensor(xi)
    if xi.shape[-1:] != (3,):
        raise ValueError(f"xi: expected cell coordinates [..., 3], got shape {tuple(xi.shape)}")
    if surface == "tubular_gyroid":
        return _tg(*(2 * math.pi * xi + 0.75 * math.pi).unbind(-1))
    if surface not in SURFACES:
        raise ValueError(f"surface: unknown TPMS {surface!r}; expected one of {sorted(SURFACES)} or 'tubular_gyroid'")
    x, y, z = (2 * math.pi * xi).unbind(-1)
    return SURFACES[surface][2](x, y, z, _trig(x, y, z))


def surface_field(surface: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The level set ``f`` and its gradient magnitude ``|grad_xi f|`` at the voxel centres of an
    ``n^3`` grid, both ``[n, n, n]`` float64 (the gradient is exact, by autograd, and w.r.t. the
    cell coordinate xi, so ``f / |grad f|`` is a first-order signed distance in cell units).
    For ``"tubular_gyroid"`` the values are those of ``tubular_gyroid_field(n)`` bit for bit."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    c = _centres(n)
    xi = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), dim=-1).requires_grad_(True)
    with torch.enable_grad():
        f = surface_value(surface, xi)
        (g,) = torch.autograd.grad(f.sum(), xi)
    return f.detach(), torch.linalg.vector_norm(g, dim=-1)
