"""Reading and writing EXR files (`lmv_cli.core.exr`) as a caller sees them: `read_info`'s header reading (magic and length boundaries, headers past the first 64 KiB, the file named in
every error, every `ExrInfo` field), the header parser (deep, multi-part and tiled files, a header without a
dataWindow or a type attribute), `read_channels`' decode checks and messages, and `write_exr`/`write_rgba`'s
defaults, dtypes and errors. Files are written by OpenEXR or, where a case needs it, byte by byte."""

from __future__ import annotations

import contextlib
import re
import signal
import struct
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from lmv_cli.core import exr
from lmv_cli.core.errors import ExrError


@contextlib.contextmanager
def _deadline(seconds: float):
    """Fail instead of hanging when a read loop never ends."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _raises(call, path: Path, *facts: str) -> ExrError:
    """`call()` raises an ExrError naming `path` whose message carries `facts` in this order."""
    with _deadline(5), pytest.raises(ExrError) as caught:
        call()
    assert caught.value.path == path and str(path) in str(caught.value)
    pattern = ".*".join(rf"(?<!\d){re.escape(fact)}(?!\d)" for fact in facts)  # in this order, whole numbers
    assert re.search(pattern, caught.value.message), (facts, caught.value.message)
    return caught.value


def _attr(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _chlist(*names: str) -> bytes:
    # name, pixel type 2 (float), pLinear + 3 reserved bytes, x and y sampling 1
    return b"".join(n.encode() + b"\0" + struct.pack("<iBBBBii", 2, 0, 0, 0, 0, 1, 1) for n in names) + b"\0"


def _window(width: int, height: int) -> bytes:
    return struct.pack("<4i", 0, 0, width - 1, height - 1)


def _one_pixel_file(*attrs: bytes, version: int = 2) -> bytes:
    """A single-part, uncompressed 1x1 scanline file: header, one offset, one chunk (y, size, one float)."""
    header = exr.MAGIC + struct.pack("<I", version) + b"".join(attrs) + b"\0"
    chunk_at = len(header) + 8
    return header + struct.pack("<Q", chunk_at) + struct.pack("<iif", 0, 4, 0.5)


def _two_parts(path: Path, tiled: bool = False) -> None:
    header = {"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION}
    if tiled:
        tiles = OpenEXR.TileDescription()
        tiles.xSize, tiles.ySize, tiles.mode, tiles.roundingMode = 2, 2, OpenEXR.ONE_LEVEL, OpenEXR.ROUND_DOWN
        header = {"type": OpenEXR.tiledimage, "compression": OpenEXR.NO_COMPRESSION, "tiles": tiles}
    parts = [
        OpenEXR.Part(dict(header), {"A.R": np.zeros((4, 6), np.float32)}, name="a"),
        OpenEXR.Part(dict(header), {"B.Z": np.full((4, 6), 2.0, np.float32)}, name="b"),
    ]
    OpenEXR.File(parts).write(str(path))


# read_info: magic number, file length, ExrInfo fields


def test_read_info_returns_every_field_of_the_first_part(tmp_path):
    path = tmp_path / "a.exr"
    exr.write_exr(path, {"Y": np.zeros((3, 5), np.float32), "Z": np.zeros((3, 5), np.float16)}, compression="rle")
    assert exr.read_info(path) == exr.ExrInfo(path, 5, 3, {"Y": "float", "Z": "half"}, "RLE", 1)
    assert exr.read_info(str(path)).path == path


def test_read_info_refuses_a_bad_magic_number_with_the_file_size(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    _raises(lambda: exr.read_info(path), path, "magic number", "23 bytes")


def test_read_info_refuses_a_file_shorter_than_magic_and_version(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(exr.MAGIC + b"\x02\x00")  # the right magic, but 6 bytes
    _raises(lambda: exr.read_info(path), path, "magic number", "6 bytes")


def test_read_info_calls_magic_and_version_alone_a_truncated_header(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(exr.MAGIC + struct.pack("<I", 2))  # magic and version, no header
    _raises(lambda: exr.read_info(path), path, "truncated", "header")


def test_read_info_stops_at_a_header_cut_at_the_end_of_the_file(tmp_path):
    path = tmp_path / "a.exr"
    exr.write_exr(path, {"Y": np.zeros((2, 3), np.float32)})
    path.write_bytes(path.read_bytes()[:100])
    _raises(lambda: exr.read_info(path), path, "truncated", "header")
    _raises(lambda: exr.read_channels(path), path, "truncated", "header")


def test_read_info_reads_on_past_the_first_64_kib_of_header(tmp_path):
    path = tmp_path / "big.exr"
    exr.write_exr(path, {"Y": np.zeros((2, 3), np.float32)}, attributes={"comment": "x" * 70000})
    assert path.stat().st_size > 1 << 16
    with _deadline(5):
        assert exr.read_info(path) == exr.ExrInfo(path, 3, 2, {"Y": "float"}, "ZIP", 1)


def test_read_info_names_the_file_in_chunk_errors(tmp_path):
    path = tmp_path / "a.exr"
    exr.write_exr(path, {"Y": np.zeros((2, 3), np.float32)})
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    size = len(data) - 1
    _raises(lambda: exr.read_info(path), path, f"{size + 1} bytes", f"{size}")


# headers written byte by byte


def test_a_header_in_any_attribute_order_without_a_type(tmp_path):
    path = tmp_path / "h.exr"
    path.write_bytes(
        _one_pixel_file(
            _attr("dataWindow", "box2i", _window(1, 1)),
            _attr("compression", "compression", b"\x00"),
            _attr("channels", "chlist", _chlist("Y")),
        )
    )
    assert exr.read_info(path) == exr.ExrInfo(path, 1, 1, {"Y": "float"}, "NO", 1)


def test_a_header_without_a_data_window_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "h.exr"
    path.write_bytes(
        _one_pixel_file(_attr("channels", "chlist", _chlist("Y")), _attr("compression", "compression", b"\x00"))
    )
    _raises(lambda: exr.read_info(path), path, "dataWindow")


def test_a_deep_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "d.exr"
    path.write_bytes(
        _one_pixel_file(
            _attr("channels", "chlist", _chlist("Y")),
            _attr("compression", "compression", b"\x00"),
            _attr("dataWindow", "box2i", _window(1, 1)),
            version=2 | 0x800,
        )
    )
    _raises(lambda: exr.read_info(path), path, "deep")


def test_multi_part_headers_are_all_read(tmp_path):
    path = tmp_path / "m.exr"
    _two_parts(path)
    assert exr.read_info(path) == exr.ExrInfo(path, 6, 4, {"A.R": "float", "B.Z": "float"}, "ZIP", 2)


def test_multi_part_file_cut_right_after_the_first_header(tmp_path):
    path = tmp_path / "m.exr"
    _two_parts(path)
    data = path.read_bytes()
    _, end = exr._parse_one_header(path, data, 8)
    path.write_bytes(data[:end])
    _raises(lambda: exr.read_info(path), path, "truncated", "header")


def _tiled_single(path: Path) -> bytes:
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode, tiles.roundingMode = 2, 2, OpenEXR.ONE_LEVEL, OpenEXR.ROUND_DOWN
    header = {"type": OpenEXR.tiledimage, "compression": OpenEXR.NO_COMPRESSION, "tiles": tiles}
    OpenEXR.File(header, {"Y": np.arange(20, dtype=np.float32).reshape(4, 5)}).write(str(path))
    return path.read_bytes()


@pytest.mark.parametrize("type_attribute", ["type", "typf"])
def test_single_part_tiled_files_are_left_to_the_decoder(tmp_path, type_attribute):
    # 5x4 pixels in 2x2 tiles: 6 tiles. Cut at the 4th tile: a scanline reading (4 lines, 4 offsets) would
    # see an offset outside the file; a tiled one is not checked here. With the "type" attribute renamed,
    # only the version's tiled flag says "tiled".
    path = tmp_path / "t.exr"
    data = _tiled_single(path)
    assert data[4:8] == struct.pack("<I", 2 | 0x200)
    data = data.replace(b"type\0string\0", type_attribute.encode() + b"\0string\0")
    headers, pos = exr._parse_headers(path, data)
    table = struct.unpack_from("<6Q", data, pos)
    path.write_bytes(data[: table[3]])
    assert exr.read_info(path) == exr.ExrInfo(path, 5, 4, {"Y": "float"}, "NO", 1)


def test_multi_part_tiled_files_are_tiled_by_their_type(tmp_path):
    # A multi-part file has no tiled flag in its version; the type attribute says so. The last tile's size
    # sits after part number and four tile ints.
    path = tmp_path / "mt.exr"
    _two_parts(path, tiled=True)
    data = path.read_bytes()
    assert data[4:8] == struct.pack("<I", 2 | 0x1000)
    path.write_bytes(data[:-1])
    size = len(data) - 1
    _raises(lambda: exr.read_info(path), path, f"{size + 1} bytes", f"{size}")


# read_channels


def test_read_channels_checks_truncation_unless_told_it_was_checked(tmp_path):
    path = tmp_path / "a.exr"
    exr.write_exr(path, {"Y": np.ones((2, 3), np.float32)})
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    size = len(data) - 1
    _raises(lambda: exr.read_channels(path), path, f"{size + 1} bytes", f"{size}")
    _raises(lambda: exr.read_channels(path, ["Y"]), path, f"{size + 1} bytes", f"{size}")


def test_read_channels_returns_all_or_the_named_channels_in_order(tmp_path):
    path = tmp_path / "a.exr"
    y, z = np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 2.5, np.float16)
    exr.write_exr(path, {"Y": y, "Z": z})
    chans = exr.read_channels(path)
    assert sorted(chans) == ["Y", "Z"]
    np.testing.assert_array_equal(chans["Y"], y)
    chans = exr.read_channels(path, iter(["Z", "Y"]), verified=True)
    assert list(chans) == ["Z", "Y"] and chans["Z"].dtype == np.float16
    np.testing.assert_array_equal(chans["Z"], z)


def test_read_channels_lists_missing_and_found_channels(tmp_path):
    path = tmp_path / "a.exr"
    exr.write_exr(path, {"Z": np.zeros((2, 3), np.float32), "R": np.zeros((2, 3), np.float32)})
    _raises(lambda: exr.read_channels(path, ["G", "R", "B"]), path, "G, B", "R, Z")  # missing, then found


def test_read_channels_reports_what_the_binding_cannot_open(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    err = _raises(
        lambda: exr.read_channels(path, verified=True), path, "cannot decode"
    )
    assert isinstance(err.__cause__, Exception)


def _corrupt_chunk(path: Path, part: int) -> None:
    """Overwrite the compressed data of `part`'s only chunk (multi-part leader: part, y, size)."""
    data = bytearray(path.read_bytes())
    headers, pos = exr._parse_headers(path, bytes(data))
    start = struct.unpack_from("<Q", data, pos + 8 * part)[0]
    (n,) = struct.unpack_from("<i", data, start + 8)
    data[start + 12 : start + 12 + n] = b"\xff" * n
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("part", [0, 1])
def test_read_channels_refuses_a_multi_part_file_with_a_part_undecoded(tmp_path, part):
    path = tmp_path / "m.exr"
    _two_parts(path)
    _corrupt_chunk(path, part)
    assert exr.read_info(path).parts == 2
    _raises(lambda: exr.read_channels(path), path, "1 of 2 part(s) decoded")


