"""The Walsh-Hadamard element basis (walsh.py) against the dense element matrices of fem.py.

fem.element_matrices sums B_g^T C B_g over the eight Gauss points in the node basis and shares no
code with walsh.py's closed forms (1-D factors in the Walsh basis, Kronecker products, the coupling
rule); it is the independent reference. Everything is float64. The sparsity patterns are checked
both ways: the numerical non-zeros of H^T Ke H must lie within them (they are not too small) and a
random C must fill them (they are not too large). Planted bugs (wrong Kronecker order, a dropped
mixed term, a lumped mass, a too small pattern) must break the equalities.
"""

from __future__ import annotations

import math

import pytest
import torch
from support import random_spd

from phnet_cuda import fem, materials, shapes, walsh
from phnet_cuda.conventions import NODE_OFFSETS

REL = 1e-13  # relative to max |Ke| (or max |Fe|); the observed errors are below 1e-15
NONZERO = 1e-12  # |x| > NONZERO * max |x| counts as a non-zero
H_VALUES = (1.0 / 16, 0.37)


def _isotropic():
    return materials.isotropic_stiffness(1.0, 0.3)  # [6, 6]


def _shape_transformed():
    # C_hat of the (75, 80, 85, 1, 1.3, 2) cell: fully anisotropic on the cube.
    M = shapes.strain_map(shapes.unit_volume(shapes.lattice_matrix((75.0, 80.0, 85.0, 1.0, 1.3, 2.0))))  # [6, 6]
    return shapes.transform_stiffness(_isotropic(), M)  # [6, 6]


def _random(seed):
    return random_spd(generator=torch.Generator().manual_seed(seed))  # [6, 6]


MATERIALS = {
    "isotropic": _isotropic,
    "isotropic-resin": lambda: materials.isotropic_stiffness(750.0, 0.25),
    "random-0": lambda: _random(0),
    "random-1": lambda: _random(1),
    "random-2": lambda: _random(2),
    "shape-transformed": _shape_transformed,
}
ISOTROPIC = ["isotropic", "isotropic-resin"]
ANISOTROPIC = ["random-0", "random-1", "random-2", "shape-transformed"]


def _assert_matches(actual: torch.Tensor, expected: torch.Tensor, scale: float, what: str) -> None:
    err = float((actual - expected).abs().max()) / scale
    assert err < REL, f"{what}: max error {err:.3g} of max |entry| (tolerance {REL:g})"


def _mask(A: torch.Tensor) -> torch.Tensor:
    """Numerical non-zeros of ``A [R, S]``."""
    return A.abs() > NONZERO * A.abs().max()


# ------------------------------------------------------------------------------ the transform
def test_walsh_matrix_is_orthogonal_with_the_documented_entries():
    H = walsh.walsh_matrix()  # [24, 24]
    eye = torch.eye(24, dtype=torch.float64)
    assert float((H.T @ H - eye).abs().max()) < 1e-15
    assert torch.equal(H, H.T)
    # Entry by entry from the node offsets (not from a Kronecker product): column 3 p + j is, for
    # component j, the nodal values of the trilinear polynomial prod_d (1 - 2 s_d)^(p_d) / sqrt(8),
    # with p's bits read like a node's offsets (x most significant).
    expected = torch.zeros(24, 24, dtype=torch.float64)
    for nd, offset in enumerate(NODE_OFFSETS):
        for p, bits in enumerate(NODE_OFFSETS):
            value = math.prod((1 - 2 * s) ** b for s, b in zip(offset, bits)) / math.sqrt(8)
            for i in range(3):
                expected[3 * nd + i, 3 * p + i] = value
    assert torch.equal(H, expected)
    assert walsh.walsh_matrix(torch.float32).dtype == torch.float32


