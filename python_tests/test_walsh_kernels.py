"""The CPU kernels' Walsh-basis path (csrc/walsh_math.h) and the one-matrix two-phase form.

Element matrices of the trilinear hexahedron (fem.element_matrices, any symmetric C) make the
CPU ops take the Walsh path; ``PHNET_ELEMENT_MATH=dense`` forces the dense element math. Both
paths are compared with the float64 reference and with each other, for isotropic and
anisotropic (shape-transformed) materials, M = 1, 2, 3 phases, shared and per-sample matrices.
The one-matrix form of ``CellProblem`` (rho = vox + r (1 - vox), the hard phase's matrices) is
compared with the explicit two-phase mixture, values and gradients.
"""

from __future__ import annotations

import contextlib
import os

import pytest
import torch

from phnet_cuda import CellProblem, fem, ops, reference
from phnet_cuda.materials import cube_materials, isotropic_stiffness, two_phase_fractions
from phnet_cuda.testing import assert_rel_close


@contextlib.contextmanager
def element_math(kind: str):
    """Run the ops with the dense element math (``kind="dense"``) or the default choice."""
    old = os.environ.get("PHNET_ELEMENT_MATH")
    if kind == "dense":
        os.environ["PHNET_ELEMENT_MATH"] = "dense"
    else:
        os.environ.pop("PHNET_ELEMENT_MATH", None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PHNET_ELEMENT_MATH", None)
        else:
            os.environ["PHNET_ELEMENT_MATH"] = old


def hex_matrices(M: int, n: int, per_sample: int, seed: int):
    """Ke [S, M, 24, 24], Fe [S, M, 24, 6] of the hexahedron for M materials (the first isotropic,
    the others random anisotropic SPD), S = per_sample (1 = shared)."""
    g = torch.Generator().manual_seed(seed)
    Cs = []
    for s in range(per_sample):
        row = [isotropic_stiffness(1.0 + s, 0.3)]
        for _ in range(M - 1):
            A = torch.randn(6, 6, generator=g, dtype=torch.float64)
            row.append(A @ A.T + 6 * torch.eye(6, dtype=torch.float64))
        Cs.append(torch.stack(row))
    Ke, Fe, _ = fem.element_matrices(torch.stack(Cs), 1.0 / n)
    return Ke.contiguous(), Fe.contiguous()


CASES = [  # (n, B, L, M, per-sample matrices)
    (1, 1, 6, 1, False),
    (3, 2, 6, 2, True),
    (5, 3, 7, 1, False),
    (8, 1, 1, 3, False),
    (9, 2, 6, 1, True),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n,B,L,M,per", CASES)
def test_walsh_path_matches_reference_and_dense(n, B, L, M, per, dtype):
    Ke, Fe = hex_matrices(M, n, B if per else 1, seed=n + 10 * M)
    Fe = Fe[..., :L] if L <= 6 else torch.cat([Fe, Fe[..., :L - 6]], dim=-1).contiguous()
    g = torch.Generator().manual_seed(7)
    u = torch.randn(B, L, 3, n, n, n, generator=g, dtype=torch.float64)
    phase = torch.rand(B, M, n, n, n, generator=g, dtype=torch.float64)
    grad = torch.randn(B, L, generator=g, dtype=torch.float64)
    refs = {
        "K u": reference.stiffness_apply(u, phase, Ke),
        "energy": reference.energy_loss(u, phase, Ke, Fe),
        "backward": reference.energy_loss_backward(grad, u, phase, Ke, Fe),
    }
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    # Errors relative to the largest entry, or to the operator's scale where the result is ~0
    # (n = 1: every node is the same one, K u = 0 exactly, the reference leaves rounding).
    scale = {"K u": float(Ke.abs().max() * u.abs().max()), "energy": float(Ke.abs().max() * u.abs().max() ** 2),
             "backward": float(Ke.abs().max() * u.abs().max() * grad.abs().max())}

    def close(a, b, name, msg=None):
        torch.testing.assert_close(a.double(), b.double(), rtol=0.0, atol=tol * max(float(b.abs().max()), scale[name]),
                                   msg=msg)

    args = [t.to(dtype) for t in (u, phase, Ke, Fe, grad)]
    results = {}
    for kind in ("walsh", "dense"):
        uu, ph, K, F, gg = args
        with element_math(kind):
            results[kind] = {
                "K u": torch.ops.phnet.stiffness_apply(uu, ph, K),
                "energy": torch.ops.phnet.energy_loss(uu, ph, K, F),
                "backward": torch.ops.phnet.energy_loss_backward(gg, uu, ph, K, F),
            }
        for name, ref in refs.items():
            close(results[kind][name], ref, name, msg=f"{kind} {name}")
    for name in refs:  # both paths agree to rounding, and repeat bitwise
        close(results["walsh"][name], results["dense"][name], name)
        with element_math("walsh"):
            again = {"K u": lambda: torch.ops.phnet.stiffness_apply(*args[:3]),
                     "energy": lambda: torch.ops.phnet.energy_loss(*args[:4]),
                     "backward": lambda: torch.ops.phnet.energy_loss_backward(args[4], *args[:4])}[name]()
        assert torch.equal(again, results["walsh"][name])


def test_off_pattern_matrix_keeps_the_dense_path():
    """A symmetric Ke that is not of the hexahedron's form must not be cut to the Walsh pattern:
    the result still matches the reference exactly (a planted drop of the off-pattern entry
    would be off by about its size)."""
    n = 4
    Ke, _ = hex_matrices(1, n, 1, seed=3)
    Ke = Ke.clone()
    Ke[0, 0, 0, 5] += 0.1 * Ke.abs().max()
    Ke[0, 0, 5, 0] = Ke[0, 0, 0, 5]
    g = torch.Generator().manual_seed(1)
    u = torch.randn(2, 6, 3, n, n, n, generator=g, dtype=torch.float64)
    phase = torch.rand(2, 1, n, n, n, generator=g, dtype=torch.float64)
    assert_rel_close(torch.ops.phnet.stiffness_apply(u, phase, Ke), reference.stiffness_apply(u, phase, Ke), 1e-13)


@pytest.mark.parametrize("shape", [None, (75.0, 80.0, 85.0, 1.0, 1.3, 2.0)])
def test_one_matrix_problem_equals_two_phase_mixture(shape):
    """CellProblem's rho Ke_hard path against the explicit mixture vox Ke_hard + (1 - vox) Ke_soft
    of the two phases' own matrices: every op and the gradients w.r.t. u and vox, to 1e-12."""
    n, B = 4, 2
    E, nu, r = torch.tensor([1.0, 3.0], dtype=torch.float64), 0.3, torch.tensor([1e-3, 0.2], dtype=torch.float64)
    prob = CellProblem(n, E=E, nu=nu, soft_ratio=r, shape=shape, dtype=torch.float64)
    C_hat = cube_materials(E, nu, r, shape).C_hat  # [B, 2, 6, 6]
    Ke2, Fe2, Ce2 = fem.element_matrices(C_hat, 1.0 / n)
    assert prob.Ke.shape == (B, 1, 24, 24)
    g = torch.Generator().manual_seed(0)
    vox = torch.rand(B, n, n, n, generator=g, dtype=torch.float64).requires_grad_()
    u = (0.1 * torch.randn(B, 6, 3, n, n, n, generator=g, dtype=torch.float64)).requires_grad_()

    def both(fn_one, fn_two):
        one, two = fn_one(), fn_two()
        assert_rel_close(one, two, 1e-12)
        # a random functional of the output (a plain sum of the periodic loads is 0, so its
        # gradient would be rounding only)
        weight = torch.randn(one.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        ga = torch.autograd.grad((weight * one).sum(), (u, vox), allow_unused=True, materialize_grads=True)
        gb = torch.autograd.grad((weight * two).sum(), (u, vox), allow_unused=True, materialize_grads=True)
        for a, b in zip(ga, gb, strict=True):
            assert_rel_close(a, b, 1e-12)

    def mix():
        return two_phase_fractions(vox, torch.float64).contiguous()

    both(lambda: prob.energy_loss(u, vox, reduction="none"), lambda: ops.energy_loss(u, mix(), Ke2, Fe2))
    both(lambda: prob.homogenized_tensor(u, vox),
         lambda: prob.recover(ops.homogenized_tensor(u, mix(), Ke2, Fe2, Ce2)))
    both(lambda: prob.stiffness_apply(u, vox), lambda: ops.stiffness_apply(u, mix(), Ke2))
    both(lambda: prob.load_vectors(vox), lambda: ops.load_vectors(mix(), Fe2))