def test_read_channels_refuses_a_file_with_no_part_decoded(tmp_path):
    path = tmp_path / "z.exr"
    exr.write_exr(path, {"Y": np.zeros((4, 6), np.float32)})
    data = bytearray(path.read_bytes())
    _, pos = exr._parse_headers(path, bytes(data))
    start = struct.unpack_from("<Q", data, pos)[0]
    (n,) = struct.unpack_from("<i", data, start + 4)
    data[start + 8 : start + 8 + n] = b"\xff" * n
    path.write_bytes(bytes(data))
    exr.read_info(path)  # header and offsets intact
    _raises(lambda: exr.read_channels(path, ["Y"]), path, "0 of 1 part(s) decoded")
    _raises(
        lambda: exr.read_channels(path, ["Y"], verified=True),
        path,
        "no part decoded",
    )


# write_exr


def test_write_exr_defaults_to_zip_and_keeps_the_given_compression(tmp_path):
    exr.write_exr(tmp_path / "a.exr", {"Y": np.zeros((2, 3), np.float32)})
    assert exr.read_info(tmp_path / "a.exr").compression == "ZIP"
    exr.write_exr(tmp_path / "b.exr", {"Y": np.zeros((2, 3), np.float32)}, compression="piz")
    assert exr.read_info(tmp_path / "b.exr").compression == "PIZ"
    header = OpenEXR.File(str(tmp_path / "b.exr")).header()
    assert header["compression"] == OpenEXR.PIZ_COMPRESSION and header["type"] == OpenEXR.scanlineimage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.exr", "b.exr"]


