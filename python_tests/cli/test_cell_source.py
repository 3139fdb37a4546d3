"""The cell of `phnet homogenize` and `phnet predict` (phnet_cuda.cli.common.add_cell_source_arguments /
read_cell_source): a library cell by --cell, the same cell written in every supported format giving
the same C^H, the threshold and the periodicity notes reported, and every bad combination of
options one line on stderr with exit status 2 (in process, and twice through a subprocess)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from phnet_cuda.cli import main
from phnet_cuda.geometry import make_cell

N = 6


def one_line(capsys, argv, *needles, rc=2):
    """Run ``phnet argv``; assert the exit status and exactly one line on stderr holding every needle."""
    status = main(argv)
    err = capsys.readouterr().err
    assert status == rc, (status, err)
    assert err.count("\n") == 1 and err.startswith(f"phnet {argv[0]}: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err.strip()


@pytest.fixture(scope="module")
def cell():
    """A bar along x of 3 x 3 voxels, off centre: an axis mix-up in a reader moves it (along y or z:
    another C^H); a box, so the STL of it is one closed mesh."""
    vox = np.zeros((N, N, N))
    vox[:, 1:4, 2:5] = 1
    return vox


def _vti(path, vox):
    """A .vti of ``vox`` as inline base64 UInt8 cell data (header encoded on its own, as VTK does)."""
    data = np.ascontiguousarray(vox.astype(np.uint8).transpose(2, 1, 0)).tobytes()
    text = base64.b64encode(np.array([len(data)], "<u4").tobytes()) + base64.b64encode(data)
    path.write_text(f'<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt32">'
                    f'<ImageData WholeExtent="0 {N} 0 {N} 0 {N}" Origin="0 0 0" Spacing="1 1 1">'
                    f'<Piece Extent="0 {N} 0 {N} 0 {N}"><CellData><DataArray type="UInt8" Name="solid" '
                    f'format="binary">{text.decode()}</DataArray></CellData></Piece></ImageData></VTKFile>')


def _every_format(tmp_path, vox):
    """(argv tail, expected threshold report) of the same cell in every format."""
    import scipy.io
    import tifffile
    import trimesh

    grey = np.where(vox > 0, 200, 40).astype(np.uint8)
    np.savez(tmp_path / "c.npz", cell=vox, other=1 - vox)
    scipy.io.savemat(tmp_path / "c.mat", {"voxel": vox, "lx": 1.0})
    tifffile.imwrite(tmp_path / "c.tif", grey.transpose(2, 1, 0), photometric="minisblack")
    _vti(tmp_path / "c.vti", vox)
    grey.astype(">u2").T.tofile(tmp_path / "c.raw")
    trimesh.creation.box(bounds=[[0, 1, 2], [N, 4, 5]]).export(tmp_path / "c.stl")  # the bar, in voxel units
    return [
        (["c.npz", "--key", "cell"], None),
        (["c.mat"], None),
        (["c.tif", "--threshold", "otsu"], "otsu"),
        (["c.vti"], None),
        (["c.raw", "--dims", f"{N},{N},{N}", "--dtype", ">u2", "--threshold", "120"], "given"),
        (["c.stl", "--n", str(N), "--box", f"0,0,0,{N},{N},{N}"], None),
    ]


def _recording_solver(monkeypatch):
    """Replace the solver by a stand-in that records the voxels it gets and returns the real result of
    the first call for every call: (the voxels seen, the results)."""
    import phnet_cuda.solver

    solve, seen, results = phnet_cuda.solver.homogenize, [], []

    def recording(vox, **kwargs):
        seen.append(np.array(vox, copy=True))
        if not results:
            results.append(solve(vox, **kwargs))
        return results[0]

    monkeypatch.setattr(phnet_cuda.solver, "homogenize", recording)
    return seen, results


def test_every_format_gives_the_solver_the_same_cell(tmp_path, capsys, monkeypatch, cell):
    """The cell reaches the solver voxel for voxel from every format (one real solve, of the .npy;
    the others hand their voxels to a recording stand-in that returns that solve's result)."""
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "c.npy", cell)
    out = tmp_path / "r.json"
    seen, results = _recording_solver(monkeypatch)
    assert main(["homogenize", "c.npy", "--tol", "1e-8", "--device", "cpu", "--out", str(out)]) == 0
    reference = json.loads(out.read_text())
    assert torch.equal(torch.tensor(reference["CH"], dtype=torch.float64), results[0].CH)
    assert capsys.readouterr().err == ""
    for argv, method in _every_format(tmp_path, cell):
        assert main(["homogenize", *argv, "--device", "cpu", "--out", str(out)]) == 0, argv
        printed, err = capsys.readouterr()
        assert err == "", (argv, err)  # no warning: the cell is periodic and cubic
        assert seen[-1].dtype == np.float64 and np.array_equal(seen[-1], cell), argv
        rep = json.loads(out.read_text())
        assert rep["volume_fraction"] == cell.mean() and rep["CH"] == reference["CH"], argv
        assert rep["input"]["path"] == argv[0] and rep["input"]["threshold_method"] == method
        assert printed.startswith(f"input: {argv[0]}")
        if method is not None:
            assert rep["input"]["threshold"] is not None and "threshold" in printed.splitlines()[0]
    assert len(seen) == 7


