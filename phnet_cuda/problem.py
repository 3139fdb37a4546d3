"""Two-phase cells: the element matrices of a material family, precomputed once, and the
user-facing ``energy_loss`` / ``homogenized_tensor`` built on the custom ops.

Conventions (../shared/CONVENTIONS.md): voxel arrays ``[B, n, n, n]`` in [0, 1] over the unit
cube (h = 1/n, |Omega| = 1), 1 = hard phase C(E, nu), 0 = soft phase C(soft_ratio E, nu);
displacements ``[B, 6, 3, n, n, n]`` (or the network's ``[B, 18, n, n, n]``), load case i =
unit macroscopic strain e_i in Voigt order [xx, yy, zz, yz, xz, xy].
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from . import fem, ops
from .materials import DEFAULT_SOFT_RATIO, check_voxels, two_phase_fractions, two_phase_stiffness

_REDUCTIONS = ("none", "sum", "mean")


def _is_scalar(x) -> bool:
    return not isinstance(x, torch.Tensor) or x.dim() == 0


def _reject_shape(shape) -> None:
    if shape is not None:
        raise ValueError(
            "shape=: parallelepiped cells need the shape-material transformation, which this "
            "version does not implement yet; pass shape=None (unit cube)")


class CellProblem:
    """Element matrices of two-phase periodic cells, held on one device and dtype.

    Build it once and reuse it in a training loop: nothing is recomputed per call.

    Args:
        n: voxels per edge (h = 1/n).
        E, nu, soft_ratio: base material; scalars or per-sample ``[B]`` tensors.
        shape: parallelepiped parameters (not yet supported: must be None).
        device, dtype: where and in which precision the ops run (float32 or float64).

    Attributes:
        C  ``[B|1, 2, 6, 6]`` phase stiffness (hard, soft);
        Ke ``[B|1, 2, 24, 24]``, Fe ``[B|1, 2, 24, 6]``, Ce ``[B|1, 2, 6, 6]`` element matrices
        (fem.element_matrices with h = 1/n), computed in float64 then cast.
    """

    def __init__(self, n: int, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None,
                 device=None, dtype=torch.float32):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        _reject_shape(shape)
        self.n, self.dtype = n, dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        C = two_phase_stiffness(E, nu, soft_ratio, dtype=torch.float64)  # [2, 6, 6] or [B, 2, 6, 6]
        if C.dim() == 3:
            C = C.unsqueeze(0)
        Ke, Fe, Ce = fem.element_matrices(C, 1.0 / n)
        self.batch = C.shape[0]  # 1 = shared by every sample
        self.C = C.to(self.device, dtype)
        self.Ke = Ke.to(self.device, dtype).contiguous()
        self.Fe = Fe.to(self.device, dtype).contiguous()
        self.Ce = Ce.to(self.device, dtype).contiguous()

    # -- inputs ------------------------------------------------------------------------
    def phases(self, vox) -> torch.Tensor:
        """Phase fractions ``[B, 2, n, n, n]`` = (vox, 1 - vox) on the problem's device/dtype."""
        vox = check_voxels(vox)
        if vox.shape[-1] != self.n:
            raise ValueError(f"vox has n = {vox.shape[-1]}, but this CellProblem was built for n = {self.n}")
        if self.batch != 1 and vox.shape[0] != self.batch:
            raise ValueError(f"vox has batch {vox.shape[0]}, but the per-sample materials have batch {self.batch}")
        return two_phase_fractions(vox.to(self.device), self.dtype).contiguous()

    def displacements(self, u: torch.Tensor, B: int | None = None) -> torch.Tensor:
        """Accept ``[B, 6, 3, n, n, n]`` or the network layout ``[B, 18, n, n, n]``; returns the former."""
        if not isinstance(u, torch.Tensor):
            raise ValueError(f"u must be a torch.Tensor, got {type(u).__name__}")
        n = self.n
        if u.dim() == 5 and u.shape[1] == 18 and tuple(u.shape[2:]) == (n, n, n):
            u = u.reshape(u.shape[0], 6, 3, n, n, n)
        if u.dim() != 6 or tuple(u.shape[1:]) != (6, 3, n, n, n):
            raise ValueError(f"u must be [B, 6, 3, {n}, {n}, {n}] or [B, 18, {n}, {n}, {n}], got shape {tuple(u.shape)}")
        if B is not None and u.shape[0] != B:
            raise ValueError(f"u has batch {u.shape[0]} but vox has batch {B}")
        if u.dtype != self.dtype or u.device != self.device:
            raise ValueError(f"u must be {self.dtype} on {self.device} (the CellProblem's), got {u.dtype} on {u.device}")
        return u

    # -- ops ---------------------------------------------------------------------------
    def energy_loss(self, u: torch.Tensor, vox, reduction: str = "mean") -> torch.Tensor:
        """Potential energies of the six load cases (CONVENTIONS 'label-free loss').

        Returns ``[B, 6]`` for ``reduction="none"`` (L_i = u_i^T K u_i / 2 - u_i^T f_i, unit-cube
        volume); for ``"sum"`` the total over batch and load cases; for ``"mean"`` the batch
        mean of the per-sample loss L = sum_i L_i. Differentiable w.r.t. u (and vox)."""
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        per = ops.energy(u.contiguous(), phase, self.Ke, self.Fe)
        if reduction == "none":
            return per
        if reduction == "sum":
            return per.sum()
        return per.sum(dim=1).mean() if per.shape[0] else per.sum()

    def homogenized_tensor(self, u: torch.Tensor, vox) -> torch.Tensor:
        """C^H ``[B, 6, 6]`` from the energy form (CONVENTIONS) for displacements u.

        Exact at the solution of K u = f; for any other periodic u the diagonal is an upper
        bound. Differentiable w.r.t. u and vox (design sensitivities)."""
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        return ops.homogenized_sum(u.contiguous(), phase, self.Ke, self.Fe, self.Ce)

    def stiffness_apply(self, u: torch.Tensor, vox) -> torch.Tensor:
        """K u ``[B, L, 3, n, n, n]`` for any number of load cases L."""
        phase = self.phases(vox)
        return ops.stiffness_apply(u.contiguous(), phase, self.Ke)

    def load_vectors(self, vox) -> torch.Tensor:
        """f ``[B, 6, 3, n, n, n]`` of the six unit macroscopic strains."""
        return ops.load_vectors(self.phases(vox), self.Fe)

    def residual(self, u: torch.Tensor, vox) -> torch.Tensor:
        """K u_i - f_i ``[B, 6, 3, n, n, n]`` (one fused pass)."""
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        return ops.residual(u.contiguous(), phase, self.Ke, self.Fe)

    def element_fields(self, u: torch.Tensor, vox, macro_strain=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Voxel-average strain and stress (Voigt, engineering shears).

        Without ``macro_strain``: all six load cases, ``[B, 6, 6, n, n, n]`` each (load case,
        component, grid). With ``macro_strain`` ``[6]`` or ``[B, 6]``: the superposed field
        eps = sum_i E_i (e_i - B u_i), ``[B, 6, n, n, n]`` each."""
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        B = u.shape[0]
        if macro_strain is None:
            macro = torch.eye(6, dtype=self.dtype, device=self.device).expand(B, 6, 6).contiguous()
            return ops.element_fields(u.contiguous(), phase, self.C, macro)
        E = torch.as_tensor(macro_strain, dtype=self.dtype, device=self.device)
        if E.shape == (6,):
            E = E.expand(B, 6)
        if E.shape != (B, 6):
            raise ValueError(f"macro_strain must be [6] or [{B}, 6], got shape {tuple(E.shape)}")
        u_E = torch.einsum("bi,bicxyz->bcxyz", E, u).unsqueeze(1).contiguous()
        eps, sig = ops.element_fields(u_E, phase, self.C, E.unsqueeze(1).contiguous())
        return eps[:, 0], sig[:, 0]


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 16


def _problem_for(n: int, E, nu, soft_ratio, shape, device, dtype) -> CellProblem:
    """CellProblem for scalar materials is cached (keyed by value), so the functional API
    recomputes nothing in a loop; per-sample tensors build a fresh one (cheap: B x 2 small
    matrices)."""
    _reject_shape(shape)
    if all(_is_scalar(x) for x in (E, nu, soft_ratio)):
        key = (n, float(E), float(nu), float(soft_ratio), str(device), dtype)
        prob = _CACHE.get(key)
        if prob is None:
            prob = CellProblem(n, E=float(E), nu=float(nu), soft_ratio=float(soft_ratio), device=device, dtype=dtype)
            _CACHE[key] = prob
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
        return prob
    return CellProblem(n, E=E, nu=nu, soft_ratio=soft_ratio, device=device, dtype=dtype)


def _u_meta(u) -> tuple[int, torch.device, torch.dtype]:
    if not isinstance(u, torch.Tensor):
        raise ValueError(f"u must be a torch.Tensor, got {type(u).__name__}")
    if u.dim() not in (5, 6) or u.shape[-1] < 1:
        raise ValueError(f"u must be [B, 6, 3, n, n, n] or [B, 18, n, n, n], got shape {tuple(u.shape)}")
    if u.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"u must be float32 or float64, got {u.dtype}")
    return u.shape[-1], u.device, u.dtype


def energy_loss(u: torch.Tensor, vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None,
                reduction: str = "mean") -> torch.Tensor:
    """Label-free PH-Net loss: potential energy of the six displacement fields.

    Args:
        u: ``[B, 6, 3, n, n, n]`` or ``[B, 18, n, n, n]`` (float32/float64, CPU/CUDA).
        vox: ``[B, n, n, n]`` (or ``[n, n, n]`` for B = 1) in [0, 1], 1 = hard phase.
        E, nu, soft_ratio: scalars or per-sample ``[B]`` tensors.
        shape: parallelepiped parameters (not yet supported; None = unit cube).
        reduction: ``"none"`` -> ``[B, 6]`` energies L_i = u_i^T K u_i / 2 - u_i^T f_i;
            ``"sum"`` -> their total; ``"mean"`` -> batch mean of L = sum_i L_i.
    Differentiable w.r.t. u (fused backward K u - f) and vox.
    """
    n, device, dtype = _u_meta(u)
    return _problem_for(n, E, nu, soft_ratio, shape, device, dtype).energy_loss(u, vox, reduction)


def homogenized_tensor(u: torch.Tensor, vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO,
                       shape=None) -> torch.Tensor:
    """Homogenized stiffness ``[B, 6, 6]`` (energy form, Voigt) from displacements u.

    Same arguments as ``energy_loss``. Exact at the FE solution; differentiable w.r.t. u and vox.
    """
    n, device, dtype = _u_meta(u)
    return _problem_for(n, E, nu, soft_ratio, shape, device, dtype).homogenized_tensor(u, vox)
