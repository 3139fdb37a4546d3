"""`phnet design` (phnet_cuda.cli.design): the files of a tiny design, resuming to the same result
as an uninterrupted run, and bad input (one line, exit status 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from phnet_cuda import homogenize
from phnet_cuda.cli import main

pytest.importorskip("mmapy")


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread, as in python_tests/design (conftest): at n = 8 a second thread only waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = ["--n", "8", "--vf", "0.3", "--symmetry", "cubic", "--filter-radius", "1.5", "--beta-every", "4",
        "--beta-max", "4", "--no-progress"]


def test_design_writes_its_files(tmp_path, capsys):
    out = tmp_path / "bulk"
    assert main(["design", "--objective", "bulk", *TINY, "--iterations", "6", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "iteration limit after 6 iterations" in stdout and "of the Hashin-Shtrikman bound" in stdout
    for name in ("design.npy", "design.json", "history.json", "design.stl", "young_surface.png", "slices.png",
                 "convergence.png", "state.npz"):
        assert (out / name).stat().st_size > 0, name
    design = np.load(out / "design.npy", allow_pickle=False)
    assert design.dtype == np.uint8 and design.shape == (8, 8, 8) and set(np.unique(design)) <= {0, 1}
    report = json.loads((out / "design.json").read_text())
    CH = homogenize(design.astype(np.float64), tol=1e-10).CH  # the report's C^H is the 0/1 cell's
    assert np.allclose(report["tensor"]["CH"], CH.numpy(), rtol=0, atol=1e-7 * float(CH.abs().max()))
    assert report["volume_fraction"] == pytest.approx(float(design.mean()))
    assert report["objective"]["name"] == "bulk" and report["objective"]["value"] == pytest.approx(
        float(CH[:3, :3].sum() / 9), rel=1e-7)
    assert 0 < report["hashin_shtrikman"]["bulk_ratio"] < 1
    assert len(json.loads((out / "history.json").read_text())) == 6


def test_design_resumes_to_the_uninterrupted_result(tmp_path, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["--objective", "young", "--direction", "1,1,0", *TINY, "--no-stl", "--no-plots",
              "--checkpoint-every", "2"]
    assert main(["design", *common, "--iterations", "7", "--out", str(straight)]) == 0
    assert main(["design", *common, "--iterations", "3", "--out", str(resumed)]) == 0
    capsys.readouterr()
    assert main(["design", *common, "--iterations", "7", "--out", str(resumed)]) == 0
    assert "continuing from" in capsys.readouterr().out
    assert np.array_equal(np.load(straight / "design.npy"), np.load(resumed / "design.npy"))

    def history(folder):  # everything but the wall times
        records = json.loads((folder / "history.json").read_text())
        return [{k: v for k, v in h.items() if k != "seconds"} for h in records]

    assert history(straight) == history(resumed)
    # a different setting in the same folder is refused; --restart starts afresh
    status = main(["design", *common, "--penal", "4", "--iterations", "1", "--out", str(resumed)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "other settings (penal: 3.0 -> 4.0)" in err
    assert main(["design", *common, "--penal", "4", "--iterations", "1", "--restart", "--out", str(resumed)]) == 0
    assert len(json.loads((resumed / "history.json").read_text())) == 1


@pytest.mark.parametrize("argv, needle", [
    (["--vf", "1.5"], "volume_fraction must lie in (0, 1)"),
    (["--objective", "target"], "--objective target needs --target FILE.json"),
    (["--objective", "target", "--target", "missing.json"], "--target: file not found: missing.json"),
    (["--objective", "young", "--direction", "1,0"], "--direction: expected three numbers"),
    (["--direction", "1,0,0"], "--direction: applies to --objective young"),
    (["--objective", "poisson", "--optimizer", "oc"], "optimizer 'oc' handles the objectives bulk, shear and young"),
    (["--bound", "C77<=1"], "unknown quantity 'C77'"),
    (["--n", "4", "--filter-radius", "3"], "wraps around a cell of n = 4"),
    (["--shape", "90,90"], "--shape: expected six numbers"),
])
def test_design_bad_input(tmp_path, capsys, argv, needle):
    status = main(["design", "--n", "6", "--iterations", "1", "--no-progress", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("phnet design: error:") and needle in err, err


def test_design_target_file_and_output_in_the_way(tmp_path, capsys):
    target = tmp_path / "t.json"
    target.write_text(json.dumps({"CH": (0.1 * torch.eye(6, dtype=torch.float64)).tolist()}))
    assert main(["design", "--objective", "target", "--target", str(target), *TINY, "--iterations", "2",
                 "--no-stl", "--no-plots", "--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "design.json").read_text())["objective"]["name"] == "target"
    capsys.readouterr()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["design", *TINY, "--out", str(blocker)]) == 2
    assert "it is a file; expected a folder" in capsys.readouterr().err


def test_design_starts_from_a_library_cell_or_a_file(tmp_path, capsys):
    """--cell / a voxel file is the starting density (its first iteration's volume is the cell's
    own, not a sphere's); with --init too, or at another n, it is a one-line error (exit 2)."""
    from phnet_cuda.geometry import make_cell

    common = ["--vf", "0.4", "--n", "12", "--optimizer", "oc", "--iterations", "1", "--no-progress", "--no-stl",
              "--no-plots"]
    assert main(["design", "--cell", "octet", *common, "--out", str(tmp_path / "a")]) == 0
    assert "start: library cell octet (truss), n = 12" in capsys.readouterr().out
    cell = make_cell("octet", 12, 0.4).numpy()
    np.save(tmp_path / "octet.npy", cell)
    assert main(["design", str(tmp_path / "octet.npy"), *common, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    first = [[{k: v for k, v in row.items() if k != "seconds"} for row in
              json.loads((tmp_path / d / "history.json").read_text())] for d in ("a", "b")]
    assert first[0] == first[1]  # the same start, from the library or from its file
    assert abs(first[0][0]["volume"] - 0.4) > 0.01  # not the default sphere's volume (the target)
    assert main(["design", "--cell", "octet", "--init", "random", *common, "--out", str(tmp_path / "c")]) == 2
    assert "give one of them" in capsys.readouterr().err
    np.save(tmp_path / "small.npy", cell[:10, :10, :10])
    assert main(["design", str(tmp_path / "small.npy"), *common, "--out", str(tmp_path / "d")]) == 2
    assert "give --n 10" in capsys.readouterr().err