def test_write_exr_stores_attributes(tmp_path):
    exr.write_exr(tmp_path / "a.exr", {"Y": np.zeros((2, 3), np.float32)}, attributes={"owner": "lmv"})
    assert OpenEXR.File(str(tmp_path / "a.exr")).header()["owner"] == "lmv"


def test_write_exr_names_a_channel_that_is_not_2d(tmp_path):
    with pytest.raises(ExrError, match=r"'depth'.*2-D.*\(1, 2, 3\)"):
        exr.write_exr(tmp_path / "a.exr", {"Y": np.zeros((2, 3), np.float32), "depth": np.zeros((1, 2, 3))})
    assert list(tmp_path.iterdir()) == []


def test_write_exr_failure_names_the_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "missing" / "c.exr"
    _raises(
        lambda: exr.write_exr(path, {"Y": np.zeros((2, 3), np.float32)}),
        path,
        "cannot write",
    )
    assert list(tmp_path.iterdir()) == []


# write_rgba


def test_write_rgba_keeps_four_channels_and_half_floats(tmp_path):
    image = np.arange(24, dtype=np.float16).reshape(4, 2, 3) / 4
    exr.write_rgba(tmp_path / "a.exr", image)
    info = exr.read_info(tmp_path / "a.exr")
    assert info.channels == dict.fromkeys("ABGR", "half") and info.compression == "ZIP"
    chans = exr.read_channels(tmp_path / "a.exr", "RGBA")
    for i, name in enumerate("RGBA"):
        assert chans[name].dtype == np.float16
        np.testing.assert_array_equal(chans[name], image[i])


