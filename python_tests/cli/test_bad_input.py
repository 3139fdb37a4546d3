"""Bad input to the `phnet` command line, one test (or parametrised family) per class of the
reliability issue: every case ends with exactly one line on stderr (no traceback) and the exit
status of its kind (2: the user's input, 130: Ctrl-C), in process through phnet_cuda.cli.main and,
for a few cases, end to end in a subprocess.

Classes: 1 output paths, 2 --device, 3 voxel files, 4 foreign HDF5 files, 5 training configs,
6 unreadable checkpoints in the CLI (the loader itself: python_tests/surrogate/test_checkpoint.py),
8 Ctrl-C, 9 numbers that must not be rejected.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import torch

import phnet_cuda.cli.common as common
from phnet_cuda import materials
from phnet_cuda.cli import main, parse_device


def one_line(capsys, argv, *needles, rc=2, prog=None):
    """Run ``phnet argv`` in process; assert the exit status, exactly one line on stderr that starts
    with ``phnet <cmd>:`` and holds every needle; return that line."""
    status = main(argv)
    err = capsys.readouterr().err
    assert status == rc, (status, err)
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    prog = prog or f"phnet {argv[0]}:"
    assert err.startswith(prog), err
    for needle in needles:
        assert needle in err, (needle, err)
    return err.strip()


@pytest.fixture(scope="module")
def solid(tmp_path_factory):
    """A solid 2^3 cell (C^H = the base material's C): the cheapest valid voxel file."""
    path = tmp_path_factory.mktemp("vox") / "solid.npy"
    np.save(path, np.ones((2, 2, 2)))
    return str(path)


def _commands(vox, checkpoint):
    """(command argv before the output option, output option, kind) of every command that writes."""
    return {
        "homogenize": (["homogenize", vox, "--device", "cpu"], "--out", "file"),
        "predict": (["predict", vox, "--checkpoint", checkpoint, "--device", "cpu"], "--out", "file"),
        "demo": (["demo", "--n", "8", "--device", "cpu"], "--out", "dir"),
        "gallery": (["gallery", "--n", "8", "--types", "gyroid", "--slices", "--quiet"], "--out", "dir"),
        "dataset": (["dataset", "build", "--spec", "dataset1", "--n", "8", "--scale", "0.002", "--quiet"], "--out",
                    "file"),
        "train": (["train", "--n", "8", "--widths", "4,8", "--head", "4", "--epochs", "1", "--device", "cpu",
                   "--no-progress"], "--out", "dir"),
    }


COMMANDS = ["homogenize", "predict", "demo", "gallery", "dataset", "train"]


# -- 1. output paths ---------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", COMMANDS)
def test_output_of_the_wrong_kind_or_under_a_file_is_one_line(cmd, tmp_path, capsys, solid, tiny_checkpoint):
    argv, opt, kind = _commands(solid, tiny_checkpoint)[cmd]
    a_file, a_dir = tmp_path / "a_file", tmp_path / "a_dir"
    a_file.write_text("x")
    a_dir.mkdir()
    if kind == "file":  # a folder where the file should go
        one_line(capsys, argv + [opt, str(a_dir)], f"{opt}: cannot write {a_dir}", "it is a folder")
    else:  # a file where the folder should be
        one_line(capsys, argv + [opt, str(a_file)], f"{opt}: cannot write into {a_file}", "it is a file")
    # a file in the middle of the path
    target = a_file / "sub" / "out.json"
    one_line(capsys, argv + [opt, str(target)], f"cannot write {target}", f"{a_file} is a file, not a folder")
    assert a_file.read_text() == "x" and sorted(os.listdir(tmp_path)) == ["a_dir", "a_file"]
    assert os.listdir(a_dir) == []  # nothing was written anywhere


def _read_only_dir(tmp_path) -> str:
    """A folder this process cannot create files in: a chmod 555 one, or (root ignores modes) a
    read-only system folder; skip where there is none."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    candidates = [str(ro), "/sys", "/proc/self"]
    for c in candidates:
        try:
            fd, probe = tempfile.mkstemp(dir=c)
        except OSError:
            return c
        os.close(fd)
        os.remove(probe)
    pytest.skip("no read-only folder available to this user")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_read_only_output_location_is_one_line(cmd, tmp_path, capsys, solid, tiny_checkpoint):
    argv, opt, kind = _commands(solid, tiny_checkpoint)[cmd]
    ro = _read_only_dir(tmp_path)
    try:
        target = os.path.join(ro, "out.json" if kind == "file" else "run")
        line = one_line(capsys, argv + [opt, target], f"{opt}: cannot write {target} (")
        reasons = ("Permission denied", "Operation not permitted", "Read-only file system", "No such file or directory")
        assert line.endswith(tuple(f"({r})" for r in reasons)), line
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_write_refusal_by_the_system_is_one_line(tmp_path, capsys, solid, monkeypatch):
    """Whatever the OS refuses (here a PermissionError from the write probe, as on a read-only
    mount) ends as `--out: cannot write PATH (reason)` before any work is done."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    solved = []
    monkeypatch.setattr(common.tempfile, "mkstemp", refuse)
    monkeypatch.setattr("phnet_cuda.solver.homogenize", lambda *a, **k: solved.append(1))
    out = tmp_path / "r.json"
    assert one_line(capsys, ["homogenize", solid, "--out", str(out)]) == \
        f"phnet homogenize: error: --out: cannot write {out} (Permission denied)"
    assert not solved and not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_read_only_existing_output_file_is_kept(tmp_path, capsys, solid):
    out = tmp_path / "r.json"
    out.write_text("keep")
    out.chmod(0o444)
    one_line(capsys, ["homogenize", solid, "--out", str(out)], f"--out: cannot write {out} (Permission denied")
    assert out.read_text() == "keep"


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, capsys, solid, monkeypatch):
    """The JSON is written atomically: a full disk at the rename leaves the previous result intact."""
    out = tmp_path / "r.json"
    out.write_text("previous")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(common.os, "replace", full)
    one_line(capsys, ["homogenize", solid, "--out", str(out), "--device", "cpu"],
             f"--out: cannot write {out} (No space left on device)")
    assert out.read_text() == "previous" and os.listdir(tmp_path) == ["r.json"]


