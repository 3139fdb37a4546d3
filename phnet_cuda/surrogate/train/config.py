"""The configuration of a training run (``TrainConfig``, saved as the run's ``config.yaml``) and
reading it from a YAML/JSON file.

``TrainConfig`` checks the type and range of every field when it is made (from Python, a config
file or the command line): a bad value is a ValueError that names the key, the value and what is
expected (``train config key 'lr' must be a positive number, got 'abc'``). numpy scalars are
accepted and stored as Python numbers (the config is written as YAML).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..._checks import non_negative_int, positive_int, positive_number
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
        for name in ("out", "data"):
            setattr(self, name, _path(getattr(self, name), name))
        for name in ("init",):
            setattr(self, name, _path(getattr(self, name), name, allow_none=True))
        for name in ("n", "epochs", "epoch_size", "batch_size", "vf_count", "eval_size", "eval_every"):
            setattr(self, name, positive_int(getattr(self, name), _key(name)))
        self.max_steps = positive_int(self.max_steps, _key("max_steps"), allow_none=True)
        for name in ("seed", "workers"):
            setattr(self, name, non_negative_int(getattr(self, name), _key(name)))
        for name in ("lr", "E", "eval_tol"):
            setattr(self, name, positive_number(getattr(self, name), _key(name)))
        for name in ("weight_decay", "grad_clip"):  # grad_clip 0 = no clipping
            setattr(self, name, _number(getattr(self, name), name, 0, None, "a non-negative number"))
        for name in ("min_lr_ratio", "corner_mix"):
            setattr(self, name, _number(getattr(self, name), name, 0, 1, "a number in [0, 1]"))
        self.nu = _number(self.nu, "nu", -1, 0.5, "a number in (-1, 0.5)", open_ends=True)
        self.soft_ratio = _number(self.soft_ratio, "soft_ratio", 0, 1, "a number in (0, 1]", open_low=True)
        self.vf_min = _number(self.vf_min, "vf_min", 0, 1, "a number in (0, 1)", open_ends=True)
        self.vf_max = _number(self.vf_max, "vf_max", 0, 1, "a number in (0, 1)", open_ends=True)
        if not self.vf_min < self.vf_max:
            raise ValueError(f"train config keys 'vf_min' < 'vf_max' needed, got vf_min = {self.vf_min:g}, "
                             f"vf_max = {self.vf_max:g}")
        self.angle_range = _range(self.angle_range, "angle_range", 0, 180, "degrees in (0, 180)")
        self.length_range = _range(self.length_range, "length_range", 0, None, "positive lengths")
        self.schedule = _choice(self.schedule, "schedule", ("cosine", "plateau", "none"))
        self.loss_form = _choice(self.loss_form, "loss_form", ("log", "linear"))
        for name in ("shapes", "random_translation", "amp", "channels_last", "compile", "init_widen", "progress"):
            setattr(self, name, _bool(getattr(self, name), name))
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"{_key('device')} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.init_widen and not self.init:
            raise ValueError("train config: init_widen needs init (the narrower checkpoint to start from), "
                             "got init = None")
        model = _model_config(self.model)
        self.model = model.to_dict()
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
        if not isinstance(d, dict):
            raise ValueError(f"a training config must be a mapping of settings, got {type(d).__name__} {d!r:.80}")
        return dataclass_from_dict(cls, d, "training config")


# -- field checks: each names the key, the value and what is expected ---------------------------

def _key(name: str) -> str:
    return f"train config key {name!r}"


def _real(x, name: str, expected: str) -> float:
    """``x`` (int, float, numpy scalar; not bool or str) as a finite Python float."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(float(x)):
        raise ValueError(f"{_key(name)} must be {expected}, got {x!r}")
    return float(x)


def _number(x, name: str, low, high, expected: str, *, open_ends: bool = False, open_low: bool = False) -> float:
    """``x`` as a float in [low, high] (None: unbounded; ``open_ends``: both ends excluded, ``open_low``:
    the low one)."""
    v = _real(x, name, expected)
    below = low is not None and (v <= low if open_ends or open_low else v < low)
    above = high is not None and (v >= high if open_ends else v > high)
    if below or above:
        raise ValueError(f"{_key(name)} must be {expected}, got {x!r}")
    return v


