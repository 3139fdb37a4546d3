"""Label-free PH-Net training: minimise the potential energy of the predicted displacements.

Run it as ``phnet train --config run.yaml`` / ``phnet train --out DIR [options]``, or on several
processes/nodes with ``torchrun --nproc_per_node=K -m phnet_cuda.train --out DIR ...``
(DistributedDataParallel; NCCL on GPUs, gloo on CPUs; multi-node through the usual torchrun
rendezvous flags). Every run directory holds ``config.yaml`` (the whole configuration),
``last.pt`` / ``best.pt`` (atomic checkpoints), ``log.csv``, TensorBoard events (when the
``tensorboard`` package is installed) and ``curves.png``. Re-running the same command resumes
exactly where the last checkpoint left off (model, optimiser, scheduler, epoch, position in the
epoch, RNG states).

The loss (``normalised_energy``): for sample b and load case i, the energy identity of
CONVENTIONS gives the diagonal of the homogenized tensor implied by the prediction,
C^H_ii(u) = C_vol_ii + 2 L_i(u) (|P| = 1), an upper bound of the true C^H_ii that is tight exactly
at the FE solution. We minimise mean_b sum_i log(C^H_ii(u) / C_vol_ii). Why the log: the raw
energy L_i scales with the material stiffness (a 10x stiffer cell has a 10x larger loss) and, for
a fixed material, with the cell's own stiffness (a 2%-dense cell's energies are ~100x smaller
than a 30%-dense one's), so an unweighted sum would train on the stiff cells only. The log turns
every term into the RELATIVE excess of the bound, log(1 + (C^H_ii(u) - C^H_ii) / C^H_ii) + const,
which is what the accuracy metric delta measures; it is invariant to the material scale, and its
minimiser is still the FE solution (log is monotone), with gradient (dL_i/du) / C^H_ii(u) - the
energy gradient K u - f weighted per sample and load case. ``loss_form="linear"`` gives the
plain normalised energy sum_i 2 L_i / C_vol_ii instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist

from .geometry import threshold_to_volume_fraction, tubular_gyroid_field
from .materials import DEFAULT_SOFT_RATIO, material_voxel_tensor
from .model import PHNet, PHNetConfig, count_parameters, dataclass_from_dict, widen_model
from .post import relative_error
from .problem import CellProblem

# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as ``config.yaml`` in the run directory).

    Data: ``data`` is ``"tg"`` (Tubular-Gyroid cells generated on the fly: volume fractions from
    the grid of ``vf_count`` uniform values in [vf_min, vf_max], fresh random shapes every epoch
    with angles in ``angle_range`` degrees and lengths in ``length_range``, ``epoch_size``
    samples per epoch) or the path of an HDF5 dataset of ``phnet_cuda.data`` (its train split).
    Evaluation uses ``eval_size`` labelled cells: for ``"tg"``, held-out volume fractions (the
    midpoints of the training grid) and unseen shapes, labelled by the numerical solver once and
    cached in the run directory; for a dataset file, its labelled test split.
    """

    out: str = "phnet_run"
    data: str = "tg"
    n: int = 16
    model: dict = field(default_factory=lambda: PHNetConfig(widths=(16, 32, 64), head=16).to_dict())
    epochs: int = 100
    epoch_size: int = 512
    batch_size: int = 8
    lr: float = 5e-4
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine", "plateau" or "none"
    min_lr_ratio: float = 0.02
    grad_clip: float = 1.0
    loss_form: str = "log"  # "log" or "linear" (module docstring)
    E: float = 1.0
    nu: float = 0.3
    soft_ratio: float = DEFAULT_SOFT_RATIO
    vf_min: float = 0.02
    vf_max: float = 0.33
    vf_count: int = 40
    angle_range: tuple = (75.0, 90.0)
    length_range: tuple = (1.0, 2.0)
    shapes: bool = True
    corner_mix: float = 0.0  # share of training shapes drawn at the ends of the ranges (random_shape)
    random_translation: bool = False  # roll training cells by random periodic shifts (RandomTranslation)
    eval_size: int = 48
    eval_tol: float = 1e-8
    eval_every: int = 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast for the network on CUDA (the loss always runs in float32)
    channels_last: bool = True
    compile: bool = False
    workers: int = 0  # DataLoader worker processes (cells are generated/read in them); pinned memory on CUDA
    max_steps: int | None = None  # stop (with a checkpoint) after this many steps of THIS call
    init: str | None = None  # start a NEW run from these weights (fine-tuning phases); resume wins
    init_widen: bool = False  # init from a narrower model of the same depth (model.widen_model)
    progress: bool = True

    def __post_init__(self):
        if self.loss_form not in ("log", "linear"):
            raise ValueError(f"loss_form must be 'log' or 'linear', got {self.loss_form!r}")
        if self.schedule not in ("cosine", "plateau", "none"):
            raise ValueError(f"schedule must be 'cosine', 'plateau' or 'none', got {self.schedule!r}")
        for name in ("epochs", "epoch_size", "batch_size", "n", "vf_count", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.init_widen and not self.init:
            raise ValueError("init_widen needs init (the narrower checkpoint to start from)")
        if not 0 <= self.corner_mix <= 1:
            raise ValueError(f"corner_mix must be in [0, 1], got {self.corner_mix}")
        if not 0 < self.vf_min < self.vf_max < 1:
            raise ValueError(f"need 0 < vf_min < vf_max < 1, got {self.vf_min}, {self.vf_max}")
        self.angle_range = tuple(float(a) for a in self.angle_range)
        self.length_range = tuple(float(a) for a in self.length_range)
        model = PHNetConfig.from_dict(self.model)  # validates
        if self.n % model.pooling_factor:
            raise ValueError(f"n = {self.n} is not divisible by the model's pooling factor {model.pooling_factor}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["angle_range"], d["length_range"] = list(self.angle_range), list(self.length_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return dataclass_from_dict(cls, d, "training config")


def load_config(path: str) -> dict:
    """Read a YAML or JSON run configuration (a dict of TrainConfig fields)."""
    import yaml

    if not os.path.exists(path):
        raise ValueError(f"config file {path!r} does not exist")
    with open(path) as fh:
        d = yaml.safe_load(fh) if path.endswith((".yaml", ".yml")) else json.load(fh)
    if not isinstance(d, dict):
        raise ValueError(f"config file {path!r} must hold a mapping of settings, got {type(d).__name__}")
    return d


# ---------------------------------------------------------------------------------------------
# Data: Tubular-Gyroid cells generated on the fly (deterministic per (seed, epoch, index))


def vf_grid(cfg: TrainConfig) -> np.ndarray:
    return np.linspace(cfg.vf_min, cfg.vf_max, cfg.vf_count)


def held_out_vfs(grid) -> np.ndarray:
    """Volume fractions training never sees: the midpoints of its grid."""
    grid = np.asarray(grid, dtype=np.float64)
    return (grid[1:] + grid[:-1]) / 2


def random_shape(rng: np.random.Generator, angle_range, length_range, corner_mix: float = 0.0) -> np.ndarray:
    """Parallelepiped parameters (a_xy, a_yz, a_xz, l_x, l_y, l_z), angles uniform in the range,
    lengths uniform, scaled to unit cell volume. Angles in [75, 90] always give a valid cell.

    With probability ``corner_mix`` the six parameters are drawn at the ends of their ranges
    instead (each end with probability 1/2, jittered by 5% of the range): independent uniform
    lengths almost never give the extreme aspect ratio l_max / l_min = 2 (e.g. (1, 1, 2)), which
    is where the displacement fields are most anisotropic and a network trained on the bulk of
    the box is worst."""
    from .data import sample_shapes
    from .shapes import cell_volume

    if corner_mix > 0 and rng.uniform() < corner_mix:
        def ends(lo, hi):
            pick = np.where(rng.uniform(size=3) < 0.5, lo, hi)
            jitter = rng.uniform(0, 0.05 * (hi - lo), size=3)
            return np.where(pick == lo, pick + jitter, pick - jitter)

        p = np.concatenate([ends(*angle_range), ends(*length_range)])
        p[3:] /= float(cell_volume(torch.as_tensor(p))) ** (1.0 / 3.0)
        return p
    return sample_shapes(rng, 1, angle_range, length_range)[0]  # Dataset 1's sampler


class TGCells(torch.utils.data.Dataset):
    """Tubular-Gyroid cells ``{"vox": [n,n,n] uint8, "E", "nu", "soft_ratio", "shape": [6]}``.

    Sample ``i`` of epoch ``e`` is a pure function of (seed, e, i): the volume fraction is
    ``vfs[i % len(vfs)]`` and the shape is drawn from ``Generator([seed, e, i])``. The cells are
    thresholds of one cached TG field (``geometry.threshold_to_volume_fraction``), so each vf is
    hit to a few / n^3 (ties of the symmetric field at the threshold are all solid).
    """

    def __init__(self, n: int, vfs, size: int, *, seed: int = 0, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO,
                 angle_range=(75.0, 90.0), length_range=(1.0, 2.0), shapes: bool = True, corner_mix: float = 0.0):
        self.corner_mix = float(corner_mix)
        self.n, self.vfs, self.size, self.seed = n, np.asarray(vfs, dtype=np.float64), int(size), int(seed)
        self.E, self.nu, self.soft_ratio = float(E), float(nu), float(soft_ratio)
        self.angle_range, self.length_range, self.shapes = angle_range, length_range, shapes
        self.epoch = 0
        self._field = tubular_gyroid_field(n)  # computed once; each vf is a threshold of it

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def voxels(self, vf: float) -> torch.Tensor:
        """The TG cell at ``vf``, identical to ``geometry.tubular_gyroid(n, vf)``."""
        return threshold_to_volume_fraction(self._field, vf).to(torch.uint8)

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.size:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        vf = float(self.vfs[i % len(self.vfs)])
        shape = (random_shape(rng, self.angle_range, self.length_range, self.corner_mix) if self.shapes
                 else np.array([90.0, 90.0, 90.0, 1.0, 1.0, 1.0]))
        return {"vox": self.voxels(vf), "E": torch.tensor(self.E, dtype=torch.float64),
                "nu": torch.tensor(self.nu, dtype=torch.float64),
                "soft_ratio": torch.tensor(self.soft_ratio, dtype=torch.float64),
                "shape": torch.as_tensor(shape, dtype=torch.float64), "vf": torch.tensor(vf)}


class RandomTranslation(torch.utils.data.Dataset):
    """Training augmentation: every cell rolled by a random periodic translation (whole voxels).

    C^H is exactly invariant to translating a periodic cell (any shape: in cube coordinates a
    roll is a lattice translation), so the labels and the energy minimiser's C^H are unchanged,
    but the network is not: its pooling grid and its weights see the cell at one offset only,
    and every Tubular-Gyroid cell of ``TGCells`` has the same origin. The shift of sample ``i``
    in epoch ``e`` is a pure function of (seed, e, i), so resume and DDP stay exact.
    """

    def __init__(self, base, *, seed: int = 0):
        self.base, self.seed, self.epoch = base, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def shift(self, i: int, n: int) -> tuple[int, int, int]:
        """The (x, y, z) roll of sample ``i`` of the current epoch for a cell of n^3 voxels."""
        rng = np.random.default_rng([self.seed, self.epoch, i, 0x5EED])  # own stream: the base's draws stay as they were
        return tuple(int(v) for v in rng.integers(0, n, 3))

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[i])
        item["vox"] = torch.roll(item["vox"], self.shift(i, item["vox"].shape[-1]), dims=(-3, -2, -1))
        return item


#: Columns of a run's log.csv (one row per epoch; the delta and eval_loss columns only on evaluated
#: epochs; the last two only for a model with the physics output stage, ``cg_steps > 0``: the
#: step-time share of that stage, forward and backward, and the delta of the network's own field).
LOG_FIELDS = ["epoch", "step", "lr", "train_loss", "samples_per_s", "energy_share", "seconds",
              "delta_mean", "delta_median", "delta_max", "eval_loss", "stage_share", "delta_mean_network"]


def held_out_batch(n: int, vfs, count: int, *, seed: int, epoch: int, **cells) -> dict:
    """``count`` collated TG cells at the volume fractions ``vfs`` (e.g. ``held_out_vfs``) with
    shapes from ``epoch`` of the stream ``seed`` - pick an epoch training never reaches (10^6):
    the evaluation cells of ``Trainer`` and ``benchmarks/accuracy.py``. ``cells``: TGCells options."""
    ds = TGCells(n, vfs, count, seed=seed, **cells)
    ds.set_epoch(epoch)
    return collate([ds[i] for i in range(count)])


def collate(samples: list[dict]) -> dict:
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


def label_cells(batch: dict, *, tol: float = 1e-8, device=None, chunk: int = 8, progress: bool = False) -> torch.Tensor:
    """Reference C^H ``[B, 6, 6]`` (float64) of a collated batch by the numerical solver."""
    from .solver import homogenize

    out = []
    B = batch["vox"].shape[0]
    it = range(0, B, chunk)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="labelling eval cells", unit="chunk")
    for a in it:
        sl = slice(a, a + chunk)
        res = homogenize(batch["vox"][sl].double(), E=batch["E"][sl], nu=batch["nu"][sl],
                         soft_ratio=batch["soft_ratio"][sl], shape=batch["shape"][sl], tol=tol, device=device)
        CH = res.CH if res.CH.dim() == 3 else res.CH.unsqueeze(0)
        out.append(CH.cpu())
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# Loss and metrics


