"""`phnet homogenize` (phnet_cuda.cli.homogenize): C^H of solid cells (cube, sheared, semi-
coarsened), JSON output, deflation of floating and hinged pieces."""

from __future__ import annotations

import json

import numpy as np
import torch
from support import assert_rel_close, frame_with_pieces

from phnet_cuda import materials
from phnet_cuda.cli import main


def test_homogenize_cli(tmp_path, capsys):
    path = tmp_path / "solid.npy"
    np.save(path, np.ones((4, 4, 4), dtype=bool))
    out = tmp_path / "r.json"
    assert main(["homogenize", str(path), "--E", "2", "--nu", "0.3", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert_rel_close(torch.tensor(data["CH"], dtype=torch.float64), materials.isotropic_stiffness(2.0, 0.3), 1e-10)
    assert abs(data["engineering_constants"]["E_x"] - 2.0) < 1e-9
    assert abs(data["engineering_constants"]["nu_xy"] - 0.3) < 1e-9
    # A fully solid sheared cell is still the base material.
    assert main(["homogenize", str(path), "--shape", "75,80,85,1,1.3,2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert_rel_close(torch.tensor(data["CH"], dtype=torch.float64), materials.isotropic_stiffness(1.0, 0.3), 1e-10)
    # ... also with the semi-coarsening multigrid (a cell 4x longer along z)
    assert main(["homogenize", str(path), "--shape", "90,90,90,1,1,4", "--semi-coarsening", "2",
                 "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert_rel_close(torch.tensor(data["CH"], dtype=torch.float64), materials.isotropic_stiffness(1.0, 0.3), 1e-10)
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
    assert_rel_close(torch.tensor(json.loads(out.read_text())["CH"], dtype=torch.float64), on, 1e-7)