def test_missing_output_folders_are_created(tmp_path, capsys, solid):
    out = tmp_path / "new" / "deeper" / "r.json"
    assert main(["homogenize", solid, "--E", "2", "--out", str(out), "--device", "cpu"]) == 0
    capsys.readouterr()
    CH = torch.tensor(json.loads(out.read_text())["CH"], dtype=torch.float64)
    C = materials.isotropic_stiffness(2.0, 0.3)
    assert float((CH - C).abs().max()) < 1e-10 * float(C.abs().max())
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # atomic write: no temporary file left
    gal = tmp_path / "g1" / "g2"
    assert main(["gallery", "--out", str(gal), "--n", "8", "--types", "gyroid", "--slices", "--quiet"]) == 0
    assert [p.suffix for p in gal.iterdir()] == [".png"]


def test_prepare_output_rejects_empty_and_names_the_option(tmp_path):
    with pytest.raises(common.UserError, match="--json: expected a file path, got ''"):
        common.prepare_output("", "--json")
    assert common.prepare_output(None, "--out") is None
    assert common.prepare_output(str(tmp_path / "d" / "x.csv"), "--csv") == str(tmp_path / "d" / "x.csv")
    assert (tmp_path / "d").is_dir() and os.listdir(tmp_path / "d") == []  # the write probe is removed


# -- 2. devices --------------------------------------------------------------------------------

def _bad_devices():
    out = [("meta", "unknown or unsupported device"), ("mps", "unknown or unsupported device"),
           ("tpu", "unknown or unsupported device"), ("cpu:1", "unknown or unsupported device"),
           ("cuda:x", "unknown or unsupported device"), (f"cuda:{max(torch.cuda.device_count(), 7)}", "cuda")]
    if not torch.cuda.is_available():
        out.append(("cuda", "requested but"))
    return out


