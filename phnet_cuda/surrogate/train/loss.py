"""The training loss of PH-Net: the normalised potential energy of the predicted displacements.

The loss (``normalised_energy``): for sample b and load case i, the energy identity of
docs/conventions.md gives the diagonal of the homogenized tensor implied by the prediction,
C^H_ii(u) = C_vol_ii + 2 L_i(u) (|P| = 1), an upper bound of the true C^H_ii that is tight exactly
at the FE solution. We minimise mean_b sum_i log(C^H_ii(u) / C_vol_ii). Why the log: the raw
energy L_i scales with the material stiffness (a 10x stiffer cell has a 10x larger loss) and, for
a fixed material, with the cell's own stiffness (a 2%-dense cell's energies are ~100x smaller
than a 30%-dense one's), so an unweighted sum would train on the stiff cells only. The log turns
every term into the RELATIVE excess of the bound, log(1 + (C^H_ii(u) - C^H_ii) / C^H_ii) + const,
which is what the accuracy metric delta measures; it is invariant to the material scale, and its
minimiser is still the FE solution (log is monotone), with gradient (dL_i/du) / C^H_ii(u) - the
energy gradient K u - f weighted per sample and load case. ``loss_form="linear"`` gives the
plain normalised energy sum_i 2 L_i / C_vol_ii instead.
"""

from __future__ import annotations

import torch

from ...problem import CellProblem


def normalised_energy(u: torch.Tensor, vox: torch.Tensor, prob: CellProblem, form: str = "log") -> torch.Tensor:
    """Per-sample loss ``[B]`` (module docstring): sum_i log(C^H_ii(u) / C_vol_ii) for
    ``form="log"``, sum_i 2 L_i(u) / C_vol_ii for ``"linear"``; L_i from ``energy_loss``."""
    L = prob.energy_loss(u, vox, reduction="none")  # [B, 6]
    hard = vox.to(prob.device, prob.dtype).mean(dim=(-3, -2, -1))  # [B] volume fraction of the hard phase
    frac = torch.stack([hard, 1 - hard], dim=1)  # [B, 2]
    C_hat = prob.C_hat.expand(u.shape[0], 2, 6, 6)
    C_vol = torch.einsum("bm,bmii->bi", frac, C_hat)  # [B, 6] diagonal of the volume average
    rel = 2 * L / C_vol
    if form == "linear":
        return rel.sum(dim=1)
    # C^H_ii(u) / C_vol_ii = 1 + rel >= C^H_ii / C_vol_ii > 0 in exact arithmetic; the clamp
    # only guards float32 round-off far from a solution.
    return torch.log((1 + rel).clamp_min(1e-12)).sum(dim=1)
