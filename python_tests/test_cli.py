"""The command line: `phnet demo` end to end at a reduced size, `phnet homogenize`, and one-line
errors with exit status 2 for bad input."""

from __future__ import annotations

import json

import numpy as np
import torch

from phnet_cuda import materials
from phnet_cuda.cli import main
from support import frame_with_pieces, rel_err


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--n", "8", "--vf", "0.3", "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "demo_report.json").read_text())
    assert report["converged"] and len(report["CH"]) == 6
    assert abs(report["volume_fraction"] - 0.3) < 1 / 8 ** 3
    assert (out / "demo_fields.png").stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "C^H" in text and "E_x" in text
    # Post-processing outputs: figures, CSV, STL, VTU, and their entries in the report.
    for name in ("demo_young_surface.png", "demo_worst_case_stress.png"):
        assert (out / name).stat().st_size > 10_000, name
    rows = (out / "demo_CH.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[0].startswith("cell,C11,C12")
    assert abs(float(rows[1].split(",")[1]) - report["CH"][0][0]) < 1e-12 * abs(report["CH"][0][0])
    assert (out / "demo_cell.stl").stat().st_size == 84 + 50 * report["stl"]["triangles"]
    assert (out / "demo_fields.vtu").stat().st_size > 10_000
    assert set(report["files"]) >= {"demo_young_surface.png", "demo_worst_case_stress.png", "demo_CH.csv",
                                    "demo_cell.stl", "demo_fields.vtu"}
    assert report["first_yield"]["worst_direction"] <= min(report["first_yield"]["uniaxial_xyz"])
    # PH-Net half (shipped model; n = 8 is resampled to its n = 16): C^H, bounds, error, timings
    net = report["phnet"]
    assert net["resampled"] and len(net["CH"]) == 6 and net["seconds"] > 0
    CH_net = torch.tensor(net["CH"], dtype=torch.float64)
    CH_num = torch.tensor(report["CH"], dtype=torch.float64)
    assert abs(net["relative_error"] - float(torch.linalg.matrix_norm(CH_net - CH_num) / torch.linalg.matrix_norm(CH_num))) < 1e-9
    assert torch.allclose(torch.tensor(net["CH_upper_diagonal"], dtype=torch.float64), torch.diagonal(CH_net))
    one = net["refine_iters_1"]  # one PCG iteration from the network's field: closer to the solver
    assert one["relative_error"] < net["relative_error"] and one["seconds"] > 0
    assert (out / "demo_young_surfaces.png").stat().st_size > 10_000
    assert "PH-Net" in text and "relative error" in text
    assert report["anisotropy"]["universal"] > 0 and report["timings_seconds"]["homogenize"] > 0


def test_homogenize_cli(tmp_path, capsys):
    path = tmp_path / "solid.npy"
    np.save(path, np.ones((4, 4, 4), dtype=bool))
    out = tmp_path / "r.json"
    assert main(["homogenize", str(path), "--E", "2", "--nu", "0.3", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert rel_err(torch.tensor(data["CH"], dtype=torch.float64), materials.isotropic_stiffness(2.0, 0.3)) < 1e-10
    assert abs(data["engineering_constants"]["E_x"] - 2.0) < 1e-9
    assert abs(data["engineering_constants"]["nu_xy"] - 0.3) < 1e-9
    # A fully solid sheared cell is still the base material.
    assert main(["homogenize", str(path), "--shape", "75,80,85,1,1.3,2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert rel_err(torch.tensor(data["CH"], dtype=torch.float64), materials.isotropic_stiffness(1.0, 0.3)) < 1e-10
    # ... also with the semi-coarsening multigrid (a cell 4x longer along z)
    assert main(["homogenize", str(path), "--shape", "90,90,90,1,1,4", "--semi-coarsening", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert rel_err(torch.tensor(data["CH"], dtype=torch.float64), materials.isotropic_stiffness(1.0, 0.3)) < 1e-10
    assert main(["homogenize", str(path), "--semi-coarsening", "0.5"]) == 2
    assert "semi_coarsening" in capsys.readouterr().err
    # Floating and hinged pieces: deflated from the start with --deflate on, same C^H as off.
    pieces = tmp_path / "pieces.npy"
    np.save(pieces, frame_with_pieces().numpy())
    capsys.readouterr()
    assert main(["homogenize", str(pieces), "--deflate", "on", "--out", str(out)]) == 0
    assert "rigid motions of 8 hinged/floating solid pieces deflated" in capsys.readouterr().out
    on = torch.tensor(json.loads(out.read_text())["CH"], dtype=torch.float64)
    assert main(["homogenize", str(pieces), "--deflate", "off", "--out", str(out)]) == 0
    assert "deflated" not in capsys.readouterr().out
    assert rel_err(torch.tensor(json.loads(out.read_text())["CH"], dtype=torch.float64), on) < 1e-7


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["homogenize", str(tmp_path / "missing.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "voxel file not found" in err
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((3, 4, 5)))
    assert main(["homogenize", str(bad)]) == 2
    assert "expected a voxel array" in capsys.readouterr().err
    txt = tmp_path / "t.npy"
    txt.write_text("not numpy")
    assert main(["homogenize", str(txt)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["homogenize", str(bad), "--shape", "1,2"]) == 2
    assert "--shape: expected six numbers" in capsys.readouterr().err
    good = tmp_path / "g.npy"
    np.save(good, np.ones((3, 3, 3)))
    assert main(["homogenize", str(good), "--shape", "90,90,90,1,1,-1"]) == 2
    assert "must be positive" in capsys.readouterr().err
    rng = tmp_path / "r.npy"
    np.save(rng, 2 * np.ones((3, 3, 3)))
    assert main(["homogenize", str(rng)]) == 2
    assert "must lie in [0, 1]" in capsys.readouterr().err


def test_package_import_needs_only_torch_and_numpy():
    """`import phnet_cuda` must work where only torch and numpy are installed (the CUDA compile
    check of CI installs nothing else): heavy field libraries are imported where used (tqdm is
    left out of the check: torch itself imports it when it is installed)."""
    import subprocess
    import sys

    code = ("import sys, phnet_cuda; heavy = [m for m in ('scipy', 'h5py', 'matplotlib', 'skimage', "
            "'meshio', 'yaml', 'tensorboard') if m in sys.modules]; assert not heavy, heavy")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


def test_demo_other_cell_type_and_bad_type(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--cell", "octet", "--vf", "0.3", "--n", "16", "--shape", "90,90,90,1,1,1",
                 "--stl-tile", "1", "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "demo_report.json").read_text())
    assert report["cell"] == "octet" and abs(report["volume_fraction"] - 0.3) < 0.0025
    assert not report["phnet"]["resampled"]
    capsys.readouterr()
    assert main(["demo", "--cell", "no_such_cell", "--out", str(out)]) == 2
    assert "unknown cell type" in capsys.readouterr().err