@pytest.mark.parametrize("name,needle", _bad_devices())
@pytest.mark.parametrize("cmd", ["homogenize", "predict", "demo", "dataset", "train"])
def test_bad_device_is_one_line(cmd, name, needle, tmp_path, capsys, solid, tiny_checkpoint):
    argv = {"homogenize": ["homogenize", solid], "predict": ["predict", solid, "--checkpoint", tiny_checkpoint],
            "demo": ["demo", "--out", str(tmp_path / "demo")],
            "dataset": ["dataset", "label", str(tmp_path / "missing.h5")],
            "train": ["train", "--out", str(tmp_path / "run"), "--n", "8", "--widths", "4,8", "--head", "4"]}[cmd]
    line = one_line(capsys, argv + ["--device", name], f"--device {name}", needle)
    assert "expected" in line or "use --device cpu" in line
    assert not (tmp_path / "demo").exists() and not (tmp_path / "run").exists()  # refused before any output


def test_parse_device_rules(monkeypatch):
    assert parse_device("cpu") == torch.device("cpu") and parse_device(torch.device("cpu")) == torch.device("cpu")
    default = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert parse_device(None) == default and parse_device("auto") == default
    with pytest.raises(TypeError, match="device must be a device name"):
        parse_device(3, "device")
    with pytest.raises(ValueError, match=r"^device='tpu': unknown or unsupported device; expected cpu"):
        parse_device("tpu", "device")
    # a torch without CUDA, one with CUDA but no device, and a machine with two devices
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(ValueError, match=r"^--device cuda requested but this torch has no CUDA; use --device cpu$"):
        parse_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(ValueError, match="no CUDA device is available"):
        parse_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert parse_device("cuda:1") == torch.device("cuda", 1) and parse_device("cuda") == torch.device("cuda")
    with pytest.raises(ValueError, match=r"^--device cuda:2: this machine has 2 CUDA device\(s\); expected cuda or "
                                         r"cuda:N with N < 2$"):
        parse_device("cuda:2")
    with pytest.raises(ValueError, match="expected cpu, cuda or cuda:N with N < 2"):
        parse_device("meta")


# -- 3. voxel files ----------------------------------------------------------------------------

@pytest.mark.parametrize("content,flags,needles", [
    (np.zeros((0, 4, 4, 4)), [], ["holds an empty array of shape (0, 4, 4, 4)", "at least one cell"]),
    (np.ones((4, 4, 4), dtype=complex), [], ["holds complex values (dtype complex128", "expected real numbers"]),
    (np.full((4, 4, 4), 255, dtype=np.uint8), [], ["must lie in [0, 1], got range [255, 255] (dtype uint8)",
                                                   "pass --scale-255"]),
    (np.full((4, 4, 4), 2.0), [], ["must lie in [0, 1], got range [2, 2] (dtype float64)"]),
    (np.full((4, 4, 4), np.nan), [], ["holds 64 NaN/inf value(s)", "expected finite numbers"]),
    (np.array([[[np.inf, 0], [0, 0]], [[0, 0], [0, 0]]]), [], ["holds 1 NaN/inf value(s)"]),
    (np.ones((4, 4, 4)), ["--scale-255"], ["--scale-255:", "holds dtype float64", "expected an integer image"]),
    (np.ones((4, 4, 4), dtype=np.uint8), ["--scale-255"], ["holds values in [0, 1] already", "drop --scale-255"]),
    (np.full((4, 4, 4), 300, dtype=np.uint16), ["--scale-255"], ["values must lie in [0, 255], got range [300, 300]"]),
    (np.ones((3, 4, 5)), [], ["expected a voxel array [n, n, n] or [B, n, n, n], got shape (3, 4, 5)"]),
])
@pytest.mark.parametrize("cmd", ["homogenize", "predict"])
def test_bad_voxel_files_are_one_line(cmd, content, flags, needles, tmp_path, capsys, tiny_checkpoint):
    path = tmp_path / "v.npy"
    np.save(path, content)
    extra = ["--checkpoint", tiny_checkpoint] if cmd == "predict" else []
    line = one_line(capsys, [cmd, str(path), "--device", "cpu"] + flags + extra, *needles)
    assert str(path) in line


def test_ambiguous_npz_and_folders_are_one_line(tmp_path, capsys):
    np.savez(tmp_path / "v.npz", a=np.ones((2, 2, 2)), b=np.zeros((2, 2, 2)))
    one_line(capsys, ["homogenize", str(tmp_path / "v.npz")], "holds 2 arrays that can be voxel cells",
             "choose one with --key")
    one_line(capsys, ["homogenize", str(tmp_path)], f"voxel file {tmp_path} is a folder; expected a file (.npy, .npz")


