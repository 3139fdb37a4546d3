"""VTK XML image data (.vti) without the vtk package: files written here by a small writer that
follows the VTK file-format description (ascii, inline base64 with the header encoded apart from
or together with the data, appended raw and base64; zlib-compressed or not; UInt32 and UInt64
headers; both byte orders; cell and point data) read back exactly, and every malformed file
refused in one line naming it."""

from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from phnet_cuda.voxel_io import VoxelInputError, read_voxels

N = 5
_VTK = {"u1": "UInt8", "i2": "Int16", "u2": "UInt16", "i4": "Int32", "f4": "Float32", "f8": "Float64"}


def _block(values: np.ndarray, header: np.dtype, compress: bool, block_size: int) -> tuple[bytes, bytes]:
    """(header bytes, body bytes) of one binary DataArray: [nbytes] + data, or compressed
    [nblocks, block size, last block size (0 = full), compressed sizes...] + the zlib blocks."""
    data = values.tobytes()
    if not compress:
        return np.array([len(data)], header).tobytes(), data
    blocks = [data[i:i + block_size] for i in range(0, len(data), block_size)]
    packed = [zlib.compress(b) for b in blocks]
    last = len(blocks[-1]) if len(blocks[-1]) != block_size else 0
    head = np.array([len(blocks), block_size, last] + [len(p) for p in packed], header)
    return head.tobytes(), b"".join(packed)


def write_vti(path, arrays, *, encoding="ascii", compress=False, header="UInt32", order="<", joint=False,
              points=False, spacing=(1, 1, 1), block_size=64):
    """A .vti file of ``arrays`` (name -> [x, y, z] array) as cell data (extent 0..n) or point data
    (extent 0..n-1). encoding: ascii | binary | appended-raw | appended-base64; ``joint``: inline
    base64 of header and data in one run (VTK itself encodes the header on its own)."""
    n = next(iter(arrays.values())).shape[0]
    ext = f"0 {n - 1} 0 {n - 1} 0 {n - 1}" if points else f"0 {n} 0 {n} 0 {n}"
    hdt = np.dtype(order + {"UInt32": "u4", "UInt64": "u8"}[header])
    parts, appended, offset = [], [], 0
    for name, arr in arrays.items():
        values = np.ascontiguousarray(arr.transpose(2, 1, 0)).ravel()  # x fastest
        values = values.astype(values.dtype.newbyteorder(order))
        vtk_type = _VTK[values.dtype.str[1:]]
        if encoding == "ascii":
            text = " ".join(repr(float(v)) if values.dtype.kind == "f" else str(int(v)) for v in values)
            parts.append(f'<DataArray type="{vtk_type}" Name="{name}" format="ascii">{text}</DataArray>')
            continue
        head, body = _block(values, hdt, compress, block_size)
        if encoding == "binary":
            text = base64.b64encode(head + body) if joint else base64.b64encode(head) + base64.b64encode(body)
            parts.append(f'<DataArray type="{vtk_type}" Name="{name}" format="binary">\n{text.decode()}\n'
                         "</DataArray>")
            continue
        chunk = head + body if encoding == "appended-raw" else base64.b64encode(head) + base64.b64encode(body)
        parts.append(f'<DataArray type="{vtk_type}" Name="{name}" format="appended" offset="{offset}"/>')
        appended.append(chunk)
        offset += len(chunk)
    section = "PointData" if points else "CellData"
    attrs = ' compressor="vtkZLibDataCompressor"' if compress and encoding != "ascii" else ""
    byte_order = "LittleEndian" if order == "<" else "BigEndian"
    xml = (f'<?xml version="1.0"?>\n<VTKFile type="ImageData" version="1.0" byte_order="{byte_order}" '
           f'header_type="{header}"{attrs}>\n'
           f'<ImageData WholeExtent="{ext}" Origin="0 0 0" Spacing="{" ".join(map(str, spacing))}">\n'
           f'<Piece Extent="{ext}">\n<{section}>\n' + "\n".join(parts) + f"\n</{section}>\n</Piece>\n</ImageData>\n")
    data = xml.encode()
    if appended:
        kind = "raw" if encoding == "appended-raw" else "base64"
        data += f'<AppendedData encoding="{kind}">\n   _'.encode() + b"".join(appended) + b"\n</AppendedData>\n"
    data += b"</VTKFile>\n"
    with open(path, "wb") as fh:
        fh.write(data)


def _cells():
    rng = np.random.default_rng(0)
    return {"density": rng.random((N, N, N)), "grey": rng.integers(0, 60000, (N, N, N)).astype(np.uint16),
            "label": rng.integers(-5, 5, (N, N, N)).astype(np.int16)}


ENCODINGS = ["ascii", "binary", "binary-joint", "appended-raw", "appended-base64"]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
@pytest.mark.parametrize("header,order", [("UInt32", "<"), ("UInt64", ">")])
def test_every_encoding_reads_back_exactly(encoding, compress, header, order, tmp_path):
    if encoding == "ascii" and (compress or header == "UInt64"):
        pytest.skip("ascii data has no header and no compression")
    arrays = _cells()
    path = tmp_path / "c.vti"
    write_vti(path, arrays, encoding=encoding.replace("-joint", ""), joint=encoding.endswith("joint"),
              compress=compress, header=header, order=order, block_size=100)  # several blocks, a short last one
    thresholds = {"density": None, "grey": 30000, "label": 0}
    for name, arr in arrays.items():
        t = thresholds[name]
        r = read_voxels(path, key=name, threshold=t)
        expected = arr.astype(np.float64) if t is None else (arr > t).astype(np.float64)
        assert r.format == "vti" and r.key == name and np.array_equal(r.voxels, expected), (name, encoding)
        assert r.threshold.value == t and r.threshold.method == (None if t is None else "given")