def _range(x, name: str, low: float, high: float | None, what: str) -> tuple[float, float]:
    """``x`` as a (low, high) pair of floats with low <= high, both in (low, high) (high None: unbounded)."""
    expected = f"[low, high] with low <= high, {what}"
    pair = isinstance(x, (list, tuple, np.ndarray)) and len(x) == 2
    if not pair or any(isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(float(v)) for v in x):
        raise ValueError(f"{_key(name)} must be {expected}, got {x!r}")
    lo, hi = float(x[0]), float(x[1])
    if not (low < lo <= hi and (high is None or hi < high)):
        raise ValueError(f"{_key(name)} must be {expected}, got {[lo, hi]}")
    return lo, hi


def _choice(x, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(x, str) or x not in options:
        raise ValueError(f"{_key(name)} must be one of {', '.join(repr(o) for o in options)}, got {x!r}")
    return x


def _bool(x, name: str) -> bool:
    if not isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{_key(name)} must be true or false, got {x!r}")
    return bool(x)


def _path(x, name: str, *, allow_none: bool = False) -> str | None:
    if x is None and allow_none:
        return None
    if isinstance(x, os.PathLike):
        x = os.fspath(x)
    if not isinstance(x, str) or not x.strip():
        expected = "a non-empty path (string) or null" if allow_none else "a non-empty path (string)"
        raise ValueError(f"{_key(name)} must be {expected}, got {x!r}")
    return x


def _model_config(d) -> PHNetConfig:
    """The PHNetConfig of the ``model`` key, the entries PHNetConfig does not check strictly type-checked
    first (it would truncate ``widths: [2.5]`` to 2, fail on strings with int()'s own message, take a
    float head); its own errors (norm, cg_steps, unknown keys) come prefixed with the key."""
    if not isinstance(d, dict):
        raise ValueError(f"{_key('model')} must be a mapping of PH-Net settings (widths, head, norm, ...), got "
                         f"{type(d).__name__} {d!r:.80}")
    name = "model.widths"
    if "widths" in d:
        w = d["widths"]
        if (isinstance(w, (str, bytes)) or not isinstance(w, (list, tuple)) or not w
                or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in w)):
            raise ValueError(f"{_key(name)} must be a non-empty list of positive ints, got {w!r}")
    for k in ("head", "in_channels", "out_channels"):
        if k in d:
            positive_int(d[k], _key(f"model.{k}"))
    for k in ("periodic", "scale_invariant", "zero_mean"):
        if k in d:
            _bool(d[k], f"model.{k}")
    try:
        return PHNetConfig.from_dict({k: (int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                          else v) for k, v in d.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{_key('model')}: {exc}") from None


# -- config files -------------------------------------------------------------------------------

def _yaml_loader():
    """yaml.SafeLoader that also reads ``5e-4`` as a float (YAML 1.1, PyYAML's rule, needs a dot: it
    would be the string '5e-4', a wrong rejection of a learning rate written the usual way)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader


def load_config(path: str) -> dict:
    """Read a YAML (``.yaml``/``.yml``) or JSON (any other name) run configuration: a mapping of
    TrainConfig fields. A missing or unreadable file, a syntax error (named by line and column) or a
    file that is not a mapping raise a one-line ValueError naming the file."""
    import yaml

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"config file {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"config file {path!r} is a folder; expected a .yaml/.yml or .json file")
    is_yaml = path.endswith((".yaml", ".yml"))
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise ValueError(f"config file {path!r} cannot be read as text ({reason})") from None
    try:
        d = yaml.load(text, Loader=_yaml_loader()) if is_yaml else json.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"config file {path!r} is not valid YAML: {where}: {problem}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"config file {path!r} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
                         + ("" if path.endswith(".json") else " (files not named .yaml/.yml are read as JSON)")) \
            from None
    if not isinstance(d, dict):
        raise ValueError(f"config file {path!r} must hold a mapping of settings, got {type(d).__name__}")
    return d


def vf_grid(cfg: TrainConfig) -> np.ndarray:
    """The training volume fractions: ``vf_count`` uniform values in [vf_min, vf_max]."""
    return np.linspace(cfg.vf_min, cfg.vf_max, cfg.vf_count)
