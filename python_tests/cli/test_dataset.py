"""The `phnet dataset` commands (build, label, info) end to end, and their one-line errors."""

from __future__ import annotations

import json
import math

from data.helpers import N1, dataset1_levels

from phnet_cuda.cli import main


def test_cli_build_label_info(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    args = ["dataset", "build", "--spec", "dataset1", "--n", str(N1), "--scale", "0.002", "--out", str(out), "--quiet"]
    assert main(args + ["--max-chunks", "2"]) == 0
    assert "building, 2/5 chunks" in capsys.readouterr().out
    assert main(args) == 0
    levels = dataset1_levels()
    assert f"complete, 5/5 chunks, 40 cell slots ({len(levels)} built, 0 rejected, {40 - len(levels)} out of range), " \
        "120 samples" in capsys.readouterr().out
    assert main(["dataset", "label", str(out), "--split", "test", "--limit", "2", "--batch", "2", "--device", "cpu",
                 "--tol", "1e-8", "--quiet"]) == 0
    assert "labelled 2 samples of split 'test'" in capsys.readouterr().out
    assert main(["dataset", "info", str(out), "--verify"]) == 0
    text = capsys.readouterr().out
    n_test = round(0.2 * 3 * len(levels))
    assert f"test: {n_test} samples, 2 labelled (2 converged)" in text and "checksums OK" in text
    assert main(["dataset", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"]["train"]["samples"] == 3 * len(levels) - n_test


def test_cli_dataset_errors_are_one_line(tmp_path, capsys, tiny_file):
    def error(argv, needle):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("phnet dataset: error:") and needle in err, err

    out = str(tmp_path / "x.h5")
    error(["dataset", "build", "--spec", "dataset1", "--out", out, "--scale", "2"],
          "--scale: expected a number in (0, 1]")
    error(["dataset", "build", "--spec", "nope", "--out", out], "neither a built-in spec")
    error(["dataset", "build", "--spec", "dataset1", "--out", out, "--n", "1"], "--n: expected an integer >= 2")
    error(["dataset", "build", "--spec", "dataset1", "--out", out, "--split-by", "moon"], "split.by: expected one of")
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [{types: [tubular_gyroid], vf: [0.2]}]\nn: 8\nmaterial: {E: 2}\n")
    error(["dataset", "build", "--spec", str(bad), "--out", out], "unknown key(s) ['material']")
    error(["dataset", "build", "--spec", "dataset1", "--n", str(N1), "--out", str(tiny_file)], "different spec")
    error(["dataset", "label", str(tmp_path / "missing.h5")], "dataset file not found")
    error(["dataset", "label", str(tiny_file), "--split", "dev"], "split must be one of")
    error(["dataset", "label", str(tiny_file), "--batch", "0"], "--batch: expected an integer >= 1")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(tiny_file.read_bytes()[:1000])
    error(["dataset", "info", str(cut)], "cannot open as an HDF5 dataset file")
    assert math.isfinite(tiny_file.stat().st_size)
