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


def test_homogenize_cli_takes_a_lattice_matrix_as_nine_numbers(tmp_path, capsys):
    from phnet_cuda import homogenize, shapes
    from phnet_cuda.geometry import tubular_gyroid

    path, out = tmp_path / "tg.npy", tmp_path / "r.json"
    vox = tubular_gyroid(8, 0.3)
    np.save(path, vox.numpy())
    c, s = np.cos(0.4), np.sin(0.4)  # a cell rotated about z: not triangular, C^H in the global frame
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    J = rotation @ shapes.lattice_matrix((80, 85, 78, 1, 1.3, 1.7)).numpy()
    assert main(["homogenize", str(path), "--shape", ",".join(repr(float(x)) for x in J.ravel()), "--tol", "1e-10",
                 "--out", str(out)]) == 0
    expected = homogenize(vox, shape=torch.from_numpy(J), tol=1e-10).CH
    assert_rel_close(torch.tensor(json.loads(out.read_text())["CH"], dtype=torch.float64), expected, 1e-12)
    assert main(["homogenize", str(path), "--shape", "1,2,3,4,5,6,7"]) == 2
    assert "six numbers" in capsys.readouterr().err
