"""The one path from a cell to PH-Net's displacement field: material-voxel tensor -> network ->
physics output stage. Training, evaluation and ``predict`` all go through these two functions,
so the network always sees the input the solver's problem defines (``materials.cube_materials``)
and the stage is applied the same way everywhere.
"""

from __future__ import annotations

import contextlib

import torch

from ..materials import material_voxel_tensor
from ..problem import CellProblem


def network_field(model, vox: torch.Tensor, E, nu, soft_ratio, shape=None, *, amp: bool = False,
                  channels_last: bool = False) -> torch.Tensor:
    """The network's displacements ``[B, 6, 3, n, n, n]`` (float32) for cells ``vox``
    ``[B, n, n, n]`` (any dtype; the material tensor is built on ``vox.device``).

    ``model`` is a ``PHNet`` (or a DDP / compiled wrapper of one); E, nu, soft_ratio scalars or
    ``[B]``; shape None, ``[6]`` or ``[B, 6]``. ``amp``: bf16 autocast for the network (the field
    is returned in float32). Runs with or without grad, as the caller's context says.
    """
    mat = material_voxel_tensor(vox, E, nu, soft_ratio, shape=shape)
    if channels_last:
        mat = mat.contiguous(memory_format=torch.channels_last_3d)
    autocast = torch.autocast(device_type=vox.device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with autocast:
        u = model(mat)
    n = u.shape[-1]
    return u.float().reshape(u.shape[0], 6, 3, n, n, n).contiguous()


def physics_stage(u: torch.Tensor, vox: torch.Tensor, prob: CellProblem, steps: int) -> torch.Tensor:
    """PH-Net's parameter-free output stage: ``steps`` block-Jacobi CG iterations on K u = f of
    ``prob`` (the cells' float32 problem) started from the field ``u`` ``[B, 6, 3, n, n, n]``.

    ``steps = 0`` returns ``u`` itself (the network alone). Differentiable w.r.t. ``u``; the
    energy never increases, so the energy-form bounds of C^H stay certified.
    """
    if not steps:
        return u
    return prob.block_jacobi_cg(u, vox, steps)


def batch_problem(batch: dict, n: int, device) -> CellProblem:
    """The float32 ``CellProblem`` of a collated batch of cells (``vox``, per-sample ``E``, ``nu``,
    ``soft_ratio``, ``shape``): the operator of the physics stage and of the training loss."""
    return CellProblem(n, E=batch["E"], nu=batch["nu"], soft_ratio=batch["soft_ratio"], shape=batch["shape"],
                       device=device, dtype=torch.float32)