# ------------------------------------------------------------------------------ closed forms vs dense
@pytest.mark.parametrize("h", H_VALUES)
@pytest.mark.parametrize("name", ISOTROPIC + ANISOTROPIC)
def test_walsh_stiffness_and_loads_equal_the_transformed_dense_matrices(name, h):
    C = MATERIALS[name]()  # [6, 6]
    H = walsh.walsh_matrix()  # [24, 24]
    Ke, Fe, _ = fem.element_matrices(C, h)  # [24, 24], [24, 6]
    _assert_matches(walsh.walsh_stiffness(C, h), H.T @ Ke @ H, float(Ke.abs().max()), "K^")
    _assert_matches(walsh.walsh_loads(C, h), H.T @ Fe, float(Fe.abs().max()), "F^")


def test_batched_materials():
    C = torch.stack([MATERIALS[name]() for name in ISOTROPIC + ANISOTROPIC]).reshape(2, 3, 6, 6)  # [2, 3, 6, 6]
    K, F = walsh.walsh_stiffness(C, 0.1), walsh.walsh_loads(C, 0.1)  # [2, 3, 24, 24], [2, 3, 24, 6]
    assert K.shape == (2, 3, 24, 24) and F.shape == (2, 3, 24, 6)
    for a in range(2):
        for b in range(3):
            assert torch.equal(K[a, b], walsh.walsh_stiffness(C[a, b], 0.1))
            assert torch.equal(F[a, b], walsh.walsh_loads(C[a, b], 0.1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="h must be positive"):
        walsh.walsh_stiffness(_isotropic(), 0.0)
    with pytest.raises(ValueError, match="C must be symmetric"):
        walsh.walsh_loads(_isotropic() + torch.triu(torch.ones(6, 6, dtype=torch.float64), 1), 0.1)
    with pytest.raises(ValueError, match="len\\(pattern\\) = 171"):
        walsh.apply_walsh(torch.zeros(45), torch.zeros(24))
    with pytest.raises(ValueError, match="u must be"):
        walsh.apply_walsh(torch.zeros(171), torch.zeros(8, 3))


# ------------------------------------------------------------------------------ sparsity patterns
def test_pattern_sizes_and_nesting():
    assert len(walsh.STIFFNESS_PATTERN_ISOTROPIC) == 45 and len(walsh.STIFFNESS_PATTERN) == 171
    assert len(walsh.LOAD_PATTERN_ISOTROPIC) == 15 and len(walsh.LOAD_PATTERN) == 54
    assert set(walsh.STIFFNESS_PATTERN_ISOTROPIC) < set(walsh.STIFFNESS_PATTERN)
    assert set(walsh.LOAD_PATTERN_ISOTROPIC) < set(walsh.LOAD_PATTERN)
    # The stiffness patterns are symmetric (K^ is) and leave out the rigid mode's rows and columns.
    for pattern in (walsh.STIFFNESS_PATTERN, walsh.STIFFNESS_PATTERN_ISOTROPIC):
        mask = walsh.pattern_mask(pattern)
        assert torch.equal(mask, mask.T)
        assert not mask[:3].any() and not mask[:, :3].any()
        assert sum(1 for r in range(24) if mask[r].any()) == 21


@pytest.mark.parametrize("h", H_VALUES)
def test_isotropic_non_zeros_are_exactly_the_isotropic_patterns(h):
    for name in ISOTROPIC:
        C = MATERIALS[name]()  # [6, 6]
        H = walsh.walsh_matrix()  # [24, 24]
        Ke, Fe, _ = fem.element_matrices(C, h)  # [24, 24], [24, 6]
        assert torch.equal(_mask(H.T @ Ke @ H), walsh.pattern_mask(walsh.STIFFNESS_PATTERN_ISOTROPIC)), name
        assert torch.equal(_mask(H.T @ Fe), walsh.pattern_mask(walsh.LOAD_PATTERN_ISOTROPIC, (24, 6))), name
        # The dense matrices, for the comparison: Fe has 120 of its 144 entries; Ke is full for
        # nu = 0.3, while lambda = mu (nu = 0.25) cancels the symmetric parts of its i != j blocks.
        assert int(_mask(Ke).sum()) == {"isotropic": 576, "isotropic-resin": 384}[name]
        assert int(_mask(Fe).sum()) == 120


@pytest.mark.parametrize("h", H_VALUES)
def test_anisotropic_non_zeros_lie_within_and_fill_the_patterns(h):
    H = walsh.walsh_matrix()  # [24, 24]
    full_K = walsh.pattern_mask(walsh.STIFFNESS_PATTERN)
    full_F = walsh.pattern_mask(walsh.LOAD_PATTERN, (24, 6))
    for name in ANISOTROPIC:
        Ke, Fe, _ = fem.element_matrices(MATERIALS[name](), h)  # [24, 24], [24, 6]
        K_mask, F_mask = _mask(H.T @ Ke @ H), _mask(H.T @ Fe)
        assert not (K_mask & ~full_K).any() and not (F_mask & ~full_F).any(), name  # within
        # Tight: every entry of the patterns is hit (by each random C, and by the cell's C_hat).
        assert torch.equal(K_mask, full_K) and torch.equal(F_mask, full_F), name
        assert int(_mask(Fe).sum()) == 144


def test_an_axis_aligned_orthotropic_material_has_the_isotropic_patterns():
    # The isotropic patterns depend only on C's zero pattern: a rectangular box cell's C_hat
    # (orthotropic, three different normal stiffnesses) gives exactly the same 45 / 15 entries.
    M = shapes.strain_map(shapes.unit_volume(shapes.lattice_matrix((90.0, 90.0, 90.0, 1.0, 1.3, 2.0))))  # [6, 6]
    C = shapes.transform_stiffness(_isotropic(), M)  # [6, 6]
    assert len({round(float(C[i, i]), 9) for i in range(3)}) == 3
    H = walsh.walsh_matrix()
    Ke, Fe, _ = fem.element_matrices(C, 0.25)  # [24, 24], [24, 6]
    assert torch.equal(_mask(H.T @ Ke @ H), walsh.pattern_mask(walsh.STIFFNESS_PATTERN_ISOTROPIC))
    assert torch.equal(_mask(H.T @ Fe), walsh.pattern_mask(walsh.LOAD_PATTERN_ISOTROPIC, (24, 6)))


# ------------------------------------------------------------------------------ the sparse product
@pytest.mark.parametrize("name, pattern, flops", [
    ("isotropic", walsh.STIFFNESS_PATTERN_ISOTROPIC, 234),
    ("isotropic", walsh.STIFFNESS_PATTERN, 486),
    ("random-0", walsh.STIFFNESS_PATTERN, 486),
    ("shape-transformed", walsh.STIFFNESS_PATTERN, 486),
])
def test_apply_walsh_equals_the_dense_product(name, pattern, flops):
    h = 0.2
    C = MATERIALS[name]()  # [6, 6]
    Ke = fem.element_stiffness(C, h)  # [24, 24]
    values = walsh.pattern_values(walsh.walsh_stiffness(C, h), pattern)  # [P]
    u = torch.randn(7, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(3))  # [7, 24]
    y, counted = walsh.apply_walsh(values, u, pattern, return_flops=True)  # [7, 24]
    expected = u @ Ke  # Ke is symmetric: row b is Ke u_b
    _assert_matches(y, expected, float(expected.abs().max()), "apply_walsh")
    # Two transforms of 3 butterfly stages x 8 add/sub x 3 components, one product per entry,
    # one addition per entry beyond the first of each of the 21 rows, and the 1/8 of those rows.
    assert counted == flops == 2 * 72 + len(pattern) + (len(pattern) - 21) + 21
    dense = 24 * 24 + 24 * 23  # 1128 (the 1152 counts a multiply-add per entry)
    assert counted < dense / 2
    # Batched values broadcast against u (one element matrix per row of u).
    values_b = values.expand(7, -1)  # [7, P]
    assert torch.equal(walsh.apply_walsh(values_b, u, pattern), y)


def test_isotropic_flop_count_is_about_200():
    _, counted = walsh.apply_walsh(torch.zeros(45), torch.zeros(24), walsh.STIFFNESS_PATTERN_ISOTROPIC,
                                   return_flops=True)
    assert counted == 234 and counted < 1128 / 4


# ------------------------------------------------------------------------------ planted bugs
def test_a_wrong_kronecker_order_of_H_breaks_the_equality():
    C, h = _random(0), 0.2
    Ke, Fe, _ = fem.element_matrices(C, h)  # [24, 24], [24, 6]
    h1 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    W = torch.kron(torch.kron(h1, h1), h1)  # [8, 8]
    eye = torch.eye(3, dtype=torch.float64)
    H_bad = torch.kron(eye, W) / math.sqrt(8)  # component-major instead of dof = 3 nd + component
    assert float((H_bad.T @ H_bad - torch.eye(24, dtype=torch.float64)).abs().max()) < 1e-15  # still orthogonal
    with pytest.raises(AssertionError, match="K\\^"):
        _assert_matches(walsh.walsh_stiffness(C, h), H_bad.T @ Ke @ H_bad, float(Ke.abs().max()), "K^")
    with pytest.raises(AssertionError, match="F\\^"):
        _assert_matches(walsh.walsh_loads(C, h), H_bad.T @ Fe, float(Fe.abs().max()), "F^")


def _stiffness_error(C, h):
    H = walsh.walsh_matrix()
    Ke = fem.element_stiffness(C, h)  # [24, 24]
    return float((walsh.walsh_stiffness(C, h) - H.T @ Ke @ H).abs().max() / Ke.abs().max())


@pytest.mark.parametrize("name", ["isotropic", "random-0"])
def test_a_wrong_kronecker_order_of_the_closed_form_breaks_the_equality(name, monkeypatch):
    C = MATERIALS[name]()
    assert _stiffness_error(C, 0.2) < REL
    # The closed form with its direction factors in reversed (z, y, x) Kronecker order.
    factor = walsh._factor
    monkeypatch.setattr(walsh, "_factor", lambda dk, dl, d: factor(dk, dl, 2 - d))
    assert _stiffness_error(C, 0.2) > 0.1


@pytest.mark.parametrize("bug", ["dropped mixed term", "lumped mass"])
def test_wrong_one_d_factors_break_the_equality(bug, monkeypatch):
    C = _isotropic()
    one_d = walsh._one_d_walsh

    def planted(h):
        F = dict(one_d(h))
        if bug == "dropped mixed term":
            F["G"], F["Gt"] = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
        else:  # nodal quadrature: the 1-D mass h/2 I is h/2 I in the Walsh basis, not diag(h/2, h/6)
            F["M"] = torch.eye(2, dtype=torch.float64) * (h / 2)
        return F

    monkeypatch.setattr(walsh, "_one_d_walsh", planted)
    assert _stiffness_error(C, 0.2) > 0.01


def test_a_too_small_pattern_breaks_the_product():
    # The isotropic pattern is not enough for an anisotropic C, and dropping any one of the 171
    # entries changes the product: every entry of the pattern is needed.
    C, h = _random(1), 0.2
    K = walsh.walsh_stiffness(C, h)  # [24, 24]
    Ke = fem.element_stiffness(C, h)  # [24, 24]
    u = torch.randn(24, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(4))  # [24, 24]
    expected = u @ Ke  # [24, 24]
    iso = walsh.apply_walsh(walsh.pattern_values(K, walsh.STIFFNESS_PATTERN_ISOTROPIC), u,
                            walsh.STIFFNESS_PATTERN_ISOTROPIC)
    with pytest.raises(AssertionError, match="apply_walsh"):
        _assert_matches(iso, expected, float(expected.abs().max()), "apply_walsh")
    for drop in range(len(walsh.STIFFNESS_PATTERN)):
        pattern = walsh.STIFFNESS_PATTERN[:drop] + walsh.STIFFNESS_PATTERN[drop + 1:]
        y = walsh.apply_walsh(walsh.pattern_values(K, pattern), u, pattern)
        assert float((y - expected).abs().max()) > 1e-6 * float(expected.abs().max()), walsh.STIFFNESS_PATTERN[drop]
