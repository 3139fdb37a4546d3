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


def test_cli_predict_max_error(tiny_checkpoint, tmp_path, capsys):
    """--max-error: every cell gets its error estimate printed and in the JSON; with an untrained
    network every cell is over it, so each is refined by the solver and then meets it."""
    import pytest
    import torch

    from phnet_cuda import homogenize

    cells = np.stack([tubular_gyroid(8, 0.3).numpy(), tubular_gyroid(8, 0.45).numpy()])
    path = tmp_path / "cells.npy"
    np.save(path, cells)
    out = tmp_path / "r.json"
    with pytest.warns(UserWarning, match="outside what the checkpoint was trained on"):  # the notice
        assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--max-error", "0.01",
                         "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("refined by the solver to meet --max-error") == 2
    assert text.count("error estimate ||C^H - C^H_true||_F / ||C^H_true||_F") == 2
    assert "(<= --max-error 0.01)" in text and "--max-error 0.01: refined 2 of 2 cell(s)" in text
    rep = json.loads(out.read_text())
    assert [c["refined"] for c in rep["cells"]] == [True, True] and rep["max_error"] == 0.01
    ref = homogenize(torch.as_tensor(cells).double(), tol=1e-10).CH
    for c, exact in zip(rep["cells"], ref):
        CH = torch.tensor(c["CH"], dtype=torch.float64)
        assert float(torch.linalg.matrix_norm(CH - exact) / torch.linalg.matrix_norm(exact)) < 0.01
        assert 0 <= c["error_estimate"] <= 0.01 and len(c["bound_gap"]) == 6
    # without --max-error the estimate is printed too, nothing is refined
    with pytest.warns(UserWarning):
        assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [c["refined"] for c in rep["cells"]] == [False, False] and all(c["error_estimate"] > 0.01
                                                                           for c in rep["cells"])
    assert "error estimate" in capsys.readouterr().out
    assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--max-error", "-1"]) == 2
    assert cli_main(["predict", str(path), "--checkpoint", tiny_checkpoint, "--max-error", "0.01",
                     "--refine-tol", "1e-6"]) == 2
