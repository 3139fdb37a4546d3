"""Post-processing of homogenized tensors and local fields."""

from __future__ import annotations

import torch

_SHEAR_NAMES = ("G_yz", "G_xz", "G_xy")
_AXES = "xyz"


def engineering_constants(CH: torch.Tensor) -> dict[str, float]:
    """Engineering constants of one C^H ``[6, 6]`` (Voigt, engineering shears) from its
    compliance S = C^-1: E_i = 1 / S_ii, G_yz = 1 / S_44, G_xz = 1 / S_55, G_xy = 1 / S_66
    (1-based), Poisson ratios nu_ij = -S_ij / S_ii (strain in j under stress along i)."""
    C = torch.as_tensor(CH, dtype=torch.float64)
    if C.shape != (6, 6):
        raise ValueError(f"CH must be [6, 6], got shape {tuple(C.shape)}")
    S = torch.linalg.inv(C)
    out = {}
    for i in range(3):
        out[f"E_{_AXES[i]}"] = float(1.0 / S[i, i])
    for k, name in enumerate(_SHEAR_NAMES):
        out[name] = float(1.0 / S[3 + k, 3 + k])
    for i in range(3):
        for j in range(3):
            if i != j:
                out[f"nu_{_AXES[i]}{_AXES[j]}"] = float(-S[i, j] / S[i, i])
    return out


def von_mises(stress: torch.Tensor) -> torch.Tensor:
    """Von Mises stress of Voigt stresses ``[..., 6, ...]`` given as the dim -4 component
    axis of a field ``[..., 6, n, n, n]``."""
    s = stress
    sxx, syy, szz, syz, sxz, sxy = (s[..., k, :, :, :] for k in range(6))
    return torch.sqrt(0.5 * ((sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2)
                      + 3.0 * (syz ** 2 + sxz ** 2 + sxy ** 2))
