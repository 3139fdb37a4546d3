"""Numerical homogenization: K u_i = f_i for the six unit macroscopic strains, solved matrix-free
by preconditioned conjugate gradients on the custom ops, all load cases and a whole batch at
once; C^H from the energy form (CONVENTIONS).

The rigid translation is removed by the zero-mean constraint: the right-hand sides, iterates
and preconditioned residuals are projected onto zero-mean fields per component, where K is
positive definite, so CG converges to the unique zero-mean solution.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from . import ops
from .materials import DEFAULT_SOFT_RATIO, check_voxels
from .problem import CellProblem

PRECONDITIONERS = ("multigrid", "jacobi", "none")


@dataclass
class HomogenizationResult:
    """Result of ``homogenize``.

    Attributes:
        CH: homogenized stiffness, ``[6, 6]`` for one cell ``[n, n, n]`` input, else ``[B, 6, 6]``.
        u: displacement fluctuations on the reference cube ``[B, 6, 3, n, n, n]`` (zero mean per
            component; for a parallelepiped, the load cases are the cube's unit strains).
        iterations: CG iterations done.
        residual: final relative residuals ||K u - f|| / ||f||, ``[B, 6]``.
        converged: True when every residual is <= tol.
        seconds: wall time of the solve.
        history: max relative residual after every iteration.
        deflated: bounded solid pieces whose rigid motions were deflated (summed over the batch).
    """

    CH: torch.Tensor
    u: torch.Tensor
    iterations: int
    residual: torch.Tensor
    converged: bool
    seconds: float = 0.0
    history: list = field(default_factory=list)
    deflated: int = 0


def _zero_mean(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=(3, 4, 5), keepdim=True)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per (sample, load case) inner products ``[B, L]`` (a batched BLAS dot: no temporary)."""
    B, L = a.shape[0], a.shape[1]
    return torch.einsum("bli,bli->bl", a.reshape(B, L, -1), b.reshape(B, L, -1))


def _offsets():
    return [(nd >> 2, (nd >> 1) & 1, nd & 1) for nd in range(8)]


def _assemble_blocks(blocks_per_voxel) -> torch.Tensor:
    """Nodal 3 x 3 diagonal blocks ``[B, n, n, n, 3, 3]`` from per-voxel element blocks:
    ``blocks_per_voxel(nd)`` -> ``[B, n, n, n, 3, 3]`` = the (nd, nd) block of each voxel's
    element matrix; node p collects it from the voxel of which it is local node nd."""
    total = None
    for nd, (a, b, c) in enumerate(_offsets()):
        part = torch.roll(blocks_per_voxel(nd), shifts=(a, b, c), dims=(1, 2, 3))
        total = part if total is None else total + part
    return total


def _invert_blocks(blocks: torch.Tensor) -> torch.Tensor:
    """Inverse nodal blocks ``[B, n, n, n, 3, 3]`` -> ``[B, 3, 3, n, n, n]`` (component-major, so
    applying them is nine broadcast multiply-adds over contiguous fields)."""
    return torch.linalg.inv(blocks).permute(0, 4, 5, 1, 2, 3).contiguous()


def spd_inverse(A: torch.Tensor) -> torch.Tensor:
    """Inverse of a batch of symmetric positive definite matrices ``[B, N, N]`` by Cholesky.

    Why not ``torch.linalg.inv``: on CPU, batched LU (getrf) of matrices larger than 128 x 128
    returns garbage or raises ("Parameter 6 was incorrect on entry to DLASWP") once
    ``torch.set_num_threads(k > 1)`` has been called (torch 2.13 with MKL; reproduced in
    ``python_tests/test_solver.py``). The batched Cholesky path is unaffected, and is the right
    factorisation for an SPD matrix anyway.

    A matrix that is only positive semi-definite up to rounding falls back to an
    eigendecomposition with |eigenvalue| (floored at eps * the largest): a float32 multigrid
    hierarchy at soft_ratio 1e-9 gives coarse matrices whose soft-phase eigenvalues (~1e-9 of the
    largest) come out slightly negative. Their magnitude is still right, so inverting |w| keeps
    the preconditioner symmetric positive definite and as strong as the exact inverse would be.
    """
    L, info = torch.linalg.cholesky_ex(A)
    if bool((info == 0).all()):
        # A^-1 = L^-T L^-1 from one batched triangular solve rather than torch.cholesky_inverse:
        # same result (to 1e-17) and time (48 matrices of 192 x 192 on 2 idle cores: 54 vs
        # 44 ms), but when other processes load the cores cholesky_inverse (MKL potri) slows
        # down 100x (5.0 s, then the largest part of the multigrid set-up), this only 8x (0.44 s).
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand_as(A)
        L_inv = torch.linalg.solve_triangular(L, eye, upper=False)
        return L_inv.transpose(-1, -2) @ L_inv
    w, V = torch.linalg.eigh(A)
    w = w.abs().clamp_min(w.abs().amax(dim=-1, keepdim=True) * torch.finfo(A.dtype).eps)
    return (V / w[..., None, :]) @ V.transpose(-1, -2)


def jacobi_blocks(phase: torch.Tensor, Ke: torch.Tensor) -> torch.Tensor:
    """Inverse 3 x 3 nodal diagonal blocks of K ``[B, 3, 3, n, n, n]`` for a phase mixture
    (phase ``[B, M, n, n, n]``, Ke ``[B|1, M, 24, 24]``)."""
    Kb = Ke.expand(phase.shape[0], *Ke.shape[1:])
    return _invert_blocks(_assemble_blocks(
        lambda nd: torch.einsum("bmxyz,bmij->bxyzij", phase, Kb[:, :, 3 * nd:3 * nd + 3, 3 * nd:3 * nd + 3])))


def _apply_blocks(inv: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """z = D^-1 r for r ``[B, L, 3, n, n, n]`` and inverse blocks ``[B, 3, 3, n, n, n]``."""
    inv = inv[:, None]  # broadcast over load cases
    return torch.stack([inv[:, :, i, 0] * r[:, :, 0] + inv[:, :, i, 1] * r[:, :, 1] + inv[:, :, i, 2] * r[:, :, 2]
                        for i in range(3)], dim=2)


# ----------------------------------------------------------------------------------- multigrid
FULL = (2, 2, 2)  # coarsening factors per axis: 2 = halve that axis, 1 = keep it (semi-coarsening)


def prolongate(xc: torch.Tensor, factors=FULL) -> torch.Tensor:
    """Periodic trilinear interpolation ``[B, L, 3, mx, my, mz]`` -> ``[B, L, 3, fx mx, ...]``:
    along every axis with factor 2, fine node 2I copies coarse node I and fine node 2I+1 averages
    I and I+1; axes with factor 1 are copied."""
    x = xc
    for dim, f in zip((3, 4, 5), factors):
        if f == 2:
            mid = 0.5 * (x + torch.roll(x, shifts=-1, dims=dim))
            x = torch.stack((x, mid), dim=dim + 1).flatten(dim, dim + 1)
    return x


def restrict(xf: torch.Tensor, factors=FULL) -> torch.Tensor:
    """Transpose of ``prolongate``: along every axis with factor 2, coarse I gathers fine 2I with
    weight 1 and fine 2I +- 1 with weight 1/2."""
    x = xf
    for dim, f in zip((3, 4, 5), factors):
        if f == 2:
            pairs = x.unflatten(dim, (x.shape[dim] // 2, 2))  # fine 2I, 2I+1 side by side
            ev, od = pairs.select(dim + 1, 0), pairs.select(dim + 1, 1)
            x = ev + 0.5 * (od + torch.roll(od, shifts=1, dims=dim))
    return x


def _child_offsets(factors) -> list[tuple[int, int, int]]:
    """Offsets of the children inside a coarse voxel, child q = (qa fy + qb) fz + qc."""
    return [(a, b, c) for a in range(factors[0]) for b in range(factors[1]) for c in range(factors[2])]


def _child_prolongation(dtype, device, factors=FULL) -> torch.Tensor:
    """P_q ``[children, 24, 24]``: fine element dofs of child q as (tri)linear combinations of
    the coarse element dofs (local numbering of fem.py). Along an axis with factor 1 the child
    spans the coarse element, so its nodes sit at the coarse nodes' coordinate (0 or 1)."""
    off = _offsets()
    kids = _child_offsets(factors)
    P = torch.zeros(len(kids), 24, 24, dtype=torch.float64)
    for q, qo in enumerate(kids):
        for nf, fo in enumerate(off):
            t = [(qo[d] + fo[d]) / 2.0 if factors[d] == 2 else float(fo[d]) for d in range(3)]
            for nc, co in enumerate(off):
                w = math.prod(t[d] if co[d] else 1 - t[d] for d in range(3))
                if w:
                    for comp in range(3):
                        P[q, 3 * nf + comp, 3 * nc + comp] = w
    return P.to(dtype=dtype, device=device)


def _children(field: torch.Tensor, factors=FULL) -> torch.Tensor:
    """Per-voxel data ``[B, nx, ny, nz, ...]`` -> ``[B, nx/fx, ny/fy, nz/fz, children, ...]``
    grouped by coarse voxel (child order of ``_child_offsets``)."""
    B, grid, rest = field.shape[0], field.shape[1:4], field.shape[4:]
    m = [g // f for g, f in zip(grid, factors)]
    x = field.reshape(B, m[0], factors[0], m[1], factors[1], m[2], factors[2], *rest)
    perm = (0, 1, 3, 5, 2, 4, 6) + tuple(range(7, 7 + len(rest)))
    return x.permute(perm).reshape(B, *m, math.prod(factors), *rest)


def axis_strength(Ke: torch.Tensor) -> torch.Tensor:
    """Coupling strength of the operator along each grid axis ``[B|1, 3]``: the element energy of
    the displacement modes that alternate in sign along that axis (one per component), summed
    over the phases (the stiff phase dominates). On a cube of an isotropic material the three
    are equal; a stretched or sheared cell (material C_hat = M^-T C M^-1) couples its short
    directions more strongly, which is what point smoothers cannot handle."""
    off = torch.tensor(_offsets(), dtype=Ke.dtype, device=Ke.device)  # [8, 3]
    modes = torch.zeros(3, 3, 8, 3, dtype=Ke.dtype, device=Ke.device)  # [axis, comp, node, comp]
    for d in range(3):
        for c in range(3):
            modes[d, c, :, c] = 1 - 2 * off[:, d]
    modes = modes.reshape(3, 3, 24)
    return torch.einsum("dcr,bmrs,dcs->bd", modes, Ke, modes)


COARSE_TARGET = 768  # unknowns below which the hierarchy stops once its strong axes are exhausted


def coarsening_plan(grid, strength, *, ratio: float | None = 2.0) -> list[tuple[int, int, int]]:
    """Coarsening factors per level for a grid ``(nx, ny, nz)`` with axis strengths ``[3]``.

    Each level halves the strong axes, those within ``ratio`` of the strongest (semi-coarsening:
    the others stay); halving an axis divides its strength by 4 (couplings go as 1/h^2), so a
    stretched cell is coarsened in its strong directions until it is isotropic, then fully.
    An axis can be halved while it is even and at least 8. When no strong axis can be halved, the
    other axes are halved until the grid has at most ``COARSE_TARGET`` unknowns (the exact
    coarse solve stays small). ``ratio=None``: always full coarsening."""
    grid, s = list(grid), [float(v) for v in strength]
    plan = []
    while True:
        top = max(s)
        can = [g % 2 == 0 and g >= 8 for g in grid]
        if ratio is None:
            if not all(can):
                return plan
            pick = can
        else:
            pick = [c and v * ratio >= top for c, v in zip(can, s)]
            if not any(pick):
                if 3 * math.prod(grid) <= COARSE_TARGET or not any(can):
                    return plan
                pick = can
        f = tuple(2 if p else 1 for p in pick)
        plan.append(f)
        grid = [g // k for g, k in zip(grid, f)]
        s = [v / 4 if k == 2 else v for v, k in zip(s, f)]


class _Level:
    """One grid of the hierarchy: operator, inverse nodal blocks, Chebyshev bounds."""

    def __init__(self, grid, apply, inv_blocks):
        self.grid = tuple(grid)  # (nx, ny, nz)
        self.apply = apply
        self.inv = inv_blocks
        self.lam_max = None

    def estimate_lam_max(self, B, L, dtype, device, iters=12):
        """Largest eigenvalue of D^-1 K by power iteration (random zero-mean start)."""
        g = torch.Generator(device="cpu").manual_seed(1234)
        x = _zero_mean(torch.randn(B, L, 3, *self.grid, generator=g, dtype=torch.float64).to(device=device, dtype=dtype))
        lam = torch.zeros((), dtype=dtype, device=device)
        for _ in range(iters):
            y = _zero_mean(_apply_blocks(self.inv, self.apply(x)))
            lam = torch.sqrt(_dot(y, y) / _dot(x, x).clamp_min(1e-300)).max()
            x = y / torch.sqrt(_dot(y, y)).clamp_min(1e-300)[..., None, None, None, None]
        self.lam_max = 1.1 * lam  # power iteration under-estimates: widen like PETSc's 1.1

    def chebyshev(self, b, x, degree):
        """``degree`` steps of Chebyshev-accelerated block Jacobi on K x = b targeting the
        eigenvalues of D^-1 K in [lam_max / 10, lam_max] (a symmetric, linear smoother)."""
        lam_max = self.lam_max
        lam_min = lam_max / 10.0
        theta, delta = 0.5 * (lam_max + lam_min), 0.5 * (lam_max - lam_min)
        sigma = theta / delta
        rho = 1.0 / sigma
        r = b if x is None else b - self.apply(x)
        d = _apply_blocks(self.inv, r) / theta
        x = d if x is None else x + d
        for _ in range(degree - 1):
            r = r - self.apply(d)
            rho_new = 1.0 / (2.0 * sigma - rho)
            d = rho_new * rho * d + (2.0 * rho_new / delta) * _apply_blocks(self.inv, r)
            rho = rho_new
            x = x + d
        return x


def _element_operator(KE: torch.Tensor, grid):
    """K x for per-voxel element matrices KE ``[B, E, 24, 24]`` on a grid ``(nx, ny, nz)``
    (coarse levels: at most 1/8 of the fine voxels, 1/4 or 1/2 under semi-coarsening): batched
    24 x 24 products between the roll gather/scatter."""
    from .reference import gather_elements, scatter_elements

    E = math.prod(grid)
    KE_flat = KE.reshape(-1, 24, 24)  # [B E, 24, 24]

    def apply(x):
        B, L = x.shape[0], x.shape[1]
        ue = gather_elements(x).reshape(B, L, E, 24).permute(0, 2, 3, 1).contiguous().reshape(B * E, 24, L)
        # One bmm of 24 x 24 by 24 x L per element, on contiguous [E, 24, L] blocks:
        # torch.einsum("bers,bles->bler"), or bmm on the strided view, computes the same about
        # thirty times slower on CPU (1.1 s against 38 ms for 16384 elements, L = 6).
        ye = torch.bmm(KE_flat, ue).reshape(B, E, 24, L).permute(0, 3, 1, 2)
        return scatter_elements(ye.reshape(B, L, *grid, 24))
    return apply


def _element_blocks(KE: torch.Tensor, grid) -> torch.Tensor:
    B = KE.shape[0]
    K5 = KE.reshape(B, *grid, 24, 24)
    return _invert_blocks(_assemble_blocks(lambda nd: K5[..., 3 * nd:3 * nd + 3, 3 * nd:3 * nd + 3]))


class MultigridPreconditioner:
    """Geometric multigrid V-cycle for the periodic voxel operator, used as the CG
    preconditioner.

    * Coarse operators are exact Galerkin products P^T K P with periodic trilinear P: since every
      fine voxel lies in one coarse voxel, P^T K P is again element-by-element, with coarse
      element matrices sum_q P_q^T K_child(q) P_q (first level: sum_m sum_q phase_m P_q^T Ke_m P_q).
      High-contrast cells (soft_ratio 1e-6) keep their stiff paths on every level, so the
      iteration count stays bounded.
    * Smoother: Chebyshev-accelerated 3 x 3 block Jacobi (degree ``smooth_degree``), symmetric.
    * Coarsening (``coarsening_plan``): all axes are halved together while n is even and >= 8
      (default). With ``semi_coarsening=r``, an anisotropic cell (a stretched or sheared
      parallelepiped: ``axis_strength`` of the element matrices differs by more than r between
      axes) has only its strongly coupled axes halved until the strengths even out, because a
      point smoother leaves error that is smooth along the strong axes and rough along the weak
      one, which a fully coarsened grid cannot represent. A batch shares one hierarchy: its plan
      follows the batch's geometric-mean strengths. Not the default: the non-cubic coarse
      levels are applied element by element (no custom op), which makes an iteration 1.5-3x
      dearer; it pays on smooth strongly stretched cells (a gyroid at aspect 4: 56 -> 15
      iterations, 2.2x faster) but not on trusses (octet: 0.75-0.85x; benchmarks/anisotropy.py).
    * The coarsest level is solved exactly (dense, zero-mean) when it has at most ``max_direct``
      unknowns, else by a longer Chebyshev sweep. Odd n gives a one-level (polynomial)
      preconditioner.
    """

    def __init__(self, phase: torch.Tensor, Ke: torch.Tensor, L: int, *, smooth_degree: int = 2,
                 max_direct: int = 3000, dtype: torch.dtype | None = None,
                 semi_coarsening: float | None = None):
        self.degree = smooth_degree
        if dtype is not None:  # e.g. a float32 hierarchy preconditioning a float64 CG
            phase, Ke = phase.to(dtype), Ke.to(dtype)
        self.dtype = phase.dtype
        B, n = phase.shape[0], phase.shape[-1]
        dtype, device = phase.dtype, phase.device
        strength = [1.0, 1.0, 1.0]  # full coarsening does not look at the strengths
        if semi_coarsening is not None:
            s = axis_strength(Ke.double())  # [B|1, 3]
            strength = torch.exp(torch.log(s / s.amax(dim=1, keepdim=True)).mean(dim=0)).tolist()
        self.plan = coarsening_plan((n, n, n), strength, ratio=semi_coarsening)
        fine_apply = lambda x: ops.stiffness_apply(x.contiguous(), phase, Ke)  # noqa: E731
        self.levels = [_Level((n, n, n), fine_apply, jacobi_blocks(phase, Ke))]
        grid, KE = (n, n, n), None
        for factors in self.plan:
            P = _child_prolongation(dtype, device, factors)
            coarse = tuple(g // f for g, f in zip(grid, factors))
            if KE is None:
                # First coarse level: still a phase mixture, with (children x M) phases (phase m
                # of child q) and element matrices P_q^T Ke_m P_q.
                Kb = Ke.expand(B, *Ke.shape[1:]) if Ke.shape[0] != 1 else Ke
                PKP = torch.einsum("qra,bmrs,qsc->bmqac", P, Kb, P)  # [B|1, M, children, 24, 24]
                PKP = (0.5 * (PKP + PKP.transpose(-1, -2))).reshape(PKP.shape[0], -1, 24, 24).contiguous()
                ph = _children(phase.permute(0, 2, 3, 4, 1), factors)  # [B, *coarse, children, M]
                phase1 = ph.transpose(4, 5).reshape(B, *coarse, -1).permute(0, 4, 1, 2, 3).contiguous()
                KE = torch.einsum("bpxyz,bpac->bxyzac", phase1, PKP.expand(B, *PKP.shape[1:])).reshape(B, -1, 24, 24)
                if factors == FULL:  # a cubic grid: the fast custom op applies the phase mixture
                    apply = (lambda p1, K1: (lambda x: ops.stiffness_apply(x.contiguous(), p1, K1)))(phase1, PKP)
                else:
                    apply = _element_operator(KE, coarse)
            else:
                kids = _children(KE.reshape(B, *grid, 24, 24), factors)  # [B, *coarse, children, 24, 24]
                KE = torch.einsum("qra,bxyzqrs,qsc->bxyzac", P, kids, P).reshape(B, -1, 24, 24)
                apply = _element_operator(KE, coarse)
            grid = coarse
            self.levels.append(_Level(grid, apply, _element_blocks(KE, grid)))
        for lev in self.levels:
            lev.estimate_lam_max(B, min(L, 2), dtype, device)
        coarse = self.levels[-1]
        self.direct = None
        nodes = math.prod(coarse.grid)
        N = 3 * nodes
        if len(self.levels) > 1 and N <= max_direct:
            eye = torch.eye(N, dtype=dtype, device=device).reshape(1, N, 3, *coarse.grid)
            K = coarse.apply(eye.expand(B, N, 3, *coarse.grid)).reshape(B, N, N)  # row l = K e_l
            # Zero-mean constraint: add a multiple of the projector onto constants per component.
            Z = torch.zeros(N, 3, dtype=dtype, device=device)
            for comp in range(3):
                Z[comp * nodes:(comp + 1) * nodes, comp] = 1.0 / math.sqrt(nodes)
            K = K.double()
            Z = Z.double()
            scale = torch.diagonal(K, dim1=1, dim2=2).mean(dim=1)[:, None, None]
            # Inverted in float64 whatever the hierarchy's precision: high-contrast coarse
            # matrices are too ill-conditioned for a float32 inverse.
            self.direct = spd_inverse(0.5 * (K + K.transpose(1, 2)) + scale * (Z @ Z.T))
        self.coarse_degree = 8

    @property
    def grids(self) -> list[tuple[int, int, int]]:
        """The grid ``(nx, ny, nz)`` of every level, finest first."""
        return [lev.grid for lev in self.levels]

    def _coarse_solve(self, b):
        lev = self.levels[-1]
        if self.direct is not None:
            B, L = b.shape[0], b.shape[1]
            flat = _zero_mean(b).reshape(B, L, -1).double()
            return _zero_mean(torch.einsum("bij,blj->bli", self.direct, flat).reshape(b.shape).to(b.dtype))
        return lev.chebyshev(b, None, self.coarse_degree)

    def _vcycle(self, k: int, b: torch.Tensor) -> torch.Tensor:
        if k == len(self.levels) - 1:
            return self._coarse_solve(b)
        lev, factors = self.levels[k], self.plan[k]
        x = lev.chebyshev(b, None, self.degree)
        r = b - lev.apply(x)
        x = x + prolongate(self._vcycle(k + 1, restrict(r, factors)), factors)
        return lev.chebyshev(b, x, self.degree)

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        return self._vcycle(0, r.to(self.dtype)).to(r.dtype)


# ----------------------------------------------------------------------------------- deflation
DEFLATE_AFTER = 40  # iterations of the plain solve before deflate='auto' steps in
MAX_DEFLATED_PIECES = 1024  # W^T K W is [6 C, 6 C] dense: 300 MB in float64 at the cap
_CORNERS = np.array([(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=np.int64)


def bounded_pieces(vox: torch.Tensor) -> list[list[np.ndarray]]:
    """``geometry.bounded_clusters`` of every cell of ``vox`` ``[B, n, n, n]`` (solid: > 0.5)."""
    from .geometry import bounded_clusters

    return [bounded_clusters(v, 0.5) for v in vox]


class RigidClusterDeflation:
    """Coarse correction Q r = W (W^T K W)^-1 W^T r on the rigid motions of the solid's bounded
    pieces (``geometry.bounded_clusters``).

    Why: on thin, under-resolved cells the solid splits into face-connected pieces that touch
    the rest only at voxel edges/corners (hinges) or not at all (floating in the soft phase).
    Each can move almost rigidly at the soft phase's energy (~soft_ratio), so K has up to six
    eigenvalues ~1e-6 per piece, which neither the smoother nor the trilinear coarse grids see:
    CG then spends about one iteration per such eigenvalue (a vf = 0.026 TG cell at n = 16
    with 23 bounded pieces: 229 iterations instead of ~20). W holds, per piece, its three
    translations and three rotations (about its centroid, in cube coordinates: the cube problem's
    zero-energy motions) on the piece's nodes; a node shared by k pieces gets weight 1/k, so the
    compatible mechanisms (piece A turning about a hinge node it shares with B) lie exactly in
    span W. ``combine`` wraps a preconditioner M (the V-cycle) into the balancing two-level
    preconditioner (I - Q K) M (I - K Q) + Q, symmetric positive definite like M. Periodic
    pieces (reaching their own image) have no rigid motion but the global translation and are
    left out.

    Args:
        vox: ``[B, n, n, n]`` cells (solid where vox > 0.5).
        phase: ``[B, M, n, n, n]`` phase fractions, Ke ``[B|1, M, 24, 24]``: the cube operator.
        max_clusters: a cell with more bounded pieces is not deflated at all (partial deflation
            can slow CG down; the dense W^T K W grows as (6 C)^2).
        pieces: per cell, ``bounded_pieces(vox)`` if already computed.
    """

    def __init__(self, vox: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor, *,
                 max_clusters: int = MAX_DEFLATED_PIECES, chunk: int = 48, pieces=None):
        n = self.n = phase.shape[-1]
        self.spaces = []  # per sample: None or (idx [nnz], cid [nnz], modes [nnz, 6, 3], C, Einv [6C, 6C])
        self.clusters = []
        for b, cell_pieces in enumerate(bounded_pieces(vox) if pieces is None else pieces):
            if len(cell_pieces) > max_clusters:
                # All or nothing: deflating only some of many pieces measurably slowed CG down
                # (lidinoid sheet, n = 32, vf 0.1: 64 of 672 pieces 307 iterations, none 210).
                cell_pieces = []
            self.clusters.append(len(cell_pieces))
            if not cell_pieces:
                self.spaces.append(None)
                continue
            space = self._space(cell_pieces, n, phase.dtype, phase.device)
            apply = lambda x, b=b: ops.stiffness_apply(  # noqa: E731
                x.contiguous(), phase[b:b + 1], Ke[b:b + 1] if Ke.shape[0] > 1 else Ke)
            E = self._galerkin(space, self._groups(cell_pieces, n), apply, chunk)
            self.spaces.append(space + (spd_inverse(0.5 * (E + E.T)[None])[0],))

    @staticmethod
    def _groups(pieces, n: int) -> list[np.ndarray]:
        """Pieces packed into groups whose K-supports (nodes within one voxel of a piece's
        nodes) do not overlap, greedily; per group an owner map ``[n^3]`` (piece or -1)."""
        reach = np.array([(a, b, c) for a in range(-1, 3) for b in range(-1, 3) for c in range(-1, 3)])
        groups = []
        for j, vox_ijk in enumerate(pieces):
            support = np.unique(np.ravel_multi_index(tuple(((vox_ijk[:, None] + reach[None]).reshape(-1, 3) % n).T),
                                                     (n, n, n)))
            for owner in groups:
                if (owner[support] < 0).all():
                    owner[support] = j
                    break
            else:
                owner = np.full(n ** 3, -1, dtype=np.int64)
                owner[support] = j
                groups.append(owner)
        return groups

    def _galerkin(self, space, groups, apply, chunk: int) -> torch.Tensor:
        """E = W^T K W ``[6C, 6C]`` with 6 stiffness products per group instead of per piece:
        K applied to the sum of a group's modes is, near each piece, K applied to that piece's
        mode alone (disjoint K-supports), so every entry of the product is owned by one piece."""
        idx, cid, modes, C = space
        dev = modes.device
        E = modes.new_zeros(C * 6, C * 6)
        # per group and entry: the group's piece whose K-support holds the entry's node (or -1)
        owner = torch.as_tensor(np.stack(groups), device=dev)[:, idx]  # [G, nnz]
        fields = []  # (group, mode) -> sum over the group's pieces of that rigid mode
        for g in range(len(groups)):
            in_group = (owner[g] == cid).to(modes.dtype)  # entries of pieces owned by group g
            for m in range(6):
                y = modes.new_zeros(1, C, 6)
                y[0, :, m] = 1.0
                fields.append(self._W(space, y.reshape(1, -1), entry_mask=in_group))
        fields = torch.cat(fields)  # [6G, 3, n, n, n]
        for a in range(0, fields.shape[0], chunk):
            KF = apply(fields[a:a + chunk][None])[0]  # [l, 3, n, n, n]
            for i in range(KF.shape[0]):
                g, m = divmod(a + i, 6)
                hit = owner[g] >= 0
                vals = torch.einsum("dk,kmd->km", KF[i].reshape(3, -1)[:, idx[hit]], modes[hit])  # [nnz', 6]
                rows = (cid[hit][:, None] * 6 + torch.arange(6, device=dev)).reshape(-1)
                cols = (owner[g][hit] * 6 + m)[:, None].expand(-1, 6).reshape(-1)
                E.index_put_((rows, cols), vals.reshape(-1), accumulate=True)
        return E

    @staticmethod
    def _space(pieces, n: int, dtype, device):
        idx, X, cid = [], [], []
        for j, vox_ijk in enumerate(pieces):
            nodes = np.unique((vox_ijk[:, None, :] + _CORNERS[None]).reshape(-1, 3), axis=0)
            idx.append(np.ravel_multi_index(tuple((nodes % n).T), (n, n, n)))
            X.append(nodes / n)  # unwrapped node positions, cube coordinates (h = 1 / n)
            cid.append(np.full(len(nodes), j))
        idx, X, cid = np.concatenate(idx), np.concatenate(X), np.concatenate(cid)
        C = len(pieces)
        weight = 1.0 / np.bincount(idx, minlength=n ** 3)[idx]
        centre = np.stack([np.bincount(cid, X[:, d], C) / np.bincount(cid, None, C) for d in range(3)], axis=1)
        X = X - centre[cid]
        modes = np.zeros((len(idx), 6, 3))
        modes[:, [0, 1, 2], [0, 1, 2]] = 1.0  # translations
        for a in range(3):  # rotation about axis a: e_a x X
            modes[:, 3 + a] = np.cross(np.eye(3)[a], X)
        modes *= weight[:, None, None]
        to = lambda x, dt: torch.as_tensor(x, dtype=dt, device=device)  # noqa: E731
        return to(idx, torch.long), to(cid, torch.long), to(modes, dtype), C

    def _WT(self, space, r: torch.Tensor) -> torch.Tensor:
        """W^T r: ``[L, 3, n, n, n]`` -> ``[L, 6C]``."""
        idx, cid, modes, C = space[:4]
        L = r.shape[0]
        per_entry = torch.einsum("ldk,kmd->lkm", r.reshape(L, 3, -1)[:, :, idx], modes)  # [L, nnz, 6]
        return r.new_zeros(L, C, 6).index_add_(1, cid, per_entry).reshape(L, 6 * C)

    def _W(self, space, y: torch.Tensor, entry_mask: torch.Tensor | None = None) -> torch.Tensor:
        """W y: ``[L, 6C]`` -> ``[L, 3, n, n, n]`` (``entry_mask`` ``[nnz]`` weights the entries)."""
        idx, cid, modes, C = space[:4]
        L, n = y.shape[0], self.n
        if entry_mask is not None:
            modes = modes * entry_mask[:, None, None]
        vals = torch.einsum("lkm,kmd->ldk", y.reshape(L, C, 6)[:, cid], modes)  # [L, 3, nnz]
        return y.new_zeros(L, 3, n ** 3).index_add_(2, idx, vals).reshape(L, 3, n, n, n)

    def combine(self, precondition, apply_K):
        """The balancing (BNN-type) two-level preconditioner (I - Q K) M (I - K Q) + Q around a
        preconditioner M: symmetric positive definite like M, two extra stiffness products per
        application. The additive M + Q is cheaper but over-corrects where M already works
        (lidinoid sheet: 372 iterations against 210 undeflated; balanced: 62)."""
        def balanced(r):
            qr = self(r)
            y = precondition(r - apply_K(qr))
            return y - self(apply_K(y)) + qr
        return balanced

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        """Q r for residuals ``[B, L, 3, n, n, n]`` (zero for cells without bounded pieces)."""
        z = torch.zeros_like(r)
        for b, space in enumerate(self.spaces):
            if space is not None:
                rb = r[b].to(space[2].dtype)
                z[b] = self._W(space, self._WT(space, rb) @ space[4].T).to(r.dtype)
        return z


def pcg(apply_K, f: torch.Tensor, precondition, *, x0=None, tol=1e-8, max_iter=1000):
    """Batched preconditioned CG on zero-mean fields; every (sample, load) system has its own
    step sizes. The flexible (Polak-Ribiere) update of the search direction keeps it robust when
    the preconditioner is applied in lower precision. Returns (x, iterations, relative residual
    [B, L], history of the max relative residual)."""
    f = _zero_mean(f)
    f_norm = torch.sqrt(_dot(f, f)).clamp_min(torch.finfo(f.dtype).tiny)
    x = torch.zeros_like(f) if x0 is None else _zero_mean(x0.to(f).clone())
    r = f - apply_K(x) if x0 is not None else f.clone()
    r = _zero_mean(r)
    z = _zero_mean(precondition(r))
    p = z.clone()
    rz = _dot(r, z)
    rel = torch.sqrt(_dot(r, r)) / f_norm
    history = [float(rel.detach().max())]
    it = 0
    ones = torch.ones_like(rz)
    while it < max_iter and float(rel.detach().max()) > tol:
        Ap = apply_K(p)
        pAp = _dot(p, Ap)
        active = rel > tol
        alpha = torch.where(active & (pAp > 0), rz / torch.where(pAp > 0, pAp, ones), torch.zeros_like(rz))
        x = x + alpha[..., None, None, None, None] * p
        r_old = r
        r = r - alpha[..., None, None, None, None] * Ap
        z = _zero_mean(precondition(r))
        rz_new = _dot(r, z)
        beta = torch.where(rz != 0, (rz_new - _dot(z, r_old)) / torch.where(rz != 0, rz, ones), torch.zeros_like(rz))
        p = z + beta[..., None, None, None, None] * p
        rz = rz_new
        rel = torch.sqrt(_dot(r, r)) / f_norm
        it += 1
        history.append(float(rel.detach().max()))
    return _zero_mean(x), it, rel, history


def block_jacobi_cg(u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor, f: torch.Tensor,
                    steps: int) -> torch.Tensor:
    """``steps`` iterations of block-Jacobi-preconditioned CG on K u = f started from ``u``.

    PH-Net's physics output stage (``PHNetConfig.cg_steps``): u ``[B, L, 3, n, n, n]`` (any
    field, e.g. the network's), phase ``[B, M, n, n, n]``, Ke ``[B|1, M, 24, 24]``, f like u.
    A fixed number of steps, no tolerance: every step costs one stiffness product and 3 x 3
    block solves, with no set-up beyond inverting the nodal blocks (the multigrid of
    ``homogenize`` needs a Galerkin hierarchy first). Returns the zero-mean iterate; the energy
    never increases, so the energy form of C^H keeps its upper bounds. Differentiable with
    respect to ``u`` (the training back-propagates through the steps). ``steps = 0`` returns
    ``u`` projected to zero mean.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if u.shape != f.shape:
        raise ValueError(f"u {tuple(u.shape)} and f {tuple(f.shape)} must have the same shape [B, L, 3, n, n, n]")
    if steps == 0:
        return _zero_mean(u)
    inv = jacobi_blocks(phase, Ke)  # [B, 3, 3, n, n, n]; depends on the material only
    x, *_ = pcg(lambda v: ops.stiffness_apply(v.contiguous(), phase, Ke), f, lambda r: _apply_blocks(inv, r),
                x0=u, tol=0.0, max_iter=int(steps))
    return x


def homogenize(vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO, shape=None, tol: float = 1e-8,
               max_iter: int | None = None, device=None, dtype=torch.float64, x0=None,
               preconditioner: str = "multigrid", deflate: bool | str = "auto",
               semi_coarsening: float | None = None) -> HomogenizationResult:
    """Homogenized stiffness of periodic two-phase voxel cells by matrix-free PCG.

    Args:
        vox: ``[n, n, n]`` or ``[B, n, n, n]`` (numpy or torch) in [0, 1], 1 = hard phase.
        E, nu, soft_ratio: base material, scalars or per-sample ``[B]``.
        shape: parallelepiped parameters (alpha_xy, alpha_yz, alpha_xz in degrees, l_x, l_y, l_z;
            CONVENTIONS), ``[6]`` or per-sample ``[B, 6]``; None = unit cube. The cell is solved on
            the cube with the shape-transformed material and C^H is reported for the
            parallelepiped in the global (x, y, z) Voigt basis (``phnet_cuda.shapes``).
        tol: relative residual ||K u - f|| / ||f|| to reach for every load case.
        max_iter: iteration cap (default 20 n + 500).
        device, dtype: where and in which precision to solve (float64 recommended).
        x0: warm start ``[B, 6, 3, n, n, n]`` (e.g. a PH-Net prediction).
        preconditioner: ``"multigrid"`` (Galerkin geometric multigrid V-cycle, default),
            ``"jacobi"`` (3 x 3 nodal blocks) or ``"none"``.
        deflate: deflate the rigid motions of the solid's bounded pieces (hinged at voxel
            edges/corners or floating; ``RigidClusterDeflation``), which turns hundreds of
            iterations into tens on thin, under-resolved cells. ``"auto"`` (default): only if
            the plain solve has not converged after ``DEFLATE_AFTER`` iterations (restarting
            from its iterate), so cells that converge fast pay nothing; True: from the start;
            False: never. Ignored with ``preconditioner="none"``.
        semi_coarsening: multigrid only: e.g. 2.0 = axes whose coupling is weaker than the
            strongest by more than 2x are not halved until the others catch up (stretched or
            sheared cells; ``MultigridPreconditioner``); None (default) = always halve all axes.
            Cubes are unaffected. Worth trying on strongly stretched TPMS-like cells
            (``benchmarks/anisotropy.py``).
    Returns:
        ``HomogenizationResult``; ``converged`` is False (with a warning) when tol was not met.
    """
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if semi_coarsening is not None and not semi_coarsening >= 1:
        raise ValueError(f"semi_coarsening must be None or a ratio >= 1, got {semi_coarsening!r}")
    if not (isinstance(deflate, bool) or deflate == "auto"):
        raise ValueError(f"deflate must be True, False or 'auto', got {deflate!r}")
    if isinstance(vox, np.ndarray):
        vox = torch.from_numpy(np.ascontiguousarray(vox))
    single = np.ndim(vox) == 3  # one cell [n, n, n] -> CH [6, 6]; a batch (even of one) -> [B, 6, 6]
    vox = check_voxels(vox)
    n = vox.shape[-1]
    device = torch.device(device) if device is not None else vox.device
    prob = CellProblem(n, E=E, nu=nu, soft_ratio=soft_ratio, shape=shape, device=device, dtype=dtype)
    phase = prob.phases(vox)
    max_iter = 20 * n + 500 if max_iter is None else int(max_iter)
    t0 = time.perf_counter()
    f = ops.load_vectors(phase, prob.Fe)
    if preconditioner == "multigrid":
        # The V-cycle runs in float32 (twice the SIMD width, half the memory traffic); the
        # flexible CG around it keeps the float64 accuracy.
        precondition = MultigridPreconditioner(phase, prob.Ke, 6, dtype=torch.float32,
                                               semi_coarsening=semi_coarsening)
    elif preconditioner == "jacobi":
        inv = jacobi_blocks(phase, prob.Ke)
        precondition = lambda r: _apply_blocks(inv, r)  # noqa: E731
    else:
        precondition = lambda r: r  # noqa: E731
    apply_K = lambda x: ops.stiffness_apply(x.contiguous(), phase, prob.Ke)  # noqa: E731

    if x0 is not None:
        x0 = prob.displacements(torch.as_tensor(x0).to(device=device, dtype=dtype), phase.shape[0])
    pieces, deflation = None, None  # pieces: set when some cell has bounded pieces within the cap
    if preconditioner != "none" and deflate is not False:
        labelled = bounded_pieces(vox)  # a labelling per cell: milliseconds
        if any(0 < len(p) <= MAX_DEFLATED_PIECES for p in labelled):
            pieces = labelled
    if pieces is not None and deflate is True:
        deflation = RigidClusterDeflation(vox, phase, prob.Ke, pieces=pieces)
        precondition = deflation.combine(precondition, apply_K)
    auto = pieces is not None and deflation is None
    u, it, rel, hist = pcg(apply_K, f, precondition, x0=x0, tol=tol,
                           max_iter=min(max_iter, DEFLATE_AFTER) if auto else max_iter)
    if auto and it < max_iter and float(rel.max()) > tol:
        # "auto": slow so far and the solid has bounded pieces - restart from here, deflated.
        deflation = RigidClusterDeflation(vox, phase, prob.Ke, pieces=pieces)
        u, it2, rel, hist2 = pcg(apply_K, f, deflation.combine(precondition, apply_K), x0=u, tol=tol,
                                 max_iter=max_iter - it)
        it, hist = it + it2, hist + hist2[1:]
    deflated = sum(deflation.clusters) if deflation is not None else 0
    CH = ops.homogenized_sum(u.contiguous(), phase, prob.Ke, prob.Fe, prob.Ce)
    CH = prob.recover(0.5 * (CH + CH.transpose(1, 2)))  # cube -> parallelepiped (identity for cubes)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    converged = bool((rel <= tol).all())
    if not converged:
        warnings.warn(f"homogenize: not converged after {it} iterations (max relative residual "
                      f"{float(rel.max()):.3e} > tol {tol:.1e})", RuntimeWarning, stacklevel=2)
    return HomogenizationResult(CH=CH[0] if single else CH, u=u, iterations=it, residual=rel,
                                converged=converged, seconds=seconds, history=hist, deflated=deflated)
