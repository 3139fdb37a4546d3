"""Geometric multigrid for the periodic voxel operator: transfer operators, (semi-)coarsening
plans, Galerkin coarse levels, the Chebyshev block-Jacobi smoother and the V-cycle used as the
CG preconditioner of ``homogenize``.
"""

from __future__ import annotations

import functools
import math

import torch

from .. import ops
from ..conventions import NODE_OFFSETS
from ..grid import field_dot, gather_elements, scatter_elements, zero_mean
from .blocks import apply_blocks, assemble_blocks, invert_blocks, jacobi_blocks
from .dense import spd_inverse

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


@functools.lru_cache(maxsize=16)
def _child_prolongation_f64(factors: tuple[int, int, int]) -> torch.Tensor:
    P_cpu = torch.zeros(math.prod(factors), 24, 24, dtype=torch.float64)
    for q, qo in enumerate(_child_offsets(factors)):
        for nf, fo in enumerate(NODE_OFFSETS):
            # fine node of child q in the coarse element's coordinates; along an axis with
            # factor 1 the child spans the coarse element (t = 0 or 1)
            t = [(qo[d] + fo[d]) / factors[d] for d in range(3)]
            for nc, co in enumerate(NODE_OFFSETS):
                w = math.prod(t[d] if co[d] else 1 - t[d] for d in range(3))
                if w:
                    for comp in range(3):
                        P_cpu[q, 3 * nf + comp, 3 * nc + comp] = w
    return P_cpu


def child_prolongation(factors=FULL, dtype=torch.float64, device=None) -> torch.Tensor:
    """P_q ``[children, 24, 24]``: fine element dofs of child q (order of ``_child_offsets``) of a
    coarse voxel split ``factors`` = (fx, fy, fz) times along the axes, as trilinear combinations
    of the coarse element dofs (local numbering of fem.py). Used by the multigrid (factors 1 or 2)
    and by the PH-Net error estimate's coarse grid (n / m along every axis)."""
    factors = tuple(int(f) for f in factors)
    return _child_prolongation_f64(factors).to(dtype=dtype, device=device)


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
    off = torch.tensor(NODE_OFFSETS, dtype=Ke.dtype, device=Ke.device)  # [8, 3]
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
        x = zero_mean(torch.randn(B, L, 3, *self.grid, generator=g, dtype=torch.float64).to(device=device, dtype=dtype))
        lam = torch.zeros((), dtype=dtype, device=device)
        for _ in range(iters):
            y = zero_mean(apply_blocks(self.inv, self.apply(x)))
            lam = torch.sqrt(field_dot(y, y) / field_dot(x, x).clamp_min(1e-300)).max()
            x = y / torch.sqrt(field_dot(y, y)).clamp_min(1e-300)[..., None, None, None, None]
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
        d = apply_blocks(self.inv, r) / theta
        x = d if x is None else x + d
        for _ in range(degree - 1):
            r = r - self.apply(d)
            rho_new = 1.0 / (2.0 * sigma - rho)
            d = rho_new * rho * d + (2.0 * rho_new / delta) * apply_blocks(self.inv, r)
            rho = rho_new
            x = x + d
        return x


def _element_operator(KE: torch.Tensor, grid):
    """K x for per-voxel element matrices KE ``[B, E, 24, 24]`` on a grid ``(nx, ny, nz)``
    (coarse levels: at most 1/8 of the fine voxels, 1/4 or 1/2 under semi-coarsening): batched
    24 x 24 products between the roll gather/scatter."""
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
    return invert_blocks(assemble_blocks(lambda nd: K5[..., 3 * nd:3 * nd + 3, 3 * nd:3 * nd + 3]))


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

        def fine_apply(x):
            return ops.stiffness_apply(x.contiguous(), phase, Ke)

        self.levels = [_Level((n, n, n), fine_apply, jacobi_blocks(phase, Ke))]
        grid, KE = (n, n, n), None
        for factors in self.plan:
            P = child_prolongation(factors, dtype, device)
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
            flat = zero_mean(b).reshape(B, L, -1).double()
            return zero_mean(torch.einsum("bij,blj->bli", self.direct, flat).reshape(b.shape).to(b.dtype))
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
        """One V-cycle applied to the residuals ``r`` ``[B, L, 3, n, n, n]`` (computed in the hierarchy's
        dtype): returns the approximation of K^-1 r, same shape and dtype as ``r``."""
        return self._vcycle(0, r.to(self.dtype)).to(r.dtype)
