"""Two-phase cells: the element matrices of a material family, precomputed once, and the
user-facing ``energy_loss`` / ``homogenized_tensor`` built on the custom ops.

Conventions (docs/conventions.md): voxel arrays ``[B, n, n, n]`` in [0, 1] over the unit
cube (h = 1/n, |Omega| = 1), 1 = hard phase C(E, nu), 0 = soft phase C(soft_ratio E, nu);
displacements ``[B, 6, 3, n, n, n]`` (or the network's ``[B, 18, n, n, n]``), load case i =
unit macroscopic strain e_i in Voigt order [xx, yy, zz, yz, xz, xy].

Parallelepiped cells (``shape=``, docs/conventions.md "Parallelepiped cells", this library's parameter
convention - see ``shapes.from_reference_convention`` for the reference method's) are handled by
the shape-material transformation (``shapes.strain_map``): the problem is posed on the reference
cube with the per-phase material C_hat = M^-T C M^-1, where M = strain_map(J) is built from the
lattice matrix J scaled to unit volume (``shapes.unit_volume``). The cube's load case i (unit
cube strain e_i) is then the physical macroscopic strain M^-1 e_i of the cell, and the cube
displacement u_hat_i is the physical fluctuation w_i(x) = J^-T u_hat_i(J^-1 x). Homogenized
tensors are returned for the cell in the global basis (C^H_Q = M^T C_hat^H M).
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from . import fem, ops, shapes
from ._checks import device as check_device
from ._checks import positive_int
from .conventions import DEFAULT_SOFT_RATIO
from .linalg.krylov import block_jacobi_cg
from .materials import check_voxels, cube_materials

_REDUCTIONS = ("none", "sum", "mean")


def _is_scalar(x) -> bool:
    return not isinstance(x, torch.Tensor) or x.dim() == 0


class CellProblem:
    """Element matrices of two-phase periodic cells, held on one device and dtype.

    Build it once and reuse it in a training loop: nothing is recomputed per call.

    Args:
        n: voxels per edge (h = 1/n).
        E, nu, soft_ratio: base material; scalars or per-sample ``[B]`` tensors.
        shape: None (unit cube); parallelepiped parameters
            ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)`` (degrees; lengths in any unit, only
            their ratios matter), ``[6]`` shared or ``[B, 6]`` per sample (this library's
            convention); or a lattice matrix ``[3, 3]`` / ``[B, 3, 3]`` whose columns are the
            lattice vectors in the global frame (any cell in any orientation; C^H is reported
            in that frame). The reference method's cells: ``shapes.reference_code_lattice``
            (what its published code computes) or ``shapes.reference_paper_lattice``.
            Invalid shapes raise ValueError.
        device, dtype: where and in which precision the ops run (float32 or float64).

    Attributes:
        C     ``[B|1, 2, 6, 6]`` physical phase stiffness (hard, soft) in the global frame;
        C_hat ``[B|1, 2, 6, 6]`` cube material M^-T C M^-1 of each phase (= C for shape None),
              so every voxel is still a two-phase mixture vox C_hat[0] + (1 - vox) C_hat[1];
        J     ``[B|1, 3, 3]`` lattice matrix scaled to unit volume (identity for shape None);
        M     ``[B|1, 6, 6]`` strain map of J (eps_hat = M eps; identity for shape None);
        shape None, or the validated cell as given: parameters ``[B|1, 6]`` or a lattice
              ``[B|1, 3, 3]`` (float64, CPU);
        soft_ratio ``[B|1]`` the soft phase's share of the hard phase's stiffness (float64, CPU);
        Ke ``[B|1, 1, 24, 24]``, Fe ``[B|1, 1, 24, 6]``, Ce ``[B|1, 1, 6, 6]`` element matrices
        of the HARD phase's C_hat (fem.element_matrices with h = 1/n), computed in float64 then
        cast. One matrix serves both phases: they share nu, so C_soft = soft_ratio C_hard, and the
        element matrices are linear in C (also after the shape transform), so voxel e's matrices
        are rho_e Ke with rho_e = vox_e + soft_ratio (1 - vox_e) (``phases``). The ops then blend
        one matrix instead of two and take their Walsh-basis path (csrc/walsh_math.h).
    """

    def __init__(self, n: int, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None,
                 device=None, dtype=torch.float32):
        n = positive_int(n, "n")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.n, self.dtype = n, dtype
        self.device = check_device(device) or torch.device("cpu")
        C, C_hat, J, M, self.shape = cube_materials(E, nu, soft_ratio, shape)
        # The hard phase's matrices only: the soft phase's are soft_ratio times them (class docstring).
        Ke, Fe, Ce = fem.element_matrices(C_hat[:, :1], 1.0 / n)
        self.batch = C_hat.shape[0]  # 1 = shared by every sample
        ratio = torch.as_tensor(soft_ratio, dtype=torch.float64).reshape(-1).cpu()  # validated by cube_materials
        self.soft_ratio = ratio
        self._ratio = ratio.to(self.device, dtype).reshape(-1, 1, 1, 1, 1)  # [B|1, 1, 1, 1, 1]
        self.C = C.to(self.device, dtype)
        self.C_hat = C_hat.to(self.device, dtype).contiguous()
        self.J = J.to(self.device, dtype)
        self.M = M.to(self.device, dtype)
        self._M_inv = torch.linalg.inv(M).to(self.device, dtype)
        self.Ke = Ke.to(self.device, dtype).contiguous()
        self.Fe = Fe.to(self.device, dtype).contiguous()
        self.Ce = Ce.to(self.device, dtype).contiguous()
        self._C_op = self.C[:, :1].contiguous()  # [B|1, 1, 6, 6] hard phase, for the ops with rho
        self._C_hat_op = self.C_hat[:, :1].contiguous()

    def recover(self, CH_hat: torch.Tensor) -> torch.Tensor:
        """C^H of the cell in the global basis from the cube's: M^T CH_hat M, ``[B, 6, 6]``.

        ``CH_hat`` ``[B, 6, 6]`` is the homogenized tensor of the cube problem (e.g.
        ``ops.homogenized_tensor`` with this problem's Ke/Fe/Ce at the solution, |P| = 1). Returned
        unchanged for shape None; otherwise in CH_hat's dtype and device, differentiable."""
        if self.shape is None:
            return CH_hat
        return shapes.recover_stiffness(CH_hat, self.M)

    def voigt_bound(self, vox) -> torch.Tensor:
        """The Voigt bound ``[B, 6, 6]`` of the cells' C^H: the volume average vf C_hard +
        (1 - vf) C_soft of the physical phases (global frame; an affine cell map keeps volume
        fractions). C^H <= Voigt in the Loewner order at the FE solution; an approximate field
        (a network's) can exceed it, which is a sign that the field is far off."""
        rho = self.phases(vox)  # [B, 1, n, n, n]: the stiffness of each voxel in units of C_hard
        frac = rho.mean(dim=(2, 3, 4))  # [B, 1] = vf + soft_ratio (1 - vf)
        return torch.einsum("bm,bmpq->bpq", frac, self.C[:, :1].expand(frac.shape[0], 1, 6, 6))

    # -- inputs ------------------------------------------------------------------------
    def phases(self, vox) -> torch.Tensor:
        """The ops' phase input ``[B, 1, n, n, n]``: each voxel's stiffness in units of the hard
        phase, rho = vox + soft_ratio (1 - vox), on the problem's device and dtype (the one-matrix
        form of the two-phase mixture, class docstring). Differentiable w.r.t. vox."""
        vox = check_voxels(vox)
        if vox.shape[-1] != self.n:
            raise ValueError(f"vox has n = {vox.shape[-1]}, but this CellProblem was built for n = {self.n}")
        if self.batch != 1 and vox.shape[0] != self.batch:
            raise ValueError(f"vox has batch {vox.shape[0]}, but the per-sample materials have batch {self.batch}")
        v = vox.to(self.device, self.dtype)
        return torch.lerp(self._ratio, torch.ones_like(self._ratio), v.unsqueeze(1)).contiguous()

    def displacements(self, u: torch.Tensor, B: int | None = None, name: str = "u") -> torch.Tensor:
        """Accept ``[B, 6, 3, n, n, n]`` or the network layout ``[B, 18, n, n, n]``; returns the former.
        ``name`` is the argument's name in the error messages (``u``, ``x0``, ...)."""
        if not isinstance(u, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(u).__name__}")
        n = self.n
        if u.dim() == 5 and u.shape[1] == 18 and tuple(u.shape[2:]) == (n, n, n):
            u = u.reshape(u.shape[0], 6, 3, n, n, n)
        if u.dim() != 6 or tuple(u.shape[1:]) != (6, 3, n, n, n):
            raise ValueError(f"{name} must be [B, 6, 3, {n}, {n}, {n}] or [B, 18, {n}, {n}, {n}] (n of the cells), "
                             f"got shape {tuple(u.shape)}")
        if B is not None and u.shape[0] != B:
            raise ValueError(f"{name} has batch {u.shape[0]} but vox has batch {B}")
        if u.dtype != self.dtype or u.device != self.device:
            raise ValueError(f"{name} must be {self.dtype} on {self.device} (the CellProblem's), "
                             f"got {u.dtype} on {u.device}")
        return u

    # -- ops ---------------------------------------------------------------------------
    def energy_loss(self, u: torch.Tensor, vox, reduction: str = "mean") -> torch.Tensor:
        """Potential energies of the six load cases (docs/conventions.md 'label-free loss').

        Returns ``[B, 6]`` for ``reduction="none"`` (L_i = u_i^T K u_i / 2 - u_i^T f_i, unit-cube
        volume); for ``"sum"`` the total over batch and load cases; for ``"mean"`` the batch
        mean of the per-sample loss L = sum_i L_i. Differentiable w.r.t. u (and vox).

        Parallelepiped cells: K and f are those of the cube with C_hat (u = cube displacements,
        load case i = unit cube strain e_i). Since |P| = 1 and dx = |det J| dxi, L_i equals the
        physical potential energy per unit cell volume, (1/|Q|) int_Q ..., of the fluctuation
        w_i(x) = J^-T u_i(J^-1 x) under the physical macroscopic strain M^-1 e_i - the factor
        between the cube energy and the cell's total energy is |Q| = |det J|, which is 1 here
        because J is scaled to unit volume. So the identity C_hat^H_ii(u) = C_hat_vol_ii + 2 L_i(u)
        of the cube holds for every shape, the minimizer is the FE solution for every shape,
        and the loss does not depend on the cell's overall scale (the unit cube in any size
        gives exactly the shape=None loss)."""
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        per = ops.energy_loss(u.contiguous(), phase, self.Ke, self.Fe)
        if reduction == "none":
            return per
        if reduction == "sum":
            return per.sum()
        return per.sum(dim=1).mean() if per.shape[0] else per.sum()

    def homogenized_tensor(self, u: torch.Tensor, vox) -> torch.Tensor:
        """C^H ``[B, 6, 6]`` from the energy form (docs/conventions.md) for displacements u.

        Exact at the solution of K u = f; for any other periodic u the diagonal is an upper
        bound (for parallelepipeds: the diagonal of the cube tensor, and every quadratic form
        eps^T C^H_Q eps). Differentiable w.r.t. u and vox (design sensitivities).
        Parallelepiped cells: u are the cube displacements; the cube's C_hat^H is recovered to
        the cell's C^H_Q = M^T C_hat^H M in the global (x, y, z) Voigt basis (``recover``)."""
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        return self.recover(ops.homogenized_tensor(u.contiguous(), phase, self.Ke, self.Fe, self.Ce))

    def stiffness_apply(self, u: torch.Tensor, vox) -> torch.Tensor:
        """K u ``[B, L, 3, n, n, n]`` for any number of load cases L (cube K, with C_hat)."""
        phase = self.phases(vox)
        return ops.stiffness_apply(u.contiguous(), phase, self.Ke)

    def load_vectors(self, vox) -> torch.Tensor:
        """f ``[B, 6, 3, n, n, n]`` of the six unit macroscopic strains (cube strains e_i; for a
        parallelepiped the physical macroscopic strains M^-1 e_i)."""
        return ops.load_vectors(self.phases(vox), self.Fe)

    def block_jacobi_cg(self, u: torch.Tensor, vox, steps: int) -> torch.Tensor:
        """``steps`` block-Jacobi-preconditioned CG iterations on K u_i = f_i from u
        ``[B, 6, 3, n, n, n]`` (PH-Net's physics output stage, ``linalg.krylov.block_jacobi_cg``):
        zero-mean, energy never higher than u's, differentiable w.r.t. u."""
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        return block_jacobi_cg(u, phase, self.Ke, ops.load_vectors(phase, self.Fe), steps)

    def residual(self, u: torch.Tensor, vox) -> torch.Tensor:
        """K u_i - f_i ``[B, 6, 3, n, n, n]`` (one fused pass)."""
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        return ops.residual(u.contiguous(), phase, self.Ke, self.Fe)

    def element_fields(self, u: torch.Tensor, vox, macro_strain=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Voxel-average strain and stress (Voigt, engineering shears) in the global frame.

        Without ``macro_strain``: the six unit macroscopic strains e_i, ``[B, 6, 6, n, n, n]``
        each (load case, component, grid). With ``macro_strain`` ``[6]`` or ``[B, 6]``: the
        superposed field under that macroscopic strain, ``[B, 6, n, n, n]`` each.

        Unit cube: eps = sum_i E_i (e_i - B u_i), sigma = C_e eps. Parallelepiped cells: the
        macroscopic strains E are PHYSICAL (global frame), u the cube displacements. The cube
        problem is loaded by E_hat = M E (fluctuation sum_i E_hat_i u_i), and its voxel
        averages are mapped back: eps = M^-1 eps_hat, sigma = M^T sigma_hat (= C_e eps). They
        are the averages over the voxel's image in the cell (an affine image, so averages are
        preserved); the volume average of eps is E, and at the solution that of sigma is C^H_Q E.
        """
        phase = self.phases(vox)
        u = self.displacements(u, phase.shape[0])
        B = u.shape[0]
        if macro_strain is None:
            E = torch.eye(6, dtype=self.dtype, device=self.device).expand(B, 6, 6)
        else:
            E = torch.as_tensor(macro_strain, dtype=self.dtype, device=self.device)
            if E.shape == (6,):
                E = E.expand(B, 6)
            if E.shape != (B, 6):
                raise ValueError(f"macro_strain must be [6] or [{B}, 6], got shape {tuple(E.shape)}")
            if not torch.isfinite(E).all():
                raise ValueError("macro_strain must be finite, got NaN or inf entries")
            E = E.unsqueeze(1)  # [B, 1, 6]
        if self.shape is None:
            if macro_strain is None:
                return ops.element_fields(u.contiguous(), phase, self._C_op, E.contiguous())
            u_E = torch.einsum("bli,bicxyz->blcxyz", E, u).contiguous()
            eps, sig = ops.element_fields(u_E, phase, self._C_op, E.contiguous())
            return eps[:, 0], sig[:, 0]
        M = self.M.expand(B, 6, 6)
        E_hat = torch.einsum("bpq,blq->blp", M, E).contiguous()  # cube macro strains
        u_E = torch.einsum("bli,bicxyz->blcxyz", E_hat, u).contiguous()
        eps_hat, sig_hat = ops.element_fields(u_E, phase, self._C_hat_op, E_hat)
        eps = torch.einsum("bpq,blqxyz->blpxyz", self._M_inv.expand(B, 6, 6), eps_hat)
        sig = torch.einsum("bqp,blqxyz->blpxyz", M, sig_hat)
        if macro_strain is not None:
            return eps[:, 0], sig[:, 0]
        return eps, sig


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 16


def cached_problem(n: int, E, nu, soft_ratio, shape, device, dtype) -> CellProblem:
    """CellProblem for scalar materials and no or one shared shape is cached (keyed by value,
    shape included), so the functional API recomputes nothing in a loop; per-sample materials or
    shapes build a fresh one (cheap: B x 2 small matrices)."""
    cell = None if shape is None else shapes.cell_shape(shape)
    if all(_is_scalar(x) for x in (E, nu, soft_ratio)) and shapes.shape_batch(cell) is None:
        shape_key = None if cell is None else (tuple(cell.shape), tuple(cell.flatten().tolist()))
        key = (n, float(E), float(nu), float(soft_ratio), shape_key, str(device), dtype)
        prob = _CACHE.get(key)
        if prob is None:
            prob = CellProblem(n, E=float(E), nu=float(nu), soft_ratio=float(soft_ratio), shape=cell,
                               device=device, dtype=dtype)
            _CACHE[key] = prob
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
        return prob
    return CellProblem(n, E=E, nu=nu, soft_ratio=soft_ratio, shape=cell, device=device, dtype=dtype)


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
        shape: None (unit cube), ``(alpha_xy, alpha_yz, alpha_xz, l_x, l_y, l_z)`` (degrees,
            lengths), ``[6]`` or per-sample ``[B, 6]`` (this library's convention), or a lattice
            matrix ``[3, 3]`` / ``[B, 3, 3]`` (columns = lattice vectors in the global frame).
        reduction: ``"none"`` -> ``[B, 6]`` energies L_i = u_i^T K u_i / 2 - u_i^T f_i;
            ``"sum"`` -> their total; ``"mean"`` -> batch mean of L = sum_i L_i.
    Differentiable w.r.t. u (fused backward K u - f) and vox.

    Parallelepiped cells: u are displacements on the reference cube and K, f those of the cube
    with the transformed material C_hat (lattice matrix scaled to unit volume); L_i is the
    physical potential energy per unit cell volume of the fluctuation J^-T u_i(J^-1 x) under the
    physical macroscopic strain M^-1 e_i (see ``CellProblem.energy_loss``), so the loss is
    minimal at the FE solution for every shape and independent of the cell's overall scale.
    """
    n, device, dtype = _u_meta(u)
    return cached_problem(n, E, nu, soft_ratio, shape, device, dtype).energy_loss(u, vox, reduction)


def homogenized_tensor(u: torch.Tensor, vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO,
                       shape=None) -> torch.Tensor:
    """Homogenized stiffness ``[B, 6, 6]`` (energy form, Voigt) from displacements u.

    Same arguments as ``energy_loss``. Exact at the FE solution; differentiable w.r.t. u and vox.
    For a parallelepiped ``shape`` it is the cell's C^H_Q in the global (x, y, z) basis,
    recovered from the cube's as M^T C_hat^H M (u are the cube displacements).
    """
    n, device, dtype = _u_meta(u)
    return cached_problem(n, E, nu, soft_ratio, shape, device, dtype).homogenized_tensor(u, vox)
