"""Every CUDA kernel of csrc/kernels/, executed on the CPU by the SIMT emulator (csrc/simt/, the
test library ``torch.ops.phnet_simt``) and compared with the CPU ops ``torch.ops.phnet``: every
forward kernel, the backward kernel energy_loss_backward, and the autograd formulas of
``phnet_cuda.ops`` with their op calls routed to the emulated kernels.

The emulation is made hard on the kernels: a grid cap of 2 blocks and blocks of at most 32
threads, so that every grid-stride loop runs several rounds; outputs a kernel must overwrite
completely are NaN-prefilled; the blocks, and the threads of a block between two barriers, run
in a seeded random order. Bugs planted by the emulator (a block index off by one, a missed
barrier, an early return before a barrier) make the same comparison fail, or are reported.
Needs no GPU: this is how the CUDA half of the ops is tested (docs/testing.md)."""

from __future__ import annotations

import math

import pytest
import torch
from support import DTYPES, TOL, assert_rel_close, random_problem, simt_config

from phnet_cuda import ops

# (B, L, M, n, batched element matrices, contiguous inputs): every n in {1, 2, 3, 5, 8},
# B in {1, 3}, M in {1, 2, 21}, L in {0, 1, 6, 7}, batch-1 matrices and strided inputs appear
# (each case runs in both dtypes).
CASES = [
    pytest.param(1, 1, 1, 1, True, True, id="B1-L1-M1-n1"),
    pytest.param(3, 6, 2, 2, False, True, id="B3-L6-M2-n2-batch1mats"),
    pytest.param(1, 7, 21, 3, True, False, id="B1-L7-M21-n3-strided"),
    pytest.param(3, 0, 2, 3, True, True, id="B3-L0-M2-n3"),
    pytest.param(3, 6, 1, 5, False, False, id="B3-L6-M1-n5-batch1mats-strided"),
    pytest.param(1, 7, 2, 8, True, True, id="B1-L7-M2-n8"),
    pytest.param(3, 1, 21, 2, False, True, id="B3-L1-M21-n2-batch1mats"),
    pytest.param(3, 6, 2, 8, True, False, id="B3-L6-M2-n8-strided"),
]

OP_NAMES = [
    "stiffness_apply",
    "load_vectors",
    "energy_loss",
    "energy_loss_backward",
    "homogenized_tensor",
    "phase_gradient",
    "element_fields",
]

# How each op is called on the inputs of _inputs.
CALLS = {
    "stiffness_apply": lambda o, q: o.stiffness_apply(q["u"], q["phase"], q["Ke"]),
    "load_vectors": lambda o, q: o.load_vectors(q["phase"], q["Fe"]),
    "energy_loss": lambda o, q: o.energy_loss(q["u"], q["phase"], q["Ke"], q["Fe"]),
    "energy_loss_backward": lambda o, q: o.energy_loss_backward(q["grad"], q["u"], q["phase"], q["Ke"], q["Fe"]),
    "homogenized_tensor": lambda o, q: o.homogenized_tensor(q["u_h"], q["phase"], q["Ke"], q["Fe_h"], q["Ce_h"]),
    "phase_gradient": lambda o, q: o.phase_gradient(q["a"], q["u"], q["b"], q["Ke"], q["Fe_j"]),
    "element_fields": lambda o, q: o.element_fields(q["u"], q["phase"], q["C"], q["macro"]),
}

# Reductions subtract large terms (energy: u.Ku/2 - u.f), so they get the tolerance of test_ops.
TOL_FACTOR = {"energy_loss": 10, "homogenized_tensor": 10}
SEED = 20240916


def _strided(t: torch.Tensor) -> torch.Tensor:
    """The values of t in a non-contiguous view (every other element of a buffer whose other
    half is NaN, so that a kernel reading the raw storage would show it)."""
    return torch.stack([t, torch.full_like(t, float("nan"))], dim=-1)[..., 0]


