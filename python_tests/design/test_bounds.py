"""Hashin-Shtrikman bounds (phnet_cuda.design.bounds) against their other closed form (Torquato's
'<K> - f1 f2 (K1 - K2)^2 / (...)'), known values, and the solver: no library cell's Voigt-average
moduli exceed them."""

from __future__ import annotations

import pytest
import torch

from phnet_cuda import homogenize
from phnet_cuda.design.bounds import hashin_shtrikman
from phnet_cuda.design.objectives import bulk_modulus
from phnet_cuda.geometry import make_cell
from phnet_cuda.post import voigt_reuss_moduli


def torquato(f1, K1, G1, K2, G2):
    """HS bounds in the form K_U = <K> - f1 f2 (K1 - K2)^2 / (f1 K2 + f2 K1 + 4/3 G1), G_U = <G> -
    f1 f2 (G1 - G2)^2 / (f1 G2 + f2 G1 + H1), H1 = G1 (9 K1 + 8 G1) / (6 (K1 + 2 G1)); lower: G1 -> G2."""
    f2 = 1 - f1

    def H(K, G):
        return G * (9 * K + 8 * G) / (6 * (K + 2 * G))

    K_mean, G_mean = f1 * K1 + f2 * K2, f1 * G1 + f2 * G2
    return {"bulk_upper": K_mean - f1 * f2 * (K1 - K2) ** 2 / (f1 * K2 + f2 * K1 + 4 / 3 * G1),
            "bulk_lower": K_mean - f1 * f2 * (K1 - K2) ** 2 / (f1 * K2 + f2 * K1 + 4 / 3 * G2),
            "shear_upper": G_mean - f1 * f2 * (G1 - G2) ** 2 / (f1 * G2 + f2 * G1 + H(K1, G1)),
            "shear_lower": G_mean - f1 * f2 * (G1 - G2) ** 2 / (f1 * G2 + f2 * G1 + H(K2, G2))}


@pytest.mark.parametrize("f1, E, nu, r", [(0.3, 1.0, 0.3, 1e-6), (0.7, 210e3, 0.25, 0.05), (0.1, 3.0, -0.2, 0.5)])
def test_against_the_other_closed_form(f1, E, nu, r):
    K1, G1 = E / (3 * (1 - 2 * nu)), E / (2 * (1 + nu))
    got = hashin_shtrikman(f1, E=E, nu=nu, soft_ratio=r)
    want = torquato(f1, K1, G1, r * K1, r * G1)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12), key


def test_known_values_and_limits():
    hs = hashin_shtrikman(0.3, E=1.0, nu=0.3)  # void: K_U = 4 G K f / (4 G + 3 K (1 - f))
    assert hs["bulk_upper"] == pytest.approx(0.116959064327, rel=1e-11)
    assert hs["bulk_lower"] == 0 and hs["shear_lower"] == 0
    assert hashin_shtrikman(1.0)["bulk_lower"] == pytest.approx(1 / (3 * 0.4))
    equal = hashin_shtrikman(0.4, soft_ratio=1.0)
    assert equal["bulk_upper"] == pytest.approx(equal["bulk_lower"]) == pytest.approx(1 / 1.2)
    with pytest.raises(ValueError, match="volume_fraction must lie in"):
        hashin_shtrikman(1.5)
    with pytest.raises(ValueError, match="soft_ratio must lie in"):
        hashin_shtrikman(0.3, soft_ratio=2)


@pytest.mark.parametrize("name", ["schwarz_p", "gyroid", "tubular_gyroid"])
def test_no_cell_exceeds_the_bounds(name):
    vox = make_cell(name, 12, 0.3).double()
    CH = homogenize(vox, tol=1e-8).CH
    hs = hashin_shtrikman(float(vox.mean()), soft_ratio=1e-6)
    # the upper bounds hold for the Voigt averages K_V (the bulk objective) and G_V of any cell
    assert float(bulk_modulus(CH)) == pytest.approx(voigt_reuss_moduli(CH)["K_V"], rel=1e-14)
    assert float(bulk_modulus(CH)) < hs["bulk_upper"]
    assert voigt_reuss_moduli(CH)["G_V"] < hs["shear_upper"]
    assert float(torch.linalg.eigvalsh(CH).min()) > 0
