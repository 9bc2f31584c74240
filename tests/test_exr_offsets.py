"""The EXR chunk offset-table check of `exr.read_info`: every offset must point past the table and
inside the file. Corrupt tables are written by hand into real OpenEXR files; the table is located by
its own definition (its first entry is the byte right after it), not by lmv's header parser."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from lmv_cli.core import exr
from lmv_cli.core.errors import ExrError

H, W = 40, 24  # ZIP compression: 16 scanlines per chunk → 3 chunks
CHUNKS = 3


def write(path: Path) -> bytes:
    image = np.random.default_rng(3).uniform(0, 4, (3, H, W)).astype(np.float16)
    exr.write_rgba(path, image)
    return path.read_bytes()


def table_start(data: bytes) -> int:
    """Byte position of the offset table: the 8-byte entry that equals its own end, followed by two
    increasing offsets (chunks are written in order)."""
    for pos in range(8, len(data) - 8 * CHUNKS):
        offsets = struct.unpack_from(f"<{CHUNKS}Q", data, pos)
        if offsets[0] == pos + 8 * CHUNKS and offsets[0] < offsets[1] < offsets[2] < len(data):
            return pos
    raise AssertionError("no offset table found")


def with_offset(data: bytes, index: int, value: int) -> bytes:
    pos = table_start(data) + 8 * index
    return data[:pos] + struct.pack("<Q", value) + data[pos + 8 :]


def test_intact_file_passes(tmp_path: Path) -> None:
    write(tmp_path / "a.exr")
    info = exr.read_info(tmp_path / "a.exr")
    assert (info.width, info.height) == (W, H)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda start, size: 4, id="into-the-header"),
        pytest.param(lambda start, size: start, id="onto-the-table-itself"),
        pytest.param(lambda start, size: start + 8 * CHUNKS - 1, id="last-byte-of-the-table"),
        pytest.param(lambda start, size: size, id="just-past-the-end"),
    ],
)
def test_an_offset_outside_the_chunk_area_is_refused(tmp_path: Path, where) -> None:
    """Chunk 1 (not the last: the last-chunk check reads only the largest offset) moved outside."""
    data = write(tmp_path / "a.exr")
    bad = tmp_path / "bad.exr"
    bad.write_bytes(with_offset(data, 1, where(table_start(data), len(data))))
    with pytest.raises(ExrError, match=rf"bad\.exr: truncated or corrupt: 1 of {CHUNKS} chunks point outside "
                                       rf"the file \({len(data)} bytes\)"):
        exr.read_info(bad)


def test_the_first_byte_after_the_table_is_a_valid_offset(tmp_path: Path) -> None:
    """The boundary itself: chunk 0 starts right after the table (written so by OpenEXR)."""
    data = write(tmp_path / "a.exr")
    start = table_start(data)
    assert struct.unpack_from("<Q", data, start)[0] == start + 8 * CHUNKS
    exr.read_info(tmp_path / "a.exr")
