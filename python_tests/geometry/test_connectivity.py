"""The microstructure library (phnet_cuda.geometry): periodicity of every generator, exact strut
distances against a brute-force sum over periodic images, volume-fraction targeting, reachable
ranges, distinctness of the types, percolation against a brute-force tiled labelling, the
Tubular Gyroid staying bit-identical, and the gallery command."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import ndimage
from support import frame_with_pieces

from phnet_cuda import geometry as G


def _tiled_reference(solid: np.ndarray, criterion: str, tiles: int = 5):
    """Brute force: label a tiles^3 copy of the cell (no periodicity) and look for a voxel of
    the central copy that shares a label with one of its translates."""
    n = solid.shape[0]
    labels, _ = ndimage.label(np.tile(solid, (tiles,) * 3))
    mid = tiles // 2
    centre = labels[mid * n:(mid + 1) * n, mid * n:(mid + 1) * n, mid * n:(mid + 1) * n]
    result = [False, False, False]
    shifts = [s for s in itertools.product(range(-mid, mid + 1), repeat=3) if any(s)]
    for s in shifts:
        if criterion == "image" and sorted(map(abs, s)) != [0, 0, 1]:
            continue
        other = labels[(mid + s[0]) * n:(mid + s[0] + 1) * n, (mid + s[1]) * n:(mid + s[1] + 1) * n,
                       (mid + s[2]) * n:(mid + s[2] + 1) * n]
        if ((centre > 0) & (centre == other)).any():
            for d in range(3):
                result[d] = result[d] or s[d] != 0
    return tuple(result)


@pytest.mark.parametrize("criterion", ["image", "unbounded"])
def test_percolation_matches_tiled_brute_force(criterion):
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(120):
        n = int(rng.integers(3, 7))
        p = float(rng.uniform(0.2, 0.55))
        solid = rng.random((n, n, n)) < p
        got = G.percolation(torch.from_numpy(solid.astype(np.float32)), criterion=criterion)
        assert got == _tiled_reference(solid, criterion), (trial, n, p)
        outcomes.add(got)
    assert len(outcomes) >= 4  # the random cells cover percolating, partial and isolated cases


def _rod(n, direction, start=(0, 0, 0), steps=None):
    """Voxels of a face-connected staircase path from ``start`` advancing one voxel per step
    along the axes in ``direction`` (cyclically), wrapped periodically."""
    vox = np.zeros((n, n, n), dtype=np.float32)
    pos = np.array(start)
    moves = [axis for axis, count in enumerate(direction) for _ in range(abs(count))]
    signs = {axis: int(np.sign(c)) for axis, c in enumerate(direction) if c}
    for step in range(steps or n * len(moves)):
        vox[tuple(pos % n)] = 1
        axis = moves[step % len(moves)]
        pos[axis] += signs[axis]
    return vox


def test_percolation_known_cases():
    n = 12
    rod_x = np.zeros((n, n, n), dtype=np.float32)
    rod_x[:, 3, 7] = 1
    assert G.percolation(rod_x) == (True, False, False)
    assert G.percolation(torch.from_numpy(rod_x), criterion="unbounded") == (True, False, False)

    c = (np.arange(n) + 0.5) / n
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    ball = (((X - 0.5) ** 2 + (Y - 0.5) ** 2 + (Z - 0.5) ** 2) < 0.3 ** 2).astype(np.float32)
    assert G.percolation(ball) == (False, False, False)
    cornered = np.roll(ball, (6, 6, 6), axis=(0, 1, 2))  # the same ball cut by all six faces
    assert G.percolation(cornered) == (False, False, False)
    assert G.percolation(cornered, criterion="unbounded") == (False, False, False)

    # a staircase rod along (1, 1, 0) wraps through the x and y faces: it is unbounded in x and y
    # but never meets its own image one period away along x or y alone
    diag = _rod(n, (1, 1, 0), start=(5, 9, 4))
    assert G.percolation(diag, criterion="unbounded") == (True, True, False)
    assert G.percolation(diag) == (False, False, False)
    # a rod along x that leaves through the y = 0 face and comes back through it further on: the
    # wrap-around steps cancel, so it reaches its image along x (and only along x)
    wrap_x = np.zeros((n, n, n), dtype=np.float32)
    wrap_x[0:7, 0, 5] = 1
    wrap_x[6:10, n - 1, 5] = 1
    wrap_x[9:, 0, 5] = 1
    assert not ndimage.label(wrap_x)[1] == 1  # not connected inside the cell ...
    assert G.percolation(wrap_x) == (True, False, False)  # ... only through the periodic faces
    assert G.percolation(wrap_x, criterion="unbounded") == (True, False, False)
    assert G.percolation(wrap_x[:, :, :]) == G.percolation(np.roll(wrap_x, (3, 5, 7), axis=(0, 1, 2)))

    slab = np.zeros((n, n, n), dtype=np.float32)
    slab[:, :, 3:6] = 1
    assert G.percolation(slab) == (True, True, False)
    assert G.percolation(G.make_cell("sc", 24, 0.1)) == (True, True, True)
    assert G.percolation(G.tubular_gyroid(24, 0.1)) == (True, True, True)
    assert G.percolation(G.make_cell("tubular_gyroid", 32, 0.1, fractional=True)) == (True, True, True)
    # threshold: a grey rod of 0.4 is void at the default 1/2 and solid at 0.3
    assert G.percolation(0.4 * rod_x) == (False, False, False)
    assert G.percolation(0.4 * rod_x, threshold=0.3) == (True, False, False)
    with pytest.raises(ValueError, match=r"vox: expected a voxel array \[n, n, n\], got shape \(4, 4\)"):
        G.percolation(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="criterion"):
        G.percolation(rod_x, criterion="spanning")


def test_bounded_clusters():
    pieces = G.bounded_clusters(frame_with_pieces())
    assert [len(p) for p in pieces] == [8] * 6 + [1, 1]  # largest first; the frame is periodic
    assert {tuple(p.min(axis=0)) for p in pieces[:6]} == {(5, 5, 5), (10, 5, 5), (5, 10, 5), (5, 5, 10),
                                                          (10, 10, 10), (10, 10, 5)}
    n = 12
    across = np.zeros((n, n, n))
    across[-1:, 3:5, 3:5] = across[:1, 3:5, 3:5] = 1  # one 2x2x2 block split by the x faces
    (piece,) = G.bounded_clusters(across)
    assert len(piece) == 8 and np.ptp(piece, axis=0).tolist() == [1, 1, 1]  # unwrapped: contiguous
    assert set(map(tuple, piece % n)) == set(map(tuple, np.argwhere(across > 0.5)))
    rod = np.zeros((n, n, n))
    rod[:, 3, 3] = 1  # reaches its own image along x: not bounded
    assert G.bounded_clusters(rod) == [] and G.bounded_clusters(np.zeros((n, n, n))) == []
    diagonal = np.zeros((n, n, n))
    diagonal[2, 2, 2] = diagonal[3, 3, 3] = 0.6  # corner contact only: two pieces (threshold 0.5)
    assert len(G.bounded_clusters(diagonal)) == 2 and G.bounded_clusters(diagonal, threshold=0.7) == []
    with pytest.raises(ValueError, match=r"vox: expected a voxel array \[n, n, n\]"):
        G.bounded_clusters(np.zeros((2, 4, 4, 4)))
