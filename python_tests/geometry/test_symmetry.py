"""Library cells keep the symmetry of their geometry (phnet_cuda.geometry).

Each type's symmetry group is found independently of the generator: its continuous key (the
nodal level set |f|, -f or f from ``surface_value``, or the strut-axis distance from
``lattice_distance``, capped where it stops being exact) is evaluated at the voxel centres
((i + 1/2) / n) and every candidate operation that maps voxel centres to voxel centres is tried:
the 48 signed axis permutations about the cell centre, combined with the 64 translations by
multiples of a quarter cell (n divisible by 4). The operations that leave the key unchanged (to
1e-9 of its scale) are the type's group on that grid. The binary and fractional cells must then
be invariant under every one of them, voxel for voxel, and a few cubic types must have a cubic
homogenized tensor.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch

import phnet_cuda
from phnet_cuda import geometry as G
from phnet_cuda.geometry import tpms

N = 16
_OPS = [(perm, flips, shift) for perm in itertools.permutations(range(3))
        for flips in itertools.product((False, True), repeat=3) for shift in itertools.product(range(4), repeat=3)]
_IDENTITY = ((0, 1, 2), (False, False, False), (0, 0, 0))


def _apply(op, a: np.ndarray) -> np.ndarray:
    """The array ``a [n, n, n]`` moved by ``op = (perm, flips, shift)``: axes permuted (new axis k
    is old axis perm[k]), flipped about the cell centre (voxel i -> n - 1 - i, centre (i + 1/2)/n
    -> 1 - that), then translated periodically by shift[k] quarter cells."""
    perm, flips, shift = op
    out = np.transpose(a, perm)
    axes = tuple(k for k in range(3) if flips[k])
    if axes:
        out = np.flip(out, axes)
    n = a.shape[0]
    return np.roll(out, tuple(s * n // 4 for s in shift), axis=(0, 1, 2))


def _continuous_key(name: str, n: int) -> tuple[np.ndarray, float]:
    """The type's key at the voxel centres, from the public continuous fields, and its scale."""
    xi = G.voxel_centres(n)
    info = G.cell_info(name)
    if info.family == "truss":
        # only exact up to DISTANCE_CAP (an upper bound beyond), and cells never go beyond it
        return G.lattice_distance(name, xi).clamp(max=G.DISTANCE_CAP).numpy(), 1.0
    f = G.surface_value(info.source, xi)
    key = {"sheet": f.abs(), "pos": -f, "neg": f}[info.side]
    return key.numpy(), float(f.abs().max())


@functools.cache
def _index_maps(n: int) -> np.ndarray:
    """``[len(_OPS), n^3]``: row o holds, for each voxel of the moved array, the flat index it
    comes from (``_apply(op, a).ravel() == a.ravel()[row]``)."""
    flat = np.arange(n ** 3).reshape(n, n, n)
    return np.stack([_apply(op, flat).ravel() for op in _OPS])


@functools.cache
def _symmetry_group(name: str, n: int) -> tuple:
    assert n % 4 == 0
    key, scale = _continuous_key(name, n)
    key = key.ravel()
    maps = _index_maps(n)
    # screen all candidates on a few voxels, then check the survivors on every voxel
    probe = np.random.default_rng(1).choice(n ** 3, 64, replace=False)
    keep = np.abs(key[maps[:, probe]] - key[probe]).max(1) <= 1e-9 * scale
    keep[keep] = np.abs(key[maps[keep]] - key).max(1) <= 1e-9 * scale
    group = tuple(op for op, k in zip(_OPS, keep) if k)
    assert _IDENTITY in group
    return group


def _broken(vox: torch.Tensor, group) -> list:
    """The operations of ``group`` that change ``vox [n, n, n]`` (exact comparison)."""
    a = vox.numpy()
    return [op for op in group if not np.array_equal(_apply(op, a), a)]


def _drawable_n(name: str) -> int:
    """16, or 24 for the few types whose whole tie classes do not fit a percolating cell at 16."""
    try:
        G.reachable_range(name, N)
        return N
    except ValueError:
        return 24


# Orders of the space groups (general positions per conventional cell), all of whose operations
# have translations in quarter cells: Pm-3m 48, Im-3m 96, Fm-3m 192, Fd-3m 192, I4_1 32 48, Ia-3d 96.
@pytest.mark.parametrize("name, order", [("sc", 48), ("bcc", 96), ("octet", 192), ("diamond", 192), ("srs", 48),
                                         ("gyroid_network", 48), ("gyroid", 96), ("schwarz_p", 96),
                                         ("schwarz_p_network", 48)])
def test_symmetry_detection_finds_the_space_group(name, order):
    assert len(_symmetry_group(name, N)) == order
    # and it is a group: closed under composition (checked on a generic array)
    group = _symmetry_group(name, N)
    probe = np.random.default_rng(0).random((N, N, N))
    images = {_apply(op, probe).tobytes() for op in group}
    for a, b in itertools.product(group[:6], group):
        assert _apply(a, _apply(b, probe)).tobytes() in images


@pytest.mark.parametrize("name", G.cell_types())
def test_cells_are_invariant_under_the_symmetry_group_of_their_type(name):
    n = _drawable_n(name)
    group = _symmetry_group(name, n)
    lo, hi = G.reachable_range(name, n)
    for target in (lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo)):
        vox = G.make_cell(name, n, target)
        assert not _broken(vox, group), (name, n, target, _broken(vox, group)[:3])
        # the achieved fraction (the mean) is the achievable one nearest to the target
        steps = G.achievable_volume_fractions(name, n)
        vf = float(vox.double().mean())
        nearest = float(steps[int(torch.argmin((steps - target).abs()))])
        assert math.isclose(vf, nearest, rel_tol=0, abs_tol=1e-15), (name, target, vf, nearest)
    frac = G.make_cell(name, n, 0.5 * (lo + hi), fractional=True, dtype=torch.float64)
    assert not _broken(frac, group), name