def _inputs(B, L, M, n, batched, contiguous, dtype) -> dict[str, torch.Tensor]:
    """Inputs of every op for one case (see CALLS): L load cases, except homogenized_tensor's
    (it takes 1 <= L <= 6) and phase_gradient's load columns (J = 4)."""
    p = random_problem(B, L, M, n, dtype, "cpu", batched_mats=batched, seed=1)
    L_h = min(max(L, 1), 6)
    h = random_problem(B, L_h, M, n, dtype, "cpu", batched_mats=batched, seed=2)
    pg = random_problem(B, L, M, n, dtype, "cpu", J=4, batched_mats=batched, seed=3)
    g = torch.Generator().manual_seed(4)
    field = (B, L, 3, n, n, n)
    q = dict(
        u=p["u"],
        phase=p["phase"],
        Ke=p["Ke"],
        Fe=p["Fe"],
        C=p["C"],
        u_h=h["u"],
        Fe_h=h["Fe"],
        Ce_h=h["Ce"],
        Fe_j=pg["Fe"],
        grad=torch.randn(B, L, dtype=torch.float64, generator=g).to(dtype),
        a=torch.randn(*field, dtype=torch.float64, generator=g).to(dtype),
        b=torch.randn(B, 4, 3, n, n, n, dtype=torch.float64, generator=g).to(dtype),
        macro=torch.randn(B, L, 6, dtype=torch.float64, generator=g).to(dtype),
    )
    if not contiguous:
        q = {k: _strided(v) for k, v in q.items()}
        assert not q["u"].is_contiguous() and not q["Ke"].is_contiguous()
    return q



@pytest.fixture(autouse=True)
def _dense_cpu_element_math(monkeypatch):
    """The CPU ops compared with use the dense element math, as the CUDA kernels do (their Walsh
    path, which rounds differently - K u of n = 1 is exactly 0 there - has its own tests in
    test_walsh_kernels.py)."""
    monkeypatch.setenv("PHNET_ELEMENT_MATH", "dense")

def _emulation(B, n) -> dict:
    """Grid cap 2 and a block size that makes the grid-stride loops of this size run several
    rounds (a power of two <= 32, about B n^3 / 8), NaN prefill, seeded random order."""
    threads = 1 << max(0, min(5, int(math.log2(max(B * n**3 / 8, 1)))))
    return dict(max_grid_dim=2, block_threads=threads, seed=SEED, prefill_nan=True)


def _outputs(result) -> tuple[torch.Tensor, ...]:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _assert_equal_to_cpu(name, actual, expected, dtype):
    for a, e in zip(_outputs(actual), _outputs(expected), strict=True):
        assert a.shape == e.shape and a.dtype == e.dtype == dtype
        assert_rel_close(a, e, TOL_FACTOR.get(name, 1) * TOL[dtype], msg=lambda m: f"{name}: {m}")


def _work(name, q) -> tuple[int, int]:
    """(items of the kernel's grid-stride loop over gridDim.x, the same over gridDim.y)."""
    B, M, n = q["phase"].shape[0], q["phase"].shape[1], q["phase"].shape[-1]
    L = q["u"].shape[1]
    if name in ("energy_loss", "homogenized_tensor"):  # voxels in x, samples in y
        return n**3, B
    return {"phase_gradient": B * M * n**3, "element_fields": B * L * n**3}.get(name, B * n**3), 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,L,M,n,batched,contiguous", CASES)
@pytest.mark.parametrize("name", OP_NAMES)
def test_emulated_cuda_kernel_equals_the_cpu_op(name, B, L, M, n, batched, contiguous, dtype):
    q = _inputs(B, L, M, n, batched, contiguous, dtype)
    expected = CALLS[name](torch.ops.phnet, q)
    with simt_config(**_emulation(B, n)) as simt:
        actual = CALLS[name](simt, q)
        grid_x, grid_y, _, block_x, _, _, _, _, launches = simt.last_launch()
    _assert_equal_to_cpu(name, actual, expected, dtype)
    if all(e.numel() == 0 for e in _outputs(expected)):
        assert launches == 0  # nothing to compute: no launch
        return
    assert launches >= 1 and grid_x <= 2 and grid_y <= 2
    work_x, work_y = _work(name, q)
    rounds_x = math.ceil(work_x / (grid_x * block_x))
    assert rounds_x >= min(2, work_x), (rounds_x, work_x, grid_x, block_x)  # the loop runs several rounds
    assert math.ceil(work_y / grid_y) == min(work_y, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", OP_NAMES)
def test_emulated_cuda_kernel_in_the_gpu_launch_configuration(name, dtype):
    """The launchers' own choice (256 threads, grid up to 65535), blocks in random order."""
    q = _inputs(3, 6, 2, 8, True, True, dtype)
    expected = CALLS[name](torch.ops.phnet, q)
    with simt_config(seed=SEED, prefill_nan=True) as simt:
        actual = CALLS[name](simt, q)
        record = simt.last_launch()
    assert record[3] == 256 and record[8] >= 1
    _assert_equal_to_cpu(name, actual, expected, dtype)


# ---------------------------------------------------------------- the autograd formulas of ops.py
# Each op's backward (and energy_loss_backward's, the energy's double backward) calls other ops
# through ``ops._ops``; routed to phnet_simt, its kernel calls run in the emulator, with the
# argument patterns autograd uses (transposed Ke, phase_gradient with no load columns, ...).
# Gradients are taken w.r.t. the fields and phases: those w.r.t. the element matrices are
# batched products in plain PyTorch (ops._ke_grad, _fe_grad), with no kernel to emulate.
DIFFERENTIABLE = {  # op -> (its inputs in call order, those to differentiate)
    "stiffness_apply": (("u", "phase", "Ke"), {"u", "phase"}),
    "load_vectors": (("phase", "Fe"), {"phase"}),
    "energy_loss": (("u", "phase", "Ke", "Fe"), {"u", "phase"}),
    "energy_loss_backward": (("grad", "u", "phase", "Ke", "Fe"), {"grad", "u", "phase"}),
    "homogenized_tensor": (("u_h", "phase", "Ke", "Fe_h", "Ce_h"), {"u_h", "phase"}),
    "phase_gradient": (("a", "u", "b", "Ke", "Fe_j"), {"a", "u", "b"}),
}


def _gradients(name, q, seed):
    names, wrt = DIFFERENTIABLE[name]
    inputs = [q[k].detach().clone().requires_grad_(k in wrt) for k in names]
    out = _outputs(getattr(torch.ops.phnet, name)(*inputs))
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, dtype=torch.float64, generator=g).to(o.dtype)).sum() for o in out)
    return torch.autograd.grad(loss, [x for x in inputs if x.requires_grad])


