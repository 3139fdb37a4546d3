"""The user-facing API: energy_loss / homogenized_tensor / CellProblem (shapes, layouts,
reductions, per-sample materials, autograd, errors)."""

from __future__ import annotations

import pytest
import torch
from support import DEVICES, assert_rel_close

import phnet_cuda
from phnet_cuda import CellProblem, energy_loss, homogenized_tensor, reference


def _cell(B=2, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    vox = (torch.rand(B, n, n, n, generator=g) > 0.4).float()
    u = 0.01 * torch.randn(B, 6, 3, n, n, n, generator=g)
    return vox, u


@pytest.mark.parametrize("device", DEVICES)
def test_energy_loss_matches_reference_and_layouts(device):
    vox, u = _cell()
    u = u.to(device)
    none = energy_loss(u, vox, E=2.0, nu=0.25, reduction="none")
    assert none.shape == (2, 6)
    prob = CellProblem(4, E=2.0, nu=0.25, dtype=torch.float64)
    phase = prob.phases(vox)
    ref = reference.energy_loss(u.cpu().double(), phase, prob.Ke, prob.Fe)
    assert_rel_close(none, ref, 1e-5)
    flat = energy_loss(u.reshape(2, 18, 4, 4, 4), vox, E=2.0, nu=0.25, reduction="none")
    assert torch.equal(flat, none)
    assert torch.allclose(energy_loss(u, vox, E=2.0, nu=0.25, reduction="sum"), none.sum())
    assert torch.allclose(energy_loss(u, vox, E=2.0, nu=0.25), none.sum(1).mean())


def test_energy_loss_per_sample_materials():
    vox, u = _cell(B=3)
    E = torch.tensor([1.0, 2.0, 0.5])
    nu = torch.tensor([0.3, 0.2, 0.35])
    per = energy_loss(u, vox, E=E, nu=nu, reduction="none")
    for b in range(3):
        one = energy_loss(u[b:b + 1], vox[b:b + 1], E=float(E[b]), nu=float(nu[b]), reduction="none")
        assert_rel_close(per[b], one[0], 1e-6)


def test_energy_scales_with_E():
    vox, u = _cell()
    e1 = energy_loss(u.double(), vox, E=1.0, reduction="none")
    e3 = energy_loss(u.double(), vox, E=3.0, reduction="none")
    assert_rel_close(e3, 3 * e1, 1e-13)
    C1 = homogenized_tensor(u.double(), vox, E=1.0)
    C3 = homogenized_tensor(u.double(), vox, E=3.0)
    assert_rel_close(C3, 3 * C1, 1e-13)


def test_energy_loss_autograd_is_residual():
    vox, u = _cell()
    u = u.double().requires_grad_()
    energy_loss(u, vox, reduction="sum").backward()
    prob = CellProblem(4, dtype=torch.float64)
    assert_rel_close(u.grad, prob.residual(u.detach(), vox), 1e-13)


def test_homogenized_tensor_design_sensitivity():
    """d C^H / d vox from the custom backward matches finite differences."""
    vox, u = _cell(B=1, n=3)
    prob = CellProblem(3, soft_ratio=1e-2, dtype=torch.float64)
    v = vox.double().clamp(0.2, 0.8).requires_grad_()
    CH = prob.homogenized_tensor(u.double(), v)
    CH[0, 0, 1].backward()
    idx = (0, 1, 2, 0)
    h = 1e-6
    vp, vm = v.detach().clone(), v.detach().clone()
    vp[idx] += h
    vm[idx] -= h
    fd = (prob.homogenized_tensor(u.double(), vp)[0, 0, 1] - prob.homogenized_tensor(u.double(), vm)[0, 0, 1]) / (2 * h)
    assert abs(v.grad[idx].item() - fd.item()) < 1e-7 * max(1.0, abs(fd.item()))


def test_element_fields_api():
    vox, u = _cell(B=2, n=4)
    prob = CellProblem(4, dtype=torch.float64)
    eps, sig = prob.element_fields(u.double(), vox)
    assert eps.shape == sig.shape == (2, 6, 6, 4, 4, 4)
    # u = 0: strain of load case i is e_i everywhere, stress is C_e e_i.
    eps0, sig0 = prob.element_fields(torch.zeros(2, 6, 3, 4, 4, 4, dtype=torch.float64), vox)
    assert torch.equal(eps0[0, 2, 2], torch.ones(4, 4, 4, dtype=torch.float64))
    E = torch.tensor([1.0, 0.5, 0.0, 0.2, 0.0, -0.3], dtype=torch.float64)
    e1, s1 = prob.element_fields(u.double(), vox, macro_strain=E)
    assert e1.shape == (2, 6, 4, 4, 4)
    # Superposition of the six load cases.
    assert_rel_close(e1, torch.einsum("i,bipxyz->bpxyz", E, eps), 1e-13)
    assert_rel_close(s1, torch.einsum("i,bipxyz->bpxyz", E, sig), 1e-13)


def test_cell_problem_reuses_matrices():
    prob = CellProblem(4)
    vox, u = _cell()
    a = prob.energy_loss(u, vox)
    Ke = prob.Ke
    b = prob.energy_loss(u, vox)
    assert prob.Ke is Ke and torch.equal(a, b)
    assert prob.Ke.shape == (1, 1, 24, 24) and prob.Fe.shape == (1, 1, 24, 6)  # one matrix: the hard phase


def test_errors_name_the_argument():
    vox, u = _cell()
    with pytest.raises(ValueError, match="reduction must be one of"):
        energy_loss(u, vox, reduction="avg")
    with pytest.raises(ValueError, match=r"lengths .* must be positive"):
        energy_loss(u, vox, shape=(90, 90, 90, 1, 1, 0))
    with pytest.raises(ValueError, match=r"u must be \[B, 6, 3, 4, 4, 4\]"):
        energy_loss(u[:, :5], vox)
    with pytest.raises(ValueError, match=r"u has batch 2 but vox has batch 1"):
        energy_loss(u, vox[:1])
    with pytest.raises(ValueError, match=r"vox has n = 5"):
        energy_loss(u, torch.zeros(2, 5, 5, 5))
    with pytest.raises(ValueError, match=r"vox values must lie in \[0, 1\]"):
        energy_loss(u, vox * 3)
    with pytest.raises(ValueError, match="u must be float32 or float64"):
        energy_loss(u.half(), vox)
    with pytest.raises(ValueError, match="n must be a positive int"):
        CellProblem(0)


def test_op_errors_name_argument_shape_dtype_device():
    prob = CellProblem(3, dtype=torch.float64)
    u = torch.zeros(1, 6, 3, 3, 3, 3, dtype=torch.float64)
    phase = prob.phases(torch.ones(1, 3, 3, 3))
    with pytest.raises(RuntimeError,
                       match=r"stiffness_apply: argument 'u' must be a 6-D field .*got shape \[1, 6, 3, 3, 3\]"):
        torch.ops.phnet.stiffness_apply(u[..., 0], phase, prob.Ke)
    with pytest.raises(RuntimeError,
                       match=r"argument 'phase' must have the dtype of 'u' \(Double\), got shape .*dtype Float"):
        torch.ops.phnet.stiffness_apply(u, phase.float(), prob.Ke)
    with pytest.raises(RuntimeError, match=r"argument 'Ke' must be per-phase matrices \[1 \(or 1\), 1, 24, 24\]"):
        torch.ops.phnet.stiffness_apply(u, phase, prob.Ke[:, :, :23])
    with pytest.raises(RuntimeError, match=r"argument 'phase' has batch 1 and grid n = 4"):
        torch.ops.phnet.stiffness_apply(u, torch.zeros(1, 2, 4, 4, 4, dtype=torch.float64), prob.Ke)
    with pytest.raises(RuntimeError, match=r"argument 'u' must be float32 or float64, got .*dtype Int"):
        torch.ops.phnet.stiffness_apply(u.int(), phase, prob.Ke)
    with pytest.raises(RuntimeError,
                       match=r"energy_loss: argument 'Fe' must be per-phase matrices \[1 \(or 1\), 1, 24, 6\]"):
        torch.ops.phnet.energy_loss(u, phase, prob.Ke, prob.Fe[..., :5])
    Kbad = prob.Ke.clone()
    Kbad[0, 0, 0, 1] += 1.0
    with pytest.raises(RuntimeError, match=r"energy_loss: argument 'Ke' must hold symmetric element matrices"):
        torch.ops.phnet.energy_loss(u, phase, Kbad, prob.Fe)
    with pytest.raises(RuntimeError, match=r"homogenized_tensor: argument 'u' must have 1 <= L <= 6"):
        torch.ops.phnet.homogenized_tensor(torch.zeros(1, 7, 3, 3, 3, 3, dtype=torch.float64), phase, prob.Ke,
                                           torch.zeros(1, 1, 24, 7, dtype=torch.float64),
                                           torch.zeros(1, 1, 7, 7, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"phase_gradient: argument 'a' must have L = 6 load cases"):
        torch.ops.phnet.phase_gradient(u[:, :2], u, u, prob.Ke, prob.Fe)
    with pytest.raises(RuntimeError, match=r"element_fields: argument 'macro_strain' must be \[1, 6, 6\]"):
        torch.ops.phnet.element_fields(u, phase, prob.C[:, :1], torch.zeros(1, 6, 5, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"must have 1 <= M <= 64 phases"):
        torch.ops.phnet.stiffness_apply(u, torch.zeros(1, 65, 3, 3, 3, dtype=torch.float64), prob.Ke)


def test_library_and_exports():
    assert phnet_cuda.load_library().endswith(".so")
    for name in phnet_cuda.__all__:
        assert hasattr(phnet_cuda, name)
    if torch.version.cuda is None:
        assert not phnet_cuda.has_cuda_kernels()
