"""VTK XML image data (``.vti``, ParaView), read without the ``vtk`` package.

One DataArray of the file's single Piece: a cell-data array holds one value per voxel (extent
0..n along an axis gives n voxels), a point-data array one per grid point (0..n-1 gives n): both
are read as n voxels, x varying fastest as VTK stores them. Encodings: ``ascii``, inline
``binary`` (base64) and ``appended`` data (``raw`` or ``base64``), each optionally compressed by
``vtkZLibDataCompressor``; headers UInt32 or UInt64; either byte order. A base64 block's header
may be encoded on its own or together with its data (VTK writes the former, other writers the
latter): both are read. Uneven ``Spacing`` makes the cell a box, which a note points out (the
voxel array alone cannot say so)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import VoxelInputError, option
from .keys import choose_key
from .loaded import Loaded

_TYPES = {"Int8": "i1", "UInt8": "u1", "Int16": "i2", "UInt16": "u2", "Int32": "i4", "UInt32": "u4",
          "Int64": "i8", "UInt64": "u8", "Float32": "f4", "Float64": "f8"}
_ZLIB = "vtkZLibDataCompressor"
_APPENDED_END = b"</AppendedData>"


@dataclass(frozen=True)
class _Appended:
    """The AppendedData section: its bytes after the '_' marker (whitespace removed for base64), its
    encoding and the offsets of every appended DataArray (a base64 block ends at the next one)."""

    data: bytes
    encoding: str
    offsets: tuple[int, ...]


class _Bad(Exception):
    """A malformed part of the file; read_vti turns it into one VoxelInputError naming the file."""


def _split_appended(data: bytes) -> tuple[bytes, bytes | None]:
    """(the XML with the AppendedData content removed, the content after its '_' marker or None).
    Raw appended bytes are not XML, so the parser must not see them."""
    start = data.find(b"<AppendedData")
    if start < 0:
        return data, None
    tag_end = data.find(b">", start)
    marker = data.find(b"_", tag_end)
    end = data.rfind(_APPENDED_END)
    if tag_end < 0 or marker < 0 or end < marker:
        raise _Bad("its AppendedData section has no '_' marker or no end tag")
    xml = data[:tag_end + 1] + _APPENDED_END + data[end + len(_APPENDED_END):]
    return xml, data[marker + 1:end]


def _ints(text: str | None, count: int, what: str) -> list[int]:
    try:
        values = [int(v) for v in (text or "").split()]
    except ValueError:
        values = []
    if len(values) != count:
        raise _Bad(f"{what} {text!r} is not {count} integers")
    return values


def _floats(text: str | None, count: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in (text or "").split()]
    except ValueError:
        values = []
    if len(values) != count:
        raise _Bad(f"{what} {text!r} is not {count} numbers")
    return values


def _unpack(stream: bytes, header: np.dtype, compressed: bool) -> tuple[bytes, int]:
    """(the data bytes, the bytes consumed) of one binary block ``stream`` = header + data: the header
    is [number of bytes] or, compressed, [blocks, block size, last block size, compressed sizes...]."""
    size = header.itemsize
    if not compressed:
        nbytes = int(np.frombuffer(stream[:size], header)[0])
        if len(stream) < size + nbytes:
            raise _Bad(f"a block announces {nbytes} bytes but holds {max(len(stream) - size, 0)}")
        return stream[size:size + nbytes], size + nbytes
    blocks = int(np.frombuffer(stream[:size], header)[0])
    head = np.frombuffer(stream[:(3 + blocks) * size], header).astype(np.int64)
    if len(head) != 3 + blocks:
        raise _Bad("a compressed block's header is cut short")
    block, last, sizes = int(head[1]), int(head[2]), head[3:]
    out, at = [], (3 + blocks) * size
    for i, csize in enumerate(sizes):
        chunk = zlib.decompress(stream[at:at + int(csize)])
        expected = last if (i == blocks - 1 and last) else block
        if len(chunk) != expected:
            raise _Bad(f"compressed block {i} expands to {len(chunk)} bytes, its header says {expected}")
        out.append(chunk)
        at += int(csize)
    return b"".join(out), at


def _b64(text: bytes) -> bytes:
    return base64.b64decode(text, validate=False)


def _decode_base64(text: bytes, header: np.dtype, compressed: bool) -> bytes:
    """The data bytes of one base64 block whose header is encoded on its own (a padded base64 run of
    its own) or together with the data (module docstring)."""
    text = b"".join(text.split())

    def chars(nbytes: int) -> int:  # base64 characters of nbytes bytes, padding included
        return 4 * ((nbytes + 2) // 3)

    size = header.itemsize
    head_bytes = size
    if compressed:
        blocks = int(np.frombuffer(_b64(text[:chars(size)])[:size], header)[0])
        head_bytes = (3 + blocks) * size
    n_chars = chars(head_bytes)
    # An own run of the header ends in '=' padding unless its length is a multiple of 3 bytes, in
    # which case both encodings have the same characters up to this point.
    if text[n_chars - 1:n_chars] == b"=":
        stream = _b64(text[:n_chars])[:head_bytes] + _b64(text[n_chars:])
    else:
        stream = _b64(text)
    return _unpack(stream, header, compressed)[0]


def read_vti(path: str, *, key: str | None = None) -> Loaded:
    """The DataArray ``key`` (or the only one) of a .vti file as a cell [x, y, z] (module docstring)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise VoxelInputError(f"cannot read {path} ({exc.strerror or exc})") from None
    try:
        return _read(path, data, key)
    except VoxelInputError:
        raise
    except _Bad as exc:
        raise VoxelInputError(f"cannot read {path} as VTK image data: {exc}") from None
    except ET.ParseError as exc:
        raise VoxelInputError(f"cannot read {path} as VTK XML ({exc})") from None
    except Exception as exc:  # base64, zlib and numpy errors of a corrupt file
        first = (str(exc).splitlines() or [""])[0]
        raise VoxelInputError(f"cannot decode {path} as VTK image data ({type(exc).__name__}: {first})") from None


