"""Identities and independent references for the assembled operator:
an independently assembled SciPy sparse K, K const = 0, symmetry u^T K v = v^T K u, a solid
cell with u = 0 gives C^H = C (and zero loads), the energy identity
C^H_ii(u) = C_vol_ii + 2 L_i(u) for random u, the Gauss-quadrature route to C^H, and
gradcheck of every op in float64."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from support import DEVICES, assert_rel_close, random_problem

from phnet_cuda import CellProblem, ops, reference


def assembled_K(phase: np.ndarray, Ke: np.ndarray) -> sp.csr_matrix:
    """Global periodic K (3 n^3 x 3 n^3, dof = 3 * node + component) assembled element by
    element with explicit index loops (no roll, no shared code with the ops)."""
    M, n = phase.shape[0], phase.shape[-1]
    rows, cols, vals = [], [], []
    for i in range(n):
        for j in range(n):
            for k in range(n):
                Kb = sum(phase[m, i, j, k] * Ke[m] for m in range(M))
                nodes = [(((i + a) % n) * n + (j + b) % n) * n + (k + c) % n
                         for a in (0, 1) for b in (0, 1) for c in (0, 1)]
                dofs = np.array([3 * nd + comp for nd in nodes for comp in range(3)])
                rows.append(np.repeat(dofs, 24))
                cols.append(np.tile(dofs, 24))
                vals.append(Kb.reshape(-1))
    N = 3 * n ** 3
    return sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N)).tocsr()


def to_dofs(field: torch.Tensor) -> np.ndarray:
    """[3, n, n, n] -> node-major dof vector (3 * node + component)."""
    return field.reshape(3, -1).T.reshape(-1).cpu().double().numpy()


@pytest.mark.parametrize("n", [2, 3, 4])
def test_against_assembled_scipy_K(n):
    p = random_problem(1, 2, 2, n, torch.float64, "cpu", seed=n)
    K = assembled_K(p["phase"][0].numpy(), p["Ke"][0].numpy())
    Ku = ops.stiffness_apply(p["u"], p["phase"], p["Ke"])
    for lc in range(2):
        expect = K @ to_dofs(p["u"][0, lc])
        assert np.abs(to_dofs(Ku[0, lc]) - expect).max() < 1e-12 * np.abs(expect).max()
    # Energy of load case lc with assembled K and f.
    f = ops.load_vectors(p["phase"], p["Fe"])
    en = ops.energy_loss(p["u"], p["phase"], p["Ke"], p["Fe"])
    for lc in range(2):
        ul = to_dofs(p["u"][0, lc])
        expect = 0.5 * ul @ (K @ ul) - ul @ to_dofs(f[0, lc])
        assert abs(en[0, lc].item() - expect) < 1e-12 * abs(expect) + 1e-14


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_field_in_kernel(device, dtype):
    p = random_problem(2, 3, 2, 5, dtype, device)
    const = (torch.ones_like(p["u"])
             * torch.tensor([1.5, -2.0, 0.5], dtype=dtype, device=device)[None, None, :, None, None, None])
    Kc = ops.stiffness_apply(const, p["phase"], p["Ke"])
    scale = p["Ke"].abs().max().item() * 8 * 2.0
    assert Kc.abs().max().item() < (1e-5 if dtype == torch.float32 else 1e-12) * scale


@pytest.mark.parametrize("device", DEVICES)
def test_symmetry(device):
    p = random_problem(2, 6, 3, 4, torch.float64, device)
    v = torch.randn_like(p["u"])
    uKv = (p["u"] * ops.stiffness_apply(v, p["phase"], p["Ke"])).sum()
    vKu = (v * ops.stiffness_apply(p["u"], p["phase"], p["Ke"])).sum()
    assert abs(uKv.item() - vKu.item()) < 1e-12 * abs(uKv.item())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [2, 3, 6])
def test_solid_cell_gives_base_material(device, n):
    prob = CellProblem(n, E=2.0, nu=0.3, dtype=torch.float64, device=device)
    vox = torch.ones(1, n, n, n)
    u = torch.zeros(1, 6, 3, n, n, n, dtype=torch.float64, device=device)
    CH = prob.homogenized_tensor(u, vox)
    assert_rel_close(CH[0], prob.C[0, 0], 1e-13)
    # Uniform material: the assembled loads vanish, so u = 0 is the exact solution.
    f = prob.load_vectors(vox)
    assert f.abs().max().item() < 1e-13 * prob.Fe.abs().max().item()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_energy_identity(device, dtype):
    """C^H_ii(u) = C_vol_ii + 2 L_i(u) for ANY periodic u (docs/conventions.md)."""
    n = 5
    prob = CellProblem(n, E=1.0, nu=0.3, soft_ratio=1e-3, dtype=dtype, device=device)
    g = torch.Generator().manual_seed(7)
    vox = (torch.rand(2, n, n, n, generator=g) > 0.5).to(dtype)
    u = (0.01 * torch.randn(2, 6, 3, n, n, n, generator=g, dtype=torch.float64)).to(dtype=dtype, device=device)
    CH = prob.homogenized_tensor(u, vox)
    L = prob.energy_loss(u, vox, reduction="none")
    phase = prob.phases(vox)
    Cvol = torch.einsum("bmxyz,mpq->bpq", phase.double(), prob.Ce[0].double())
    lhs = torch.diagonal(CH.double(), dim1=1, dim2=2)
    rhs = torch.diagonal(Cvol, dim1=1, dim2=2) + 2 * L.double()
    assert_rel_close(lhs, rhs, (1e-5 if dtype == torch.float32 else 1e-12))


@pytest.mark.parametrize("device", DEVICES)
def test_quadrature_route_to_CH(device):
    """The op's C^H (from Ke/Fe/Ce) equals direct Gauss quadrature of the strain energy."""
    p = random_problem(2, 6, 2, 4, torch.float64, device)
    CH = ops.homogenized_tensor(p["u"], p["phase"], p["Ke"], p["Fe"], p["Ce"])
    CHq = reference.homogenized_tensor_quadrature(p["u"].cpu(), p["phase"].cpu(), p["C"].cpu())
    assert_rel_close(CH, CHq, 1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_gradient_is_residual(device):
    """Autograd of the fused energy equals K u - f computed from the separate ops."""
    p = random_problem(2, 6, 2, 4, torch.float64, device)
    u = p["u"].clone().requires_grad_()
    ops.energy_loss(u, p["phase"], p["Ke"], p["Fe"]).sum().backward()
    r = ops.stiffness_apply(p["u"], p["phase"], p["Ke"]) - ops.load_vectors(p["phase"], p["Fe"])
    assert_rel_close(u.grad, r, 1e-13)
    assert_rel_close(ops.residual(p["u"], p["phase"], p["Ke"], p["Fe"]), r, 1e-13)


def _gc(fn, inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=False)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_all_ops(device):
    p = random_problem(1, 6, 2, 2, torch.float64, device)
    u = p["u"].clone().requires_grad_()
    ph = p["phase"].clone().requires_grad_()
    Ke = p["Ke"].clone().requires_grad_()
    Fe = p["Fe"].clone().requires_grad_()
    Ce = p["Ce"].clone().requires_grad_()
    C = p["C"].clone().requires_grad_()
    # Ke must stay symmetric for the energy ops: differentiate through a symmetric parameterisation.
    sym = lambda A: 0.5 * (A + A.transpose(-1, -2))  # noqa: E731
    _gc(lambda u, ph, Ke: ops.stiffness_apply(u, ph, Ke), (u, ph, Ke))
    _gc(lambda ph, Fe: ops.load_vectors(ph, Fe), (ph, Fe))
    _gc(lambda u, ph, Ke, Fe: ops.energy_loss(u, ph, sym(Ke), Fe), (u, ph, Ke, Fe))
    g = torch.randn(1, 6, dtype=torch.float64, device=device, requires_grad=True)
    _gc(lambda g, u, ph, Ke, Fe: torch.ops.phnet.energy_loss_backward(g, u, ph, sym(Ke), Fe), (g, u, ph, Ke, Fe))
    _gc(lambda u, ph, Ke, Fe, Ce: ops.homogenized_tensor(u, ph, sym(Ke), Fe, Ce), (u, ph, Ke, Fe, Ce))
    a = torch.randn_like(p["u"]).requires_grad_()
    b = torch.randn_like(p["u"]).requires_grad_()
    _gc(lambda a, u, b, Ke, Fe: ops.phase_gradient(a, u, b, Ke, Fe), (a, u, b, Ke, Fe))
    macro = torch.randn(1, 6, 6, dtype=torch.float64, device=device, requires_grad=True)
    _gc(lambda u, ph, C, m: ops.element_fields(u, ph, C, m), (u, ph, C, macro))


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_match_reference_autograd(device):
    """Our backward formulas agree with autograd through the pure-PyTorch reference (n = 4)."""
    p = random_problem(2, 6, 2, 4, torch.float64, device, seed=11)
    G = torch.randn(2, 6, 6, dtype=torch.float64, device=device)
    grads = []
    for fn in (ops.homogenized_tensor, reference.homogenized_tensor):
        leaves = [p[k].clone().requires_grad_() for k in ("u", "phase", "Ke", "Fe", "Ce")]
        (fn(*leaves) * G).sum().backward()
        grads.append([x.grad for x in leaves])
    for ours, ref in zip(*grads):
        assert_rel_close(ours, ref, 1e-12)
