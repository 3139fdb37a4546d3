"""What the commands share (phnet_cuda.cli.common and main): bad voxel files, a bad --shape and
library argument errors end with one line on stderr and exit status 2."""

from __future__ import annotations

import numpy as np

from phnet_cuda.cli import main


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
