"""The microstructure library (phnet_cuda.geometry): periodicity of every generator, exact strut
distances against a brute-force sum over periodic images, volume-fraction targeting, reachable
ranges, distinctness of the types, percolation against a brute-force tiled labelling, the
Tubular Gyroid staying bit-identical, and the gallery command."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch
from scipy import ndimage

from phnet_cuda import geometry as G
from phnet_cuda.geometry import library as L
from phnet_cuda.geometry import truss as T
from support import frame_with_pieces

# ----------------------------------------------------------------------------------- registry


def test_registry_sizes_and_families():
    sheets, networks, trusses = (G.cell_types(f) for f in G.FAMILIES)
    assert len(sheets) >= 16 and len(trusses) >= 100
    assert "tubular_gyroid" in networks
    for required in ("gyroid", "schwarz_p", "schwarz_d", "iwp", "neovius", "fischer_koch_s", "frd", "lidinoid",
                     "split_p"):
        assert required in sheets and f"{required}_network" in networks
    for required in ("sc", "bcc", "fcc", "octet", "kelvin", "diamond", "octahedron", "cuboctahedron",
                     "rhombic_dodecahedron", "tesseract"):
        assert required in trusses
    everything = G.cell_types()
    assert everything == sorted(everything) and len(everything) == len(sheets) + len(networks) + len(trusses)
    assert all(G.cell_family(n) == f for f in G.FAMILIES for n in G.cell_types(f))
    with pytest.raises(ValueError, match="family"):
        G.cell_types("foam")


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"'gyriod'.*close matches.*'gyroid'"):
        G.make_cell("gyriod", 16, 0.2)
    with pytest.raises(ValueError, match="octet"):
        G.cell_family("octett")


@pytest.mark.parametrize("bad, match", [
    (dict(n=1), "n: expected an int >= 2"), (dict(n=16.0), "n: expected"),
    (dict(volume_fraction=0.0), "volume_fraction"), (dict(volume_fraction=1.0), "volume_fraction"),
    (dict(volume_fraction=float("nan")), "volume_fraction"), (dict(volume_fraction="0.2"), "volume_fraction"),
    (dict(dtype=torch.int32), "dtype")])
def test_make_cell_rejects_bad_arguments(bad, match):
    args = dict(name="gyroid", n=16, volume_fraction=0.3)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        G.make_cell(**args)


# -------------------------------------------------------------------------------- periodicity


def _random_points(count=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, generator=g, dtype=torch.float64) * 3.0 - 1.0  # over several periods


@pytest.mark.parametrize("surface", sorted(G.SURFACES) + ["tubular_gyroid"])
def test_tpms_level_sets_are_periodic(surface):
    xi = _random_points()
    f = G.surface_value(surface, xi)
    scale = float(f.abs().max())
    for k in range(3):
        shift = torch.zeros(3, dtype=torch.float64)
        shift[k] = 1.0
        assert float((G.surface_value(surface, xi + shift) - f).abs().max()) <= 1e-12 * scale
    # on the voxel grid: two periods sampled with 2n points per axis repeat the one-period field
    n = 6
    c2 = (torch.arange(2 * n, dtype=torch.float64) + 0.5) / n
    two = G.surface_value(surface, torch.stack(torch.meshgrid(c2, c2, c2, indexing="ij"), -1))
    one, _ = G.surface_field(surface, n)
    for a, b, c in itertools.product((0, n), repeat=3):
        assert float((two[a:a + n, b:b + n, c:c + n] - one).abs().max()) <= 1e-12 * scale


def test_tpms_gradient_matches_finite_differences():
    n, eps = 8, 1e-6
    for surface in ("gyroid", "iwp", "complementary_d", "tubular_gyroid"):
        _, grad = G.surface_field(surface, n)
        xi = G.voxel_centres(n)
        fd = torch.stack([(G.surface_value(surface, xi + eps * e) - G.surface_value(surface, xi - eps * e)) / (2 * eps)
                          for e in torch.eye(3, dtype=torch.float64)], -1)
        assert torch.allclose(grad, torch.linalg.vector_norm(fd, dim=-1), rtol=1e-6, atol=1e-6)


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


# ------------------------------------------------------------------------- volume fractions

REPRESENTATIVE = ["gyroid", "schwarz_p", "iwp_network", "tubular_gyroid", "sc", "bcc", "octet", "kelvin",
                  "diamond+srs", "octet+pyrochlore"]


def test_volume_fraction_accuracy_at_n48():
    n, hits = 48, 0
    for name in REPRESENTATIVE:
        lo, hi = G.reachable_range(name, n)
        assert lo <= 0.09 and hi >= 0.33, (name, lo, hi)  # the family covers the useful range
        for target in (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.33):
            if not lo <= target <= hi:
                continue
            vox = G.make_cell(name, n, target)
            assert vox.shape == (n, n, n) and vox.dtype == torch.float32
            assert set(torch.unique(vox).tolist()) <= {0.0, 1.0}
            assert abs(float(vox.double().mean()) - target) <= 0.001, (name, target)
            frac = G.make_cell(name, n, target, fractional=True, dtype=torch.float64)
            assert frac.dtype == torch.float64 and 0 <= float(frac.min()) and float(frac.max()) <= 1
            assert abs(float(frac.mean()) - target) <= 1e-6
            # the anti-aliased cell is the binary one up to its boundary layer
            partial = int(((frac > 0) & (frac < 1)).sum())
            assert int(((frac > 0.5) != vox.bool()).sum()) <= 0.5 * partial, (name, target)
            hits += 1
    assert hits >= 55


def test_whole_table_hits_a_common_target_at_n24():
    n = 24
    for name in G.cell_types():
        lo, hi = G.reachable_range(name, n)
        assert 0 < lo < hi < 1
        for target in (lo, 0.5 * (lo + hi), hi):
            vox = G.make_cell(name, n, target)
            assert abs(float(vox.double().mean()) - target) <= (0.0035 if name == "tubular_gyroid" else 0.001)


def test_out_of_range_error_names_the_reachable_range():
    for name, target in (("gyroid", 0.01), ("octet+pyrochlore", 0.02), ("schwarz_p_network", 0.9)):
        lo, hi = G.reachable_range(name, 48)
        assert not lo <= target <= hi
        with pytest.raises(ValueError, match=re.escape(f"[{lo:.4f}, {hi:.4f}]")):
            G.make_cell(name, 48, target)


@pytest.mark.parametrize("name", ["gyroid", "schwarz_p_network", "kelvin", "bcc+nbo"])
def test_reachable_range_ends_are_the_percolation_limits(name):
    n = 20
    k_lo, k_hi = L._rank_range(name, n)
    fld = L._field(name, n)
    cell = lambda k: L._binary(fld, n, k)  # noqa: E731
    assert all(G.percolation(cell(k_lo)))
    assert all(G.percolation(~cell(k_hi)))
    # one voxel less: no longer percolating (or struts below one voxel edge)
    assert k_lo == fld.k_min or not all(G.percolation(cell(k_lo - 1)))
    assert k_hi == fld.k_max or not all(G.percolation(~cell(k_hi + 1)))
    if G.cell_family(name) == "truss":
        # the thinnest truss has every voxel within one voxel edge of an axis solid
        dist = G.lattice_distance(name, G.voxel_centres(n))
        assert bool(cell(k_lo)[dist < 1.0 / n].all())
        assert float(dist[cell(k_hi)].max()) <= G.DISTANCE_CAP


def test_cells_are_deterministic():
    a = G.make_cell("sc+kelvin", 16, 0.3)
    L._field.cache_clear()
    L._rank_range.cache_clear()
    assert torch.equal(a, G.make_cell("sc+kelvin", 16, 0.3))


def test_binary_truss_is_the_distance_sublevel_set():
    # Away from the single tied orbit at the threshold the cell is exactly {d <= r}.
    n = 32
    vox = G.make_cell("bcc", n, 0.12).bool()
    d = G.lattice_distance("bcc", G.voxel_centres(n))
    r_in, r_out = float(d[vox].max()), float(d[~vox].min())
    assert r_out >= r_in - 1e-12  # no solid voxel is farther from the axes than a void one


# ------------------------------------------------------------------------------ distinctness


def _symmetry_canonical(vox: np.ndarray) -> bytes:
    """Smallest byte string over the 48 symmetries of the cube (axis permutations and flips;
    a flip of a voxel array about the cell centre keeps it on the grid)."""
    out = []
    for perm in itertools.permutations(range(3)):
        p = np.transpose(vox, perm)
        for flips in itertools.product((False, True), repeat=3):
            axes = tuple(i for i, f in enumerate(flips) if f)
            out.append(np.ascontiguousarray(np.flip(p, axes) if axes else p).tobytes())
    return min(out)


def _spectrum_invariant(vox: np.ndarray) -> np.ndarray:
    """Sorted |FFT|: invariant under periodic translations and the cube symmetries."""
    return np.sort(np.abs(np.fft.fftn(vox.astype(np.float64))).ravel())


def _check_distinct(names, n, vf, allowed_translates=()):
    cells = {name: G.make_cell(name, n, vf).numpy().astype(np.uint8) for name in names}
    raw = {c.tobytes() for c in cells.values()}
    assert len(raw) == len(names)  # pairwise different arrays
    canon = {_symmetry_canonical(c) for c in cells.values()}
    assert len(canon) == len(names)  # and not equal after any of the 48 cube symmetries
    spectra = {name: _spectrum_invariant(c) for name, c in cells.items()}
    same = {frozenset((a, b)) for a, b in itertools.combinations(names, 2)
            if np.allclose(spectra[a], spectra[b], rtol=0, atol=1e-6)}
    assert same <= {frozenset(p) for p in allowed_translates}, same


def test_truss_types_are_distinct():
    # octahedron and cuboctahedron are one net with origins (1/2, 1/2, 1/2) apart (documented)
    _check_distinct(G.cell_types("truss"), 24, 0.25, allowed_translates=[("octahedron", "cuboctahedron")])


def test_sheet_and_network_types_are_distinct():
    _check_distinct(G.cell_types("tpms_sheet"), 32, 0.25)
    # (not at vf 1/2: there a network and its '_neg' partner are exact complements)
    nets = [m for m in G.cell_types("tpms_network") if G.reachable_range(m, 24)[0] <= 0.42 <= G.reachable_range(m, 24)[1]]
    assert len(nets) >= 25
    _check_distinct(nets, 24, 0.42)


# ---------------------------------------------------------------------------- Tubular Gyroid


def _frozen_tubular_gyroid(n, vf):
    """The original implementation, kept verbatim here so any change to tubular_gyroid shows."""
    c = 2 * math.pi * ((torch.arange(n, dtype=torch.float64) + 0.5) / n) + 0.75 * math.pi
    x, y, z = torch.meshgrid(c, c, c, indexing="ij")
    first = torch.cos(x) * torch.sin(y) + torch.cos(y) * torch.sin(z) + torch.cos(z) * torch.sin(x)
    second = torch.cos(2 * x) * torch.cos(2 * y) + torch.cos(2 * y) * torch.cos(2 * z) + torch.cos(2 * z) * torch.cos(2 * x)
    field = 10 * first - 0.5 * second
    flat = field.reshape(-1)
    t = torch.topk(flat, int(round(vf * flat.numel()))).values[-1]
    return field, (field >= t).to(torch.float32)


@pytest.mark.parametrize("n, vf", [(16, 0.1), (24, 0.05), (32, 0.3), (48, 0.1), (48, 0.2)])
def test_tubular_gyroid_is_bit_identical(n, vf):
    field, ref = _frozen_tubular_gyroid(n, vf)
    assert torch.equal(G.tubular_gyroid_field(n), field)
    assert torch.equal(G.tubular_gyroid(n, vf), ref)
    assert torch.equal(G.make_cell("tubular_gyroid", n, vf), ref)
    # independent numpy evaluation of the published formula
    c = 2 * np.pi * (np.arange(n) + 0.5) / n + 0.75 * np.pi
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    tg = 10 * (np.cos(X) * np.sin(Y) + np.cos(Y) * np.sin(Z) + np.cos(Z) * np.sin(X)) - 0.5 * (
        np.cos(2 * X) * np.cos(2 * Y) + np.cos(2 * Y) * np.cos(2 * Z) + np.cos(2 * Z) * np.cos(2 * X))
    assert np.abs(field.numpy() - tg).max() <= 1e-12


# ------------------------------------------------------------------------------ percolation


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


# ---------------------------------------------------------------------------------- gallery


def test_gallery_command_writes_pngs(tmp_path, capsys):
    import matplotlib.image as mpimg

    from phnet_cuda.cli import main

    rc = main(["gallery", "--out", str(tmp_path), "--n", "12", "--vf", "0.2", "--quiet",
               "--types", "gyroid,schwarz_p,bcc,tubular_gyroid"])
    assert rc == 0
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    assert files == ["gallery_tpms_network.png", "gallery_tpms_sheet.png", "gallery_truss.png"]
    img = mpimg.imread(tmp_path / "gallery_tpms_sheet.png")
    assert img.shape[0] > 100 and img.shape[1] > 200
    assert float(img[..., :3].std()) > 0.05  # not a blank page: shaded surfaces were drawn
    assert "wrote" in capsys.readouterr().out
    assert main(["gallery", "--out", str(tmp_path), "--types", "gyriod", "--quiet"]) == 2
    assert "close matches" in capsys.readouterr().err


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
