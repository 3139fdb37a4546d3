"""Pure-PyTorch implementations of every custom op (roll + einsum, any dtype incl. float64).

They are the oracle of the tests and the baseline of the benchmarks. Element dofs are
gathered with ``torch.roll`` into ``[B, L, n, n, n, 24]`` tensors (local numbering of
fem.py), multiplied with the per-phase element matrices by einsum, and scattered back with the
opposite rolls. Shapes and meanings are those of the op schemas in csrc/registration.cpp.
"""

from __future__ import annotations

import torch

from . import fem


# Local node nd = 4a + 2b + c at offset (a, b, c) (fem.node_offsets); plain ints so that the
# functions trace under torch.compile / AOT autograd.
_OFFSETS = [(nd >> 2, (nd >> 1) & 1, nd & 1) for nd in range(8)]


def _offsets() -> list[tuple[int, int, int]]:
    return _OFFSETS


def gather_elements(field: torch.Tensor) -> torch.Tensor:
    """``[B, L, 3, n, n, n]`` node field -> ``[B, L, n, n, n, 24]`` element dof vectors."""
    parts = [torch.roll(field, shifts=(-a, -b, -c), dims=(3, 4, 5)) for a, b, c in _offsets()]
    ue = torch.stack(parts, dim=2)  # [B, L, 8, 3, nx, ny, nz] (grids need not be cubic)
    B, L = ue.shape[:2]
    return ue.permute(0, 1, 4, 5, 6, 2, 3).reshape(B, L, *ue.shape[4:], 24)


def scatter_elements(ye: torch.Tensor) -> torch.Tensor:
    """``[B, L, n, n, n, 24]`` element vectors -> assembled ``[B, L, 3, n, n, n]`` node field."""
    B, L, grid = ye.shape[0], ye.shape[1], ye.shape[2:5]  # grids need not be cubic
    y8 = ye.reshape(B, L, *grid, 8, 3).permute(0, 1, 5, 6, 2, 3, 4)  # [B, L, 8, 3, nx, ny, nz]
    out = torch.zeros(B, L, 3, *grid, dtype=ye.dtype, device=ye.device)
    for nd, (a, b, c) in enumerate(_offsets()):
        out = out + torch.roll(y8[:, :, nd], shifts=(a, b, c), dims=(3, 4, 5))
    return out


def _per_sample(mats: torch.Tensor, B: int) -> torch.Tensor:
    return mats.expand(B, *mats.shape[1:])


def stiffness_apply(u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor) -> torch.Tensor:
    """K u: ``u [B, L, 3, n, n, n]``, ``phase [B, M, n, n, n]``, ``Ke [B|1, M, 24, 24]``."""
    B = u.shape[0]
    ue = gather_elements(u)
    Ke = _per_sample(Ke, B)
    ye = torch.zeros_like(ue)
    for m in range(phase.shape[1]):
        ye = ye + phase[:, None, m, ..., None] * torch.einsum("blxyzs,brs->blxyzr", ue, Ke[:, m])
    return scatter_elements(ye)


def load_vectors(phase: torch.Tensor, Fe: torch.Tensor) -> torch.Tensor:
    """Assembled loads ``[B, L, 3, n, n, n]`` for ``Fe [B|1, M, 24, L]``."""
    Fe = _per_sample(Fe, phase.shape[0])
    fe = torch.einsum("bmxyz,bmrl->blxyzr", phase, Fe)
    return scatter_elements(fe)


def energy_loss(u, phase, Ke, Fe) -> torch.Tensor:
    """Energies ``[B, L]``: u_l^T K u_l / 2 - u_l^T f_l."""
    Ku = stiffness_apply(u, phase, Ke)
    f = load_vectors(phase, Fe)
    return (0.5 * u * Ku - u * f).sum(dim=(2, 3, 4, 5))


def energy_loss_backward(grad, u, phase, Ke, Fe) -> torch.Tensor:
    """grad[b, l] (K u_l - f_l)."""
    r = stiffness_apply(u, phase, Ke) - load_vectors(phase, Fe)
    return grad[:, :, None, None, None, None] * r


def homogenized_tensor(u, phase, Ke, Fe, Ce) -> torch.Tensor:
    """Energy form summed over the cell ``[B, L, L]`` (= |Omega| C^H), from Ke/Fe/Ce."""
    B = u.shape[0]
    Ku = stiffness_apply(u, phase, Ke)
    f = load_vectors(phase, Fe)
    uKu = torch.einsum("bpcxyz,bqcxyz->bpq", u, Ku)
    uf = torch.einsum("bpcxyz,bqcxyz->bpq", u, f)
    vol = torch.einsum("bmxyz,bmpq->bpq", phase, _per_sample(Ce, B))
    return vol - uf - uf.transpose(1, 2) + uKu


def homogenized_tensor_quadrature(u: torch.Tensor, phase: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Independent route to C^H [B, L, L] (L = 6): integrates
    (eps_i - B u_i)^T C_e (eps_j - B u_j) at the 2 x 2 x 2 Gauss points of every voxel of the
    unit cube, without the element matrices. ``C [B|1, M, 6, 6]``."""
    B, L, n = u.shape[0], u.shape[1], u.shape[-1]
    h = 1.0 / n
    Bg = fem.strain_displacement(fem.gauss_points(), h).to(u)  # [8, 6, 24]
    ue = gather_elements(u)  # [B, L, n, n, n, 24]
    eps = torch.eye(6, dtype=u.dtype, device=u.device)[:L][None, :, None, None, None, None, :] - torch.einsum(
        "gpr,blxyzr->blxyzgp", Bg, ue)  # [B, L, n, n, n, 8, 6]
    Cv = torch.einsum("bmxyz,bmpq->bxyzpq", phase, _per_sample(C, B))
    w = h ** 3 / 8.0
    return w * torch.einsum("bixyzgp,bxyzpq,bjxyzgq->bij", eps, Cv, eps)


def phase_gradient(a, u, b, Ke, Fe) -> torch.Tensor:
    """``[B, M, n, n, n]``: sum_l a_l^T Ke[m] u_l + sum_j b_j . Fe[m][:, j] per voxel."""
    B = u.shape[0]
    Ke = _per_sample(Ke, B)
    Fe = _per_sample(Fe, B)
    ae, ue, be = gather_elements(a), gather_elements(u), gather_elements(b)
    g = torch.einsum("blxyzr,bmrs,blxyzs->bmxyz", ae, Ke, ue)
    return g + torch.einsum("bjxyzr,bmrj->bmxyz", be, Fe)


def center_strain_displacement(n: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """B at the voxel centre ``[6, 24]`` (= the Gauss-point average) for h = 1 / n."""
    centre = torch.full((1, 3), 0.5, dtype=torch.float64)
    return fem.strain_displacement(centre, 1.0 / n)[0].to(dtype=dtype, device=device)


def element_fields(u, phase, C, macro_strain) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel-average strain and stress ``[B, L, 6, n, n, n]`` each: eps = E_l - B u_l, sig = C_e eps."""
    B, n = u.shape[0], u.shape[-1]
    Bc = center_strain_displacement(n, u.dtype, u.device)
    ue = gather_elements(u)
    eps = macro_strain[:, :, None, None, None, :] - torch.einsum("pr,blxyzr->blxyzp", Bc, ue)
    Cv = torch.einsum("bmxyz,bmpq->bxyzpq", phase, _per_sample(C, B))
    sig = torch.einsum("bxyzpq,blxyzq->blxyzp", Cv, eps)
    return eps.permute(0, 1, 5, 2, 3, 4).contiguous(), sig.permute(0, 1, 5, 2, 3, 4).contiguous()
