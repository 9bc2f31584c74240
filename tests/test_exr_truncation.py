"""Truncated and corrupt EXR files are refused by `read_info` before any decoding, at the exact byte
boundaries of the offset table and the last chunk, with the byte counts in the message; the open errors
name the file; `write_exr` stores each channel in its own EXR type (others as float32) and refuses an
unknown compression; `read_stack` selects, orders and casts channels.

Files are real: written by OpenEXR, or built byte by byte here (`_hand_exr`, uncompressed, read back by
OpenEXR itself in `test_hand_built_files_are_valid_exr`) where OpenEXR cannot write the layout wanted
(one-part multi-part files, parts without `chunkCount`, a header without `compression`)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from lmv_cli.core import exr
from lmv_cli.core.errors import ExrError

H, W = 40, 24  # ZIP: 16 scanlines per chunk -> 3 chunks


# --- hand-built uncompressed EXR files ----------------------------------------------------------------------


def _attr(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _header(width: int, height: int, *, name: str | None, compression: bool, chunk_count: bool) -> bytes:
    box = struct.pack("<4i", 0, 0, width - 1, height - 1)
    attrs = [_attr("channels", "chlist", b"Y\0" + struct.pack("<iB3xii", 1, 0, 1, 1) + b"\0")]
    if compression:
        attrs.append(_attr("compression", "compression", b"\0"))  # NO_COMPRESSION: one scanline per chunk
    attrs += [
        _attr("dataWindow", "box2i", box),
        _attr("displayWindow", "box2i", box),
        _attr("lineOrder", "lineOrder", b"\0"),
        _attr("pixelAspectRatio", "float", struct.pack("<f", 1)),
        _attr("screenWindowCenter", "v2f", struct.pack("<2f", 0, 0)),
        _attr("screenWindowWidth", "float", struct.pack("<f", 1)),
    ]
    if name is not None:
        attrs += [_attr("name", "string", name.encode()), _attr("type", "string", b"scanlineimage")]
    if chunk_count:
        attrs.append(_attr("chunkCount", "int", struct.pack("<i", height)))
    return b"".join(attrs) + b"\0"


def _hand_exr(width: int, height: int, parts: list[str] | None = None, *, compression: bool = True,
              chunk_count: bool | None = None) -> bytes:
    """A scanline file with one half channel Y = x + 10 y + 100 part; `parts` names make it multi-part
    (version flag 0x1000, a part number in front of each chunk, `chunkCount` unless told otherwise)."""
    multipart = parts is not None
    names = parts if multipart else [None]
    chunk_count = multipart if chunk_count is None else chunk_count
    head = b"\x76\x2f\x31\x01" + struct.pack("<I", 2 | (0x1000 if multipart else 0))
    head += b"".join(_header(width, height, name=n, compression=compression, chunk_count=chunk_count) for n in names)
    head += b"\0" if multipart else b""
    start = len(head) + 8 * height * len(names)
    chunks, offsets = b"", []
    for p in range(len(names)):
        for y in range(height):
            offsets.append(start + len(chunks))
            pixels = (np.arange(width) + 10 * y + 100 * p).astype("<f2").tobytes()
            chunks += (struct.pack("<i", p) if multipart else b"") + struct.pack("<ii", y, len(pixels)) + pixels
    return head + struct.pack(f"<{len(offsets)}Q", *offsets) + chunks


def _zip_file(path: Path) -> bytes:
    rng = np.random.default_rng(5)
    exr.write_exr(path, {n: rng.uniform(0, 4, (H, W)).astype(np.float16) for n in "RGB"})
    return path.read_bytes()


def _table_start(data: bytes, count: int) -> int:
    """The offset table of a single-part file: the entry that equals its own end (chunk 0 follows it)."""
    for pos in range(8, len(data) - 8 * count):
        if struct.unpack_from("<Q", data, pos)[0] == pos + 8 * count:
            return pos
    raise AssertionError("no offset table found")


def _with_offset(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + struct.pack("<Q", value) + data[at + 8 :]


def _error(path: Path, call=None) -> ExrError:
    with pytest.raises(ExrError) as caught:
        (call or exr.read_info)(path)
    return caught.value


def test_hand_built_files_are_valid_exr(tmp_path):
    """OpenEXR itself decodes what `_hand_exr` writes (all layouts used below but the one without compression)."""
    for name, kwargs in {"s": {}, "m1": {"parts": ["a"]}, "m2": {"parts": ["a", "b"]},
                         "m2n": {"parts": ["a", "b"], "chunk_count": False}}.items():
        (tmp_path / f"{name}.exr").write_bytes(_hand_exr(3, 2, **kwargs))
        f = OpenEXR.File(str(tmp_path / f"{name}.exr"), separate_channels=True)
        ys = [part.channels["Y"].pixels for part in f.parts]
        assert len(ys) == len(kwargs.get("parts", [0]))
        for p, y in enumerate(ys):
            np.testing.assert_array_equal(y, np.array([[0, 1, 2], [10, 11, 12]], np.float16) + 100 * p)


def test_read_info_of_an_openexr_file(tmp_path):
    rng = np.random.default_rng(1)
    exr.write_exr(tmp_path / "a.exr", {"Z": rng.random((5, 7)).astype(np.float32),
                                       "N": np.zeros((5, 7), np.uint32),
                                       "R": np.ones((5, 7), np.float16)}, compression="dwaa")
    info = exr.read_info(tmp_path / "a.exr")
    assert info == exr.ExrInfo(tmp_path / "a.exr", 7, 5, {"N": "uint", "R": "half", "Z": "float"}, "DWAA", 1)


# --- _open ----------------------------------------------------------------------------------------------------


def test_open_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.exr"
    err = _error(missing)
    assert err.path == missing and str(missing) in str(err) and "not found" in err.message
    err = _error(tmp_path)
    assert err.path == tmp_path and "directory" in err.message
    (tmp_path / "plain").write_bytes(b"x")
    below_a_file = tmp_path / "plain" / "a.exr"
    err = _error(below_a_file)
    assert err.path == below_a_file and "Not a directory" in err.message
    err = _error(missing, exr.read_channels)
    assert err.path == missing and "not found" in err.message


# --- write_exr, read_stack -----------------------------------------------------------------------------------


def test_write_exr_refuses_an_unknown_compression(tmp_path):
    with pytest.raises(ExrError, match="lzma"):
        exr.write_exr(tmp_path / "a.exr", {"Y": np.zeros((2, 3), np.float32)}, compression="lzma")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("compression", ["zip", "Piz", "DWAB", "no"])
def test_write_exr_takes_the_compression_name_in_any_case(tmp_path, compression):
    exr.write_exr(tmp_path / "a.exr", {"Y": np.zeros((2, 3), np.float32)}, compression=compression)
    assert exr.read_info(tmp_path / "a.exr").compression == compression.upper()


@pytest.mark.parametrize("values", [np.arange(6, dtype=np.float64).reshape(2, 3) / 4,
                                    np.arange(6, dtype=np.int16).reshape(2, 3), [[0, 1, 2], [3, 4, 5]],
                                    np.arange(12, dtype=np.float32).reshape(2, 6)[:, ::2]])
def test_write_exr_stores_other_dtypes_and_strided_arrays_as_float32(tmp_path, values):
    exr.write_exr(tmp_path / "a.exr", {"Y": values})
    assert exr.read_info(tmp_path / "a.exr").channels == {"Y": "float"}
    np.testing.assert_array_equal(exr.read_channels(tmp_path / "a.exr")["Y"],
                                  np.asarray(values, np.float64).astype(np.float32))


def test_write_exr_stores_each_channel_as_given(tmp_path):
    y = np.array([[0.5, -2.0], [3.0, 1e-3]])
    exr.write_exr(tmp_path / "a.exr", {"H": y.astype(np.float16), "F": y, "U": np.array([[1, 2], [3, 4]], np.uint32)},
                  compression="zips")
    assert exr.read_info(tmp_path / "a.exr").channels == {"F": "float", "H": "half", "U": "uint"}
    assert exr.read_info(tmp_path / "a.exr").compression == "ZIPS"
    chans = exr.read_channels(tmp_path / "a.exr")
    np.testing.assert_array_equal(chans["F"], y.astype(np.float32))
    np.testing.assert_array_equal(chans["H"], y.astype(np.float16))
    np.testing.assert_array_equal(chans["U"], [[1, 2], [3, 4]])


def test_read_stack_selects_orders_and_casts(tmp_path):
    planes = {n: (np.arange(6).reshape(2, 3) + 10 * i).astype(np.float16) / 8 for i, n in enumerate("RGB")}
    exr.write_exr(tmp_path / "a.exr", planes)
    stack = exr.read_stack(tmp_path / "a.exr", ["B", "R"])
    assert stack.dtype == np.float32 and stack.shape == (2, 2, 3)
    np.testing.assert_array_equal(stack, np.stack([planes["B"], planes["R"]]).astype(np.float32))
    stack = exr.read_stack(tmp_path / "a.exr", "G", np.float64)
    assert stack.dtype == np.float64 and stack.shape == (1, 2, 3)
    np.testing.assert_array_equal(stack[0], planes["G"].astype(np.float64))
    stack = exr.read_stack(tmp_path / "a.exr", ("G",), np.float16)
    assert stack.dtype == np.float16
    np.testing.assert_array_equal(stack[0], planes["G"])
    with pytest.raises(ExrError, match=r"a\.exr.*\bA\b.*found: B, G, R"):
        exr.read_stack(tmp_path / "a.exr", "RA")


# --- _check_chunks --------------------------------------------------------------------------------------------


def test_intact_files_pass(tmp_path):
    data = _zip_file(tmp_path / "z.exr")
    assert exr.read_info(tmp_path / "z.exr").height == H
    start = _table_start(data, 3)
    assert struct.unpack_from("<Q", data, start)[0] == start + 24  # chunk 0 right after the table
    for name, kwargs, parts in [("s", {}, 1), ("m1", {"parts": ["a"]}, 1), ("m2", {"parts": ["a", "b"]}, 2),
                                ("m2n", {"parts": ["a", "b"], "chunk_count": False}, 2)]:
        (tmp_path / f"{name}.exr").write_bytes(_hand_exr(3, 5, **kwargs))
        info = exr.read_info(tmp_path / f"{name}.exr")
        assert (info.width, info.height, info.compression, info.parts) == (3, 5, "NO", parts)


def _truncated_by_one(path: Path, data: bytes) -> str:
    path.write_bytes(data[:-1])
    err = _error(path)
    assert err.path == path
    return err.message


def _last_needs(data: bytes) -> str:
    """The facts of a cut last chunk: the bytes it needs, then the bytes the file has (a regex)."""
    return rf"last chunk.*\b{len(data)} bytes.*\b{len(data) - 1}\b"


def test_a_file_one_byte_short_names_the_bytes_its_last_chunk_needs(tmp_path):
    data = _zip_file(tmp_path / "z.exr")
    assert re.search(_last_needs(data), _truncated_by_one(tmp_path / "z1.exr", data))
    for name, kwargs in [("s", {}), ("m1", {"parts": ["a"]}), ("m2", {"parts": ["a", "b"]}),
                         ("m2n", {"parts": ["a", "b"], "chunk_count": False}), ("nc", {"compression": False})]:
        data = _hand_exr(3, 5, **kwargs)
        assert re.search(_last_needs(data), _truncated_by_one(tmp_path / f"{name}.exr", data)), name


def _two_parts(tmp_path: Path, kind: str) -> bytes:
    a = np.arange(H * W, dtype=np.float16).reshape(H, W)
    header = {"type": OpenEXR.tiledimage if kind == "tiled" else OpenEXR.scanlineimage,
              "compression": OpenEXR.ZIP_COMPRESSION}
    if kind == "tiled":
        header["tiles"] = OpenEXR.TileDescription()
    parts = [OpenEXR.Part(dict(header), {"R": a}, name="a"), OpenEXR.Part(dict(header), {"Z": a + 1}, name="b")]
    OpenEXR.File(parts).write(str(tmp_path / f"{kind}.exr"))
    return (tmp_path / f"{kind}.exr").read_bytes()


@pytest.mark.parametrize("kind", ["scanline", "tiled"])
def test_openexr_multi_part_files_intact_and_one_byte_short(tmp_path, kind):
    data = _two_parts(tmp_path, kind)
    info = exr.read_info(tmp_path / f"{kind}.exr")
    assert (info.width, info.height, info.channels, info.parts) == (W, H, {"R": "half", "Z": "half"}, 2)
    assert re.search(_last_needs(data), _truncated_by_one(tmp_path / "short.exr", data))


def test_single_part_tiled_files_are_left_to_the_decoder(tmp_path):
    a = np.arange(H * W, dtype=np.float16).reshape(H, W)
    OpenEXR.File({"type": OpenEXR.tiledimage, "compression": OpenEXR.ZIP_COMPRESSION,
                  "tiles": OpenEXR.TileDescription()}, {"R": a}).write(str(tmp_path / "t.exr"))
    (tmp_path / "short.exr").write_bytes((tmp_path / "t.exr").read_bytes()[:-1])
    assert exr.read_info(tmp_path / "short.exr").channels == {"R": "half"}


def test_offset_table_running_past_the_end(tmp_path):
    data = _zip_file(tmp_path / "z.exr")
    start = _table_start(data, 3)
    for cut in (start + 23, start + 20, start + 1, start):
        (tmp_path / "t.exr").write_bytes(data[:cut])
        err = _error(tmp_path / "t.exr")
        assert err.path == tmp_path / "t.exr" and re.search(rf"offset table.*\b{cut} bytes", err.message)
    # multi-part: the second part's table, read right after the first one's
    data = _hand_exr(3, 2, ["a", "b"])
    cut = len(data) - 4 * 22 - 8 * 2 + 3  # 4 chunks of 22 bytes, then 3 bytes into the second table
    (tmp_path / "m.exr").write_bytes(data[:cut])
    assert re.search(rf"offset table.*\b{cut} bytes", _error(tmp_path / "m.exr").message)


@pytest.mark.parametrize("where", ["header-start", "header-past-24", "table-start", "table-last-byte", "file-end"])
def test_an_offset_outside_the_chunk_area_is_refused(tmp_path, where):
    data = _zip_file(tmp_path / "z.exr")
    start = _table_start(data, 3)
    value = {"header-start": 8, "header-past-24": start - 30, "table-start": start, "table-last-byte": start + 23,
             "file-end": len(data)}[where]
    (tmp_path / "bad.exr").write_bytes(_with_offset(data, start + 8, value))
    err = _error(tmp_path / "bad.exr")
    assert err.path == tmp_path / "bad.exr" and re.search(rf"1 of 3 chunks.*\b{len(data)} bytes", err.message)
    (tmp_path / "two.exr").write_bytes(_with_offset(_with_offset(data, start + 8, value), start + 16, start))
    assert re.search(rf"2 of 3 chunks.*\b{len(data)} bytes", _error(tmp_path / "two.exr").message)


def test_offsets_at_the_edges_of_the_chunk_area(tmp_path):
    """Chunk 1 moved onto the first byte after the table passes; moved onto the last byte of the file it is
    inside, but now the largest offset, whose leader the last-chunk check finds cut."""
    data = _zip_file(tmp_path / "z.exr")
    start = _table_start(data, 3)
    (tmp_path / "ok.exr").write_bytes(_with_offset(data, start + 8, start + 24))
    assert exr.read_info(tmp_path / "ok.exr").height == H
    (tmp_path / "end.exr").write_bytes(_with_offset(data, start + 8, len(data) - 1))
    assert re.search(rf"last chunk starts past the end.*\b{len(data)} bytes", _error(tmp_path / "end.exr").message)


def test_the_second_part_offsets_are_checked_against_its_own_table(tmp_path):
    data = _hand_exr(3, 2, ["a", "b"])
    second = len(data) - 4 * 22 - 8 * 2  # the second part's table
    (tmp_path / "bad.exr").write_bytes(_with_offset(data, second, second + 15))  # into its own table
    assert re.search(rf"1 of 2 chunks.*\b{len(data)} bytes", _error(tmp_path / "bad.exr").message)
    (tmp_path / "ok.exr").write_bytes(_with_offset(data, second, second + 16))  # right after it
    assert exr.read_info(tmp_path / "ok.exr").parts == 2


@pytest.mark.parametrize("keep", [0, 3, 4, 5, 7])
def test_the_last_chunk_leader_cut(tmp_path, keep):
    """The file ends `keep` bytes into the last chunk (single part: y then the data size)."""
    data = _zip_file(tmp_path / "z.exr")
    last = struct.unpack_from("<Q", data, _table_start(data, 3) + 16)[0]
    if keep == 0:  # then the last offset equals the size: caught by the table check
        (tmp_path / "c.exr").write_bytes(data[:last])
        assert re.search(rf"1 of 3 chunks.*\b{last} bytes", _error(tmp_path / "c.exr").message)
        return
    (tmp_path / "c.exr").write_bytes(data[: last + keep])
    err = _error(tmp_path / "c.exr")
    assert err.path == tmp_path / "c.exr"
    assert re.search(rf"last chunk starts past the end.*\b{last + keep} bytes", err.message)


def test_last_chunk_data_size_exactly_to_the_end(tmp_path):
    data = _hand_exr(3, 2)
    (tmp_path / "a.exr").write_bytes(data + b"\0")  # one spare byte: fine
    exr.read_info(tmp_path / "a.exr")
    # the data size field of the last chunk (at its offset + 4) grown by one: needs one byte more
    last = len(data) - 14
    grown = data[: last + 4] + struct.pack("<i", 7) + data[last + 8 :]
    (tmp_path / "g.exr").write_bytes(grown)
    assert re.search(_last_needs(grown + b"\0"), _error(tmp_path / "g.exr").message)
    multi = _hand_exr(3, 2, ["a"])
    last = len(multi) - 18
    grown = multi[: last + 8] + struct.pack("<i", 10) + multi[last + 12 :]
    (tmp_path / "m.exr").write_bytes(grown)
    assert re.search(rf"last chunk.*\b{len(multi) + 4} bytes.*\b{len(multi)}\b", _error(tmp_path / "m.exr").message)


def test_a_negative_last_chunk_data_size_is_left_to_the_decoder(tmp_path):
    """The size field is a signed int: a negative one is corruption, not truncation (the chunk does not run
    past the end), so read_info passes it as it passes broken ZIP data; decoding then refuses the file."""
    data = _hand_exr(3, 2)
    last = len(data) - 14  # single part: y, then the data size
    for size in (-6, -(2**31)):
        neg = data[: last + 4] + struct.pack("<i", size) + data[last + 8 :]
        (tmp_path / "n.exr").write_bytes(neg)
        assert exr.read_info(tmp_path / "n.exr").height == 2
        with pytest.raises(ExrError, match=r"n\.exr.*0 of 1 part"):
            exr.read_channels(tmp_path / "n.exr")
