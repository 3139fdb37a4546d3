"""The custom ops (``torch.ops.phnet.*``): Python entry points, fake kernels, autograd.

Each wrapper is named after its op schema (``phnet::<name>``); ``residual`` is
``energy_loss_backward`` with a unit gradient. Low-level, element-matrix level API; most users want the
two-phase wrappers in ``phnet_cuda.problem`` (``energy_loss``, ``homogenized_tensor``, ``CellProblem``).

Shapes (B batch, L load cases, M phases, n grid, J load columns):
    u, a         [B, L, 3, n, n, n]   node fields (docs/conventions.md layout)
    phase        [B, M, n, n, n]      phase fractions per voxel
    Ke           [B or 1, M, 24, 24]  per-phase element stiffness (fem.element_matrices)
    Fe           [B or 1, M, 24, J]   per-phase element load columns
    Ce           [B or 1, M, L, L]    per-phase element integral of C (h^3 C)
    C            [B or 1, M, 6, 6]    per-phase Voigt stiffness
All tensors of one call share dtype (float32/float64) and device (CPU/CUDA).

Values are not inspected: like torch ops, the ops propagate NaN and inf (the public API above
them rejects non-finite inputs). Every op is differentiable w.r.t. its field and phase arguments
(custom backward kernels) and w.r.t. the element matrices (batched products over shifted copies
of the fields).
"""

from __future__ import annotations

import torch

from . import fem
from ._lib import load_library
from .conventions import NODE_OFFSETS
from .grid import scatter_elements, shifted_flat

load_library()

_ops = torch.ops.phnet


def stiffness_apply(u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor) -> torch.Tensor:
    """Matrix-free periodic K u ``[B, L, 3, n, n, n]`` with Ke_e = sum_m phase[m, e] Ke[m]."""
    return _ops.stiffness_apply(u, phase, Ke)


def load_vectors(phase: torch.Tensor, Fe: torch.Tensor) -> torch.Tensor:
    """Assembled load vectors ``[B, J, 3, n, n, n]``, f_j = sum_e Fe_e[:, j]."""
    return _ops.load_vectors(phase, Fe)


def energy_loss(u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor, Fe: torch.Tensor) -> torch.Tensor:
    """Fused potential energies ``[B, L]``: u_l^T K u_l / 2 - u_l^T f_l (Fe has L columns).

    One pass, no K u materialised; its backward is one fused pass giving K u - f."""
    return _ops.energy_loss(u, phase, Ke, Fe)


def energy_loss_backward(grad: torch.Tensor, u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor,
                         Fe: torch.Tensor) -> torch.Tensor:
    """grad[b, l] (K u_l - f_l) ``[B, L, 3, n, n, n]`` for grad ``[B, L]``: the gradient of
    ``energy_loss`` in one fused pass."""
    return _ops.energy_loss_backward(grad, u, phase, Ke, Fe)


def residual(u: torch.Tensor, phase: torch.Tensor, Ke: torch.Tensor, Fe: torch.Tensor) -> torch.Tensor:
    """K u_l - f_l ``[B, L, 3, n, n, n]`` in one fused pass (the energy gradient)."""
    ones = torch.ones(u.shape[0], u.shape[1], dtype=u.dtype, device=u.device)
    return _ops.energy_loss_backward(ones, u, phase, Ke, Fe)


def homogenized_tensor(u, phase, Ke, Fe, Ce) -> torch.Tensor:
    """Energy form of C^H summed over the cell, ``[B, L, L]`` (= |Omega| C^H; |Omega| = 1 for
    the unit cube with h = 1/n)."""
    return _ops.homogenized_tensor(u, phase, Ke, Fe, Ce)


# The names of the first releases, before the wrappers were named after their op schemas.
energy = energy_loss
homogenized_sum = homogenized_tensor


def phase_gradient(a, u, b, Ke, Fe) -> torch.Tensor:
    """Per-voxel, per-phase ``[B, M, n, n, n]``: sum_l a_l^T Ke[m] u_l + sum_j b_j . Fe[m][:, j]."""
    return _ops.phase_gradient(a, u, b, Ke, Fe)