def predict_u(model: PHNet, batch: dict, device, *, amp: bool = False, channels_last: bool = False) -> torch.Tensor:
    """Network displacements ``[B, 6, 3, n, n, n]`` (float32) for a collated batch; the
    36-channel material tensor is built here, on ``device``, from the uint8 voxels."""
    vox = batch["vox"].to(device, non_blocking=True)
    mat = material_voxel_tensor(vox, batch["E"], batch["nu"], batch["soft_ratio"], shape=batch["shape"])
    if channels_last:
        mat = mat.contiguous(memory_format=torch.channels_last_3d)
    ctx = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with ctx:
        u = model(mat)
    n = u.shape[-1]
    return u.float().reshape(u.shape[0], 6, 3, n, n, n).contiguous()


def model_u(model: PHNet, batch: dict, device, prob: CellProblem, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """(the model's displacements, the network's own): ``predict_u`` followed by the physics
    output stage of ``model``'s config (``cg_steps`` block-Jacobi CG steps; the same tensor
    twice when there is none). ``model`` may be DDP-wrapped."""
    u_net = predict_u(model, batch, device, **kw)
    steps = getattr(model, "module", model).config.cg_steps
    if not steps:
        return u_net, u_net
    return prob.block_jacobi_cg(u_net, batch["vox"].to(device), steps), u_net


def batch_problem(batch: dict, n: int, device) -> CellProblem:
    return CellProblem(n, E=batch["E"], nu=batch["nu"], soft_ratio=batch["soft_ratio"], shape=batch["shape"],
                       device=device, dtype=torch.float32)


def normalised_energy(u: torch.Tensor, vox: torch.Tensor, prob: CellProblem, form: str = "log") -> torch.Tensor:
    """Per-sample loss ``[B]`` (module docstring): sum_i log(C^H_ii(u) / C_vol_ii) for
    ``form="log"``, sum_i 2 L_i(u) / C_vol_ii for ``"linear"``; L_i from ``energy_loss``."""
    L = prob.energy_loss(u, vox, reduction="none")  # [B, 6]
    hard = vox.to(prob.device, prob.dtype).mean(dim=(-3, -2, -1))  # [B] volume fraction of the hard phase
    frac = torch.stack([hard, 1 - hard], dim=1)  # [B, 2]
    C_hat = prob.C_hat.expand(u.shape[0], 2, 6, 6)
    C_vol = torch.einsum("bm,bmii->bi", frac, C_hat)  # [B, 6] diagonal of the volume average
    rel = 2 * L / C_vol
    if form == "linear":
        return rel.sum(dim=1)
    # C^H_ii(u) / C_vol_ii = 1 + rel >= C^H_ii / C_vol_ii > 0 in exact arithmetic; the clamp
    # only guards float32 round-off far from a solution.
    return torch.log((1 + rel).clamp_min(1e-12)).sum(dim=1)


@torch.no_grad()
def evaluate(model: PHNet, batch: dict, CH_ref: torch.Tensor, device, *, chunk: int = 16, amp: bool = False) -> dict:
    """delta statistics of the model on a labelled batch (C^H from the energy form of the
    predicted displacements, recovered on each parallelepiped)."""
    was_training = model.training
    model.eval()
    deltas, deltas_net, losses = [], [], []
    B, n = batch["vox"].shape[0], batch["vox"].shape[-1]
    for a in range(0, B, chunk):
        sub = {k: v[a:a + chunk] for k, v in batch.items()}
        prob = batch_problem(sub, n, device)
        u, u_net = model_u(model, sub, device, prob, amp=amp)
        vox = sub["vox"].to(device)
        CH = prob.homogenized_tensor(u, vox)
        deltas.append(relative_error(CH, CH_ref[a:a + chunk]).cpu())
        if u_net is not u:
            deltas_net.append(relative_error(prob.homogenized_tensor(u_net, vox), CH_ref[a:a + chunk]).cpu())
        losses.append(normalised_energy(u, vox, prob).cpu())
    model.train(was_training)
    d = torch.cat(deltas)
    out = {"delta_mean": float(d.mean()), "delta_median": float(d.median()), "delta_max": float(d.max()),
           "eval_loss": float(torch.cat(losses).mean()), "deltas": d}
    if deltas_net:  # the network's own field, before the physics output stage
        out["delta_mean_network"] = float(torch.cat(deltas_net).mean())
    return out


# ---------------------------------------------------------------------------------------------
# Checkpoints


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file in the same directory, fsync, then rename over ``path``:
    a crash leaves either the old or the new file, never a truncated one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _weights_config(cfg: PHNetConfig) -> dict:
    """The part of a model config that its weights depend on (not the parameter-free stage)."""
    return {k: v for k, v in cfg.to_dict().items() if k != "cg_steps"}


def load_checkpoint(path: str, map_location="cpu") -> dict:
    """Load a checkpoint written by this module (``weights_only=True``: tensors and plain
    containers only, never arbitrary pickles)."""
    if not os.path.exists(path):
        raise ValueError(f"checkpoint {path!r} does not exist")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"checkpoint {path!r} could not be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ck, dict) or "model" not in ck or "model_config" not in ck:
        raise ValueError(f"{path!r} is not a PH-Net checkpoint (needs 'model' and 'model_config' entries)")
    return ck


def model_from_checkpoint(ck: dict | str, device=None) -> PHNet:
    """Build the PH-Net of a checkpoint (dict or path) and load its weights (eval mode).
    A state dict that does not match the stored config is rejected with the mismatching keys."""
    if isinstance(ck, str):
        ck = load_checkpoint(ck)
    cfg = PHNetConfig.from_dict(ck["model_config"])
    model = PHNet(cfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or bad:
        raise ValueError(f"checkpoint weights do not match its model config {cfg}: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shapes {bad[:5]}")
    model.load_state_dict(state)
    return model.to(device or "cpu").eval()


def export_checkpoint(src: str, dst: str, *, half: bool = True, cg_steps: int | None = None) -> dict:
    """Write a small inference checkpoint from a training one: weights (float16 by default:
    half the bytes, and the network's accuracy is far coarser than fp16 rounding), model and
    training configs, and the held-out metrics of its last evaluation. Returns the metrics.
    ``cg_steps`` sets the model's parameter-free physics output stage (``PHNetConfig``) in the
    exported config (default: keep the training run's); the metrics are those of the run."""
    ck = load_checkpoint(src)
    model_config = dict(ck["model_config"])
    if cg_steps is not None:
        model_config = PHNetConfig.from_dict({**model_config, "cg_steps": cg_steps}).to_dict()  # validates
    evals = [h for h in ck.get("history", []) if "delta_mean" in h]
    metrics = {k: float(evals[-1][k]) for k in ("delta_mean", "delta_median", "delta_max")} if evals else {}
    if evals:
        metrics["epoch"] = int(evals[-1]["epoch"])
        if "delta_mean_network" in evals[-1]:  # a model with the physics stage: the network alone
            metrics["delta_mean_network"] = float(evals[-1]["delta_mean_network"])
    metrics["eval_size"] = int(ck["train_config"].get("eval_size", 0))
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in ck["model"].items()}
    out = {"model": state, "model_config": model_config, "train_config": ck["train_config"],
           "metrics": metrics, "curve": [{k: float(v) for k, v in h.items() if isinstance(v, (int, float))}
                                         for h in ck.get("history", [])]}
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    atomic_save(out, dst)
    return metrics


def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
          "python_version": random.getstate()[0]}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    random.setstate((st["python_version"], tuple(st["python"]), None))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


