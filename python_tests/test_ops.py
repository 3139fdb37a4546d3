"""Every custom op against the float64 pure-PyTorch reference (phnet_cuda.reference), for
several n (including 2 and 3), B, M, L, both dtypes and both devices; empty batches; batch-1
broadcast of the element matrices; opcheck of every op."""

from __future__ import annotations

import pytest
import torch
from support import DEVICES, DTYPES, TOL, assert_rel_close, random_problem, rel_err

from phnet_cuda import ops, reference

SIZES = [  # (B, L, M, n)
    (1, 6, 2, 2),
    (2, 6, 2, 3),
    (2, 1, 1, 4),
    (1, 7, 3, 5),
    (3, 6, 2, 8),
    (1, 6, 21, 3),
    (2, 13, 2, 9),
]


def ref64(fn, *args):
    return fn(*[a.detach().cpu().double() if isinstance(a, torch.Tensor) else a for a in args])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,L,M,n", SIZES)
class TestAgainstReference:
    def test_stiffness_apply(self, device, dtype, B, L, M, n):
        p = random_problem(B, L, M, n, dtype, device)
        out = ops.stiffness_apply(p["u"], p["phase"], p["Ke"])
        assert out.shape == p["u"].shape and out.dtype == dtype and out.device.type == device
        assert_rel_close(out, ref64(reference.stiffness_apply, p["u"], p["phase"], p["Ke"]), TOL[dtype])

    def test_load_vectors(self, device, dtype, B, L, M, n):
        p = random_problem(B, L, M, n, dtype, device)
        out = ops.load_vectors(p["phase"], p["Fe"])
        assert out.shape == (B, L, 3, n, n, n)
        assert_rel_close(out, ref64(reference.load_vectors, p["phase"], p["Fe"]), TOL[dtype])

    def test_energy(self, device, dtype, B, L, M, n):
        p = random_problem(B, L, M, n, dtype, device)
        out = ops.energy_loss(p["u"], p["phase"], p["Ke"], p["Fe"])
        assert out.shape == (B, L)
        ref = ref64(reference.energy_loss, p["u"], p["phase"], p["Ke"], p["Fe"])
        assert_rel_close(out, ref, 10 * TOL[dtype])

    def test_energy_backward(self, device, dtype, B, L, M, n):
        p = random_problem(B, L, M, n, dtype, device)
        g = torch.randn(B, L, dtype=dtype, device=device)
        out = torch.ops.phnet.energy_loss_backward(g, p["u"], p["phase"], p["Ke"], p["Fe"])
        ref = ref64(reference.energy_loss_backward, g, p["u"], p["phase"], p["Ke"], p["Fe"])
        assert_rel_close(out, ref, TOL[dtype])

    def test_homogenized_sum(self, device, dtype, B, L, M, n):
        if L > 6:
            pytest.skip("homogenized_tensor takes at most 6 load cases")
        p = random_problem(B, L, M, n, dtype, device)
        out = ops.homogenized_tensor(p["u"], p["phase"], p["Ke"], p["Fe"], p["Ce"])
        ref = ref64(reference.homogenized_tensor, p["u"], p["phase"], p["Ke"], p["Fe"], p["Ce"])
        assert out.shape == (B, L, L)
        assert_rel_close(out, ref, 10 * TOL[dtype])
        assert torch.equal(out, out.transpose(1, 2))

    def test_phase_gradient(self, device, dtype, B, L, M, n):
        p = random_problem(B, L, M, n, dtype, device, J=4)
        a = torch.randn_like(p["u"])
        b = torch.randn(B, 4, 3, n, n, n, dtype=dtype, device=device)
        out = ops.phase_gradient(a, p["u"], b, p["Ke"], p["Fe"])
        assert out.shape == (B, M, n, n, n)
        ref = ref64(reference.phase_gradient, a, p["u"], b, p["Ke"], p["Fe"])
        assert_rel_close(out, ref, TOL[dtype])

    def test_element_fields(self, device, dtype, B, L, M, n):
        p = random_problem(B, L, M, n, dtype, device)
        macro = torch.randn(B, L, 6, dtype=dtype, device=device)
        eps, sig = ops.element_fields(p["u"], p["phase"], p["C"], macro)
        eps_r, sig_r = ref64(reference.element_fields, p["u"], p["phase"], p["C"], macro)
        assert eps.shape == sig.shape == (B, L, 6, n, n, n)
        assert_rel_close(eps, eps_r, TOL[dtype])
        assert_rel_close(sig, sig_r, TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
def test_broadcast_element_matrices(device):
    """Ke/Fe/Ce/C with batch 1 are shared by every sample."""
    p = random_problem(3, 6, 2, 4, torch.float64, device, batched_mats=False)
    u, ph, Ke, Fe, Ce = p["u"], p["phase"], p["Ke"], p["Fe"], p["Ce"]
    full = {k: v.expand(3, *v.shape[1:]).contiguous() for k, v in dict(Ke=Ke, Fe=Fe, Ce=Ce).items()}
    assert_rel_close(ops.stiffness_apply(u, ph, Ke), ops.stiffness_apply(u, ph, full["Ke"]), 1e-14)
    assert_rel_close(ops.energy_loss(u, ph, Ke, Fe), ops.energy_loss(u, ph, full["Ke"], full["Fe"]), 1e-14)
    assert rel_err(ops.homogenized_tensor(u, ph, Ke, Fe, Ce),
                   ops.homogenized_tensor(u, ph, full["Ke"], full["Fe"], full["Ce"])) < 1e-14


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_inputs(device):
    p = random_problem(2, 6, 2, 4, torch.float64, device)
    u_nc = p["u"].transpose(3, 5).contiguous().transpose(3, 5)  # same values, other strides
    assert not u_nc.is_contiguous()
    assert rel_err(ops.stiffness_apply(u_nc, p["phase"], p["Ke"]),
                   ops.stiffness_apply(p["u"], p["phase"], p["Ke"])) == 0.0


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch(device):
    p = random_problem(1, 6, 2, 3, torch.float32, device)
    u0 = p["u"][:0]
    ph0 = p["phase"][:0]
    assert ops.stiffness_apply(u0, ph0, p["Ke"]).shape == (0, 6, 3, 3, 3, 3)
    assert ops.load_vectors(ph0, p["Fe"]).shape == (0, 6, 3, 3, 3, 3)
    assert ops.energy_loss(u0, ph0, p["Ke"], p["Fe"]).shape == (0, 6)
    assert ops.homogenized_tensor(u0, ph0, p["Ke"], p["Fe"], p["Ce"]).shape == (0, 6, 6)
    assert ops.phase_gradient(u0, u0, u0, p["Ke"], p["Fe"]).shape == (0, 2, 3, 3, 3)
    eps, sig = ops.element_fields(u0, ph0, p["C"], torch.zeros(0, 6, 6, device=device))
    assert eps.shape == sig.shape == (0, 6, 6, 3, 3, 3)


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic(device):
    p = random_problem(2, 6, 2, 6, torch.float32, device)
    e1 = ops.energy_loss(p["u"], p["phase"], p["Ke"], p["Fe"])
    e2 = ops.energy_loss(p["u"], p["phase"], p["Ke"], p["Fe"])
    assert torch.equal(e1, e2)


def _opcheck_cases(device, grad: bool):
    p = random_problem(2, 6, 2, 3, torch.float64, device)
    u = p["u"].requires_grad_(grad)
    ph = p["phase"].requires_grad_(grad)
    a = torch.randn_like(p["u"]).requires_grad_(grad)
    b = torch.randn_like(p["u"]).requires_grad_(grad)
    g = torch.randn(2, 6, dtype=torch.float64, device=device).requires_grad_(grad)
    macro = torch.randn(2, 6, 6, dtype=torch.float64, device=device).requires_grad_(grad)
    return {
        "stiffness_apply": (u, ph, p["Ke"]),
        "load_vectors": (ph, p["Fe"]),
        "energy_loss": (u, ph, p["Ke"], p["Fe"]),
        "energy_loss_backward": (g, u, p["phase"], p["Ke"], p["Fe"]),
        "homogenized_tensor": (u, ph, p["Ke"], p["Fe"], p["Ce"]),
        "phase_gradient": (a, u, b, p["Ke"], p["Fe"]),
        "element_fields": (u, p["phase"], p["C"], macro),
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["stiffness_apply", "load_vectors", "energy_loss", "energy_loss_backward",
                                  "homogenized_tensor", "phase_gradient", "element_fields"])
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "nograd"])
def test_opcheck(device, name, grad):
    args = _opcheck_cases(device, grad)[name]
    torch.library.opcheck(getattr(torch.ops.phnet, name).default, args)


@pytest.mark.parametrize("name", ["stiffness_apply", "load_vectors", "energy_loss", "energy_loss_backward",
                                  "homogenized_tensor", "phase_gradient", "element_fields"])
def test_an_argument_on_another_device_is_an_error_not_garbage(name):
    """A meta tensor among CPU arguments used to route the call to the fake kernel, which returned
    an uninitialised CPU tensor (|x| ~ 1e295): every argument position must be refused, naming it."""
    args = _opcheck_cases("cpu", False)[name]
    schema_names = [a.name for a in getattr(torch.ops.phnet, name).default._schema.arguments]
    for i in range(len(args)):
        mixed = [a.to("meta") if j == i else a for j, a in enumerate(args)]
        with pytest.raises(RuntimeError, match=r"argument '\w+' must be on the device of '\w+'") as err:
            getattr(torch.ops.phnet, name)(*mixed)
        assert any(f"'{n}'" in str(err.value) for n in schema_names)