def element_fields(u, phase, C, macro_strain) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel-average strain and stress ``[B, L, 6, n, n, n]``: eps_l = macro_strain[:, l] - B u_l,
    sigma_l = C_e eps_l (C_e = sum_m phase_m C[m])."""
    return _ops.element_fields(u, phase, C, macro_strain)


# ----------------------------------------------------------------------------- fake kernels
def _field_like(u):
    return torch.empty_like(u, memory_format=torch.contiguous_format)


def _one_device(op: str, **tensors: torch.Tensor) -> None:
    """All tensor arguments of ``op`` on one device and of one dtype. Why here: an argument on the
    meta device next to real ones sends the call to these fake kernels (Meta outranks CPU in
    the dispatcher), which would return an uninitialised tensor on the real device instead of an
    error. The C++ entry points make the same check for calls that reach them."""
    (first, ref), *rest = tensors.items()
    for name, t in rest:
        torch._check(t.device == ref.device,
                     lambda name=name, t=t: f"phnet::{op}: argument '{name}' must be on the device of '{first}' "
                                            f"({ref.device}), got {t.device}")
        torch._check(t.dtype == ref.dtype,
                     lambda name=name, t=t: f"phnet::{op}: argument '{name}' must have the dtype of '{first}' "
                                            f"({ref.dtype}), got {t.dtype}")


@torch.library.register_fake("phnet::stiffness_apply")
def _(u, phase, Ke):
    _one_device("stiffness_apply", u=u, phase=phase, Ke=Ke)
    return _field_like(u)


@torch.library.register_fake("phnet::load_vectors")
def _(phase, Fe):
    _one_device("load_vectors", phase=phase, Fe=Fe)
    B, n = phase.shape[0], phase.shape[-1]
    return phase.new_empty(B, Fe.shape[-1], 3, n, n, n)


@torch.library.register_fake("phnet::energy_loss")
def _(u, phase, Ke, Fe):
    _one_device("energy_loss", u=u, phase=phase, Ke=Ke, Fe=Fe)
    return u.new_empty(u.shape[0], u.shape[1])


@torch.library.register_fake("phnet::energy_loss_backward")
def _(grad, u, phase, Ke, Fe):
    _one_device("energy_loss_backward", u=u, grad=grad, phase=phase, Ke=Ke, Fe=Fe)
    return _field_like(u)


@torch.library.register_fake("phnet::homogenized_tensor")
def _(u, phase, Ke, Fe, Ce):
    _one_device("homogenized_tensor", u=u, phase=phase, Ke=Ke, Fe=Fe, Ce=Ce)
    return u.new_empty(u.shape[0], u.shape[1], u.shape[1])


@torch.library.register_fake("phnet::phase_gradient")
def _(a, u, b, Ke, Fe):
    _one_device("phase_gradient", u=u, a=a, b=b, Ke=Ke, Fe=Fe)
    n = u.shape[-1]
    return u.new_empty(u.shape[0], Ke.shape[1], n, n, n)


@torch.library.register_fake("phnet::element_fields")
def _(u, phase, C, macro_strain):
    _one_device("element_fields", u=u, phase=phase, C=C, macro_strain=macro_strain)
    B, L, n = u.shape[0], u.shape[1], u.shape[-1]
    return u.new_empty(B, L, 6, n, n, n), u.new_empty(B, L, 6, n, n, n)


# ----------------------------------------------------------------------------- autograd
def _save_inputs(ctx, inputs, output):
    """setup_context of the ops whose backward needs exactly their inputs."""
    ctx.save_for_backward(*inputs)


def _reduce_to(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sum a per-sample gradient over the batch where the input was broadcast (batch 1)."""
    if like.shape[0] == 1 and grad.shape[0] != 1:
        grad = grad.sum(0, keepdim=True)
    return grad


