"""Local fields of a solved cell: per-voxel strain and stress, von Mises stress, stress
concentration, worst-case stress, first-yield estimates, physical displacements, and the
base-material change that uses them.

Conventions (docs/conventions.md): Voigt order [xx, yy, zz, yz, xz, xy], strains with
engineering shears (gamma_yz = 2 eps_yz), stresses without factors. Voxel arrays ``[B, n, n, n]``
over the reference cube; displacements ``[B, 6, 3, n, n, n]`` (load case i = unit macroscopic
strain e_i on the cube). Parallelepiped cells (``shape=``) follow ``phnet_cuda.shapes``: fields
and tensors here are PHYSICAL (global x, y, z frame), the displacements ``u`` are those of the
cube problem (``homogenize().u``). Units: tensors and stresses carry the unit of the base
Young's modulus E (e.g. MPa); strains and stress-concentration factors are dimensionless.

``local_fields`` (per-voxel strain/stress under a macroscopic strain OR stress),
``stress_concentration`` (A_e: local stress per unit macroscopic stress),
``worst_case_von_mises`` (max over all unit macroscopic stresses, per voxel), ``yield_stress``
(first-yield macroscopic stress along a direction), ``displacement_field`` (physical nodal
displacements for export), ``von_mises`` / ``von_mises_form``; ``change_base_material`` (E
scaling exact; Poisson change by the CLM shift or its 3D stress-field refinement, which needs
the fields).
"""

from __future__ import annotations

import torch

from .. import shapes
from .._checks import positive_int, positive_number
from ..conventions import DEFAULT_SOFT_RATIO, VOIGT_PAIRS
from ..materials import check_voxels, isotropic_stiffness
from ..problem import CellProblem, cached_problem
from .tensor import _check_stiffness, compliance