def _read(path: str, data: bytes, key: str | None) -> Loaded:
    xml, appended = _split_appended(data)
    root = ET.fromstring(xml)
    if root.tag != "VTKFile":
        raise _Bad(f"its root element is <{root.tag}>, expected <VTKFile>")
    if root.get("type") != "ImageData":
        raise VoxelInputError(f"{path}: holds VTK {root.get('type')!r} data; expected ImageData (a .vti image)")
    order = {"LittleEndian": "<", "BigEndian": ">"}.get(root.get("byte_order", "LittleEndian"))
    header_type = root.get("header_type", "UInt32")
    if order is None or header_type not in ("UInt32", "UInt64"):
        raise _Bad(f"byte_order {root.get('byte_order')!r} / header_type {header_type!r} are not VTK's")
    header = np.dtype(order + _TYPES[header_type])
    compressor = root.get("compressor")
    if compressor not in (None, "", _ZLIB):
        raise VoxelInputError(f"{path}: is compressed by {compressor}; this reader knows {_ZLIB} (save it from "
                              "ParaView with zlib or no compression)")
    image = root.find("ImageData")
    if image is None:
        raise _Bad("it has no <ImageData> element")
    pieces = image.findall("Piece")
    if len(pieces) != 1:
        raise VoxelInputError(f"{path}: holds {len(pieces)} pieces; expected one (a serial .vti image)")
    piece = pieces[0]
    e = _ints(piece.get("Extent") or image.get("WholeExtent"), 6, "Extent")
    spacing = _floats(image.get("Spacing", "1 1 1"), 3, "Spacing")
    points = [e[1] - e[0] + 1, e[3] - e[2] + 1, e[5] - e[4] + 1]
    arrays, elements = {}, {}
    for section, dims in (("PointData", points), ("CellData", [p - 1 for p in points])):
        block = piece.find(section)
        for i, da in enumerate([] if block is None else block.findall("DataArray")):
            name = da.get("Name") or f"{section}[{i}]"
            if name in arrays:
                name = f"{name} ({section})"
            kind = da.get("type")
            if kind not in _TYPES:
                raise _Bad(f"DataArray {name!r} has type {kind!r}; expected one of {', '.join(_TYPES)}")
            components = int(da.get("NumberOfComponents", "1"))
            shape = tuple(dims) + ((components,) if components != 1 else ())
            arrays[name] = (shape, np.dtype(order + _TYPES[kind]))
            elements[name] = da
    name = choose_key(path, arrays, key)
    shape, dtype = arrays[name]
    section = None
    if appended is not None:
        encoding = root.find("AppendedData").get("encoding", "raw")
        if encoding not in ("raw", "base64"):
            raise _Bad(f"AppendedData encoding {encoding!r}; expected raw or base64")
        offsets = tuple(sorted({int(d.get("offset", "0")) for d in root.iter("DataArray")
                                if d.get("format") == "appended"}))
        section = _Appended(b"".join(appended.split()) if encoding == "base64" else appended, encoding, offsets)
    values = _values(elements[name], dtype, header, bool(compressor), section)
    expected = int(np.prod(shape))
    if values.size != expected:
        raise _Bad(f"DataArray {name!r} holds {values.size} values; its extent {e} needs {expected}")
    if len(shape) != 3:
        return Loaded(values.reshape(-1, shape[-1]), key=name, layout=f"{shape[-1]} components per voxel")
    cell = values.reshape(shape[::-1]).transpose(2, 1, 0)  # x varies fastest in the file
    notes = []
    if len(set(spacing)) > 1 and len(set(shape)) == 1:
        lx, ly, lz = (shape[0] * spacing[0], shape[1] * spacing[1], shape[2] * spacing[2])
        notes.append(f"{path}: the voxel spacing {spacing[0]:g}, {spacing[1]:g}, {spacing[2]:g} is not uniform, so "
                     f"the cell is a box {lx:g} x {ly:g} x {lz:g}; pass {option('shape')} 90,90,90,{lx:g},{ly:g},"
                     f"{lz:g} (a cube is assumed otherwise)")
    return Loaded(np.ascontiguousarray(cell), key=name, notes=notes)