def _mix(coef: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """out[b, j] = sum_i coef[b, i, j] field[b, i]  (coef [B, L, J], field [B, L, 3, n, n, n])."""
    return torch.einsum("bij,bicxyz->bjcxyz", coef, field)


def _empty_loads(u: torch.Tensor, M: int, batch: int):
    """b field and Fe with zero load columns (for sensitivities without a load term)."""
    n = u.shape[-1]
    return u.new_zeros(u.shape[0], 0, 3, n, n, n), u.new_zeros(batch, M, 24, 0)


def _ke_grad(v: torch.Tensor, u: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """d/dKe[b, m, r, s] of sum_e phase_m v_e^T Ke_m u_e: ``[B, M, 24, 24]``.

    Row block p (local node p of v) at a time against all eight shifted copies of u, as batched
    matrix products: about 8 copies of a field in memory instead of the 2 x 8 of gathering both
    element vectors (n = 64, B = 1, six loads: 0.6 GB instead of 2 GB, no slower)."""
    B, M, n = phase.shape[0], phase.shape[1], u.shape[-1]
    offsets = NODE_OFFSETS  # plain ints, so that the formula traces under torch.compile
    U = torch.cat([shifted_flat(u, q) for q in offsets], dim=2).transpose(-1, -2)  # [B, L, n^3, 24]
    w = phase.reshape(B, M, 1, 1, n ** 3)
    out = u.new_empty(B, M, 8, 3, 24)
    for p, off in enumerate(offsets):
        vp = shifted_flat(v, off)  # [B, L, 3, n^3]
        for m in range(M):
            out[:, m, p] = ((vp * w[:, m]) @ U).sum(1)
    return out.reshape(B, M, 24, 24)


def _fe_grad(w: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """d/dFe[b, m, r, j] of sum_e phase_m w_j,e . Fe_m[:, j]: ``[B, M, 24, J]`` (one shifted
    copy of w at a time)."""
    B, M, J, n = phase.shape[0], phase.shape[1], w.shape[1], w.shape[-1]
    ph = phase.reshape(B, M, n ** 3)
    rows = [torch.einsum("bmx,bjcx->bmcj", ph, shifted_flat(w, off)) for off in NODE_OFFSETS]
    return torch.stack(rows, dim=2).reshape(B, M, 24, J)


# stiffness_apply: y = K u.  dy.g: grad_u = K^T g, grad_phase_m = g_e^T Ke_m u_e.
def _sa_backward(ctx, g):
    u, phase, Ke = ctx.saved_tensors
    g = g.contiguous()
    gu = gp = gk = None
    if ctx.needs_input_grad[0]:
        gu = _ops.stiffness_apply(g, phase, Ke.transpose(-1, -2))
    if ctx.needs_input_grad[1]:
        b, Fe0 = _empty_loads(u, Ke.shape[1], Ke.shape[0])
        gp = _ops.phase_gradient(g, u, b, Ke, Fe0)
    if ctx.needs_input_grad[2]:
        gk = _reduce_to(_ke_grad(g, u, phase), Ke)
    return gu, gp, gk


torch.library.register_autograd("phnet::stiffness_apply", _sa_backward, setup_context=_save_inputs)


# load_vectors: f_j = sum_e Fe_e[:, j].  grad_phase_m = sum_j g_j,e . Fe_m[:, j].
def _lv_backward(ctx, g):
    phase, Fe = ctx.saved_tensors
    g = g.contiguous()
    gp = gf = None
    if ctx.needs_input_grad[0]:
        M, n = phase.shape[1], phase.shape[-1]
        empty = g.new_zeros(g.shape[0], 0, 3, n, n, n)
        Ke0 = Fe.new_zeros(Fe.shape[0], M, 24, 24)
        gp = _ops.phase_gradient(empty, empty, g, Ke0, Fe)
    if ctx.needs_input_grad[1]:
        gf = _reduce_to(_fe_grad(g, phase), Fe)
    return gp, gf


torch.library.register_autograd("phnet::load_vectors", _lv_backward, setup_context=_save_inputs)


# energy_loss: E_l = u_l^T K u_l / 2 - u_l . f_l.
def _en_backward(ctx, g):
    u, phase, Ke, Fe = ctx.saved_tensors
    g = g.contiguous()
    gu = gp = gk = gf = None
    if ctx.needs_input_grad[0]:
        gu = _ops.energy_loss_backward(g, u, phase, Ke, Fe)
    if ctx.needs_input_grad[1]:
        gl = g[:, :, None, None, None, None]
        gp = _ops.phase_gradient((0.5 * gl * u).contiguous(), u, (-gl * u).contiguous(), Ke, Fe)
    if ctx.needs_input_grad[2]:
        gl = g[:, :, None, None, None, None]
        gk = _reduce_to(_ke_grad(0.5 * gl * u, u, phase), Ke)
    if ctx.needs_input_grad[3]:
        gl = g[:, :, None, None, None, None]
        gf = _reduce_to(_fe_grad(-gl * u, phase), Fe)
    return gu, gp, gk, gf


torch.library.register_autograd("phnet::energy_loss", _en_backward, setup_context=_save_inputs)


# energy_loss_backward: R_l = grad_l (K u_l - f_l), linear in grad, u, phase, Ke, Fe (double
# backward of the energy: Hessian-vector products, second-order design loops).
def _enb_backward(ctx, G):
    grad, u, phase, Ke, Fe = ctx.saved_tensors
    G = G.contiguous()
    gl = grad[:, :, None, None, None, None]
    ggrad = gu = gp = gk = gf = None
    if ctx.needs_input_grad[0]:
        ggrad = (G * residual(u, phase, Ke, Fe)).sum(dim=(2, 3, 4, 5))
    if ctx.needs_input_grad[1]:
        gu = gl * _ops.stiffness_apply(G, phase, Ke.transpose(-1, -2))
    if ctx.needs_input_grad[2]:
        gp = _ops.phase_gradient((gl * G).contiguous(), u, (-gl * G).contiguous(), Ke, Fe)
    if ctx.needs_input_grad[3]:
        gk = _reduce_to(_ke_grad(gl * G, u, phase), Ke)
    if ctx.needs_input_grad[4]:
        gf = _reduce_to(_fe_grad(-gl * G, phase), Fe)
    return ggrad, gu, gp, gk, gf


torch.library.register_autograd("phnet::energy_loss_backward", _enb_backward, setup_context=_save_inputs)


# homogenized_tensor: S_pq = sum_e Ce_pq - u_p.f_q - u_q.f_p + u_p^T K u_q.
def _ch_backward(ctx, G):
    u, phase, Ke, Fe, Ce = ctx.saved_tensors
    G = G.contiguous()
    Gs = G + G.transpose(1, 2)
    gu = gp = gk = gf = gc = None
    if ctx.needs_input_grad[0]:
        gu = _mix(Gs, residual(u, phase, Ke, Fe))  # grad_u_l = sum_j Gs[l, j] (K u_j - f_j)
    if ctx.needs_input_grad[1]:
        a = _mix(G, u)  # a_j = sum_i G_ij u_i
        b = -_mix(Gs, u)  # b_j = -sum_i (G_ij + G_ji) u_i
        B = u.shape[0]
        const = torch.einsum("bpq,bmpq->bm", G, Ce.expand(B, *Ce.shape[1:]))
        gp = _ops.phase_gradient(a.contiguous(), u, b.contiguous(), Ke, Fe) + const[:, :, None, None, None]
    if ctx.needs_input_grad[2]:
        gk = _reduce_to(_ke_grad(_mix(G, u), u, phase), Ke)
    if ctx.needs_input_grad[3]:
        gf = _reduce_to(_fe_grad(-_mix(Gs, u), phase), Fe)
    if ctx.needs_input_grad[4]:
        gc = _reduce_to(torch.einsum("bmxyz,bpq->bmpq", phase, G), Ce)
    return gu, gp, gk, gf, gc


torch.library.register_autograd("phnet::homogenized_tensor", _ch_backward, setup_context=_save_inputs)


# phase_gradient: g_m = sum_l a_l^T Ke_m u_l + sum_j b_j . Fe_m[:, j], linear in each argument.
def _pg_backward(ctx, g):
    a, u, b, Ke, Fe = ctx.saved_tensors
    g = g.contiguous()
    ga = gu = gb = gk = gf = None
    # d/da_l of sum_e sum_m g_m a_l^T Ke_m u_l is K(g) u_l: a stiffness product with phases g.
    if ctx.needs_input_grad[0]:
        ga = _ops.stiffness_apply(u, g, Ke)
    if ctx.needs_input_grad[1]:
        gu = _ops.stiffness_apply(a, g, Ke.transpose(-1, -2))
    if ctx.needs_input_grad[2]:
        gb = _ops.load_vectors(g, Fe)
    if ctx.needs_input_grad[3]:
        gk = _reduce_to(_ke_grad(a, u, g), Ke)
    if ctx.needs_input_grad[4]:
        gf = _reduce_to(_fe_grad(b, g), Fe)
    return ga, gu, gb, gk, gf


torch.library.register_autograd("phnet::phase_gradient", _pg_backward, setup_context=_save_inputs)


# element_fields: eps_l = E_l - B u_l (linear in u, E); sig_l = (sum_m phase_m C_m) eps_l.
def _ef_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs, output[0])


def _ef_backward(ctx, g_strain, g_stress):
    u, phase, C, macro, eps = ctx.saved_tensors
    B, n = u.shape[0], u.shape[-1]
    g_eps = torch.zeros_like(eps) if g_strain is None else g_strain
    gp = gc = None
    if g_stress is not None:
        Cb = C.expand(B, *C.shape[1:])
        g_eps = g_eps + torch.einsum("bxyzpq,blpxyz->blqxyz", torch.einsum("bmxyz,bmpq->bxyzpq", phase, Cb), g_stress)
        if ctx.needs_input_grad[1]:
            gp = torch.einsum("blpxyz,bmpq,blqxyz->bmxyz", g_stress, Cb, eps)
        if ctx.needs_input_grad[2]:
            gc = _reduce_to(torch.einsum("bmxyz,blpxyz,blqxyz->bmpq", phase, g_stress, eps), C)
    gu = gm = None
    if ctx.needs_input_grad[0]:
        Bc = fem.center_strain_displacement(n, u.dtype, u.device)
        gu = scatter_elements(-torch.einsum("pr,blpxyz->blxyzr", Bc, g_eps))
    if ctx.needs_input_grad[3]:
        gm = g_eps.sum(dim=(3, 4, 5))
    return gu, gp, gc, gm


torch.library.register_autograd("phnet::element_fields", _ef_backward, setup_context=_ef_setup)