def test_point_data_and_the_only_array(tmp_path):
    vox = _cells()["density"]
    write_vti(tmp_path / "p.vti", {"rho": vox}, encoding="binary", points=True)
    r = read_voxels(tmp_path / "p.vti")
    assert r.key == "rho" and np.array_equal(r.voxels, vox)
    # full-size blocks only (the header's last-block size is then 0)
    write_vti(tmp_path / "q.vti", {"rho": vox}, encoding="appended-raw", compress=True, block_size=125)
    assert np.array_equal(read_voxels(tmp_path / "q.vti").voxels, vox)


def test_several_arrays_need_a_key(tmp_path):
    write_vti(tmp_path / "c.vti", _cells(), encoding="binary")
    with pytest.raises(VoxelInputError, match=r"c.vti: holds 3 arrays that can be voxel cells, 'density' \(5, 5, 5\) "
                                              r"float64, 'grey' \(5, 5, 5\) uint16, 'label' \(5, 5, 5\) int16; "
                                              r"choose one with key$"):
        read_voxels(tmp_path / "c.vti")
    with pytest.raises(VoxelInputError, match=r"has no array 'rho' \(key\); it holds 'density'"):
        read_voxels(tmp_path / "c.vti", key="rho")


def test_uneven_spacing_is_noted_with_the_shape_to_pass(tmp_path):
    vox = _cells()["density"]
    write_vti(tmp_path / "s.vti", {"rho": vox}, spacing=(1, 1, 2))
    with pytest.warns(UserWarning, match=r"s.vti: the voxel spacing 1, 1, 2 is not uniform, so the cell is a box "
                                         r"5 x 5 x 10; pass shape 90,90,90,5,5,10"):
        r = read_voxels(tmp_path / "s.vti")
    assert np.array_equal(r.voxels, vox) and "not uniform" in r.notes[0]


def _variant(tmp_path, text: bytes, name="bad.vti"):
    path = tmp_path / name
    path.write_bytes(text)
    return path


@pytest.mark.parametrize("edit,needle", [
    (lambda s: s.replace(b'type="ImageData"', b'type="UnstructuredGrid"'),
     "holds VTK 'UnstructuredGrid' data; expected ImageData"),
    (lambda s: s.replace(b"vtkZLibDataCompressor", b"vtkLZ4DataCompressor"),
     "is compressed by vtkLZ4DataCompressor; this reader knows vtkZLibDataCompressor"),
    (lambda s: s.replace(b'Extent="0 5 0 5 0 5">', b'Extent="0 5 0 5 0 4">'),
     "DataArray 'rho' holds 125 values; its extent [0, 5, 0, 5, 0, 4] needs 100"),
    (lambda s: s.replace(b"</Piece>", b'</Piece><Piece Extent="0 5 0 5 0 5"/>'), "holds 2 pieces; expected one"),
    (lambda s: s.replace(b'Name="rho"', b'Name="rho" NumberOfComponents="3"'),
     "DataArray 'rho' holds 125 values; its extent [0, 5, 0, 5, 0, 5] needs 375"),
    (lambda s: s.replace(b'type="Float64"', b'type="Float128"'), "DataArray 'rho' has type 'Float128'"),
    (lambda s: s[:len(s) // 2], "cannot read"),
    (lambda s: s.replace(b"<CellData>", b"<CellData><!--").replace(b"</CellData>", b"--></CellData>"),
     "holds no arrays"),
])
def test_malformed_files_are_one_line(edit, needle, tmp_path):
    write_vti(tmp_path / "good.vti", {"rho": _cells()["density"]}, encoding="binary", compress=True)
    path = _variant(tmp_path, edit((tmp_path / "good.vti").read_bytes()))
    with pytest.raises(VoxelInputError) as info:
        read_voxels(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and needle in msg, msg


def test_vector_arrays_are_not_voxel_cells(tmp_path):
    write_vti(tmp_path / "a.vti", {"u": _cells()["density"]})
    text = (tmp_path / "a.vti").read_bytes()
    start, end = text.index(b'format="ascii">') + len(b'format="ascii">'), text.index(b"</DataArray>")
    vector = text[:start].replace(b'Name="u"', b'Name="u" NumberOfComponents="3"') + \
        b" ".join([text[start:end]] * 3) + text[end:]
    path = _variant(tmp_path, vector, "vector.vti")
    with pytest.raises(VoxelInputError, match=r"vector.vti\['u'\]: expected a voxel array \[n, n, n\] or "
                                              r"\[B, n, n, n\], got 3 components per voxel$"):
        read_voxels(path)


def test_corrupt_binary_data_is_one_line(tmp_path):
    write_vti(tmp_path / "z.vti", {"rho": _cells()["density"]}, encoding="appended-raw", compress=True)
    data = bytearray((tmp_path / "z.vti").read_bytes())
    at = data.index(b"_", data.index(b"<AppendedData")) + 1 + 4 * 5  # past the header: inside the zlib stream
    data[at:at + 8] = b"\xff" * 8
    path = _variant(tmp_path, bytes(data))
    with pytest.raises(VoxelInputError, match=r"^cannot decode .*bad.vti as VTK image data \(error: "):
        read_voxels(path)
    write_vti(tmp_path / "b.vti", {"rho": _cells()["density"]}, encoding="binary")
    cut = (tmp_path / "b.vti").read_bytes().replace(b"\n</DataArray>", b"</DataArray>")
    start = cut.index(b'format="binary">') + len(b'format="binary">\n')
    path = _variant(tmp_path, cut[:start + 40] + cut[cut.index(b"</DataArray>"):], "short.vti")
    with pytest.raises(VoxelInputError, match=r"short.vti as VTK image data: a block announces 1000 bytes but holds"):
        read_voxels(path)