def test_scale_255_gives_the_same_cell(tmp_path, capsys):
    """--scale-255 of a 0/255 uint8 image is the 0/1 cell: the same C^H to the solver's accuracy."""
    rng = np.random.default_rng(1)
    cell = rng.random((4, 4, 4)) < 0.6
    np.save(tmp_path / "b.npy", cell)
    np.save(tmp_path / "u8.npy", cell.astype(np.uint8) * 255)
    for name, flags in (("b", []), ("u8", ["--scale-255"])):
        assert main(["homogenize", str(tmp_path / f"{name}.npy"), "--tol", "1e-10", "--device", "cpu",
                     "--out", str(tmp_path / f"{name}.json")] + flags) == 0
    capsys.readouterr()
    a, b = (torch.tensor(json.loads((tmp_path / f"{n}.json").read_text())["CH"]) for n in ("b", "u8"))
    assert float((a - b).abs().max()) < 1e-9 * float(a.abs().max())
    assert float(a[0, 0]) > 0.1  # a real cell, not an empty one (1/255 scaling would give ~0.004)


# -- 4. foreign HDF5 files ---------------------------------------------------------------------

def test_foreign_hdf5_files_are_one_line(tmp_path, capsys, monkeypatch):
    import h5py

    from phnet_cuda import data

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    for argv in (["dataset", "info", str(foreign)], ["dataset", "label", str(foreign), "--device", "cpu"],
                 ["dataset", "build", "--spec", "dataset1", "--n", "8", "--scale", "0.002", "--out", str(foreign)]):
        one_line(capsys, argv, str(foreign), "not a phnet_cuda cell dataset")
    # the format attribute but none of the contents
    hollow = tmp_path / "hollow.h5"
    with h5py.File(hollow, "w") as f:
        f.attrs["format"], f.attrs["format_version"] = data.h5.FORMAT, data.h5.FORMAT_VERSION
    one_line(capsys, ["dataset", "info", str(hollow)], str(hollow))
    one_line(capsys, ["dataset", "label", str(hollow), "--device", "cpu"], str(hollow))
    # whatever the data layer lets through as a KeyError / ValueError while reading: one line naming the file
    for exc in (KeyError("Unable to synchronously open object (component not found)"),
                ValueError("invalid literal for int() with base 10: 'abc'")):
        def raising(*args, exc=exc, **kwargs):
            raise exc

        monkeypatch.setattr(data, "dataset_info", raising)
        one_line(capsys, ["dataset", "info", str(hollow)], f"{hollow} is not a phnet_cuda cell dataset",
                 type(exc).__name__)


# -- 5. training configs -----------------------------------------------------------------------