def test_library_cells_in_homogenize_and_predict(tmp_path, capsys, monkeypatch, tiny_checkpoint):
    out = tmp_path / "r.json"
    seen, results = _recording_solver(monkeypatch)
    assert main(["homogenize", "--cell", "octet", "--vf", "0.4", "--n", "12", "--tol", "1e-6", "--device", "cpu",
                 "--out", str(out)]) == 0
    printed, err = capsys.readouterr()
    assert err == ""  # a library cell is periodic: no warning
    vox = make_cell("octet", 12, 0.4, dtype=torch.float64).numpy()
    assert len(seen) == 1 and seen[0].dtype == np.float64 and np.array_equal(seen[0], vox)
    achieved = float(vox.mean())
    assert printed.startswith(f"input: library cell octet (truss), n = 12, volume fraction {achieved:.4f} "
                              "(target 0.4)\n")
    rep = json.loads(out.read_text())
    assert rep["input"] == {"source": "library", "cell": "octet", "family": "truss", "n": 12,
                            "volume_fraction_target": 0.4, "volume_fraction": achieved}
    assert torch.equal(torch.tensor(rep["CH"], dtype=torch.float64), results[0].CH)
    with pytest.warns(UserWarning, match="outside what the checkpoint"):  # an untrained network
        assert main(["predict", "--cell", "tubular_gyroid", "--vf", "0.3", "--n", "8", "--checkpoint", tiny_checkpoint,
                     "--device", "cpu", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["input"]["cell"] == "tubular_gyroid" and rep["input"]["source"] == "library" and len(rep["cells"]) == 1
    assert "input: library cell tubular_gyroid (tpms_network), n = 8" in capsys.readouterr().out


def test_a_file_that_is_not_periodic_is_solved_with_a_warning(tmp_path, capsys):
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    wedge = np.repeat((j <= i)[:, :, None], 8, axis=2)  # a graded cell: thickens along x, thins along y
    np.save(tmp_path / "crop.npy", wedge)
    out = tmp_path / "r.json"
    assert main(["homogenize", str(tmp_path / "crop.npy"), "--tol", "1e-4", "--device", "cpu", "--out",
                 str(out)]) == 0
    err = capsys.readouterr().err
    expected = (f"phnet homogenize: warning: {tmp_path / 'crop.npy'}: not periodic along x, y: its opposite faces "
                "differ in 87.5%, 87.5%, 0.0% (x, y, z)")
    assert err.count("\n") == 1 and err.startswith(expected), err
    notes = json.loads(out.read_text())["input"]["notes"]
    assert len(notes) == 1 and "not periodic" in notes[0]


@pytest.mark.parametrize("cmd", ["homogenize", "predict"])
def test_bad_cell_sources_are_one_line(cmd, tmp_path, capsys, cell):
    np.save(tmp_path / "c.npy", cell)
    np.savez(tmp_path / "two.npz", a=cell, b=cell)
    np.full((N, N, N), 7, np.uint8).T.tofile(tmp_path / "c.raw")
    import trimesh

    box = trimesh.creation.box()
    trimesh.Trimesh(box.vertices, box.faces[:-2]).export(tmp_path / "open.stl")
    f = str(tmp_path / "c.npy")
    (tmp_path / "c.npy.gz").write_bytes(b"")
    cases = [
        ([], "expected a voxel file (.npy, .npz, .mat, .tif, .vti, .raw, .stl) or --cell NAME --vf VF --n N"),
        (["--cell", "octett", "--vf", "0.4", "--n", "12"],
         "--cell: unknown cell type 'octett'; close matches: octet, octet_z"),
        (["--cell", "octet"], "--cell octet: needs --vf and --n"),
        (["--cell", "octet", "--vf", "0.4"], "--cell octet: needs --n"),
        (["--cell", "octet", "--vf", "0.95", "--n", "12"],
         "--cell octet --vf 0.95 --n 12: volume_fraction = 0.95 is outside the reachable range"),
        (["--cell", "octet", "--vf", "0.4", "--n", "12", "--threshold", "0.5"],
         "--threshold: applies to voxel files, not to --cell octet"),
        ([f, "--cell", "octet"], f"give a voxel file or --cell, not both (got {f} and --cell octet)"),
        ([f, "--vf", "0.3"], f"--vf: applies to --cell only; the volume fraction of {f} is its own"),
        (["--vf", "0.3"], "--vf: applies to library cells; give --cell NAME too"),
        ([f, "--n", "8"], f"--n: applies to stl files only; {f} is a npy file"),
        ([f, "--dims", "6,6,6"], "--dims: applies to raw files only"),
        ([f, "--threshold", "half"], "--threshold: expected a number or 'otsu', got 'half'"),
        ([f, "--file-format", "hdf5"], "--file-format: expected one of npy, npz, mat, tiff, vti, raw, stl"),
        ([str(tmp_path / "two.npz")], "holds 2 arrays that can be voxel cells, 'a' (6, 6, 6) float64, 'b' (6, 6, 6) "
                                      "float64; choose one with --key"),
        ([str(tmp_path / "two.npz"), "--key", "c"], "has no array 'c' (--key); it holds 'a'"),
        ([str(tmp_path / "c.raw")], "a raw file needs --dims (nx,ny,nz or B,nx,ny,nz) and --dtype"),
        ([str(tmp_path / "c.raw"), "--dims", "6,6,5"], "holds 216 bytes, but --dims 6,6,5 of --dtype uint8 needs 180"),
        ([str(tmp_path / "c.raw"), "--dims", "6,6,6"], "voxel values must lie in [0, 1], got range [7, 7] (dtype "
                                                       "uint8); to segment grey values pass --threshold"),
        ([str(tmp_path / "open.stl")], "an STL mesh needs --n, the voxels per cell edge"),
        ([str(tmp_path / "open.stl"), "--n", "4"], "the mesh is not watertight"),
        ([str(tmp_path / "c.npy.gz")], "unknown voxel file extension '.gz'"),
    ]
    extra = ["--checkpoint", "unused.pt"] if cmd == "predict" else []
    for argv, needle in cases:
        one_line(capsys, [cmd, *argv, "--device", "cpu", *extra], needle)


def test_subprocess_errors_are_one_line(tmp_path):
    np.full((N, N, N), 1, np.uint8).T.tofile(tmp_path / "c.raw")
    cases = [
        (["homogenize", "--cell", "gyroidd", "--vf", "0.3", "--n", "8"], "close matches: gyroid"),
        (["predict", str(tmp_path / "c.raw"), "--dims", "6,6,7"], "holds 216 bytes, but --dims 6,6,7 of --dtype uint8"),
    ]
    for argv, needle in cases:
        r = subprocess.run([sys.executable, "-m", "phnet_cuda.cli", *argv], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and needle in r.stderr, (argv, r.stderr)
        assert "Traceback" not in r.stderr


def test_a_command_with_its_own_vf_and_n_shares_the_helper(tmp_path, cell):
    """add_cell_source_arguments(size_options=False) for a command (design) whose --vf and --n are its
    own, with defaults: --cell builds at them, a file ignores them, an STL takes --n as resolution."""
    import argparse

    import trimesh

    from phnet_cuda.cli.common import add_cell_source_arguments, read_cell_source

    parser = argparse.ArgumentParser()
    parser.add_argument("--vf", type=float, default=0.45)
    parser.add_argument("--n", type=int, default=12)
    add_cell_source_arguments(parser, size_options=False)
    np.save(tmp_path / "c.npy", cell)
    source = read_cell_source(parser.parse_args([str(tmp_path / "c.npy")]))
    assert np.array_equal(source.voxels, cell) and source.report()["source"] == "file"
    source = read_cell_source(parser.parse_args(["--cell", "gyroid"]))
    assert np.array_equal(source.voxels, make_cell("gyroid", 12, 0.45, dtype=torch.float64).numpy())
    assert source.library["volume_fraction_target"] == 0.45
    trimesh.creation.box(bounds=[[0, 0, 0], [1, 1, 1]]).export(tmp_path / "b.stl")
    assert read_cell_source(parser.parse_args([str(tmp_path / "b.stl"), "--n", "5"])).voxels.shape == (5, 5, 5)
    assert read_cell_source(parser.parse_args([]), required=False) is None
