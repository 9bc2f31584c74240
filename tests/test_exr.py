"""exr.py on real files written by OpenEXR: round trips, multi-part reads, truncation and corruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from lmv_cli.core import exr
from lmv_cli.core.errors import ExrError

H, W = 40, 24  # ZIP: 16 scanlines per chunk -> 3 chunks


def _image(dtype=np.float16, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.standard_normal((channels, H, W)) * 10).astype(dtype)


def _offsets(path: Path) -> np.ndarray:
    """The chunk offset table of a single-part scanline file."""
    data = path.read_bytes()
    headers, pos = exr._parse_headers(path, data)
    count = -(-headers[0]["height"] // 16)
    return np.frombuffer(data[pos : pos + 8 * count], dtype="<u8")


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_round_trip_keeps_dtype_and_bits(tmp_path, dtype):
    image = _image(dtype)
    exr.write_rgba(tmp_path / "a.exr", image)
    chans = exr.read_channels(tmp_path / "a.exr", "RGB")
    assert list(chans) == ["R", "G", "B"]
    for i, c in enumerate(chans.values()):
        assert c.dtype == dtype
        np.testing.assert_array_equal(c, image[i])
    np.testing.assert_array_equal(exr.read_channels(tmp_path / "a.exr")["A"], np.ones((H, W), dtype))
    stack = exr.read_stack(tmp_path / "a.exr", ("B", "R"), np.float32)
    assert stack.dtype == np.float32 and stack.shape == (2, H, W)
    np.testing.assert_array_equal(stack, image[[2, 0]].astype(np.float32))
    info = exr.read_info(tmp_path / "a.exr")
    assert (info.width, info.height, info.compression, info.parts) == (W, H, "ZIP", 1)
    assert info.channels == dict.fromkeys("ABGR", "half" if dtype == np.float16 else "float")


def test_multi_part_channels_are_merged(tmp_path):
    depth = np.arange(H * W, dtype=np.float32).reshape(H, W)
    colour = _image(np.float16, 1)[0]
    parts = [
        OpenEXR.Part({"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION},
                     {"ViewLayer.Combined.R": colour}, name="combined"),
        OpenEXR.Part({"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION},
                     {"ViewLayer.Depth.Z": depth}, name="depth"),
    ]
    OpenEXR.File(parts).write(str(tmp_path / "m.exr"))
    assert exr.read_info(tmp_path / "m.exr").parts == 2
    chans = exr.read_channels(tmp_path / "m.exr", ["ViewLayer.Depth.Z", "ViewLayer.Combined.R"])
    np.testing.assert_array_equal(chans["ViewLayer.Depth.Z"], depth)
    np.testing.assert_array_equal(chans["ViewLayer.Combined.R"], colour)


def test_truncated_header_offset_table_and_last_chunk(tmp_path):
    exr.write_rgba(tmp_path / "a.exr", _image())
    data = (tmp_path / "a.exr").read_bytes()
    table = _offsets(tmp_path / "a.exr")
    cases = {
        "header.exr": (data[:30], "truncated EXR header"),
        "table.exr": (data[: int(table[0]) - 12], "offset table runs past the end"),
        "chunks.exr": (data[: int(table[1])], "chunks point outside the file"),
        "last.exr": (data[:-5], "the last chunk needs"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ExrError, match=message):
            exr.read_info(tmp_path / name)
        with pytest.raises(ExrError, match=message):
            exr.read_channels(tmp_path / name, "R")


def test_not_an_exr_and_missing_file(tmp_path):
    (tmp_path / "a.exr").write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(ExrError, match=r"not an EXR file \(bad magic number, 23 bytes\)"):
        exr.read_info(tmp_path / "a.exr")
    with pytest.raises(ExrError, match="file not found"):
        exr.read_channels(tmp_path / "none.exr")


def test_missing_channel_lists_channels_found(tmp_path):
    exr.write_exr(tmp_path / "a.exr", {"R": _image()[0], "Z": _image(np.float32)[1]})
    with pytest.raises(ExrError, match=r"a\.exr: missing channel\(s\) G, B; channels found: R, Z"):
        exr.read_channels(tmp_path / "a.exr", "RGB")


def test_corrupt_pixel_data_is_a_decode_error(tmp_path):
    exr.write_rgba(tmp_path / "a.exr", _image())
    data = bytearray((tmp_path / "a.exr").read_bytes())
    start = int(_offsets(tmp_path / "a.exr")[1]) + 8  # past the chunk's y and size
    data[start + 10 : start + 60] = b"\xff" * 50  # same length: only the ZIP stream is broken
    (tmp_path / "bad.exr").write_bytes(bytes(data))
    exr.read_info(tmp_path / "bad.exr")  # the header and offset table are intact
    with pytest.raises(ExrError, match=r"bad\.exr: cannot decode pixel data: 0 of 1 part\(s\) decoded"):
        exr.read_channels(tmp_path / "bad.exr", "RGB")
    with pytest.raises(ExrError, match="cannot decode pixel data: no part decoded"):
        exr.read_channels(tmp_path / "bad.exr", "RGB", verified=True)
    with pytest.raises(ExrError, match="cannot decode pixel data"):
        exr.read_stack(tmp_path / "bad.exr", "RGB")


def test_write_exr_is_atomic_and_checks_its_input(tmp_path):
    exr.write_exr(tmp_path / "a.exr", {"Y": np.zeros((H, W), np.float64)}, compression="piz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.exr"]
    info = exr.read_info(tmp_path / "a.exr")
    assert info.channels == {"Y": "float"} and info.compression == "PIZ"
    with pytest.raises(ExrError, match="unknown EXR compression 'lzma'"):
        exr.write_exr(tmp_path / "b.exr", {"Y": np.zeros((H, W), np.float32)}, compression="lzma")
    with pytest.raises(ExrError, match=r"channel 'Y' must be 2-D \(H, W\), got shape \(4,\)"):
        exr.write_exr(tmp_path / "b.exr", {"Y": np.zeros(4, np.float32)})
    with pytest.raises(ExrError, match="expected 1 to 4 channels, got 5"):
        exr.write_rgba(tmp_path / "b.exr", np.zeros((5, H, W), np.float32))
    with pytest.raises(ExrError, match="cannot write EXR"):
        exr.write_exr(tmp_path / "missing" / "c.exr", {"Y": np.zeros((H, W), np.float32)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.exr"]
