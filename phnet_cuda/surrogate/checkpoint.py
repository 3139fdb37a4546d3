"""PH-Net checkpoints: atomic writing, safe loading (``weights_only=True``: tensors and plain
containers only, never a pickle of arbitrary objects), building the model from one, exporting a
small inference checkpoint, and the shipped default.

Keys of a checkpoint: ``model`` (state dict), ``model_config`` (``PHNetConfig.to_dict``),
``train_config`` (``TrainConfig.to_dict``); training checkpoints add the optimiser, scheduler,
position, history and RNG states; exported ones ``metrics`` and ``curve``.
"""

from __future__ import annotations

import os
import re
import warnings

import torch

from .model import PHNet, PHNetConfig

#: The pretrained checkpoint shipped inside the package (used when ``checkpoint=None``).
DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                                  "phnet_tg16.pt")

_MODELS: dict = {}  # (path, device, mtime) -> (model, training n)


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file in the same directory, fsync, then rename over ``path``:
    a crash leaves either the old or the new file, never a truncated one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def weights_config(cfg: PHNetConfig) -> dict:
    """The part of a model config that its weights depend on (not the parameter-free stage)."""
    return {k: v for k, v in cfg.to_dict().items() if k != "cg_steps"}


#: torch's boilerplate around a weights_only refusal (it even advises weights_only=False): not the reason
_TORCH_PREFACE = ("Weights only load failed", "Check the documentation of torch.load", "(1)", "(2)")


def _first_line(exc: BaseException) -> str:
    """``Type: reason`` of a torch.load error in one line: torch's ``WeightsUnpickler error: ...``
    line if it has one, else its first line that is not the preface around a weights_only refusal;
    advice to allowlist globals or switch weights_only off is cut."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # torch bolds a sentence with terminal escapes
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = ""
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            tail = line.split("WeightsUnpickler error:", 1)[1].strip()
            reason = "WeightsUnpickler error: " + (tail or (lines[i + 1] if i + 1 < len(lines) else ""))
            break
    if not reason:
        rest = [line for line in lines if not line.startswith(_TORCH_PREFACE) and "weights_only` set to" not in line]
        reason = (rest or lines or [""])[0]
    reason = reason.split(" Please use ")[0].strip()
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def load_checkpoint(path: str, map_location="cpu") -> dict:
    """Load a checkpoint written by this module (``weights_only=True``: tensors and plain
    containers only, never arbitrary pickles: a pickle that would run code is refused unrun).

    A file that cannot be loaded that way (random bytes, a foreign pickle, a zip that is not a
    torch file, a truncated file) raises a one-line ValueError naming the file and the first line
    of torch's error; the full error is the exception's ``__cause__``. A loadable file without
    the ``model`` and ``model_config`` entries is also a ValueError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"checkpoint {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"checkpoint {path!r} is a folder; expected a .pt file")
    if os.path.getsize(path) == 0:  # torch says only "EOFError" (no text)
        raise ValueError(f"{path} is not a phnet_cuda checkpoint or cannot be loaded safely (weights_only): "
                         "the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings(record=True) as caught:  # e.g. "Detected pickle protocol 4" before a refusal
            warnings.simplefilter("always")
            ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure to unpickle safely; torch's text is many lines: keep it as the cause
        raise ValueError(f"{path} is not a phnet_cuda checkpoint or cannot be loaded safely (weights_only): "
                         f"{_first_line(exc)}") from exc
    for w in caught:  # the load worked: its warnings are news
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not isinstance(ck, dict) or "model" not in ck or "model_config" not in ck:
        raise ValueError(f"{path!r} is not a PH-Net checkpoint (needs 'model' and 'model_config' entries)")
    return ck


def model_from_checkpoint(ck: dict | str, device=None, *, name: str | None = None) -> PHNet:
    """Build the PH-Net of a checkpoint (dict or path) and load its weights (eval mode).
    A state dict that does not match the stored config is rejected with the mismatching keys, and
    one with a NaN or inf weight with the first such tensor: such a model would only ever answer
    NaN. ``name`` names a dict checkpoint in the messages (a path names itself)."""
    if isinstance(ck, (str, os.PathLike)):
        name = os.fspath(ck)
        ck = load_checkpoint(name)
    where = f"checkpoint {name!r}" if name else "checkpoint"
    if not isinstance(ck, dict) or not isinstance(ck.get("model"), dict) or not isinstance(ck.get("model_config"),
                                                                                          dict):
        raise ValueError(f"{where} is not a PH-Net checkpoint (needs a 'model' state dict and a 'model_config' dict)")
    try:
        cfg = PHNetConfig.from_dict(ck["model_config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} has an invalid model_config: {exc}") from None
    state = ck["model"]
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"{where}: weight {k!r} is a {type(v).__name__}, not a tensor")
        if v.is_floating_point() or v.is_complex():
            finite = torch.isfinite(v)
            if not bool(finite.all()):
                raise ValueError(f"{where}: weight {k!r} {tuple(v.shape)} holds {int((~finite).sum())} NaN/inf "
                                 "value(s); refusing a model that can only answer NaN")
    model = PHNet(cfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or bad:
        raise ValueError(f"{where} weights do not match its model config {cfg}: missing {missing[:5]}, "
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


def load_model(checkpoint: str | None = None, device=None):
    """The PH-Net of a checkpoint (default: the shipped one), cached per (path, device)."""
    path = os.path.abspath(checkpoint or DEFAULT_CHECKPOINT)
    if checkpoint is None and not os.path.exists(path):
        raise ValueError(f"the shipped PH-Net checkpoint is missing from the installation ({path})")
    key = (path, str(device), os.path.getmtime(path) if os.path.exists(path) else 0)
    if key not in _MODELS:
        ck = load_checkpoint(path)
        model = model_from_checkpoint(ck, device, name=path)
        n_train = int(ck.get("train_config", {}).get("n", 0)) or None
        _MODELS[key] = (model, n_train)
    return _MODELS[key]
