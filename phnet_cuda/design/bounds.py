"""Hashin-Shtrikman bounds of two-phase isotropic composites: how far from the best possible a
design's bulk and shear moduli are.

For phases 1 (stiff: K1 >= K2, G1 >= G2) and 2 at volume fractions f1 + f2 = 1, the upper bounds
(Hashin & Shtrikman 1963) are

    K_U = K1 + f2 / (1 / (K2 - K1) + 3 f1 / (3 K1 + 4 G1)),
    G_U = G1 + f2 / (1 / (G2 - G1) + 6 f1 (K1 + 2 G1) / (5 G1 (3 K1 + 4 G1))),

and the lower bounds the same with the phases swapped (stiff <-> soft). With a void-like soft
phase (K2, G2 -> 0) the upper bulk bound is K_U = 4 G1 K1 f1 / (4 G1 + 3 K1 (1 - f1)), which
closed-cell microstructures approach; E = 1, nu = 0.3, f1 = 0.3 gives K_U = 0.116959.

They bound the moduli of any isotropic composite of the two phases; for an anisotropic one the
upper bounds hold for the Voigt averages (Milton and Kohn 1988: bounds on the traces of C^H),
K_V = (1/9) sum_{i,j <= 3} C^H_ij - the energy under a hydrostatic strain, the quantity
``objectives.bulk_modulus`` maximises - and G_V (``post.voigt_reuss_moduli``). The mean of C44,
C55, C66 alone (``objectives.shear_modulus``) is not bounded by G_U for an anisotropic cell.
"""

from __future__ import annotations

from .._checks import real_number


def _moduli(E: float, nu: float) -> tuple[float, float]:
    return E / (3 * (1 - 2 * nu)), E / (2 * (1 + nu))


def hashin_shtrikman(volume_fraction: float, *, E: float = 1.0, nu: float = 0.3,
                     soft_ratio: float = 0.0) -> dict[str, float]:
    """The Hashin-Shtrikman bounds of bulk and shear modulus.

    Args:
        volume_fraction: f1 of the stiff phase, in [0, 1].
        E, nu: the stiff phase (E > 0, -1 < nu < 0.5).
        soft_ratio: the soft phase is C(soft_ratio E, nu) like the solver's (0 = void, <= 1).
    Returns:
        ``{"bulk_upper", "bulk_lower", "shear_upper", "shear_lower"}`` in the unit of E (lower
        bounds are 0 for a void).
    """
    f1 = real_number(volume_fraction, "volume_fraction")
    E = real_number(E, "E")
    nu = real_number(nu, "nu")
    r = real_number(soft_ratio, "soft_ratio")
    if not 0 <= f1 <= 1:
        raise ValueError(f"volume_fraction must lie in [0, 1], got {volume_fraction!r}")
    if E <= 0:
        raise ValueError(f"E must be positive, got {E!r}")
    if not -1 < nu < 0.5:
        raise ValueError(f"nu must lie in (-1, 0.5), got {nu!r}")
    if not 0 <= r <= 1:
        raise ValueError(f"soft_ratio must lie in [0, 1] (0 = void), got {soft_ratio!r}")
    K1, G1 = _moduli(E, nu)
    K2, G2 = r * K1, r * G1
    K_up, G_up = _bound(K1, G1, K2, G2, f1)
    K_lo, G_lo = _bound(K2, G2, K1, G1, 1 - f1)
    return {"bulk_upper": K_up, "bulk_lower": K_lo, "shear_upper": G_up, "shear_lower": G_lo}


def _bound(Ka: float, Ga: float, Kb: float, Gb: float, fa: float) -> tuple[float, float]:
    """The HS bound (K, G) with phase a (fraction fa) as the comparison material: the upper bound when
    a is the stiff phase, the lower when it is the soft one. Written without 1 / (Kb - Ka), so
    that equal phases need no special case."""
    fb = 1 - fa
    if fb == 0 or fa == 0:  # one phase only
        return (Ka, Ga) if fb == 0 else (Kb, Gb)
    if Ga == 0:  # a void comparison material: the lower bound of a porous solid
        return 0.0, 0.0
    k, g = 3 * Ka + 4 * Ga, 5 * Ga * (3 * Ka + 4 * Ga)
    K = Ka + fb * (Kb - Ka) * k / (k + 3 * fa * (Kb - Ka))
    G = Ga + fb * (Gb - Ga) * g / (g + 6 * fa * (Ka + 2 * Ga) * (Gb - Ga))
    return K, G


__all__ = ["hashin_shtrikman"]