def test_write_rgba_pads_half_floats_with_half_floats_and_opaque_alpha(tmp_path):
    grey = np.array([[[0.5, 2.0, -1.0]]], dtype=np.float16)  # (1, 1, 3)
    exr.write_rgba(tmp_path / "g.exr", grey, compression="piz")
    info = exr.read_info(tmp_path / "g.exr")
    assert info.channels == dict.fromkeys("ABGR", "half") and info.compression == "PIZ"
    chans = exr.read_channels(tmp_path / "g.exr")
    np.testing.assert_array_equal(chans["R"], grey[0])
    np.testing.assert_array_equal(chans["G"], np.zeros((1, 3), np.float16))
    np.testing.assert_array_equal(chans["B"], np.zeros((1, 3), np.float16))
    np.testing.assert_array_equal(chans["A"], np.ones((1, 3), np.float16))


def test_write_rgba_default_alpha_is_one(tmp_path):
    image = np.full((3, 2, 2), 0.25, np.float32)
    exr.write_rgba(tmp_path / "c.exr", image)
    chans = exr.read_channels(tmp_path / "c.exr")
    assert chans["A"].dtype == np.float32
    np.testing.assert_array_equal(chans["A"], np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(chans["B"], image[2])


@pytest.mark.parametrize("channels", [0, 5])
def test_write_rgba_refuses_0_or_5_channels_naming_the_file(tmp_path, channels):
    path = tmp_path / "bad.exr"
    _raises(lambda: exr.write_rgba(path, np.zeros((channels, 2, 2), np.float32)), path, "1 to 4", f"{channels}")
    assert list(tmp_path.iterdir()) == []


def test_write_rgba_stores_uint32_as_float(tmp_path):
    image = np.arange(4, dtype=np.uint32).reshape(1, 2, 2)
    exr.write_rgba(tmp_path / "u.exr", image)
    assert exr.read_info(tmp_path / "u.exr").channels == dict.fromkeys("ABGR", "float")
    np.testing.assert_array_equal(exr.read_channels(tmp_path / "u.exr")["R"], image[0].astype(np.float32))


def test_write_rgba_pads_a_single_channel_with_zero_colour_and_the_given_alpha(tmp_path):
    grey = np.array([[[0.5, 2.0], [-1.0, 8.0]]], dtype=np.float32)  # (1, 2, 2)
    exr.write_rgba(tmp_path / "g.exr", grey, alpha=0.25)
    chans = exr.read_channels(tmp_path / "g.exr")
    np.testing.assert_array_equal(chans["R"], grey[0])
    np.testing.assert_array_equal(chans["G"], np.zeros((2, 2), np.float32))
    np.testing.assert_array_equal(chans["B"], np.zeros((2, 2), np.float32))
    np.testing.assert_array_equal(chans["A"], np.full((2, 2), 0.25, np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.int16])
def test_write_rgba_stores_other_dtypes_as_float(tmp_path, dtype):
    image = np.arange(12, dtype=dtype).reshape(3, 2, 2)
    exr.write_rgba(tmp_path / "i.exr", image)
    assert exr.read_info(tmp_path / "i.exr").channels == dict.fromkeys("ABGR", "float")
    np.testing.assert_array_equal(exr.read_stack(tmp_path / "i.exr", "RGB"), image.astype(np.float32))