@pytest.mark.parametrize(
    "B,L,M,n,batched,dtype",
    [
        pytest.param(3, 6, 2, 3, False, torch.float64, id="B3-L6-M2-n3-batch1mats-f64"),
        pytest.param(1, 7, 21, 2, True, torch.float32, id="B1-L7-M21-n2-f32"),
    ],
)
@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_autograd_formulas_through_the_emulated_kernels(name, B, L, M, n, batched, dtype, monkeypatch):
    q = _inputs(B, L, M, n, batched, True, dtype)
    expected = _gradients(name, q, seed=5)
    with simt_config(**_emulation(B, n)) as simt:
        monkeypatch.setattr(ops, "_ops", simt)
        actual = _gradients(name, q, seed=5)
        launches = simt.last_launch()[8]
    assert launches >= 1  # the backward formula ran emulated kernels
    wrt = [k for k in DIFFERENTIABLE[name][0] if k in DIFFERENTIABLE[name][1]]
    for arg, a, e in zip(wrt, actual, expected, strict=True):
        assert_rel_close(a, e, 10 * TOL[dtype], msg=lambda m, arg=arg: f"{name}, gradient of {arg}: {m}")


# ---------------------------------------------------------------- planted bugs are caught
FAULT_CASE = (3, 6, 2, 5, True, True)  # B, L, M, n: 2 blocks of 32 threads, several rounds
BARRIER_KERNELS = ["energy_loss", "homogenized_tensor"]  # the kernels with __syncthreads (block_sum)


def _run_with_fault(name, **fault):
    q = _inputs(*FAULT_CASE, torch.float64)
    expected = CALLS[name](torch.ops.phnet, q)
    with simt_config(**_emulation(FAULT_CASE[0], FAULT_CASE[3]), **fault) as simt:
        actual = CALLS[name](simt, q)
    return actual, expected


@pytest.mark.parametrize("name", OP_NAMES)
def test_a_block_index_off_by_one_is_caught(name):
    """blockIdx.x one too high (clamped into the grid): block 0's items are skipped and the last
    block's done twice. The comparison of the main test must fail for every kernel."""
    actual, expected = _run_with_fault(name, block_index_shift=1)
    with pytest.raises(AssertionError):
        _assert_equal_to_cpu(name, actual, expected, torch.float64)


@pytest.mark.parametrize("barrier", [1, 3])
@pytest.mark.parametrize("name", BARRIER_KERNELS)
def test_a_missed_barrier_is_caught(name, barrier):
    """block_sum without its first barrier (after each thread stores its value) or without the
    barrier after the tree step s = 8: thread 0 reads partial sums that are not written yet.
    (block_sum's last two barriers guard only values that no caller uses: without them the
    results stay right.)"""
    actual, expected = _run_with_fault(name, skip_barrier=barrier)
    with pytest.raises(AssertionError):
        _assert_equal_to_cpu(name, actual, expected, torch.float64)


@pytest.mark.parametrize("name", BARRIER_KERNELS)
def test_a_barrier_reached_by_only_some_threads_is_reported(name):
    with pytest.raises(
        RuntimeError,
        match=r"__syncthreads\(\) in \w+_kernel<scalar_t>, block \(\d, \d, 0\): "
        r"barrier 2 was reached by 16 of the block's 32 threads; the other 16 "
        r"returned from the kernel without reaching it",
    ):
        _run_with_fault(name, exit_at_barrier=2)
