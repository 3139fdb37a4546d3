"""Grey values to solid fractions (phnet_cuda.voxel_io.threshold): a given threshold (solid where
value > T), Otsu's method on a two-phase "scan" whose true segmentation is known, /255, and the
rule without an option (values must already lie in [0, 1]); the threshold used is reported."""

from __future__ import annotations

import numpy as np
import pytest

from phnet_cuda.geometry import make_cell
from phnet_cuda.voxel_io import VoxelInputError, read_voxels


@pytest.fixture(scope="module")
def scan():
    """(grey uint8 scan, the true 0/1 cell): a library cell imaged as solid ~ N(170, 12) on void
    ~ N(60, 12), so any sensible threshold between the two modes segments it exactly."""
    cell = make_cell("octet", 16, 0.4).numpy().astype(np.float64)
    rng = np.random.default_rng(0)
    grey = np.where(cell > 0, 170.0, 60.0) + rng.normal(0, 12, cell.shape)
    assert grey[cell > 0].min() > grey[cell == 0].max()  # the two modes do not overlap
    return np.clip(np.round(grey), 0, 255).astype(np.uint8), cell


def test_given_threshold_is_solid_where_value_exceeds_it(tmp_path, scan):
    grey, _ = scan
    np.save(tmp_path / "g.npy", grey)
    for t in (100, 100.5, "100", "1e2"):
        r = read_voxels(tmp_path / "g.npy", threshold=t)
        assert np.array_equal(r.voxels, (grey > 100.5 if t == 100.5 else grey > 100).astype(float))
        assert r.threshold.value == float(t) and r.threshold.method == "given"
        assert r.to_dict()["threshold"] == float(t) and r.to_dict()["threshold_method"] == "given"
    # exactly at T is void: strictly greater (T = a grey value that many voxels hold)
    t = int(np.median(grey[grey > 100]))
    r = read_voxels(tmp_path / "g.npy", threshold=t)
    assert r.voxels.sum() == (grey > t).sum() < (grey >= t).sum()


def test_otsu_recovers_the_true_cell_and_is_reported(tmp_path, scan):
    grey, cell = scan
    np.save(tmp_path / "g.npy", grey)
    r = read_voxels(tmp_path / "g.npy", threshold="otsu")
    assert np.array_equal(r.voxels, cell)
    assert grey[cell == 0].max() <= r.threshold.value < grey[cell > 0].min()
    assert r.threshold.method == "otsu" and "Otsu" in r.describe() and f"{r.threshold.value:.6g}" in r.describe()
    assert read_voxels(tmp_path / "g.npy", threshold=" OTSU ").threshold.value == r.threshold.value
    # the same scan as floats in another unit: the same cell, the threshold in that unit
    np.save(tmp_path / "f.npy", grey.astype(np.float32) * 10.0)
    r10 = read_voxels(tmp_path / "f.npy", threshold="otsu")
    assert np.array_equal(r10.voxels, cell) and 10 * int(grey[cell == 0].max()) <= r10.threshold.value


def test_scale_255_and_values_as_given(tmp_path, scan):
    _, cell = scan
    np.save(tmp_path / "u8.npy", (cell * 255).astype(np.uint8))
    r = read_voxels(tmp_path / "u8.npy", scale_255=True)
    assert np.array_equal(r.voxels, cell) and r.threshold.scale_255 and r.threshold.value is None
    assert "divided by 255" in r.describe()
    grey = np.linspace(0, 1, 64).reshape(4, 4, 4)  # grey solid fractions are used as they are
    np.save(tmp_path / "frac.npy", grey)
    with pytest.warns(UserWarning, match=r"frac.npy: not periodic along x, y, z: its opposite faces differ by 0.762, "
                                         r"0.19, 0.0476 \(x, y, z\) on average"):  # a graded cell
        r = read_voxels(tmp_path / "frac.npy")
    assert np.array_equal(r.voxels, grey) and r.threshold.method is None and "values as given" in r.describe()


def test_refusals_say_which_option_fits(tmp_path, scan):
    grey, _ = scan
    np.save(tmp_path / "g.npy", grey)
    with pytest.raises(VoxelInputError) as info:
        read_voxels(tmp_path / "g.npy")
    lo, hi = int(grey.min()), int(grey.max())
    assert str(info.value).endswith(f"voxel values must lie in [0, 1], got range [{lo}, {hi}] (dtype uint8); to "
                                    "segment grey values pass threshold (a number or 'otsu'); for an 8-bit 0/255 "
                                    "image pass scale_255")
    assert "pass --threshold (a number or 'otsu'); for an 8-bit 0/255 image pass --scale-255" in \
        info.value.for_command_line()
    np.save(tmp_path / "flat.npy", np.full((4, 4, 4), 7.0))
    cases = [
        ("g.npy", {"threshold": 300}, f"g.npy: threshold 300 leaves no solid voxel (values in [{lo}, {hi}]); expected "
                                      "a threshold below the largest value"),
        ("flat.npy", {"threshold": "otsu"},
         "flat.npy: threshold otsu needs at least two grey values; every voxel holds 7"),
        ("g.npy", {"threshold": 100, "scale_255": True}, "threshold and scale_255: give one of them"),
        ("g.npy", {"threshold": float("nan")}, "threshold: expected a finite number or 'otsu', got nan"),
        ("g.npy", {"threshold": True}, "threshold: expected a finite number or 'otsu', got True"),
    ]
    for name, kwargs, needle in cases:
        with pytest.raises(VoxelInputError) as info:
            read_voxels(tmp_path / name, **kwargs)
        assert needle in str(info.value), str(info.value)


def test_a_threshold_below_every_value_is_noted(tmp_path, scan):
    grey, _ = scan
    np.save(tmp_path / "g.npy", grey)
    with pytest.warns(UserWarning, match=r"g.npy: threshold 0 leaves no void voxel: the cell is solid"):
        r = read_voxels(tmp_path / "g.npy", threshold=0)
    assert r.voxels.min() == 1 and "no void voxel" in r.notes[0]
