"""Held-out evaluation of a PH-Net during training: reference labels by the solver, the model's
field (network + physics stage) on a collated batch, and the delta statistics."""

from __future__ import annotations

import torch

from ...post.tensor import relative_error
from ...problem import CellProblem
from ...solver import homogenize
from ..model import PHNet
from ..stage import batch_problem, network_field, physics_stage
from .loss import normalised_energy


def label_cells(batch: dict, *, tol: float = 1e-8, device=None, chunk: int = 8, progress: bool = False) -> torch.Tensor:
    """Reference C^H ``[B, 6, 6]`` (float64) of a collated batch by the numerical solver."""
    out = []
    B = batch["vox"].shape[0]
    it = range(0, B, chunk)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="labelling eval cells", unit="chunk")
    for a in it:
        sl = slice(a, a + chunk)
        res = homogenize(batch["vox"][sl].double(), E=batch["E"][sl], nu=batch["nu"][sl],
                         soft_ratio=batch["soft_ratio"][sl], shape=batch["shape"][sl], tol=tol, device=device)
        CH = res.CH if res.CH.dim() == 3 else res.CH.unsqueeze(0)
        out.append(CH.cpu())
    return torch.cat(out)


def model_u(model: PHNet, batch: dict, device, prob: CellProblem, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """(the model's displacements, the network's own): ``stage.network_field`` followed by the
    physics output stage of ``model``'s config (``cg_steps`` block-Jacobi CG steps; the same tensor
    twice when there is none). ``model`` may be DDP-wrapped."""
    vox = batch["vox"].to(device, non_blocking=True)
    u_net = network_field(model, vox, batch["E"], batch["nu"], batch["soft_ratio"], batch["shape"], **kw)
    steps = getattr(model, "module", model).config.cg_steps
    return physics_stage(u_net, vox, prob, steps), u_net


@torch.no_grad()
def evaluate(model: PHNet, batch: dict, CH_ref: torch.Tensor, device, *, chunk: int = 16, amp: bool = False) -> dict:
    """delta statistics of the model on a labelled batch (C^H from the energy form of the
    predicted displacements, recovered on each parallelepiped)."""
    was_training = model.training
    model.eval()
    deltas, deltas_net, losses = [], [], []
    B, n = batch["vox"].shape[0], batch["vox"].shape[-1]
    for a in range(0, B, chunk):
        sub = {k: v[a:a + chunk] for k, v in batch.items()}
        prob = batch_problem(sub, n, device)
        u, u_net = model_u(model, sub, device, prob, amp=amp)
        vox = sub["vox"].to(device)
        CH = prob.homogenized_tensor(u, vox)
        deltas.append(relative_error(CH, CH_ref[a:a + chunk]).cpu())
        if u_net is not u:
            deltas_net.append(relative_error(prob.homogenized_tensor(u_net, vox), CH_ref[a:a + chunk]).cpu())
        losses.append(normalised_energy(u, vox, prob).cpu())
    model.train(was_training)
    d = torch.cat(deltas)
    out = {"delta_mean": float(d.mean()), "delta_median": float(d.median()), "delta_max": float(d.max()),
           "eval_loss": float(torch.cat(losses).mean()), "deltas": d}
    if deltas_net:  # the network's own field, before the physics output stage
        out["delta_mean_network"] = float(torch.cat(deltas_net).mean())
    return out
