"""PH-Net: the 3D U-Net that maps a cell's material-voxel tensor to its six displacement fields.

Input ``[B, 36, n, n, n]`` (``materials.material_voxel_tensor``, shape-transformed for
parallelepipeds), output ``[B, 18, n, n, n]`` = the displacement fluctuations ``[B, 6, 3, n, n, n]``
of the six unit macroscopic strains on the reference cube (docs/conventions.md: channel 3 i + c is load
case i, component c). C^H follows from ``energy_loss``/``homogenized_tensor`` of the prediction.

The reference architecture (``PHNetConfig()`` defaults): contracting blocks 36->64, 64->128,
128->256 (two 3x3x3 convolutions + batch norm + ReLU each, 2x2x2 max pooling between levels),
expanding blocks 256->128 and 128->64 (trilinear upsampling, skip concatenation, two
convolutions), a 64->32 block at full resolution and a final 1x1x1 convolution to 18 channels.

Three improvements over it, each a switch of ``PHNetConfig`` (all on by default):

* ``periodic`` - circular padding in every convolution: the cells are periodic, so a voxel on
  the face sees its true neighbours across the boundary instead of zeros.
* ``scale_invariant`` - the input is divided per sample by its largest entry. The displacement
  solution of K u = f does not change when every material is multiplied by a constant (K and f
  both scale), so the prediction should not either; this makes it exactly so and keeps inputs
  in [-1, 1] whatever the unit of E (Pa, MPa, ...).
* ``zero_mean`` - the mean of each output channel over the cell is subtracted: displacements
  are defined up to a rigid translation, fixed by zero mean (docs/conventions.md); this removes a
  direction the loss cannot see.

And one physics output stage, off by default (``cg_steps``, measured in ``benchmarks/accuracy.py``):
``cg_steps`` iterations of block-Jacobi-preconditioned conjugate gradients on K u = f started from
the network's field (``linalg.krylov.block_jacobi_cg``, applied by ``surrogate.stage``). It has no
parameters and a fixed cost (one stiffness product per step, the 3 x 3 nodal blocks of K, no
set-up), and it is the complement of a CNN: the network gets the smooth, cell-wide part of the field
right and misses voxel-scale detail at the strut surfaces, which is exactly what a few local CG
steps remove. CG never increases the energy, so the certified upper bounds of the diagonal of C^H
only get tighter. ``PHNet.forward`` is the network alone (it sees only the material tensor);
training (``train``) and ``predict`` apply the stage, which needs the cell's stiffness operator,
after it, and training back-propagates through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class PHNetConfig:
    """Architecture of a PH-Net (stored in checkpoints; a checkpoint only loads into its config).

    Attributes:
        widths: channels of the contracting levels; ``len(widths) - 1`` poolings, so n must be
            divisible by ``2 ** (len(widths) - 1)``.
        head: channels of the last full-resolution block before the 1x1x1 output convolution.
        in_channels, out_channels: 36 (material tensor) and 18 (six 3-component fields).
        norm: ``"batch"`` (reference), ``"group"`` (batch-size independent) or ``"none"``.
        periodic, scale_invariant, zero_mean: the improvements described in the module doc.
        cg_steps: iterations of the physics output stage (module doc); 0 = the network alone.
            It has no weights, so checkpoints that differ only in it hold the same tensors.
    """

    widths: tuple[int, ...] = (64, 128, 256)
    head: int = 32
    in_channels: int = 36
    out_channels: int = 18
    norm: str = "batch"
    periodic: bool = True
    scale_invariant: bool = True
    zero_mean: bool = True
    cg_steps: int = 0

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) < 1 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be a non-empty tuple of positive ints, got {self.widths}")
        if self.head < 1:
            raise ValueError(f"head must be a positive int, got {self.head}")
        if self.norm not in ("batch", "group", "none"):
            raise ValueError(f"norm must be 'batch', 'group' or 'none', got {self.norm!r}")
        if isinstance(self.cg_steps, bool) or not isinstance(self.cg_steps, int) or self.cg_steps < 0:
            raise ValueError(f"cg_steps must be a non-negative int, got {self.cg_steps!r}")

    @property
    def pooling_factor(self) -> int:
        """``2 ** (len(widths) - 1)``, the overall pooling factor: the grid size n must be a multiple of it."""
        return 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict:
        """The config as a plain dict (``widths`` as a list), as stored in checkpoints and JSON files."""
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PHNetConfig:
        """The config of a ``to_dict`` dict; unknown keys raise a ValueError that names them."""
        return dataclass_from_dict(cls, d, "PH-Net config")


def dataclass_from_dict(cls, d: dict, what: str):
    """``cls(**d)`` that names unknown keys (typos in config files) instead of a TypeError."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {what} keys {sorted(unknown)}; expected a subset of {sorted(known)}")
    return cls(**d)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "group":
        # 8 channels per group (or fewer groups for tiny widths): independent of the batch size,
        # so data-parallel training is exactly the single-process computation.
        return nn.GroupNorm(max(1, channels // 8), channels)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two (3x3x3 convolution, normalisation, ReLU) layers."""

    def __init__(self, cin: int, cout: int, cfg: PHNetConfig):
        pad = "circular" if cfg.periodic else "zeros"
        bias = cfg.norm == "none"  # a bias right before a normalisation is redundant
        layers: list[nn.Module] = []
        for a, b in ((cin, cout), (cout, cout)):
            layers += [nn.Conv3d(a, b, 3, padding=1, padding_mode=pad, bias=bias), _norm(cfg.norm, b),
                       nn.ReLU(inplace=True)]
        super().__init__(*layers)


class PHNet(nn.Module):
    """The PH-Net U-Net. ``forward(material [B, 36, n, n, n]) -> u [B, 18, n, n, n]``.

    n must be divisible by ``config.pooling_factor``; a ValueError says so otherwise.
    ``predict_displacements`` returns the ``[B, 6, 3, n, n, n]`` view.
    """

    def __init__(self, config: PHNetConfig | None = None, **overrides):
        super().__init__()
        cfg = config if config is not None else PHNetConfig(**overrides)
        if config is not None and overrides:
            cfg = PHNetConfig.from_dict({**config.to_dict(), **overrides})
        self.config = cfg
        w = cfg.widths
        self.down = nn.ModuleList()
        cin = cfg.in_channels
        for c in w:
            self.down.append(ConvBlock(cin, c, cfg))
            cin = c
        self.up = nn.ModuleList()
        for k in range(len(w) - 1, 0, -1):  # 256 -> 128 (concat 128), 128 -> 64 (concat 64)
            self.up.append(ConvBlock(w[k] + w[k - 1], w[k - 1], cfg))
        self.head = ConvBlock(w[0], cfg.head, cfg)
        self.out = nn.Conv3d(cfg.head, cfg.out_channels, 1)
        with torch.no_grad():
            # Start near u = 0 (loss 0, C^H(u) = the volume average): the default init gives
            # O(1) displacements of a unit cell, far worse than zero and slow to unlearn.
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
        if cfg.zero_mean:
            # The zero-mean output cancels a constant per channel, so this bias gets only round-off
            # gradients, which Adam would blow up into full-size random steps: freeze it at zero.
            self.out.bias.requires_grad_(False)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError unless ``x`` is a tensor ``[B, in_channels, n, n, n]`` (a cubic grid) with n
        divisible by ``config.pooling_factor``."""
        cfg = self.config
        if not isinstance(x, torch.Tensor) or x.dim() != 5 or x.shape[1] != cfg.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"PHNet input must be [B, {cfg.in_channels}, n, n, n], got {got}")
        n = x.shape[-1]
        if tuple(x.shape[2:]) != (n, n, n) or n % cfg.pooling_factor:
            raise ValueError(f"PHNet input grid must be cubic with n divisible by {cfg.pooling_factor} "
                             f"(widths {list(cfg.widths)}), got grid {tuple(x.shape[2:])}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Material tensor ``x`` ``[B, 36, n, n, n]`` -> displacement fluctuations ``[B, 18, n, n, n]``
        (36 / 18: the config's ``in_channels`` / ``out_channels``); the network alone, no physics stage."""
        self.check_input(x)
        cfg = self.config
        if cfg.scale_invariant:
            scale = x.detach().abs().amax(dim=(1, 2, 3, 4), keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
            x = x / scale
        skips = []
        for k, block in enumerate(self.down):
            if k:
                x = F.max_pool3d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            x = block(torch.cat([self._upsample(x), skips.pop()], dim=1))
        x = self.out(self.head(x))
        if cfg.zero_mean:
            x = x - x.mean(dim=(2, 3, 4), keepdim=True)
        return x

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.periodic:
            return F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)
        # Periodic trilinear upsampling: wrap one voxel around, interpolate, crop. With
        # align_corners=False output voxel o samples input coordinate (o + 0.5) / 2 - 0.5, so the
        # 2-voxel crop of the padded result is exactly the periodic interpolation.
        x = F.pad(x, (1, 1, 1, 1, 1, 1), mode="circular")
        x = F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)
        return x[:, :, 2:-2, 2:-2, 2:-2]

    def predict_displacements(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 6, 3, n, n, n]`` view of ``forward(x)`` (float32 even under autocast)."""
        u = self(x).float()
        n = u.shape[-1]
        return u.reshape(u.shape[0], 6, 3, n, n, n)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model`` (frozen ones included)."""
    return sum(p.numel() for p in model.parameters())


def widen_model(model: PHNet, config: PHNetConfig, *, seed: int = 0) -> PHNet:
    """A wider PH-Net that computes exactly what ``model`` computes, to train on from there.

    Every level keeps its depth; ``config.widths`` / ``config.head`` may only grow. The old
    channels keep their weights (and batch-norm statistics); the new channels get the default
    initialisation on all their inputs, and every weight from a new channel into an old one is
    zero. So the new channels are computed but do not reach the output until training moves
    those zero weights, whose gradients are not zero (the new channels are active). This is the
    function-preserving widening of Net2Net (Chen et al. 2016) with zero outgoing weights; it lets
    a bigger model start at the small model's accuracy instead of from scratch, which on a CPU
    is many hours of training. Group norm is refused: it regroups channels when the width
    changes, so the function would not be preserved.
    """
    old = model.config
    free = ("widths", "head", "cg_steps")  # cg_steps: the parameter-free output stage
    same = {k: v for k, v in old.to_dict().items() if k not in free}
    new_same = {k: v for k, v in config.to_dict().items() if k not in free}
    if same != new_same:
        raise ValueError(f"widen_model can only change widths, head and cg_steps; old config {old.to_dict()}, "
                         f"new config {config.to_dict()}")
    if len(config.widths) != len(old.widths) or any(b < a for a, b in zip(old.widths, config.widths)) \
            or config.head < old.head:
        raise ValueError(f"widen_model needs as many levels and no narrower widths/head: "
                         f"old widths {list(old.widths)} head {old.head}, new {list(config.widths)} head {config.head}")
    if old.norm == "group":
        raise ValueError("widen_model does not support norm='group' (widening regroups the channels)")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        ref = next(model.parameters())
        wide = PHNet(config).to(device=ref.device, dtype=ref.dtype)
    finally:
        torch.random.set_rng_state(gen_state)
    wo, wn = old.widths, config.widths

    def pairs(block_old: nn.Module, block_new: nn.Module):
        return zip([m for m in block_old.modules() if isinstance(m, (nn.Conv3d, nn.BatchNorm3d))],
                   [m for m in block_new.modules() if isinstance(m, (nn.Conv3d, nn.BatchNorm3d))])

    def copy_block(block_old, block_new, in_map: list[int]):
        """Copy one ConvBlock (or the output conv); ``in_map[i]`` = new index of old input channel i."""
        for a, b in pairs(block_old, block_new):
            if isinstance(a, nn.Conv3d):
                oo = a.out_channels
                b.weight[:oo].zero_()  # also kills new-input -> old-output weights
                b.weight[:oo, in_map] = a.weight
                if a.bias is not None:
                    b.bias[:oo] = a.bias
                in_map = list(range(oo))  # the next layer of the block reads this one's outputs
            else:
                oo = a.num_features
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(b, name)[:oo] = getattr(a, name)
                b.num_batches_tracked.copy_(a.num_batches_tracked)

    with torch.no_grad():
        cin = list(range(old.in_channels))
        for k, (a, b) in enumerate(zip(model.down, wide.down)):
            copy_block(a, b, cin)
            cin = list(range(wo[k]))
        for j, (a, b) in enumerate(zip(model.up, wide.up)):
            k = len(wo) - 1 - j  # input: cat(upsampled level k, skip of level k - 1)
            copy_block(a, b, list(range(wo[k])) + [wn[k] + i for i in range(wo[k - 1])])
        copy_block(model.head, wide.head, list(range(wo[0])))
        copy_block(model.out, wide.out, list(range(old.head)))
    return wide.train(model.training)