# ---------------------------------------------------------------------------------------------
# Training loop


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev


class Trainer:
    """One training run (single process or one rank of a torchrun job). ``run()`` trains to
    ``cfg.epochs``, resuming from ``<out>/last.pt`` when it exists."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.world, self.rank, local_rank = _dist_info()
        self.distributed = self.world > 1
        self.device = _device(cfg, local_rank)
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.main = self.rank == 0
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model_cfg = PHNetConfig.from_dict(cfg.model)
        self.model = PHNet(self.model_cfg).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.net = self.model
        if self.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if cfg.compile:
            self.net = torch.compile(self.net)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = max(1, cfg.epoch_size // (cfg.batch_size * self.world))
        if cfg.schedule == "cosine":
            self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.opt, T_max=cfg.epochs * self.steps_per_epoch, eta_min=cfg.lr * cfg.min_lr_ratio)
        elif cfg.schedule == "plateau":
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=0.5, patience=3,
                                                                    min_lr=cfg.lr * cfg.min_lr_ratio)
        else:
            self.sched = None
        self.amp = cfg.amp and self.device.type == "cuda"
        self.data = self._make_data()
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best = math.inf
        self.history: list[dict] = []
        os.makedirs(cfg.out, exist_ok=True)
        self.last_path = os.path.join(cfg.out, "last.pt")
        self.best_path = os.path.join(cfg.out, "best.pt")

    # -- data ------------------------------------------------------------------------------
    def _make_data(self):
        cfg = self.cfg
        if cfg.data == "tg":
            ds = TGCells(cfg.n, vf_grid(cfg), cfg.epoch_size, seed=cfg.seed, E=cfg.E, nu=cfg.nu,
                         soft_ratio=cfg.soft_ratio, angle_range=cfg.angle_range,
                         length_range=cfg.length_range, shapes=cfg.shapes, corner_mix=cfg.corner_mix)
        else:
            from . import data as data_mod  # HDF5 datasets (phnet_cuda.data)

            ds = data_mod.CellDataset(cfg.data, split="train")
        return RandomTranslation(ds, seed=cfg.seed) if cfg.random_translation else ds

    def _epoch_order(self, epoch: int) -> list[int]:
        """This rank's sample order of an epoch: a permutation seeded by (seed, epoch), dealt
        round-robin to the ranks, so K ranks with batch b see exactly the samples of one process
        with batch K b."""
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.data), generator=g)
        usable = self.steps_per_epoch * self.cfg.batch_size * self.world
        return perm[:usable][self.rank::self.world].tolist()

    def _eval_set(self) -> tuple[dict, torch.Tensor]:
        cfg = self.cfg
        path = os.path.join(cfg.out, "eval_set.pt")
        if os.path.exists(path):
            st = torch.load(path, map_location="cpu", weights_only=True)
            return st["batch"], st["CH"]
        if cfg.data != "tg":
            from . import data as data_mod

            ds = data_mod.CellDataset(cfg.data, split="test")
            samples = []
            for i in range(len(ds)):  # the first eval_size LABELLED test samples
                item = ds[i]
                if bool(item.get("labelled", True)) and not torch.isnan(item["CH"]).any():
                    samples.append(item)
                if len(samples) == cfg.eval_size:
                    break
            if not samples:
                raise ValueError(f"the test split of {cfg.data!r} has no labels; run 'phnet dataset label {cfg.data}'")
            batch = collate(samples)
            return {k: v for k, v in batch.items() if k != "CH"}, batch["CH"]
        batch = held_out_batch(cfg.n, held_out_vfs(vf_grid(cfg)), cfg.eval_size, seed=cfg.seed + 7919, epoch=10**6,
                               E=cfg.E, nu=cfg.nu, soft_ratio=cfg.soft_ratio, angle_range=cfg.angle_range,
                               length_range=cfg.length_range, shapes=cfg.shapes)
        CH = label_cells(batch, tol=cfg.eval_tol, progress=cfg.progress and self.main)
        if self.main:
            atomic_save({"batch": batch, "CH": CH}, path)
        return batch, CH

    # -- checkpoints -----------------------------------------------------------------------
    def state(self) -> dict:
        return {"model": self.model.state_dict(), "model_config": self.model_cfg.to_dict(),
                "train_config": self.cfg.to_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict() if self.sched is not None else {},
                "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "best": self.best, "history": self.history, "rng": _rng_state(),
                "versions": {"torch": str(torch.__version__)}}

    def save(self, best: bool = False) -> None:
        if not self.main:
            return
        st = self.state()
        atomic_save(st, self.last_path)
        if best:
            atomic_save(st, self.best_path)

    def resume(self) -> bool:
        if not os.path.exists(self.last_path):
            return False
        ck = load_checkpoint(self.last_path, map_location=self.device)
        if ck["model_config"] != self.model_cfg.to_dict():
            raise ValueError(f"{self.last_path} was written for model config {ck['model_config']}, "
                             f"but this run asks for {self.model_cfg.to_dict()}; use another --out")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        if self.sched is not None and ck["scheduler"]:
            self.sched.load_state_dict(ck["scheduler"])
        self.epoch, self.step_in_epoch = int(ck["epoch"]), int(ck["step_in_epoch"])
        self.global_step, self.best = int(ck["global_step"]), float(ck["best"])
        self.history = list(ck["history"])
        _set_rng_state({k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in ck["rng"].items()})
        return True

    # -- logging ---------------------------------------------------------------------------
    def _log(self, row: dict) -> None:
        if not self.main:
            return
        self.history.append(row)
        path = os.path.join(self.cfg.out, "log.csv")
        new = not os.path.exists(path)
        with open(path, "a", newline="") as fh:
            # fixed columns: epochs without an evaluation (eval_every > 1) leave the delta ones empty
            w = csv.DictWriter(fh, fieldnames=LOG_FIELDS, restval="")
            if new:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("epoch", "step"):
                    self._tb.add_scalar(k, v, row["step"])
            self._tb.flush()
        plot_curves(self.history, os.path.join(self.cfg.out, "curves.png"))

    # -- the loop --------------------------------------------------------------------------
    def train_step(self, batch: dict) -> tuple[float, float, float]:
        """One optimiser step; returns (loss, seconds spent in the energy loss incl. backward,
        seconds spent in the physics output stage incl. backward)."""
        cfg, dev = self.cfg, self.device
        vox = batch["vox"].to(dev, non_blocking=True)
        u = predict_u(self.net, batch, dev, amp=self.amp, channels_last=cfg.channels_last)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        prob = batch_problem(batch, cfg.n, dev)  # set-up, not part of the energy_loss share
        sync()
        # Three chained backward passes (loss -> stage -> network) so that each part is timed alone.
        u_leaf = u.detach().requires_grad_(True)
        t_stage, u_stage, u_in = 0.0, None, u_leaf
        if self.model_cfg.cg_steps:
            t0 = time.perf_counter()
            u_stage = prob.block_jacobi_cg(u_leaf, vox, self.model_cfg.cg_steps)
            u_in = u_stage.detach().requires_grad_(True)
            sync()
            t_stage = time.perf_counter() - t0
        t0 = time.perf_counter()
        loss = normalised_energy(u_in, vox, prob, cfg.loss_form).mean()
        loss.backward()
        sync()
        t_energy = time.perf_counter() - t0
        if u_stage is not None:
            t0 = time.perf_counter()
            u_stage.backward(u_in.grad)
            sync()
            t_stage += time.perf_counter() - t0
        self.opt.zero_grad(set_to_none=True)
        u.backward(u_leaf.grad)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        if self.sched is not None and cfg.schedule == "cosine":
            self.sched.step()
        return float(loss.detach()), t_energy, t_stage

    def load_init(self) -> None:
        """Load the weights of ``cfg.init`` (a new run's starting point), widened if ``init_widen``."""
        cfg = self.cfg
        src = model_from_checkpoint(cfg.init)
        if cfg.init_widen:
            # Same function as the narrow model; the new channels start with zero influence.
            src = widen_model(src, self.model_cfg, seed=cfg.seed)
        elif _weights_config(src.config) != _weights_config(self.model_cfg):
            raise ValueError(f"init checkpoint {cfg.init!r} has model config {src.config.to_dict()}, "
                             f"this run asks for {self.model_cfg.to_dict()} (init_widen: true starts "
                             f"a wider model of the same depth from it)")
        self.model.load_state_dict(src.state_dict())

    def run(self) -> dict:
        cfg = self.cfg
        resumed = self.resume()
        if not resumed and cfg.init:
            self.load_init()
        self._tb = None
        if self.main:
            with open(os.path.join(cfg.out, "config.yaml"), "w") as fh:
                import yaml

                yaml.safe_dump({"train": cfg.to_dict(), "command": " ".join(sys.argv)}, fh, sort_keys=False)
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(os.path.join(cfg.out, "tb"))
            except ImportError:
                self._tb = None
        eval_batch, eval_CH = self._eval_set()
        if self.main:
            print(f"phnet train: {count_parameters(self.model):,} parameters, device {self.device}, "
                  f"world {self.world}, {'resumed at epoch %d step %d' % (self.epoch, self.step_in_epoch) if resumed else 'new run'}"
                  f" -> {cfg.out}", flush=True)
        steps_done = 0
        self.model.train()
        while self.epoch < cfg.epochs:
            if hasattr(self.data, "set_epoch"):
                self.data.set_epoch(self.epoch)
            order = self._epoch_order(self.epoch)
            bs = cfg.batch_size
            t_epoch, t_energy, t_stage, n_samples, loss_sum, loss_n = time.perf_counter(), 0.0, 0.0, 0, 0.0, 0
            bar = None
            if cfg.progress and self.main:
                from tqdm import tqdm

                bar = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch,
                           desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="step", leave=False)
            batches = [order[s * bs:(s + 1) * bs] for s in range(self.step_in_epoch, self.steps_per_epoch)]
            loader = torch.utils.data.DataLoader(
                self.data, batch_sampler=batches, collate_fn=collate, num_workers=cfg.workers,
                pin_memory=self.device.type == "cuda", persistent_workers=False)
            for batch in loader:
                s = self.step_in_epoch
                loss, te, ts = self.train_step(batch)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at epoch {self.epoch} step {s}; "
                                             f"last good checkpoint: {self.last_path}")
                t_energy += te
                t_stage += ts
                n_samples += bs * self.world
                loss_sum, loss_n = loss_sum + loss, loss_n + 1
                self.step_in_epoch += 1
                self.global_step += 1
                steps_done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
                if cfg.max_steps is not None and steps_done >= cfg.max_steps:
                    self.save()
                    if bar is not None:
                        bar.close()
                    return {"stopped": "max_steps", "epoch": self.epoch, "step_in_epoch": self.step_in_epoch}
            if bar is not None:
                bar.close()
            seconds = time.perf_counter() - t_epoch
            self.epoch += 1
            self.step_in_epoch = 0
            row = {"epoch": self.epoch, "step": self.global_step, "lr": self.opt.param_groups[0]["lr"],
                   "train_loss": loss_sum / max(loss_n, 1), "samples_per_s": n_samples / seconds,
                   "energy_share": t_energy / seconds, "seconds": seconds}
            if self.model_cfg.cg_steps:
                row["stage_share"] = t_stage / seconds
            if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
                ev = evaluate(self.model, eval_batch, eval_CH, self.device, amp=self.amp)
                row.update({k: v for k, v in ev.items() if k != "deltas"})
                if self.sched is not None and cfg.schedule == "plateau":
                    self.sched.step(ev["eval_loss"])
                improved = ev["delta_mean"] < self.best
                self.best = min(self.best, ev["delta_mean"])
            else:
                improved = False
            self._log(row)
            self.save(best=improved)
            if self.main:
                print("epoch {epoch}: loss {train_loss:.5f}".format(**row)
                      + (f", delta mean {row['delta_mean']:.4%} median {row['delta_median']:.4%} max {row['delta_max']:.4%}"
                         if "delta_mean" in row else "")
                      + (f" (network alone {row['delta_mean_network']:.4%})" if "delta_mean_network" in row else "")
                      + f", {row['samples_per_s']:.1f} samples/s, energy_loss {row['energy_share']:.1%} of step time"
                      + (f", cg stage {row['stage_share']:.1%}" if "stage_share" in row else ""),
                      flush=True)
        if self._tb is not None:
            self._tb.close()
        return {"stopped": "done", "epoch": self.epoch, "best_delta_mean": self.best}


