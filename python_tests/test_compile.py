"""The custom ops under ``torch.compile(fullgraph=True)``: a small training step whose loss is the
fused ``phnet::energy_loss`` traces into one graph (fake kernels, autograd formulas) and gives the
eager step's loss and gradients."""

from __future__ import annotations

import pytest
import torch

from phnet_cuda import CellProblem, ops
from phnet_cuda.geometry import tubular_gyroid


def _net_and_inputs():
    torch.manual_seed(0)
    n = 6
    prob = CellProblem(n, E=2.0, nu=0.3, dtype=torch.float64)
    vox = tubular_gyroid(n, 0.3).unsqueeze(0).double()
    phase = prob.phases(vox)  # [1, 1, n, n, n]: each voxel's stiffness in units of the hard phase
    net = torch.nn.Conv3d(1, 18, 3, padding=1, padding_mode="circular").double()
    return net, phase, prob.Ke, prob.Fe


def _step(net, phase, Ke, Fe):
    """Network field -> fused energy loss -> the scalar a training loop minimises."""
    u = net(phase).reshape(phase.shape[0], 6, 3, *phase.shape[2:])
    return ops.energy_loss(u.contiguous(), phase, Ke, Fe).sum(dim=1).mean()


# aot_eager traces exactly what inductor would (fake kernels, the registered backward) without
# generating C++ for the surrounding convolution, which would take minutes on CI's two cores.
@pytest.mark.parametrize("backend", ["aot_eager"])
def test_energy_loss_training_step_compiles_fullgraph(backend):
    net, phase, Ke, Fe = _net_and_inputs()
    eager = _step(net, phase, Ke, Fe)
    eager.backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    compiled = torch.compile(_step, backend=backend, fullgraph=True)
    loss = compiled(net, phase, Ke, Fe)
    loss.backward()
    torch.testing.assert_close(loss, eager, rtol=1e-12, atol=0)
    for g, ref in zip(grads, [p.grad for p in net.parameters()]):
        torch.testing.assert_close(ref, g, rtol=1e-10, atol=1e-14)
    # and an optimiser step through the compiled loss lowers it
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    opt.step()
    assert compiled(net, phase, Ke, Fe).item() < loss.item()
