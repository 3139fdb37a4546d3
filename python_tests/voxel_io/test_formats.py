"""phnet_cuda.read_voxels on files the tests write themselves, one format at a time: NumPy (.npy,
.npz), MATLAB (.mat v5 and v7.3), TIFF stacks, raw binary. Every array is random and asymmetric,
so a reader that swaps or reverses an axis fails the exact comparison; every bad input is one
line naming the file and what was expected. (.vti: test_vti.py; STL: test_stl.py; thresholds:
test_threshold.py; periodicity: test_periodicity.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import phnet_cuda
from phnet_cuda.voxel_io import VoxelInputError, read_voxels

N = 6


@pytest.fixture(autouse=True)
def _no_periodicity_warnings():
    # random cells are periodic-compatible (as much change across the boundary as inside): any
    # warning here would be a false alarm, so it fails the test
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _cell(seed=0, shape=(N, N, N)):
    """Distinct values in [0, 1]: an axis swap or reversal changes the array."""
    return np.random.default_rng(seed).random(shape)


def _grey(seed=0, shape=(N, N, N), dtype=np.uint8, top=255):
    return np.random.default_rng(seed).integers(0, top + 1, size=shape).astype(dtype)


def test_read_voxels_is_exported_at_the_top_level():
    assert phnet_cuda.read_voxels is read_voxels and phnet_cuda.VoxelRead.__name__ == "VoxelRead"


# -- NumPy -------------------------------------------------------------------------------------

def test_npy_cells_and_batches_read_exactly(tmp_path):
    for name, arr in (("f", _cell()), ("b", _cell(1) > 0.5), ("batch", _cell(2, (3, N, N, N))),
                      ("f32", _cell(3).astype(np.float32))):
        np.save(tmp_path / f"{name}.npy", arr)
        r = read_voxels(tmp_path / f"{name}.npy")
        assert r.voxels.dtype == np.float64 and np.array_equal(r.voxels, arr.astype(np.float64))
        assert (r.format, r.key, r.threshold.value, r.threshold.method) == ("npy", None, None, None)
        assert r.cells == (3 if name == "batch" else 1) and r.notes == ()


def test_npz_picks_the_only_voxel_array_or_asks_for_a_key(tmp_path):
    vox, other = _cell(), _cell(1)
    np.savez(tmp_path / "one.npz", vox=vox, E=np.array(1.0), shape=np.ones(6))
    r = read_voxels(tmp_path / "one.npz")
    assert r.key == "vox" and np.array_equal(r.voxels, vox) and r.format == "npz"
    assert "one.npz['vox']" in r.describe()
    np.savez_compressed(tmp_path / "two.npz", a=vox, b=other)
    with pytest.raises(VoxelInputError, match=r"two.npz: holds 2 arrays that can be voxel cells, 'a' \(6, 6, 6\) "
                                              r"float64, 'b' \(6, 6, 6\) float64; choose one with key$"):
        read_voxels(tmp_path / "two.npz")
    assert np.array_equal(read_voxels(tmp_path / "two.npz", key="b").voxels, other)
    with pytest.raises(VoxelInputError, match=r"has no array 'c' \(key\); it holds 'a' \(6, 6, 6\) float64, 'b'"):
        read_voxels(tmp_path / "two.npz", key="c")
    np.savez(tmp_path / "none.npz", E=np.array(1.0), slice=np.ones((4, 4)))
    with pytest.raises(VoxelInputError, match=r"holds no array that can be a voxel cell .* it holds 'E' \(\) float64"):
        read_voxels(tmp_path / "none.npz")
    np.save(tmp_path / "plain.npy", vox)
    with pytest.raises(VoxelInputError, match=r"key 'vox': .*plain.npy holds one .npy array, not a .npz archive"):
        read_voxels(tmp_path / "plain.npy", key="vox")


# -- MATLAB ------------------------------------------------------------------------------------

def test_mat_v5_reads_the_voxel_variable_in_index_order(tmp_path):
    import scipy.io

    vox, grey = _cell(), _grey(1)
    scipy.io.savemat(tmp_path / "c.mat", {"voxel": vox, "lx": 1.0, "name": "octet"})
    r = read_voxels(tmp_path / "c.mat")
    assert (r.format, r.key) == ("mat", "voxel") and np.array_equal(r.voxels, vox)
    scipy.io.savemat(tmp_path / "two.mat", {"voxel": vox, "grey": grey, "logical": vox > 0.5})
    with pytest.raises(VoxelInputError, match=r"holds 3 variables that can be voxel cells, .*'grey' \(6, 6, 6\) "
                                              r"uint8.*choose one with key"):
        read_voxels(tmp_path / "two.mat")
    r = read_voxels(tmp_path / "two.mat", key="grey", threshold=100)
    assert np.array_equal(r.voxels, (grey > 100).astype(float)) and r.threshold.value == 100
    assert np.array_equal(read_voxels(tmp_path / "two.mat", key="logical").voxels, (vox > 0.5).astype(float))


def _write_mat73(path, variables: dict):
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 behind a 512-byte user block that starts with
    the 128-byte MAT header (version 0x0200), each variable stored column-major (the transpose)."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            ds = f.create_dataset(name, data=np.asarray(value).T)
            ds.attrs["MATLAB_class"] = np.bytes_("logical" if value.dtype == bool else "double")
        f.create_group("#refs#")
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header)


def test_mat_v73_is_read_through_h5py_in_matlab_index_order(tmp_path):
    import scipy.io

    vox = _cell(4)
    _write_mat73(tmp_path / "v73.mat", {"voxel": vox, "lx": np.ones((1, 1))})
    with pytest.raises(NotImplementedError):  # the independent check that this is what MATLAB v7.3 looks like
        scipy.io.loadmat(tmp_path / "v73.mat")
    r = read_voxels(tmp_path / "v73.mat")
    assert r.key == "voxel" and np.array_equal(r.voxels, vox)
    _write_mat73(tmp_path / "two73.mat", {"a": vox, "b": vox > 0.5})
    with pytest.raises(VoxelInputError, match=r"two73.mat: holds 2 variables that can be voxel cells"):
        read_voxels(tmp_path / "two73.mat")
    assert np.array_equal(read_voxels(tmp_path / "two73.mat", key="b").voxels, (vox > 0.5).astype(float))


# -- TIFF --------------------------------------------------------------------------------------

def test_tiff_stack_pages_are_z_rows_y_columns_x(tmp_path):
    import tifffile

    grey = _grey(2, dtype=np.uint16, top=4000)
    tifffile.imwrite(tmp_path / "ct.tif", grey.transpose(2, 1, 0))  # pages = z, rows = y, columns = x
    with tifffile.TiffFile(tmp_path / "ct.tif") as tif:
        assert len(tif.pages) == N  # an independent check that the file is a multi-page stack
        assert np.array_equal(tif.pages[2].asarray(), grey[:, :, 2].T)
    r = read_voxels(tmp_path / "ct.tif", threshold=1999.5)
    assert r.format == "tiff" and np.array_equal(r.voxels, (grey > 1999.5).astype(float))
    vox = _cell(3)
    tifffile.imwrite(tmp_path / "f.tiff", vox.astype(np.float32).transpose(2, 1, 0))
    assert np.array_equal(read_voxels(tmp_path / "f.tiff").voxels, vox.astype(np.float32).astype(np.float64))
    batch = _cell(5, (2, N, N, N)).astype(np.float32)
    tifffile.imwrite(tmp_path / "b.tif", batch.transpose(0, 3, 2, 1))
    assert np.array_equal(read_voxels(tmp_path / "b.tif").voxels, batch.astype(np.float64))


def test_tiff_bad_stacks_are_one_line(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "page.tif", _grey(0, (N, N)))
    with pytest.raises(VoxelInputError, match=r"page.tif: holds a single 6 x 6 image; expected a stack of n pages"):
        read_voxels(tmp_path / "page.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", _grey(0, (N, N, 3)), photometric="rgb")
    with pytest.raises(VoxelInputError, match=r"rgb.tif: holds colour pages .*; expected a greyscale stack"):
        read_voxels(tmp_path / "rgb.tif")
    tifffile.imwrite(tmp_path / "flat.tif", _grey(0, (4, N, N)), photometric="minisblack")
    with pytest.raises(VoxelInputError, match=r"flat.tif: expected a voxel array \[n, n, n\] or \[B, n, n, n\], got "
                                              r"4 pages of 6 x 6 pixels$"):
        read_voxels(tmp_path / "flat.tif")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00" + bytes(range(60)))
    with pytest.raises(VoxelInputError, match=r"^cannot read .*junk.tif as a TIFF stack \("):
        read_voxels(tmp_path / "junk.tif")


# -- raw binary --------------------------------------------------------------------------------

def test_raw_is_x_fastest_with_dims_and_dtype(tmp_path):
    grey = _grey(6, (N, N, N), np.uint8)
    grey.T.tofile(tmp_path / "ct.raw")  # x fastest
    flat = np.fromfile(tmp_path / "ct.raw", dtype=np.uint8)
    assert flat[1] == grey[1, 0, 0] and flat[N] == grey[0, 1, 0]  # the independent statement of the order
    r = read_voxels(tmp_path / "ct.raw", dims=(N, N, N), threshold=127)
    assert r.format == "raw" and np.array_equal(r.voxels, (grey > 127).astype(float))
    big = _grey(7, (2, N, N, N), np.uint16, 1000).astype(">u2")
    with open(tmp_path / "b.bin", "wb") as fh:
        for cell in big:
            fh.write(cell.T.tobytes())
    r = read_voxels(tmp_path / "b.bin", dims="2,6,6,6", dtype=">u2", threshold=500)
    assert np.array_equal(r.voxels, (big.astype(np.int64) > 500).astype(float))
    vox = _cell(8)
    vox.T.tofile(tmp_path / "cell.dat")
    r = read_voxels(tmp_path / "cell.dat", dims=(N, N, N), dtype="float64", file_format="raw")
    assert np.array_equal(r.voxels, vox)


def test_raw_bad_dims_and_dtype_are_one_line(tmp_path):
    _grey(0, (N, N, N)).T.tofile(tmp_path / "c.raw")
    with pytest.raises(VoxelInputError, match=r"c.raw: a raw file needs dims \(nx,ny,nz or B,nx,ny,nz\) and dtype"):
        read_voxels(tmp_path / "c.raw")
    with pytest.raises(VoxelInputError, match=r"c.raw: holds 216 bytes, but dims 6,6,3 of dtype uint8 needs 108; "
                                              r"it would fit a 6 x 6 x 6 cell of uint8 or these dims of a 2-byte"):
        read_voxels(tmp_path / "c.raw", dims=(N, N, 3))
    with pytest.raises(VoxelInputError, match=r"holds 216 bytes, but dims 6,6,6 of dtype float32 needs 864; "
                                              r"it would fit these dims of a 1-byte dtype$"):
        read_voxels(tmp_path / "c.raw", dims=(N, N, N), dtype="float32")
    for bad in ("6,6", "6,x,6", (6, 0, 6), (6, 6, 6.5)):
        with pytest.raises(VoxelInputError, match=r"^dims: expected 3 or 4 positive integers"):
            read_voxels(tmp_path / "c.raw", dims=bad)
    for bad in ("complex64", "U8", "nonsense"):
        with pytest.raises(VoxelInputError, match=r"^dtype: expected a numpy dtype of integers, floats or bools"):
            read_voxels(tmp_path / "c.raw", dims=(N, N, N), dtype=bad)
    _grey(0, (N, N, 3)).T.tofile(tmp_path / "flat.raw")
    with pytest.raises(VoxelInputError, match=r"flat.raw: expected a voxel array .* got dims 6,6,3$"):
        read_voxels(tmp_path / "flat.raw", dims=(N, N, 3))


# -- what every format shares ------------------------------------------------------------------

@pytest.mark.parametrize("content,needle", [
    (np.ones((3, 4, 5)), "expected a voxel array [n, n, n] or [B, n, n, n], got shape (3, 4, 5)"),
    (np.ones((4, 4)), "got shape (4, 4)"),
    (np.zeros((0, 4, 4, 4)), "holds an empty array of shape (0, 4, 4, 4)"),
    (np.full((4, 4, 4), np.nan), "holds 64 NaN/inf value(s)"),
    (np.ones((4, 4, 4), dtype=complex), "holds complex values"),
    (np.array([["a"] * 2] * 2, dtype="U1").reshape(1, 2, 2)[:, :1, :1], "holds dtype <U1; expected real numbers"),
])
@pytest.mark.parametrize("fmt", ["npy", "npz", "mat"])
def test_bad_arrays_are_one_line_in_every_container(fmt, content, needle, tmp_path):
    import scipy.io

    path = tmp_path / f"v.{fmt}"
    if fmt == "npy":
        np.save(path, content)
    elif fmt == "npz":
        np.savez(path, vox=content)
    else:
        if content.size == 0 or content.dtype.kind == "U":
            pytest.skip("MATLAB has no such array")
        scipy.io.savemat(path, {"vox": content})
    with pytest.raises(VoxelInputError) as info:
        read_voxels(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and needle in msg, msg


@pytest.mark.parametrize("ext", [".npy", ".npz", ".mat", ".tif", ".vti", ".stl"])
def test_unreadable_files_are_one_line(ext, tmp_path):
    path = tmp_path / f"junk{ext}"
    path.write_bytes(b"\x00\x01not a voxel file at all\xff" * 8)
    kwargs = {"n": 4} if ext == ".stl" else {}
    with pytest.raises(VoxelInputError) as info:
        read_voxels(path, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    assert msg.startswith("cannot read") or "holds no triangles" in msg, msg


def test_paths_formats_and_options_that_do_not_apply(tmp_path):
    np.save(tmp_path / "c.npy", _cell())
    with pytest.raises(VoxelInputError, match=r"^voxel file not found: .*missing.npy$"):
        read_voxels(tmp_path / "missing.npy")
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(VoxelInputError, match=r"d.npy is a folder; expected a file \(.npy, .npz, .mat, .tif, .tiff, "):
        read_voxels(tmp_path / "d.npy")
    (tmp_path / "c.h5").write_bytes(b"")
    with pytest.raises(VoxelInputError, match=r"c.h5: unknown voxel file extension '.h5'; expected one of .npy, .npz"):
        read_voxels(tmp_path / "c.h5")
    with pytest.raises(VoxelInputError, match=r"^file_format: expected one of npy, npz, mat, tiff, vti, raw, stl, "
                                              r"got 'hdf5'"):
        read_voxels(tmp_path / "c.npy", file_format="hdf5")
    for kwargs, needle in (({"dims": (4, 4, 4)}, "dims: applies to raw files only"),
                           ({"dtype": "uint8"}, "dtype: applies to raw files only"),
                           ({"n": 8}, "n: applies to stl files only"),
                           ({"box": (0, 0, 0, 1, 1, 1)}, "box: applies to stl files only")):
        with pytest.raises(VoxelInputError, match=needle + r"; .*c.npy is a npy file$"):
            read_voxels(tmp_path / "c.npy", **kwargs)
    with pytest.raises(VoxelInputError, match=r"^threshold: expected a number or 'otsu', got 'half'$"):
        read_voxels(tmp_path / "c.npy", threshold="half")


def test_errors_spell_arguments_for_python_and_for_the_command_line(tmp_path):
    _grey(0, (N, N, N)).T.tofile(tmp_path / "c.raw")
    with pytest.raises(VoxelInputError) as info:
        read_voxels(tmp_path / "c.raw", dims=(N, N, 3), dtype="uint8")
    assert "but dims 6,6,3 of dtype uint8" in str(info.value)
    assert "but --dims 6,6,3 of --dtype uint8" in info.value.for_command_line()
    assert isinstance(info.value, ValueError)