@pytest.mark.parametrize("text,needles", [
    ('lr: "abc"\n', ["train config key 'lr' must be a positive number, got 'abc'"]),
    ("model: [16, 32]\n", ["train config key 'model' must be a mapping", "got list"]),
    ("epochs: 2.5\n", ["train config key 'epochs' must be a positive int, got 2.5"]),
    ("angle_range: [90, 75]\n", ["train config key 'angle_range' must be [low, high] with low <= high",
                                 "got [90.0, 75.0]"]),
    ("length_range: 2\n", ["train config key 'length_range'"]),
    ("model: {widths: [4, 2.5]}\n", ["train config key 'model.widths' must be a non-empty list of positive ints"]),
    ("model: {widths: [4, 8], head: x}\n", ["train config key 'model.head' must be a positive int, got 'x'"]),
    ("shapes: maybe\n", ["train config key 'shapes' must be true or false, got 'maybe'"]),
    ("device: tpu\n", ["train config key 'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'"]),
    ("nu: 0.5\n", ["train config key 'nu' must be a number in (-1, 0.5), got 0.5"]),
    ("lrr: 1\n", ["unknown training config keys ['lrr']"]),
    ("lr: 1e-3\nepochs: [\n", ["is not valid YAML: line 3, column 1"]),
    ("lr: 1e-3\n\tepochs: 2\n", ["is not valid YAML: line 2"]),
    ("- just\n- a list\n", ["must hold a mapping of settings, got list"]),
])
def test_bad_train_configs_are_one_line(text, needles, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(text)
    line = one_line(capsys, ["train", "--config", str(cfg), "--out", str(tmp_path / "run")], *needles)
    assert not (tmp_path / "run").exists(), line  # nothing started


def test_bad_json_config_and_widths_flags(tmp_path, capsys):
    cfg = tmp_path / "run.json"
    cfg.write_text('{"lr": 0.001,\n "epochs": }\n')
    one_line(capsys, ["train", "--config", str(cfg)], f"config file {str(cfg)!r} is not valid JSON: line 2, column 12")
    for widths in ("4,a", "4,0", "4,-8", "", "4,,8", "4.5"):
        one_line(capsys, ["train", "--out", str(tmp_path / "r"), "--widths", widths],
                 f"--widths must be comma-separated positive ints, got {widths!r}")
    one_line(capsys, ["train", "--config", str(tmp_path / "none.yaml")], "does not exist")
    one_line(capsys, ["train", "--config", str(tmp_path)], "is a folder")


def test_train_config_accepts_numpy_scalars_and_exponent_floats(tmp_path):
    """Class 9: valid values must not be rejected: numpy scalars (stored as Python numbers, so the
    run's config.yaml can be written) and YAML's `5e-4` (PyYAML alone reads it as a string)."""
    import yaml

    from phnet_cuda.surrogate.train import TrainConfig, load_config

    cfg = TrainConfig.from_dict({"lr": np.float32(0.25), "epochs": np.int64(3), "n": np.int32(8), "seed": np.uint8(4),
                                 "model": {"widths": [np.int64(4), 8], "head": np.int16(4)},
                                 "angle_range": np.array([80.0, 90.0]), "shapes": np.bool_(True)})
    assert (type(cfg.lr), type(cfg.epochs), type(cfg.n), cfg.model["widths"]) == (float, int, int, [4, 8])
    assert cfg.lr == 0.25 and cfg.angle_range == (80.0, 90.0) and cfg.shapes is True
    assert yaml.safe_load(yaml.safe_dump(cfg.to_dict()))["model"]["head"] == 4
    path = tmp_path / "c.yaml"
    path.write_text("lr: 5e-4\neval_tol: 1E-8\nepochs: 3\nweight_decay: -2.5e+1\n")
    d = load_config(str(path))
    assert d == {"lr": 5e-4, "eval_tol": 1e-8, "epochs": 3, "weight_decay": -25.0}
    assert TrainConfig.from_dict({k: v for k, v in d.items() if k != "weight_decay"}).lr == 5e-4


# -- 6. checkpoints in the CLI -----------------------------------------------------------------

class _Evil:
    """Unpickling this would create the marker file: the proof that the loader never runs a pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("cmd", ["predict", "demo"])
def test_unreadable_checkpoint_is_one_line_and_verbose_adds_the_detail(cmd, tmp_path, capsys, solid):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"model": _Evil(str(marker))}, protocol=2))
    argv = ([cmd, solid] if cmd == "predict" else [cmd, "--n", "4", "--out", str(tmp_path / "demo")])
    argv += ["--checkpoint", str(evil), "--device", "cpu"]
    line = one_line(capsys, argv, f"{evil} is not a phnet_cuda checkpoint or cannot be loaded safely (weights_only)",
                    "(--verbose for details)")
    assert "weights_only` set to `False`" not in line  # torch's advice to switch the safety off is not repeated
    assert main(argv + ["--verbose"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == line.replace(" (--verbose for details)", "")
    assert "Weights only load failed" in err and "Traceback" in err  # the detail: torch's own text
    assert not marker.exists()


# -- 8. Ctrl-C ---------------------------------------------------------------------------------

def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("cmd,target,hint", [
    ("homogenize", "phnet_cuda.solver.homogenize", None),
    ("predict", "phnet_cuda.surrogate.predict.predict", None),
    ("demo", "phnet_cuda.solver.homogenize", None),
    ("gallery", "phnet_cuda.geometry.gallery.render_gallery", None),
    ("train", "phnet_cuda.surrogate.train.train", "re-run the same command to resume"),
    ("dataset build", "phnet_cuda.data.build_dataset", "keeps the chunks written so far"),
    ("dataset label", "phnet_cuda.data.label_dataset", "labels written so far are kept"),
    ("dataset info", "phnet_cuda.data.dataset_info", None),
])
def test_ctrl_c_is_one_line_and_130(cmd, target, hint, tmp_path, capsys, monkeypatch, solid, tiny_checkpoint,
                                    tiny_file):
    module, name = target.rsplit(".", 1)  # by module: phnet_cuda.surrogate.predict is also a function's name
    monkeypatch.setattr(importlib.import_module(module), name, _interrupt)
    argv = {"homogenize": ["homogenize", solid, "--device", "cpu"],
            "predict": ["predict", solid, "--checkpoint", tiny_checkpoint, "--refine-tol", "1e-6", "--device", "cpu"],
            "demo": ["demo", "--n", "8", "--out", str(tmp_path / "demo"), "--device", "cpu"],
            "gallery": ["gallery", "--out", str(tmp_path / "g"), "--quiet"],
            "train": ["train", "--out", str(tmp_path / "run"), "--n", "8", "--widths", "4,8", "--head", "4",
                      "--device", "cpu"],
            "dataset build": ["dataset", "build", "--spec", "dataset1", "--out", str(tmp_path / "d.h5")],
            "dataset label": ["dataset", "label", str(tiny_file), "--device", "cpu"],
            "dataset info": ["dataset", "info", str(tiny_file)]}[cmd]
    line = one_line(capsys, argv, rc=130)
    prog = f"phnet {argv[0]}: interrupted"
    assert line == prog if hint is None else line.startswith(prog + "; ") and hint in line, line


def test_sigint_to_a_running_homogenize_subprocess(tmp_path):
    """End to end: SIGINT to `phnet homogenize` in the middle of a long solve (n = 48, tol 1e-14:
    about a minute) ends it with exit status 130 and one line on stderr, within seconds."""
    from phnet_cuda.geometry import tubular_gyroid

    path = tmp_path / "tg48.npy"
    np.save(path, tubular_gyroid(48, 0.1).numpy())
    proc = subprocess.Popen([sys.executable, "-m", "phnet_cuda.cli", "homogenize", str(path), "--tol", "1e-14",
                             "--device", "cpu", "--out", str(tmp_path / "r.json")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        source = proc.stdout.readline()
        assert source.startswith(f"input: {path} (npy, 1 cell, n = 48"), source
        first = proc.stdout.readline()  # printed (flushed) right before the solve starts
        assert first.startswith("homogenize: 1 cell(s), n = 48"), first
        time.sleep(0.5)  # inside the solve
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert time.perf_counter() - t0 < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, err)
    assert err == "phnet homogenize: interrupted\n", err
    assert not (tmp_path / "r.json").exists()


# -- end to end: no traceback from the real entry point ------------------------------------------

def test_subprocess_errors_have_no_traceback(tmp_path, tiny_checkpoint):
    import h5py

    np.save(tmp_path / "zero.npy", np.zeros((0, 4, 4, 4)))
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = 1
    (tmp_path / "bad.yaml").write_text("lr: [\n")
    (tmp_path / "junk.pt").write_bytes(os.urandom(256))
    np.save(tmp_path / "ok.npy", np.ones((2, 2, 2)))
    cases = [
        (["homogenize", str(tmp_path / "zero.npy")], "holds an empty array"),
        (["dataset", "info", str(tmp_path / "foreign.h5")], "not a phnet_cuda cell dataset"),
        (["train", "--config", str(tmp_path / "bad.yaml")], "is not valid YAML: line 2"),
        (["predict", str(tmp_path / "ok.npy"), "--checkpoint", str(tmp_path / "junk.pt"), "--device", "cpu"],
         "cannot be loaded safely"),
        (["homogenize", str(tmp_path / "ok.npy"), "--device", "meta", "--out", str(tmp_path / "zero.npy")],
         "--device meta"),
    ]
    for argv, needle in cases:
        r = subprocess.run([sys.executable, "-m", "phnet_cuda.cli"] + argv, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and needle in r.stderr, (argv, r.stderr)