def _values(da, dtype: np.dtype, header: np.dtype, compressed: bool, appended: _Appended | None) -> np.ndarray:
    """The flat values of one DataArray element in any of the encodings."""
    fmt = da.get("format", "ascii")
    if fmt == "ascii":
        parse = np.float64 if dtype.kind == "f" else np.int64
        return np.array((da.text or "").split(), dtype=parse).astype(dtype.newbyteorder("="))
    if fmt == "binary":
        raw = _decode_base64((da.text or "").encode(), header, compressed)
    elif fmt == "appended":
        if appended is None:
            raise _Bad(f"DataArray {da.get('Name')!r} is appended but the file has no AppendedData section")
        offset = int(da.get("offset", "0"))
        if appended.encoding == "raw":
            raw, _ = _unpack(appended.data[offset:], header, compressed)
        else:  # base64: the offset counts characters; the block ends where the next one starts
            later = [o for o in appended.offsets if o > offset]
            end = later[0] if later else len(appended.data)
            raw = _decode_base64(appended.data[offset:end], header, compressed)
    else:
        raise _Bad(f"DataArray {da.get('Name')!r} has format {fmt!r}; expected ascii, binary or appended")
    if len(raw) % dtype.itemsize:
        raise _Bad(f"DataArray {da.get('Name')!r} holds {len(raw)} bytes, not a whole number of {dtype} values")
    return np.frombuffer(raw, dtype)