def plot_curves(history: list[dict], path: str) -> None:
    """Training loss and eval delta versus epoch (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(ep, [h["train_loss"] for h in history], label="train")
    ev = [(h["epoch"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if ev:
        ax[0].plot(*zip(*ev), label="held-out")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("normalised energy loss")
    ax[0].legend()
    d = [(h["epoch"], h["delta_mean"], h["delta_median"], h["delta_max"]) for h in history if "delta_mean" in h]
    if d:
        e, mean, med, mx = zip(*d)
        ax[1].semilogy(e, mean, label="mean")
        ax[1].semilogy(e, med, label="median")
        ax[1].semilogy(e, mx, label="max")
        ax[1].axhline(0.01, color="k", lw=0.8, ls="--", label="1%")
        ax[1].set_xlabel("epoch")
        ax[1].set_ylabel("delta = ||C_pred - C_ref||_F / ||C_ref||_F")
        ax[1].legend()
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def train(cfg: TrainConfig | dict) -> dict:
    """Train (or resume) a PH-Net; see ``TrainConfig``. Returns a small summary dict."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    return Trainer(cfg).run()


# ---------------------------------------------------------------------------------------------
# Command line (also ``python -m phnet_cuda.train`` for torchrun)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML/JSON file of TrainConfig settings (flags override it)")
    p.add_argument("--out", help="run directory (checkpoints, logs, config); resumes if it holds last.pt")
    p.add_argument("--data", help="'tg' (generated Tubular-Gyroid cells) or an HDF5 dataset file")
    # --resolution is the torchrun-safe spelling: torchrun rejects "--n" as an ambiguous prefix
    # of its own options (--nnodes, --nproc-per-node, ...) even after the module name.
    p.add_argument("--n", "--resolution", dest="n", type=int, help="voxels per edge")
    p.add_argument("--widths", help="comma-separated channel widths, e.g. 64,128,256")
    p.add_argument("--head", type=int)
    p.add_argument("--norm", choices=["batch", "group", "none"])
    p.add_argument("--cg-steps", type=int,
                   help="physics output stage: block-Jacobi CG steps after the network, trained through "
                        "(PHNetConfig.cg_steps; default 0)")
    p.add_argument("--plain", action="store_true",
                   help="the reference architecture without periodic padding, input scaling and zero-mean output")
    p.add_argument("--random-translation", action="store_true",
                   help="roll every training cell by a random periodic shift (C^H is invariant to it)")
    p.add_argument("--corner-mix", type=float, help="share of training shapes at the ends of the shape ranges")
    p.add_argument("--epochs", type=int)
    p.add_argument("--epoch-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--schedule", choices=["cosine", "plateau", "none"])
    p.add_argument("--loss-form", choices=["log", "linear"])
    p.add_argument("--eval-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--workers", type=int, help="DataLoader worker processes (default 0)")
    p.add_argument("--no-amp", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--init", help="start a new run from the weights of this checkpoint (fine-tuning)")
    p.add_argument("--init-widen", action="store_true",
                   help="--init from a narrower checkpoint of the same depth (function-preserving widening)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (checkpointed; rerun to continue)")
    p.add_argument("--no-progress", action="store_true")


def config_from_args(args) -> TrainConfig:
    d = load_config(args.config) if args.config else {}
    d = d.get("train", d)  # accept a run directory's config.yaml as is
    model = dict(d.get("model", TrainConfig().model))
    simple = {"out": args.out, "data": args.data, "n": args.n, "epochs": args.epochs,
              "epoch_size": args.epoch_size, "batch_size": args.batch_size, "lr": args.lr,
              "schedule": args.schedule, "loss_form": args.loss_form, "eval_size": args.eval_size,
              "seed": args.seed, "device": args.device, "max_steps": args.max_steps, "init": args.init,
              "workers": args.workers, "corner_mix": args.corner_mix}
    d.update({k: v for k, v in simple.items() if v is not None})
    if args.widths:
        try:
            model["widths"] = [int(w) for w in args.widths.split(",")]
        except ValueError:
            raise ValueError(f"--widths must be comma-separated ints, got {args.widths!r}") from None
    if args.head is not None:
        model["head"] = args.head
    if args.norm is not None:
        model["norm"] = args.norm
    if args.cg_steps is not None:
        model["cg_steps"] = args.cg_steps
    if args.plain:
        model.update(periodic=False, scale_invariant=False, zero_mean=False)
    d["model"] = model
    if args.random_translation:
        d["random_translation"] = True
    if args.init_widen:
        d["init_widen"] = True
    if args.no_amp:
        d["amp"] = False
    if args.compile:
        d["compile"] = True
    if args.no_progress:
        d["progress"] = False
    return TrainConfig.from_dict(d)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="phnet-train", description="label-free PH-Net training")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"phnet train: error: {exc}", file=sys.stderr)
        return 2
    summary = train(cfg)
    if dist.is_initialized():
        dist.destroy_process_group()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
