"""The microstructure library (phnet_cuda.geometry): periodicity of every generator, exact strut
distances against a brute-force sum over periodic images, volume-fraction targeting, reachable
ranges, distinctness of the types, percolation against a brute-force tiled labelling, the
Tubular Gyroid staying bit-identical, and the gallery command."""

from __future__ import annotations

import itertools

import pytest
import torch

from phnet_cuda import geometry as G
from phnet_cuda.geometry import truss as T


def _brute_force_distance(points, segments):
    """min over all 27 neighbouring images of every strut (the existing strut_distance)."""
    best = torch.full(points.shape[:-1], float("inf"), dtype=torch.float64)
    for p, q in segments:
        for s in itertools.product((-1.0, 0.0, 1.0), repeat=3):
            s = torch.tensor(s, dtype=torch.float64)
            best = torch.minimum(best, T.strut_distance(points, p + s, q + s))
    return best


@pytest.mark.parametrize("name", list(T.BASE_NETS) + ["bcc_z", "srs+truncated_cube"])
def test_strut_distance_is_exact_and_periodic(name):
    segments = G.lattice_segments(name)
    xi = torch.rand(400, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = G.lattice_distance(name, xi)
    ref = _brute_force_distance(xi, segments)
    near = ref <= G.DISTANCE_CAP
    assert near.float().mean() > 0.5  # the comparison covers most of the cell
    assert float((got[near] - ref[near]).abs().max()) <= 1e-12
    assert bool((got[~near] > G.DISTANCE_CAP).all())
    for k in range(3):
        shift = torch.zeros(3, dtype=torch.float64)
        shift[k] = 1.0
        assert float((G.lattice_distance(name, xi + shift) - got).abs().max()) <= 1e-12
    # the voxel-grid fast path agrees with the point path
    n = 7
    grid = G.lattice_distance(name, G.voxel_centres(n))
    assert float((grid - G.lattice_distance(name, G.voxel_centres(n).reshape(-1, 3)).reshape(n, n, n)).abs().max()) \
        <= 1e-14


def test_truss_nets_have_the_expected_coordination():
    # node degree (struts per node, periodic) of the crystallographic nets
    expected = {"sc": {6}, "bcc": {8}, "octet": {12}, "diamond": {4}, "kelvin": {4}, "srs": {3}, "nbo": {4},
                "pyrochlore": {6}, "truncated_cube": {5}, "fcc": {4, 12}, "rhombic_dodecahedron": {4, 8}}
    for name, degrees in expected.items():
        ends = torch.remainder(G.lattice_segments(name).reshape(-1, 3) + 1e-9, 1.0)
        counts = {}
        for e in ends.tolist():
            key = tuple(round(v, 6) for v in e)
            counts[key] = counts.get(key, 0) + 1
        assert set(counts.values()) == degrees, name


def test_binary_truss_is_the_distance_sublevel_set():
    # Away from the single tied orbit at the threshold the cell is exactly {d <= r}.
    n = 32
    vox = G.make_cell("bcc", n, 0.12).bool()
    d = G.lattice_distance("bcc", G.voxel_centres(n))
    r_in, r_out = float(d[vox].max()), float(d[~vox].min())
    assert r_out >= r_in - 1e-12  # no solid voxel is farther from the axes than a void one
