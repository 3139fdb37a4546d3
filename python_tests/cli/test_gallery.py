"""The microstructure library (phnet_cuda.geometry): periodicity of every generator, exact strut
distances against a brute-force sum over periodic images, volume-fraction targeting, reachable
ranges, distinctness of the types, percolation against a brute-force tiled labelling, the
Tubular Gyroid staying bit-identical, and the gallery command."""

from __future__ import annotations


def test_gallery_command_writes_pngs(tmp_path, capsys):
    import matplotlib.image as mpimg

    from phnet_cuda.cli import main

    rc = main(["gallery", "--out", str(tmp_path), "--n", "12", "--vf", "0.2", "--quiet",
               "--types", "gyroid,schwarz_p,bcc,tubular_gyroid"])
    assert rc == 0
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    assert files == ["gallery_tpms_network.png", "gallery_tpms_sheet.png", "gallery_truss.png"]
    img = mpimg.imread(tmp_path / "gallery_tpms_sheet.png")
    assert img.shape[0] > 100 and img.shape[1] > 200
    assert float(img[..., :3].std()) > 0.05  # not a blank page: shaded surfaces were drawn
    assert "wrote" in capsys.readouterr().out
    assert main(["gallery", "--out", str(tmp_path), "--types", "gyriod", "--quiet"]) == 2
    assert "close matches" in capsys.readouterr().err
