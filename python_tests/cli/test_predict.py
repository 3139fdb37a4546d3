"""PH-Net prediction: certified bounds, the hybrid exact mode, resampling, checkpoints, CLI."""

import json

import numpy as np

from phnet_cuda.cli import main as cli_main
from phnet_cuda.geometry import tubular_gyroid


def test_cli_predict(tiny_checkpoint, tmp_path, capsys):
    path = tmp_path / "cell.npy"
    np.save(path, tubular_gyroid(8, 0.3).numpy())
    out = tmp_path / "r.json"
    assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--refine-tol", "1e-6",
                     "--shape", "80,85,78,1,1.3,1.7", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bound gap" in text and "timings" in text
    rep = json.loads(out.read_text())
    assert len(rep["cells"]) == 1 and len(rep["cells"][0]["bound_gap"]) == 6
    assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--refine-iters", "2"]) == 0
    assert "PH-Net + 2 multigrid-PCG iterations" in capsys.readouterr().out
    assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--cg-steps", "3", "--out", str(out)]) == 0
    assert "PH-Net (3-step physics stage)" in capsys.readouterr().out and json.loads(out.read_text())["cg_steps"] == 3
    assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--cg-steps", "-2"]) == 2
    assert cli_main(["predict", str(tmp_path / "missing.npy")]) == 2
    assert cli_main(["predict", str(path), "--checkpoint", str(tmp_path / "no.pt")]) == 2
