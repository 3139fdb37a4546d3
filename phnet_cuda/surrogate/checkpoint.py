"""PH-Net checkpoints: atomic writing, safe loading (``weights_only=True``: tensors and plain
containers only, never a pickle of arbitrary objects), building the model from one, exporting a
small inference checkpoint, and the shipped default.

Keys of a checkpoint: ``model`` (state dict), ``model_config`` (``PHNetConfig.to_dict``),
``train_config`` (``TrainConfig.to_dict``); training checkpoints add the optimiser, scheduler,
position, history and RNG states; exported ones ``metrics`` and ``curve``.
"""

from __future__ import annotations

import os

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


def load_checkpoint(path: str, map_location="cpu") -> dict:
    """Load a checkpoint written by this module (``weights_only=True``: tensors and plain
    containers only, never arbitrary pickles)."""
    if not os.path.exists(path):
        raise ValueError(f"checkpoint {path!r} does not exist")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure to unpickle safely: re-raised with the file named
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


def load_model(checkpoint: str | None = None, device=None):
    """The PH-Net of a checkpoint (default: the shipped one), cached per (path, device)."""
    path = os.path.abspath(checkpoint or DEFAULT_CHECKPOINT)
    if checkpoint is None and not os.path.exists(path):
        raise ValueError(f"the shipped PH-Net checkpoint is missing from the installation ({path})")
    key = (path, str(device), os.path.getmtime(path) if os.path.exists(path) else 0)
    if key not in _MODELS:
        ck = load_checkpoint(path)
        model = model_from_checkpoint(ck, device)
        n_train = int(ck.get("train_config", {}).get("n", 0)) or None
        _MODELS[key] = (model, n_train)
    return _MODELS[key]
