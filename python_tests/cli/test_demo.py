"""`phnet demo` (phnet_cuda.cli.demo) end to end at a reduced size: report, figures, exports,
the PH-Net half, another cell type and a bad one."""

from __future__ import annotations

import json

import torch

from phnet_cuda.cli import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--n", "8", "--vf", "0.3", "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "demo_report.json").read_text())
    assert report["converged"] and len(report["CH"]) == 6
    assert report["volume_fraction"] == _nearest_achievable("tubular_gyroid", 8, 0.3)  # whole symmetry orbits
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
    rel = float(torch.linalg.matrix_norm(CH_net - CH_num) / torch.linalg.matrix_norm(CH_num))
    assert abs(net["relative_error"] - rel) < 1e-9
    assert torch.allclose(torch.tensor(net["CH_upper_diagonal"], dtype=torch.float64), torch.diagonal(CH_net))
    one = net["refine_iters_1"]  # one PCG iteration from the network's field: closer to the solver
    assert one["relative_error"] < net["relative_error"] and one["seconds"] > 0
    assert (out / "demo_young_surfaces.png").stat().st_size > 10_000
    assert "PH-Net" in text and "relative error" in text
    assert report["anisotropy"]["universal"] > 0 and report["timings_seconds"]["homogenize"] > 0


def test_demo_other_cell_type_and_bad_type(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--cell", "octet", "--vf", "0.3", "--n", "16", "--shape", "90,90,90,1,1,1",
                 "--stl-tile", "1", "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "demo_report.json").read_text())
    assert report["cell"] == "octet" and report["volume_fraction"] == _nearest_achievable("octet", 16, 0.3)
    assert not report["phnet"]["resampled"]
    capsys.readouterr()
    assert main(["demo", "--cell", "no_such_cell", "--out", str(out)]) == 2
    assert "unknown cell type" in capsys.readouterr().err


def _nearest_achievable(name: str, n: int, vf: float) -> float:
    """The library's cells are whole symmetry orbits: the achieved fraction is the nearest one."""
    from phnet_cuda.geometry import achievable_volume_fractions

    options = [float(v) for v in achievable_volume_fractions(name, n)]
    return min(options, key=lambda v: (abs(v - vf), v))
