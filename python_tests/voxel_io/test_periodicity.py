"""The periodicity check (phnet_cuda.voxel_io.periodicity): silent on every library cell and its
periodic rolls, loud on blocks that are not one period (a crop of a tiled cell, a graded cell),
with the boundary and inside differences it reports computed here independently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from phnet_cuda.geometry import cell_types, make_cell, reachable_range
from phnet_cuda.voxel_io import check_periodicity, read_voxels
from phnet_cuda.voxel_io.periodicity import FLOOR, RATIO


def _shares(v: np.ndarray, axis: int) -> tuple[float, float]:
    """(share of voxels differing across the boundary, largest share differing between neighbouring
    layers inside) of a 0/1 cell along ``axis``, by counting."""
    v = np.moveaxis(v, axis, 0)
    n = v.shape[0]
    return float(np.mean(v[n - 1] != v[0])), max(float(np.mean(v[i + 1] != v[i])) for i in range(n - 1))


def test_no_library_cell_is_flagged_nor_any_periodic_roll_of_it():
    n, checked = 12, 0  # 168 of the 171 types can be drawn at n = 12
    for name in cell_types():
        try:
            lo, hi = reachable_range(name, n)
        except ValueError:  # a type that cannot be drawn at this n
            continue
        for fractional in (False, True):
            cell = make_cell(name, n, (lo + hi) / 2, fractional=fractional).double().numpy()
            for shift in (0, 3, 8):
                p = check_periodicity(np.roll(cell, shift, axis=(0, 1, 2)))
                assert p.periodic, (name, fractional, shift, p.boundary, p.inside)
                checked += 1
    assert checked == 168 * 2 * 3


def test_a_block_cut_from_a_tiled_cell_is_flagged_with_its_numbers(tmp_path):
    period = make_cell("gyroid", 20, 0.3).numpy()
    block = np.tile(period, (2, 2, 2))[:12, :12, :12]  # 0.6 of a period
    p = check_periodicity(block)
    assert not p.periodic and p.flagged.all() and p.binary
    for axis in range(3):
        boundary, inside = _shares(block, axis)
        assert p.boundary[0, axis] == pytest.approx(boundary, abs=1e-15)
        assert p.inside[0, axis] == pytest.approx(inside, abs=1e-15)
        assert boundary > RATIO * inside  # independently: the rule holds
    np.save(tmp_path / "crop.npy", block)
    with pytest.warns(UserWarning) as caught:
        r = read_voxels(tmp_path / "crop.npy")
    b = [f"{100 * _shares(block, a)[0]:.1f}%" for a in range(3)]
    expected = (f"crop.npy: not periodic along x, y, z: its opposite faces differ in {b[0]}, {b[1]}, {b[2]} (x, y, z) "
                "of their voxels, more than 2 times the largest difference between neighbouring layers inside")
    assert len(caught) == 1 and expected in str(caught[0].message) and r.notes == (str(caught[0].message),)
    cell = r.to_dict()["periodicity"][0]
    assert cell["x"]["periodic"] is False and cell["x"]["boundary"] == pytest.approx(_shares(block, 0)[0])
    # the whole period, saved the same way, is silent
    np.save(tmp_path / "whole.npy", period)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_voxels(tmp_path / "whole.npy").periodicity.periodic


def test_batches_name_the_cells_that_are_not_periodic():
    period = make_cell("diamond", 16, 0.3).numpy()
    crop = np.tile(period, (2, 2, 2))[:16, :16, :16][::-1].copy()
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    graded = np.repeat((j < i)[:, :, None], 16, axis=2).astype(float)  # a wedge: thickens along x, thins along y
    batch = np.stack([period, crop, period, graded])
    p = check_periodicity(batch)
    assert p.flagged.any(axis=1).tolist() == [False, False, False, True]  # the flipped whole period is periodic
    assert p.flagged[3].tolist() == [True, True, False]
    msg = p.message("b.npy")
    assert msg.startswith("b.npy: 1 of 4 cells not periodic (3); cell 3 not periodic along x, y: its opposite faces "
                          "differ in 93.8%, 93.8%, 0.0% (x, y, z) of their voxels, more than 2 times the largest "
                          "difference between neighbouring layers inside (6.2%, 6.2%, 0.0%)"), msg


def test_laminates_solids_and_tiny_cells_are_periodic_and_the_floor_ignores_stray_voxels():
    laminate = np.zeros((8, 8, 8))
    laminate[:, :, :4] = 1  # a jump at the boundary, matched by one inside
    for cell in (laminate, np.ones((8, 8, 8)), np.zeros((1, 1, 1)), np.eye(2)[:, :, None].repeat(2, axis=2)):
        assert check_periodicity(cell).periodic
    # k solid lines along x, line m from x = 0 to x = 4 + m: each ends in its own layer, so the boundary
    # differs in k voxels and every inside pair in at most one: ratio k, but below the floor for k = 5
    for k, flagged in ((5, False), (16, True)):
        stray = np.zeros((32, 32, 32))
        for m in range(k):
            stray[:4 + m, m, 0] = 1
        p = check_periodicity(stray)
        assert p.boundary[0, 0] == k / 1024 and p.inside[0, 0] == 1 / 1024
        assert (p.boundary[0, 0] > FLOOR) == flagged and p.flagged[0, 0] == flagged
    ramp = np.broadcast_to(np.arange(16)[:, None, None] / 15.0, (16, 16, 16))
    p = check_periodicity(ramp)  # a graded grey cell: 1/15 per layer inside, 1 across the boundary
    assert p.flagged[0].tolist() == [True, False, False] and not p.binary
    assert p.boundary[0, 0] == pytest.approx(1.0) and p.inside[0, 0] == pytest.approx(1 / 15)
