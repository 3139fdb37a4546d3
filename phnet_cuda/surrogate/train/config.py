"""The configuration of a training run (``TrainConfig``, saved as the run's ``config.yaml``) and
reading it from a YAML/JSON file."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..._checks import positive_int
from ...conventions import DEFAULT_SOFT_RATIO
from ..model import PHNetConfig, dataclass_from_dict


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
            setattr(self, name, positive_int(getattr(self, name), name))
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
        """The config as a plain dict (ranges as lists), as written to a run's config file and checkpoints."""
        d = dataclasses.asdict(self)
        d["angle_range"], d["length_range"] = list(self.angle_range), list(self.length_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config of a ``to_dict`` dict; unknown keys raise a ValueError that names them."""
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


def vf_grid(cfg: TrainConfig) -> np.ndarray:
    """The training volume fractions: ``vf_count`` uniform values in [vf_min, vf_max]."""
    return np.linspace(cfg.vf_min, cfg.vf_max, cfg.vf_count)
