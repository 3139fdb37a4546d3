"""PH-Net checkpoints that must be refused (phnet_cuda.surrogate.checkpoint): files that cannot be
loaded safely give one line naming the file with torch's full error kept as the cause, a pickle
that would run code is never run, and weights holding NaN or inf are refused at load time."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch

from phnet_cuda.surrogate.checkpoint import atomic_save, load_checkpoint, load_model, model_from_checkpoint
from phnet_cuda.surrogate.model import PHNet, PHNetConfig

SAFE = "is not a phnet_cuda checkpoint or cannot be loaded safely (weights_only): "


class _Evil:
    """Unpickling this calls ``open(marker, "w")``: the marker file's existence proves code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _System:
    """Unpickling this calls ``os.system("touch marker")``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _unreadable(tmp_path, marker):
    """name -> path of files that are not loadable checkpoints (and would run code if unpickled)."""
    files = {}
    files["random_bytes"] = tmp_path / "random.pt"
    files["random_bytes"].write_bytes(os.urandom(4096))
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        files[f"evil_open_p{proto}"] = tmp_path / f"evil_open_{proto}.pt"
        files[f"evil_open_p{proto}"].write_bytes(pickle.dumps({"model": _Evil(str(marker))}, protocol=proto))
        files[f"evil_system_p{proto}"] = tmp_path / f"evil_system_{proto}.pt"
        files[f"evil_system_p{proto}"].write_bytes(pickle.dumps(_System(str(marker)), protocol=proto))
    files["evil_torch_zip"] = tmp_path / "evil_zip.pt"  # torch's own zip format with the malicious pickle inside
    torch.save({"model": _Evil(str(marker)), "model_config": {}}, files["evil_torch_zip"])
    files["foreign_zip"] = tmp_path / "foreign.pt"
    with zipfile.ZipFile(files["foreign_zip"], "w") as z:
        z.writestr("hello.txt", "not a torch archive")
    good = tmp_path / "good.pt"
    atomic_save({"model": {}, "model_config": {}}, str(good))
    files["truncated"] = tmp_path / "truncated.pt"
    files["truncated"].write_bytes(good.read_bytes()[:200])
    return files


def test_unreadable_checkpoints_are_one_line_with_the_detail_as_cause(tmp_path):
    marker = tmp_path / "code_ran"
    files = _unreadable(tmp_path, marker)
    assert not marker.exists()  # writing the files ran nothing
    for kind, path in files.items():
        with pytest.raises(ValueError) as info:
            load_checkpoint(str(path))
        msg = str(info.value)
        assert msg.startswith(f"{path} {SAFE}"), (kind, msg)
        assert "\n" not in msg, (kind, msg)
        assert "weights_only` set to `False`" not in msg, (kind, msg)  # torch's unsafe advice is not repeated
        cause = info.value.__cause__
        assert cause is not None and str(cause).strip(), kind  # the full torch error is kept
        reason = msg[len(f"{path} {SAFE}"):]
        assert reason.startswith(type(cause).__name__ + ":"), (kind, reason)
        first = reason.split(": ", 1)[1].removeprefix("WeightsUnpickler error: ")
        assert first.split(" was not")[0] in str(cause), (kind, reason)  # a line of the cause, not made up
        if kind.startswith("evil"):
            assert "GLOBAL" in reason or "Unsupported operand" in reason, (kind, reason)
        assert not marker.exists(), kind  # the malicious pickle never ran
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"^\S+empty.pt " + SAFE.replace("(", r"\(").replace(")", r"\)")
                       + r"the file is empty \(0 bytes\)$"):
        load_checkpoint(str(tmp_path / "empty.pt"))
    # also through the model loaders
    for loader in (model_from_checkpoint, load_model):
        with pytest.raises(ValueError, match="cannot be loaded safely"):
            loader(str(files["evil_open_p2"]))
    assert not marker.exists()


def test_folder_missing_and_foreign_content(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="is a folder; expected a .pt file"):
        load_checkpoint(str(tmp_path))
    atomic_save({"model": [1, 2], "model_config": {}}, str(tmp_path / "list.pt"))
    with pytest.raises(ValueError, match="needs a 'model' state dict and a 'model_config' dict"):
        model_from_checkpoint(str(tmp_path / "list.pt"))
    atomic_save({"model": {"w": [1.0]}, "model_config": {"widths": [4, 8], "head": 4}}, str(tmp_path / "nt.pt"))
    with pytest.raises(ValueError, match=r"weight 'w' is a list, not a tensor"):
        model_from_checkpoint(str(tmp_path / "nt.pt"))
    atomic_save({"model": {}, "model_config": {"widths": [4, 8], "hed": 4}}, str(tmp_path / "cfg.pt"))
    with pytest.raises(ValueError, match=r"invalid model_config: unknown PH-Net config keys \['hed'\]"):
        model_from_checkpoint(str(tmp_path / "cfg.pt"))


def _tiny():
    torch.manual_seed(0)
    cfg = PHNetConfig(widths=(4, 8), head=4)
    return cfg, PHNet(cfg)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("half", [False, True])
def test_non_finite_weights_are_refused_naming_the_first_tensor(bad, half, tmp_path):
    cfg, model = _tiny()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    names = [k for k, v in state.items() if v.is_floating_point() and v.numel() > 1]
    first, later = names[len(names) // 2], names[-1]
    state[first].view(-1)[3] = bad
    state[later].view(-1)[0] = float("nan")  # a later one too: the message names the first in order
    if half:  # exported checkpoints hold float16 weights
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    path = tmp_path / "bad.pt"
    atomic_save({"model": state, "model_config": cfg.to_dict(), "train_config": {"n": 8}}, str(path))
    assert load_checkpoint(str(path))  # loading the file itself is fine: the weights are tensors
    msg = f"checkpoint '{path}': weight '{first}' {tuple(state[first].shape)} holds 1 NaN/inf value"
    for load in (model_from_checkpoint, load_model):
        with pytest.raises(ValueError) as info:
            load(str(path))
        assert str(info.value).startswith(msg), str(info.value)
    with pytest.raises(ValueError, match=r"^checkpoint 'mine': weight"):
        model_from_checkpoint(load_checkpoint(str(path)), name="mine")
    # the same weights, finite, load and predict finite numbers
    state[first].view(-1)[3] = 0.0
    state[later].view(-1)[0] = 0.0
    atomic_save({"model": state, "model_config": cfg.to_dict()}, str(path))
    out = model_from_checkpoint(str(path))(torch.rand(1, 36, 8, 8, 8))
    assert torch.isfinite(out).all()