def test_achievable_volume_fractions_are_the_cells_make_cell_draws():
    for name in ("sc", "schwarz_p", "tubular_gyroid", "kelvin+srs"):
        steps = G.achievable_volume_fractions(name, N)
        lo, hi = G.reachable_range(name, N)
        assert steps.dtype == torch.float64 and float(steps[0]) == lo and float(steps[-1]) == hi
        assert bool((steps[1:] > steps[:-1]).all())
        for i in range(0, len(steps) - 1, max(1, len(steps) // 7)):
            a, b = float(steps[i]), float(steps[i + 1])
            assert float(G.make_cell(name, N, a).double().mean()) == a
            # just below / above the midpoint: the nearer step; exactly on it (exact in binary at
            # n = 16: the fractions are multiples of 2^-12): the smaller one
            mid = 0.5 * (a + b)
            assert float(G.make_cell(name, N, mid - 0.1 * (b - a)).double().mean()) == a
            assert float(G.make_cell(name, N, mid + 0.1 * (b - a)).double().mean()) == b
            assert float(G.make_cell(name, N, mid).double().mean()) == a
    with pytest.raises(ValueError, match="name"):
        G.achievable_volume_fractions("gyriod", N)
    with pytest.raises(ValueError, match="n: expected"):
        G.achievable_volume_fractions("sc", 1)


def test_the_issue_example_simple_cubic_is_transpose_symmetric():
    # phnet_cuda.geometry.make_cell("sc", 16, 0.2) used to differ from its x<->y transpose in 14 voxels
    for vf in (0.1, 0.2, 0.3):
        vox = G.make_cell("sc", 16, vf)
        assert torch.equal(vox, vox.transpose(0, 1)) and torch.equal(vox, vox.permute(2, 0, 1)), vf
        assert abs(float(vox.mean()) - vf) <= 72 / 2 / 16 ** 3  # within half the largest tie class
    vox = G.make_cell("octet", 16, 0.3)
    assert not _broken(vox, _symmetry_group("octet", 16))


def test_homogenized_tensor_of_cubic_cells_is_cubic():
    cells = [("sc", 0.2), ("bcc", 0.2), ("octet", 0.3), ("schwarz_p", 0.25)]
    vox = torch.stack([G.make_cell(name, N, vf) for name, vf in cells])
    res = phnet_cuda.homogenize(vox, tol=1e-12)
    assert res.converged
    for (name, vf), C in zip(cells, res.CH):
        C = C.double()
        c11 = float(C[0, 0])
        d = torch.diagonal(C)
        expected = torch.zeros(6, 6, dtype=torch.float64)
        expected[:3, :3] = float(C[0, 1])
        expected[range(3), range(3)] = c11
        expected[range(3, 6), range(3, 6)] = float(C[3, 3])
        err = float((C - expected).abs().max()) / c11
        assert err <= 1e-10, (name, vf, err, d.tolist())
        assert float(C[0, 1]) > 0 and float(C[3, 3]) > 0  # a real tensor, not a vacuous match


def test_tie_classes_merge_rounding_differences_only():
    base = torch.tensor([0.3, 0.1, 0.2, 0.1, 0.3, 0.2], dtype=torch.float64)
    noisy = base.clone()
    noisy[3] = math.nextafter(0.1, 1.0)  # a mirror image one ulp off
    noisy[4] = 0.3 * (1 - 1e-14)
    snapped, cls = tpms.tie_classes(noisy)
    assert cls.tolist() == [2, 0, 1, 0, 2, 1]
    assert snapped.tolist() == [0.3 * (1 - 1e-14), 0.1, 0.2, 0.1, 0.3 * (1 - 1e-14), 0.2]
    # distinct values further apart than 1e-9 of the scale stay apart
    _, cls = tpms.tie_classes(torch.tensor([1.0, 1.0 + 2e-9, 1.0 + 4e-9], dtype=torch.float64))
    assert cls.tolist() == [0, 1, 2]
    # infinite values tie with each other only, and do not inflate the tolerance
    _, cls = tpms.tie_classes(torch.tensor([1.0, float("inf"), 1.0 + 1e-6, float("inf"), -float("inf")]))
    assert cls.tolist() == [1, 3, 2, 3, 0]
    with pytest.raises(TypeError, match="values"):
        tpms.tie_classes(torch.arange(3))
    with pytest.raises(ValueError, match="NaN"):
        tpms.tie_classes(torch.tensor([1.0, float("nan")]))


def test_threshold_to_volume_fraction_keeps_rounding_ties_together():
    # a field symmetric under x <-> y with one mirror image perturbed by an ulp, and a target that
    # falls inside that tied pair
    field = torch.zeros(4, 4, 1, dtype=torch.float64)
    field[0, 1, 0] = field[1, 0, 0] = 2.0
    field[1, 0, 0] = math.nextafter(2.0, 3.0)
    field[2, 2, 0] = 3.0
    cell = G.threshold_to_volume_fraction(field, 2 / 16)  # 2 voxels wanted: the 3 and half the pair
    assert torch.equal(cell, cell.transpose(0, 1))
    assert int(cell.sum()) in (1, 3) and cell[2, 2, 0] == 1
    # nearest whole group: 1 voxel (|1 - 2| = 1) or 3 voxels (|3 - 2| = 1) tie -> the smaller
    assert int(cell.sum()) == 1
    assert int(G.threshold_to_volume_fraction(field, 2.6 / 16).sum()) == 3
    with pytest.raises(ValueError, match="field"):
        G.threshold_to_volume_fraction(torch.full((2, 2, 2), float("nan")), 0.5)