def _poisson(x, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a Poisson ratio in (-1, 0.5), got {x!r}") from None
    if not -1.0 < v < 0.5:
        raise ValueError(f"{name} must be a Poisson ratio in (-1, 0.5), got {x!r}")
    return v


# ------------------------------------------------------------------------------ von Mises
def von_mises_form(dtype=torch.float64, device=None) -> torch.Tensor:
    """The von Mises quadratic form P ``[6, 6]``: vm(sigma)^2 = sigma^T P sigma for Voigt stresses
    (no factors): P = [[1, -1/2, -1/2], [-1/2, 1, -1/2], [-1/2, -1/2, 1]] (+) diag(3, 3, 3).
    Its eigenvalues are 0 (hydrostatic), 3/2 (twice) and 3 (three times)."""
    P = torch.zeros(6, 6, dtype=dtype, device=device)
    P[:3, :3] = -0.5
    P[range(3), range(3)] = 1.0
    P[range(3, 6), range(3, 6)] = 3.0
    return P


def von_mises(stress: torch.Tensor) -> torch.Tensor:
    """Von Mises stress of Voigt stress fields ``[..., 6, n, n, n]`` (component axis at dim -4),
    ``[..., n, n, n]``: sqrt(((sxx - syy)^2 + (syy - szz)^2 + (szz - sxx)^2) / 2
    + 3 (syz^2 + sxz^2 + sxy^2)), unit of the stress."""
    s = stress
    if not isinstance(s, torch.Tensor) or s.dim() < 4 or s.shape[-4] != 6:
        raise ValueError(f"stress must be a Voigt field [..., 6, n, n, n], got "
                         f"{tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__}")
    sxx, syy, szz, syz, sxz, sxy = (s[..., k, :, :, :] for k in range(6))
    return torch.sqrt(0.5 * ((sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2)
                      + 3.0 * (syz ** 2 + sxz ** 2 + sxy ** 2))


# ------------------------------------------------------------------------------ local fields
def _problem(u, n_vox: int, E, nu, soft_ratio, shape) -> CellProblem:
    if not isinstance(u, torch.Tensor):
        raise ValueError(f"u must be a torch.Tensor [B, 6, 3, n, n, n], got {type(u).__name__}")
    if u.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"u must be float32 or float64, got {u.dtype}")
    if u.shape[-1] != n_vox:
        raise ValueError(f"u has n = {u.shape[-1]} (shape {tuple(u.shape)}) but vox has n = {n_vox}")
    return cached_problem(n_vox, E, nu, soft_ratio, shape, u.device, u.dtype)  # cached for scalar materials


def _batch_stiffness(prob: CellProblem, u, vox, CH, B: int) -> torch.Tensor:
    """C^H ``[B, 6, 6]`` float64: the given one (checked) or the energy form at u."""
    if CH is None:
        C = prob.homogenized_tensor(u, vox).detach().double()
        return 0.5 * (C + C.transpose(-1, -2))
    C = _check_stiffness(CH).to(u.device)
    if C.dim() == 2:
        C = C.expand(B, 6, 6)
    if C.shape != (B, 6, 6):
        raise ValueError(f"CH must be [6, 6] or [{B}, 6, 6] for {B} cells, got shape {tuple(C.shape)}")
    return C


def _macro(x, name: str, B: int) -> torch.Tensor:
    t = torch.as_tensor(x.detach() if isinstance(x, torch.Tensor) else x, dtype=torch.float64)
    if t.shape == (6,):
        t = t.expand(B, 6)
    if t.shape != (B, 6):
        raise ValueError(f"{name} must be a Voigt vector [6] or [{B}, 6], got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    return t


def local_fields(u: torch.Tensor, vox, *, macro_strain=None, macro_stress=None, E=1.0, nu=0.3,
                 soft_ratio=DEFAULT_SOFT_RATIO, shape=None, CH=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-voxel strain and stress (voxel averages, Voigt) under a macroscopic strain OR stress.

    Built on ``CellProblem.element_fields``: for a macroscopic strain E_bar the local strain is
    E_bar plus the superposed fluctuations; a macroscopic stress Sigma is first turned into the
    macroscopic strain E_bar = S^H Sigma (S^H = inv(C^H)), so at the solution the volume
    average of the returned stress is Sigma (and that of the strain is E_bar).

    Args:
        u: cube displacements ``[B, 6, 3, n, n, n]`` (or ``[B, 18, n, n, n]``) of the six unit
            strains, e.g. ``homogenize(...).u`` or a PH-Net prediction.
        vox: ``[n, n, n]`` or ``[B, n, n, n]`` in [0, 1].
        macro_strain: physical macroscopic strain ``[6]`` / ``[B, 6]`` (engineering shears), or
        macro_stress: physical macroscopic stress ``[6]`` / ``[B, 6]`` (unit of E); exactly one.
        E, nu, soft_ratio, shape: the material and cell that ``u`` was computed for.
        CH: C^H ``[6, 6]`` / ``[B, 6, 6]`` for the stress route; default: the energy form at u.
    Returns:
        (strain, stress), each ``[B, 6, n, n, n]`` in u's dtype (physical, global frame).
    """
    if (macro_strain is None) == (macro_stress is None):
        raise ValueError("give exactly one of macro_strain and macro_stress, got "
                         f"macro_strain={macro_strain!r}, macro_stress={macro_stress!r}")
    vox = check_voxels(vox)
    prob = _problem(u, vox.shape[-1], E, nu, soft_ratio, shape)
    u = prob.displacements(u, vox.shape[0])
    B = u.shape[0]
    if macro_strain is not None:
        strain = _macro(macro_strain, "macro_strain", B)
    else:
        stress = _macro(macro_stress, "macro_stress", B).to(u.device)
        S = torch.linalg.inv(_batch_stiffness(prob, u, vox, CH, B))
        strain = torch.einsum("bpq,bq->bp", S, stress)
    return prob.element_fields(u, vox, macro_strain=strain.to(device=u.device, dtype=u.dtype))


def stress_concentration(u: torch.Tensor, vox, *, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO,
                         shape=None, CH=None) -> torch.Tensor:
    """Local stress per unit macroscopic stress: A ``[B, n, n, n, 6, 6]`` float64 with
    sigma_e = A_e Sigma (voxel-average stress of voxel e under the macroscopic stress Sigma).

    The stress is linear in the macroscopic strain: sigma_e = sum_i E_bar_i sigma_e^(i) with
    sigma^(i) the stress field of the unit strain e_i (``element_fields``), and E_bar = S^H Sigma,
    so A_e = [sigma_e^(1) ... sigma_e^(6)] S^H. Dimensionless (stress per stress). Arguments as
    in ``local_fields``. For a homogeneous solid cell A_e = I.

    Memory: 36 float64 numbers per voxel (about 120 MB at n = 75)."""
    vox = check_voxels(vox)
    prob = _problem(u, vox.shape[-1], E, nu, soft_ratio, shape)
    u = prob.displacements(u, vox.shape[0])
    B = u.shape[0]
    S = torch.linalg.inv(_batch_stiffness(prob, u, vox, CH, B))
    _, sig = prob.element_fields(u, vox)  # [B, 6 load cases, 6 components, n, n, n]
    return torch.einsum("bipxyz,biq->bxyzpq", sig.detach().double(), S)


def _check_concentration(A) -> torch.Tensor:
    if not isinstance(A, torch.Tensor) or A.dim() != 6 or tuple(A.shape[-2:]) != (6, 6) \
            or not (A.shape[1] == A.shape[2] == A.shape[3]):
        raise ValueError("A must be a stress-concentration tensor [B, n, n, n, 6, 6] (stress_concentration), got "
                         f"{tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__}")
    return A.detach().double()


def worst_case_von_mises(A: torch.Tensor, *, return_direction: bool = False, chunk: int = 1 << 16,
                         progress: bool = False):
    """Worst-case von Mises stress per voxel over all unit macroscopic stresses.

    For ||Sigma||_2 = 1 (2-norm of the Voigt stress vector, shears counted once) the local
    stress is A_e Sigma and vm^2 = Sigma^T (A_e^T P A_e) Sigma with the von Mises form P
    (``von_mises_form``), so max_Sigma vm = sqrt(lambda_max(A_e^T P A_e)): one symmetric 6 x 6
    eigenvalue problem per voxel, solved batched in chunks.

    Args:
        A: ``[B, n, n, n, 6, 6]`` from ``stress_concentration``.
        return_direction: also return the maximizing unit macroscopic stress per voxel.
        chunk: voxels per batched eigen-solve (bounds the temporary memory).
        progress: show a tqdm bar over the chunks.
    Returns:
        vm_max ``[B, n, n, n]`` float64 (stress per unit macroscopic stress), and with
        ``return_direction`` also Sigma* ``[B, n, n, n, 6]`` (unit, sign arbitrary).
    """
    A = _check_concentration(A)
    chunk = positive_int(chunk, "chunk")
    lead = A.shape[:4]
    flat = A.reshape(-1, 6, 6)
    P = von_mises_form(device=A.device)
    vm = torch.empty(flat.shape[0], dtype=torch.float64, device=A.device)
    vec = torch.empty(flat.shape[0], 6, dtype=torch.float64, device=A.device) if return_direction else None
    starts = range(0, flat.shape[0], chunk)
    from tqdm.auto import tqdm  # imported here: `import phnet_cuda` needs only torch and numpy

    for s in tqdm(starts, desc="worst-case von Mises", unit="chunk", disable=not progress):
        a = flat[s:s + chunk]
        Q = a.transpose(-1, -2) @ P @ a
        Q = 0.5 * (Q + Q.transpose(-1, -2))
        if return_direction:
            lam, V = torch.linalg.eigh(Q)
            vec[s:s + chunk] = V[:, :, -1]
        else:
            lam = torch.linalg.eigvalsh(Q)
        vm[s:s + chunk] = lam[:, -1].clamp_min(0).sqrt()
    vm = vm.reshape(lead)
    if return_direction:
        return vm, vec.reshape(*lead, 6)
    return vm


def yield_stress(A: torch.Tensor, sigma_y, direction, *, vox=None, solid_threshold: float = 0.5) -> torch.Tensor:
    """First-yield estimate of the macroscopic yield stress along macroscopic stress directions.

    Under Sigma = s Sigma_hat (||Sigma_hat||_2 = 1, Voigt) the first voxel yields (von Mises,
    base-material yield strength sigma_y) at s* = sigma_y / max_e vm(A_e Sigma_hat). This is the
    elastic limit, the onset of local plasticity - a conservative estimate of the macroscopic
    yield stress, not a limit-load (collapse) analysis. It uses voxel-average stresses, so stress
    peaks at sharp voxel corners are smoothed over one voxel (mesh dependent; refine n to check).

    Args:
        A: ``[B, n, n, n, 6, 6]`` from ``stress_concentration``.
        sigma_y: base-material yield strength (unit of E), > 0.
        direction: macroscopic stress direction(s) ``[6]`` or ``[K, 6]`` (Voigt, normalized here),
            e.g. (1, 0, 0, 0, 0, 0) for uniaxial x.
        vox: optional ``[B, n, n, n]`` voxels: only voxels with vox >= ``solid_threshold`` count
            (the soft/void phase does not yield).
    Returns:
        s* ``[B]`` for one direction, ``[B, K]`` for K directions (unit of sigma_y).
    """
    A = _check_concentration(A)
    sy = positive_number(sigma_y, "sigma_y")
    d = torch.as_tensor(direction.detach() if isinstance(direction, torch.Tensor) else direction,
                        dtype=torch.float64, device=A.device)
    single = d.dim() == 1
    d = d.reshape(-1, 6) if d.dim() == 1 and d.shape[0] == 6 else d
    if d.dim() != 2 or d.shape[1] != 6:
        raise ValueError(f"direction must be a Voigt stress [6] or [K, 6], got shape {tuple(d.shape)}")
    norm = d.norm(dim=1, keepdim=True)
    if not (torch.isfinite(d).all() and (norm > 0).all()):
        raise ValueError("direction must be finite and non-zero")
    d = d / norm
    B = A.shape[0]
    P = von_mises_form(device=A.device)
    sig = torch.einsum("bxyzpq,kq->bkxyzp", A, d)  # [B, K, n, n, n, 6]
    vm = torch.einsum("...p,pq,...q->...", sig, P, sig).clamp_min(0).sqrt()
    if vox is not None:
        v = check_voxels(vox).to(A.device)
        if tuple(v.shape) != tuple(A.shape[:4]):
            raise ValueError(f"vox must be [B, n, n, n] = {tuple(A.shape[:4])} like A, got {tuple(v.shape)}")
        vm = vm * (v >= solid_threshold)[:, None].to(vm.dtype)
    peak = vm.reshape(B, d.shape[0], -1).amax(dim=-1)
    out = sy / peak
    return out[:, 0] if single else out


# ------------------------------------------------------------------------------ displacements
def displacement_field(u: torch.Tensor, macro_strain, *, shape=None, scale: float = 1.0,
                       include_macro: bool = True) -> torch.Tensor:
    """Physical nodal displacement of one period under a macroscopic strain, for export/plots.

    The cell occupies x = scale * J xi, J = ``shapes.lattice_matrix(shape)`` (identity for the
    cube), xi on the (n + 1)^3 grid points i / n (the periodic nodes plus their images on the
    far faces). The cube problem is loaded by E_hat = M E_bar (M the strain map of J scaled to
    unit volume, as in ``CellProblem``). Its solution u_hat = sum_i E_hat_i u_i enters the strain
    with a minus sign (K u = f gives the strain E_hat - B u_hat, docs/conventions.md), so the
    displacement fluctuation is -u_hat; it is mapped to the physical one w = -s J_u^-T u_hat (J_u = J /
    det(J)^(1/3), s = scale det(J)^(1/3): the fluctuation grows with the cell), and the total
    displacement is E_bar x + w, whose strain is the one of ``local_fields``.

    Args:
        u: cube displacements ``[B, 6, 3, n, n, n]`` (or ``[B, 18, n, n, n]``).
        macro_strain: physical macroscopic strain ``[6]`` / ``[B, 6]`` (Voigt, engineering shears).
        shape: cell parameters (``shapes``), None = unit cube.
        scale: length unit of the geometry per unit of the cell parameters.
        include_macro: add the affine part E_bar x (False: the periodic fluctuation only).
    Returns:
        ``[B, 3, n + 1, n + 1, n + 1]`` float64 (x, y, z components; length unit of the geometry).
    """
    if not isinstance(u, torch.Tensor):
        raise ValueError(f"u must be a torch.Tensor [B, 6, 3, n, n, n], got {type(u).__name__}")
    n = u.shape[-1]
    if u.dim() == 5 and u.shape[1] == 18:
        u = u.reshape(u.shape[0], 6, 3, n, n, n)
    if u.dim() != 6 or tuple(u.shape[1:]) != (6, 3, n, n, n):
        raise ValueError(f"u must be [B, 6, 3, n, n, n] or [B, 18, n, n, n], got shape {tuple(u.shape)}")
    sc = positive_number(scale, "scale")
    B = u.shape[0]
    u = u.detach().double().cpu()
    E_bar = _macro(macro_strain, "macro_strain", B)
    J = torch.eye(3, dtype=torch.float64) if shape is None else shapes.lattice_matrix(shape)
    if J.dim() != 2:
        raise ValueError(f"shape must be one cell [6], got shape {tuple(J.shape)}")
    s0 = float(torch.linalg.det(J)) ** (1.0 / 3.0)
    J_u = J / s0
    M = shapes.strain_map(J_u)
    E_hat = E_bar @ M.T  # cube macro strains [B, 6]
    u_hat = torch.einsum("bi,bicxyz->bcxyz", E_hat, u)
    w = -(sc * s0) * torch.einsum("dc,bcxyz->bdxyz", torch.linalg.inv(J_u).T, u_hat)
    idx = torch.arange(n + 1) % n  # periodic images on the far faces
    w = w[:, :, idx][:, :, :, idx][:, :, :, :, idx]
    if not include_macro:
        return w
    xi = torch.arange(n + 1, dtype=torch.float64) / n
    grid = torch.stack(torch.meshgrid(xi, xi, xi, indexing="ij"), dim=0)  # [3, n+1, n+1, n+1]
    x = sc * torch.einsum("dc,cxyz->dxyz", J, grid)
    eps = torch.zeros(B, 3, 3, dtype=torch.float64)
    for K, (i, j) in enumerate(VOIGT_PAIRS):
        factor = 1.0 if i == j else 0.5
        eps[:, i, j] = factor * E_bar[:, K]
        eps[:, j, i] = factor * E_bar[:, K]
    return w + torch.einsum("bdc,cxyz->bdxyz", eps, x)


# ------------------------------------------------------------------------------ base material
def change_base_material(CH, E, nu, E_new, nu_new, *, u=None, vox=None, soft_ratio=DEFAULT_SOFT_RATIO,
                         shape=None) -> torch.Tensor:
    """Estimate C^H for a new base material (E_new, nu_new) from C^H computed with (E, nu).

    Young's modulus: C^H is homogeneous of degree one in the phase stiffnesses (both phases are
    multiples of C(E, nu): soft = soft_ratio * hard), so C^H(E', nu) = (E' / E) C^H(E, nu)
    EXACTLY (up to the solver tolerance): the E_i and G_ij scale, the Poisson ratios stay.

    Poisson ratio - relation used (Cherkaev, Lurie & Milton 1992, "CLM theorem"): in PLANE
    elasticity, shifting every phase's compliance by c Lambda (Lambda: sigma : Lambda : sigma =
    2 det sigma, a null Lagrangian of divergence-free stress fields) leaves the stress field
    unchanged and shifts the effective compliance by the same c Lambda; voids (infinite
    compliance) are unaffected. For a plane-stress base material S(E, nu') - S(E, nu) is such a
    shift, so a cell with voids has S^H(E, nu') = S^H(E, nu) + S_b(E, nu') - S_b(E, nu) exactly:
    E_i unchanged, nu_ij' = nu_ij + (nu' - nu) E_i / E, 1 / G' = 1 / G + 2 (nu' - nu) / E.

    * Without ``u``: this shift in 3D, S^H' = (E / E') [S^H + S_b(1, nu') - S_b(1, nu)]
      (S_b isotropic compliance, engineering shears). Exact for a solid cell and for 2D cells
      with voids; in 3D it is an approximation ((tr sigma)^2 - sigma : sigma is no null
      Lagrangian of 3D stress fields): the orthotropic constants change as listed above.
    * With ``u`` and ``vox`` (the solution for (E, nu)): the 3D refinement of the same idea -
      the complementary-energy estimate with the old stress fields held fixed,
      S^H' = (E / E') [S^H + < A_e^T (S_b(1, nu') - S_b(1, nu)) A_e / c_e >] with A_e from
      ``stress_concentration``, c_e = vox_e + (1 - vox_e) soft_ratio and <.> the volume average.
      In 2D the stress field is invariant and the average of the null Lagrangian equals its
      value at the average stress, so this reduces exactly to the CLM shift; in 3D it is exact
      to first order in (nu' - nu) and (for exact equilibrium fields) a lower bound of the
      stiffness (the complementary-energy principle).

    Measured (``benchmarks/base_material.py``, results in ``benchmarks/results/``: Tubular-Gyroid
    cells, n = 16, vf 0.1 and 0.3, cube and (75, 75, 75, 1, 1, 2), base (1, 0.25) -> (2.5, nu'),
    re-solved with ``homogenize`` at tol 1e-10), relative error ||C_est - C_solve||_F / ||C_solve||_F,
    range over the four cells:

        nu'                     0.0          0.15           0.35          0.45
        E scaling only      5.8-16.5%     2.4-6.9%      2.8-7.4%     6.6-15.7%
        CLM shift (no u)    4.3- 7.7%     1.8-3.4%      2.2-4.0%     5.5- 9.4%
        stress fields (u)   0.6- 0.8%     0.02-0.13%    0.4-0.55%    2.0- 2.6%

    At n = 12 (the test's size) the CLM errors are the same within ~1% and the stress-field
    ones up to 1.5x larger (nu' = 0.45: 2.7-3.5%): part of the remainder is the voxel-average
    stress standing in for the element's stress field.

    A pure E change is exact (measured 1e-15). A 2D check (a z-extruded cell with holes under
    plane strain, whose plane-strain compliance is the plane-stress one of E / (1 - nu^2),
    nu / (1 - nu)) confirms the CLM shift to 1e-3 at n = 12 - 24: the remainder is the
    trilinear-FE discretization, which satisfies CLM only in the limit h -> 0.

    Args:
        CH: C^H ``[6, 6]`` or ``[B, 6, 6]`` computed with (E, nu) (unit of E).
        E, nu: base material of CH; E_new, nu_new: the new base material (scalars).
        u, vox: optional solution displacements ``[B, 6, 3, n, n, n]`` and voxels for the
            stress-field refinement; soft_ratio and shape must then be those of the solve.
    Returns:
        the estimate of C^H(E_new, nu_new), float64, CH's shape.
    """
    C = _check_stiffness(CH)
    E, E_new = positive_number(E, "E"), positive_number(E_new, "E_new")
    nu, nu_new = _poisson(nu, "nu"), _poisson(nu_new, "nu_new")
    if (u is None) != (vox is None):
        raise ValueError("give both u and vox (stress-field refinement) or neither (CLM shift), got "
                         f"u {'None' if u is None else 'given'}, vox {'None' if vox is None else 'given'}")
    dS = torch.linalg.inv(isotropic_stiffness(1.0, nu_new)) - torch.linalg.inv(isotropic_stiffness(1.0, nu))
    S = compliance(C)
    if u is None:
        S_new = (S + dS / E) * (E / E_new)
    else:
        v = check_voxels(vox)
        batch = C if C.dim() == 3 else C.unsqueeze(0)
        A = stress_concentration(u, v, E=E, nu=nu, soft_ratio=soft_ratio, shape=shape, CH=batch)
        c_e = (v.double() + (1 - v.double()) * float(soft_ratio)).to(A.device)
        corr = torch.einsum("bxyzpi,pq,bxyzqj,bxyz->bij", A, dS.to(A.device), A, 1.0 / c_e) / c_e[0].numel()
        corr = corr.cpu() / E
        S_new = (S + (corr if C.dim() == 3 else corr[0])) * (E / E_new)
    C_new = torch.linalg.inv(S_new)
    return 0.5 * (C_new + C_new.transpose(-1, -2))


__all__ = [
    "change_base_material",
    "displacement_field",
    "local_fields",
    "stress_concentration",
    "von_mises",
    "von_mises_form",
    "worst_case_von_mises",
    "yield_stress",
]
